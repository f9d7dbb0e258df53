#include "services/search_index.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/timeutil.h"

long search_index_catch_up(struct fs_db *db, struct arena *a, double deadline_ms, int *more)
{
	char chunk[16];
	const char *params[1] = { chunk };
	long total = 0;

	snprintf(chunk, sizeof(chunk), "%d", SEARCH_INDEX_CHUNK);
	*more = 0;
	for (;;) {
		/* One chunk, one autocommitted statement: what it indexed and the
		 * range it moved on are visible to searches together. */
		PGresult *r = db_query_cached(db, a, "SELECT flowsend_search_backlog_step($1::int)",
					      1, params);
		long n;

		if (!r)
			return -1;
		n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		if (n == 0)
			return total;
		total += n;
		if (time_monotonic_ms() >= deadline_ms) {
			*more = 1;
			return total;
		}
	}
}
