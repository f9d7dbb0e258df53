/* The one plan table: free, pro, enterprise. Every limit check reads it. */
#ifndef FS_PLAN_H
#define FS_PLAN_H

#include <json-c/json.h>

#define PLAN_UNLIMITED (-1L)

struct plan {
	const char *tier;
	const char *name;
	long price_monthly_cents;
	long max_emails_per_month; /* max_items in the API */
	long max_contacts;         /* max_secondary */
	long max_flows;            /* active flows */
	int trial_days;
	int api_access;
};

/* The plan of that tier, or NULL for an unknown tier. */
const struct plan *plan_find(const char *tier);
/* The free plan: the fallback for accounts without a live subscription. */
const struct plan *plan_default(void);
/* The plan of that tier, or the free plan when the tier is unknown. */
const struct plan *plan_find_or_default(const char *tier);
/* 1 when used + adding stays within limit (PLAN_UNLIMITED always fits). */
int plan_allows(long limit, long used, long adding);
json_object *plan_to_json(const struct plan *p);
/* All plans, cheapest first. */
json_object *plans_to_json(void);

#endif
