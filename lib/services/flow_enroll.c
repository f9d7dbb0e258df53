/* Enrollment of imported contacts by the batch worker (flow_enroll.h). */
#include "services/flow_enroll.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/timeutil.h"

long flow_enroll_catch_up(struct fs_db *db, struct arena *a, double deadline_ms, int *more)
{
	char chunk[16];
	const char *params[1] = { chunk };
	long total = 0;

	snprintf(chunk, sizeof(chunk), "%d", FLOW_ENROLL_CHUNK);
	*more = 0;
	for (;;) {
		PGresult *r = db_query_cached(db, a, "SELECT flowsend_flow_enroll_step($1::int)", 1,
					      params);
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
