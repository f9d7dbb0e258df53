/* Plans as const data: changing a price or a limit is a one-line edit here. */
#include "models/plan.h"

#include <string.h>

static const struct plan plans[] = {
	{ "free", "Free", 0, 500, 250, 2, 0, 0 },
	{ "pro", "Pro", 3900, 25000, 10000, 20, 14, 1 },
	{ "enterprise", "Enterprise", 14900, PLAN_UNLIMITED, PLAN_UNLIMITED, PLAN_UNLIMITED, 14, 1 },
};

const struct plan *plan_find(const char *tier)
{
	for (size_t i = 0; tier && i < sizeof(plans) / sizeof(plans[0]); i++)
		if (strcmp(plans[i].tier, tier) == 0)
			return &plans[i];
	return NULL;
}

const struct plan *plan_default(void)
{
	return &plans[0];
}

const struct plan *plan_find_or_default(const char *tier)
{
	const struct plan *p = plan_find(tier);
	return p ? p : plan_default();
}

int plan_allows(long limit, long used, long adding)
{
	return limit == PLAN_UNLIMITED || used + adding <= limit;
}

json_object *plan_to_json(const struct plan *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "tier", json_object_new_string(p->tier));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "price_monthly_cents", json_object_new_int64(p->price_monthly_cents));
	json_object_object_add(o, "max_items", json_object_new_int64(p->max_emails_per_month));
	json_object_object_add(o, "max_secondary", json_object_new_int64(p->max_contacts));
	json_object_object_add(o, "max_flows", json_object_new_int64(p->max_flows));
	json_object_object_add(o, "trial_days", json_object_new_int(p->trial_days));
	json_object_object_add(o, "api_access", json_object_new_boolean(p->api_access));
	return o;
}

json_object *plans_to_json(void)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++)
		json_object_array_add(a, plan_to_json(&plans[i]));
	return a;
}
