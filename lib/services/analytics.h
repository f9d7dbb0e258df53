/* The account-wide dashboard figures: totals over the last `days` UTC days
 * from the daily rollup (daily_stats), current counts from the counters, and
 * the most recent campaigns' figures. Never a scan of the events. */
#ifndef FS_ANALYTICS_H
#define FS_ANALYTICS_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"

#define ANALYTICS_DAYS_DEFAULT 30
#define ANALYTICS_DAYS_MAX 365
#define ANALYTICS_CAMPAIGNS_MAX 50

/* GET /analytics?days= (1..ANALYTICS_DAYS_MAX, checked by the caller). */
enum fs_status analytics_overview(struct fs_env *env, int days, json_object **out,
				  struct fs_error *err);

#endif
