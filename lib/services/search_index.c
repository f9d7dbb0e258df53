#include "services/search_index.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/timeutil.h"

long search_index_catch_up(struct fs_db *db, struct arena *a, int settle_ms, double deadline_ms,
			   int *more)
{
	char chunk[16], settle[24];
	const char *params[2] = { chunk, settle };
	long total = 0;

	snprintf(chunk, sizeof(chunk), "%d", SEARCH_INDEX_CHUNK);
	snprintf(settle, sizeof(settle), "%d milliseconds", settle_ms > 0 ? settle_ms : 0);
	*more = 0;
	for (;;) {
		/* One chunk, one autocommitted statement: what it indexed and the
		 * range it moved on are visible to searches together. */
		PGresult *r = db_query_cached(
			db, a, "SELECT flowsend_search_backlog_step($1::int, $2::interval)", 2, params);
		long n;

		if (!r)
			return -1;
		n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		if (n < 0) {
			*more = -1; /* single creates settling */
			return total;
		}
		if (n == 0)
			return total;
		total += n;
		if (time_monotonic_ms() >= deadline_ms) {
			*more = 1;
			return total;
		}
	}
}
