/* The account-wide dashboard figures: totals over the last `days` UTC days
 * from the daily rollup (daily_stats), current counts from the counters, and
 * the most recent campaigns' figures. Never a scan of the events. */
#ifndef FS_ANALYTICS_H
#define FS_ANALYTICS_H

#include "core/env.h"
#include "core/status.h"
#include "core/strbuf.h"

#define ANALYTICS_DAYS_DEFAULT 30
#define ANALYTICS_DAYS_MAX 365
#define ANALYTICS_CAMPAIGNS_MAX 50
/* "-YYYYYY-MM-DD" and the NUL, with room to spare. */
#define ANALYTICS_DAY_TEXT 32

/* GET /analytics?days= (1..ANALYTICS_DAYS_MAX, checked by the caller): the
 * answer's JSON text appended to out (which the caller frees either way). */
enum fs_status analytics_overview(struct fs_env *env, int days, struct strbuf *out,
				  struct fs_error *err);
/* epoch_day days after 1970-01-01 as "YYYY-MM-DD" (the proleptic Gregorian
 * calendar, as PostgreSQL's ISO dates). */
void analytics_day_text(long long epoch_day, char out[ANALYTICS_DAY_TEXT]);

#endif
