/* Plans bind here: the effective plan, past-due refusals, flow activations,
 * mock checkout and the Stripe webhook that keeps subscriptions and
 * users.plan in step. Usage figures read the counters of schema 0037. */
#include "services/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/stripe_sig.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"

#define LIVE_STATUSES "('trialing', 'active', 'past_due')"

#define SUB_COLUMNS                                                                            \
	"s.id, s.user_id, s.stripe_subscription_id, s.plan, s.status,"                          \
	" flowsend_ts(s.current_period_start) AS current_period_start,"                          \
	" flowsend_ts(s.current_period_end) AS current_period_end, s.cancel_at_period_end,"      \
	" flowsend_ts(s.trial_start) AS trial_start, flowsend_ts(s.trial_end) AS trial_end,"      \
	" flowsend_ts(s.created_at) AS created_at, flowsend_ts(s.updated_at) AS updated_at"

/* The first instant of this UTC month and of the next: the one period. */
#define PERIOD_COLUMNS                                                                         \
	" flowsend_ts(date_trunc('month', flowsend_now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')" \
	" AS period_start, flowsend_ts((date_trunc('month', flowsend_now() AT TIME ZONE 'UTC')"   \
	" + interval '1 month') AT TIME ZONE 'UTC') AS period_end"

const struct plan *billing_plan(const struct fs_env *env)
{
	return plan_find_or_default(env->auth.plan);
}

int billing_api_access(const struct fs_env *env)
{
	if (!env->auth.via_api_key || env->auth.key_is_platform)
		return 1;
	return billing_plan(env)->api_access;
}

enum fs_status billing_send_allowed(struct fs_db *db, struct arena *a, const char *user_id,
				    struct fs_error *err)
{
	const char *p[1] = { user_id };
	PGresult *r = db_query_cached(db, a,
				      "SELECT EXISTS (SELECT 1 FROM subscriptions"
				      " WHERE user_id = $1 AND status = 'past_due') AS past_due",
				      1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the subscription failed");
	if (db_get_bool(r, 0, "past_due"))
		return fs_fail(err, FS_BAD_REQUEST, "Payment past due");
	return FS_OK;
}

enum fs_status billing_email_quota(struct fs_db *db, struct arena *a, const char *user_id,
				   const struct plan *plan, long long adding, struct fs_error *err)
{
	const char *p[1] = { user_id };
	PGresult *r;

	if (plan->max_emails_per_month == PLAN_UNLIMITED)
		return FS_OK;
	/* The lock campaign sends take (services/campaigns.c), so a flow email
	 * and a campaign cannot both take the last of the month. */
	if (!db_query(db, a, "SELECT pg_advisory_xact_lock(hashtext('flowsend-usage:' || $1))", 1, p))
		return fs_fail(err, FS_ERROR, "locking this month's usage failed");
	r = db_query(db, a, "SELECT flowsend_emails_this_month($1) AS n", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading this month's usage failed");
	if (!plan_allows(plan->max_emails_per_month, (long)db_get_ll(r, 0, "n", 0), (long)adding))
		return fs_fail(err, FS_BAD_REQUEST, "Monthly email limit reached for your plan");
	return FS_OK;
}

enum fs_status billing_flow_activation_allowed(struct fs_env *env, struct fs_error *err)
{
	const struct plan *plan = billing_plan(env);
	const char *p[1] = { env->user_id };
	PGresult *r;

	if (plan->max_flows == PLAN_UNLIMITED)
		return FS_OK;
	/* Two activations at once must not both fit: the second waits for the
	 * first to commit, then reads its count. */
	if (!db_query(env->db, env->arena,
		      "SELECT pg_advisory_xact_lock(hashtext('flowsend-flows:' || $1))", 1, p))
		return fs_fail(err, FS_ERROR, "locking the active flows failed");
	r = db_query(env->db, env->arena,
		     "SELECT coalesce((SELECT active_flows FROM usage_counters WHERE user_id = $1), 0)"
		     " AS n",
		     1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the active flows failed");
	if (!plan_allows(plan->max_flows, (long)db_get_ll(r, 0, "n", 0), 1))
		return fs_fail(err, FS_BAD_REQUEST, "Active flow limit reached for your plan");
	return FS_OK;
}

static json_object *str_or_null(const PGresult *r, int row, const char *col)
{
	return fs_json_str_or_null(db_get(r, row, col));
}

static json_object *subscription_json(const PGresult *r, int row)
{
	static const char *const strings[] = { "id", "user_id", "stripe_subscription_id", "plan",
					       "status", "current_period_start", "current_period_end" };
	static const char *const tail[] = { "trial_start", "trial_end", "created_at", "updated_at" };
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		json_object_object_add(o, strings[i], str_or_null(r, row, strings[i]));
	json_object_object_add(o, "cancel_at_period_end",
			       json_object_new_boolean(db_get_bool(r, row, "cancel_at_period_end")));
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		json_object_object_add(o, tail[i], str_or_null(r, row, tail[i]));
	return o;
}

enum fs_status billing_checkout(struct fs_env *env, const char *tier, json_object **out,
				struct fs_error *err)
{
	char session[64], sub[64], customer[64];
	const char *p[4] = { tier, sub, customer, NULL };
	const struct plan *plan = plan_find(tier);
	PGresult *r;

	if (!plan || strcmp(tier, "free") == 0)
		return fs_fail(err, FS_BAD_REQUEST, "Cannot checkout for free plan");
	if (env->cfg->stripe_secret_key[0])
		return fs_fail(err, FS_UNAVAILABLE, "Stripe Checkout is not available on this server");
	if (random_token("cs_mock_", 18, session, sizeof(session)) < 0 ||
	    random_token("sub_mock_", 18, sub, sizeof(sub)) < 0)
		return fs_fail(err, FS_ERROR, "creating the session failed");
	snprintf(customer, sizeof(customer), "cus_mock_%.8s%.4s%.4s%.4s%.12s", env->user_id,
		 env->user_id + 9, env->user_id + 14, env->user_id + 19, env->user_id + 24);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	/* The user's row first: two checkouts at once queue here, and the
	 * second sees the first's subscription. */
	r = db_query(env->db, env->arena,
		     "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE status IN " LIVE_STATUSES
		     ") AS live FROM users WHERE id = flowsend_current_user() FOR UPDATE",
		     0, NULL);
	if (!r || PQntuples(r) != 1)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the subscription failed"));
	if (db_get_bool(r, 0, "live"))
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "User already has an active subscription"));
	/* Mock mode, as the original: active at once, for 30 days. */
	r = db_query(env->db, env->arena,
		     "WITH s AS (INSERT INTO subscriptions (user_id, stripe_subscription_id, plan,"
		     "  status, current_period_start, current_period_end)"
		     "  VALUES (flowsend_current_user(), $2, $1, 'active', flowsend_now(),"
		     "  flowsend_now() + interval '30 days') RETURNING id)"
		     " UPDATE users SET plan = $1, stripe_customer_id = coalesce(stripe_customer_id, $3),"
		     " updated_at = flowsend_now() WHERE id = flowsend_current_user() RETURNING 1",
		     3, p);
	if (!r || PQntuples(r) != 1) {
		if (strcmp(db_last_sqlstate(env->db), "23505") == 0)
			return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
							  "User already has an active subscription"));
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the subscription failed"));
	}
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "creating the subscription failed");
	*out = json_object_new_object();
	json_object_object_add(*out, "checkout_url",
			       json_object_new_string(arena_sprintf(
				       env->arena, "%s/app/billing?checkout=success&session_id=%s",
				       env->cfg->public_url, session)));
	json_object_object_add(*out, "session_id", json_object_new_string(session));
	return FS_OK;
}

enum fs_status billing_portal(struct fs_env *env, json_object **out, struct fs_error *err)
{
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT stripe_customer_id FROM users WHERE id = flowsend_current_user()",
				      0, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the billing account failed");
	if (PQntuples(r) != 1 || !db_get(r, 0, "stripe_customer_id"))
		return fs_fail(err, FS_BAD_REQUEST, "User has no billing account");
	if (env->cfg->stripe_secret_key[0])
		return fs_fail(err, FS_UNAVAILABLE, "The Stripe portal is not available on this server");
	*out = json_object_new_object();
	json_object_object_add(*out, "portal_url",
			       json_object_new_string(arena_sprintf(env->arena, "%s/app/billing?portal=mock",
								    env->cfg->public_url)));
	return FS_OK;
}

static const char current_sql[] =
	"SELECT " SUB_COLUMNS " FROM subscriptions s WHERE s.status IN " LIVE_STATUSES
	" AND s.user_id = flowsend_current_user() ORDER BY s.created_at DESC LIMIT 1";

enum fs_status billing_current(struct fs_env *env, json_object **out, struct fs_error *err)
{
	PGresult *r = db_tenant_query_cached(env->db, env->arena, env->user_id, current_sql, 0, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the subscription failed");
	*out = PQntuples(r) ? subscription_json(r, 0) : NULL;
	return FS_OK;
}

/* Every figure from a counter: the tenant's contact slots, this month's
 * emails, its campaigns and active flows; the plan from its row (not the
 * authentication cache, which may trail a change by moments). */
static const char usage_sql[] =
	"SELECT u.plan,"
	" (SELECT coalesce(sum(contacts), 0) FROM tenant_counters) AS contacts,"
	" coalesce((SELECT emails FROM usage_monthly m WHERE m.user_id = u.id"
	"  AND m.month = date_trunc('month', flowsend_now() AT TIME ZONE 'UTC')::date), 0) AS emails,"
	" coalesce(c.campaigns, 0) AS campaigns, coalesce(c.active_flows, 0) AS active_flows,"
	PERIOD_COLUMNS
	" FROM users u LEFT JOIN usage_counters c ON c.user_id = u.id"
	" WHERE u.id = flowsend_current_user()";

static void metric(json_object *arr, const char *name, const char *label, long long used, long limit)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "label", json_object_new_string(label));
	json_object_object_add(m, "used", json_object_new_int64(used));
	json_object_object_add(m, "limit", json_object_new_int64(limit));
	json_object_array_add(arr, m);
}

static json_object *usage_json(const PGresult *r, const struct plan **plan_out)
{
	const struct plan *plan = plan_find_or_default(db_get(r, 0, "plan"));
	json_object *o = json_object_new_object(), *metrics = json_object_new_array();

	json_object_object_add(o, "plan", json_object_new_string(plan->tier));
	json_object_object_add(o, "period_start", str_or_null(r, 0, "period_start"));
	json_object_object_add(o, "period_end", str_or_null(r, 0, "period_end"));
	metric(metrics, "emails_sent", "Emails sent this month", db_get_ll(r, 0, "emails", 0),
	       plan->max_emails_per_month);
	metric(metrics, "contacts", "Contacts", db_get_ll(r, 0, "contacts", 0), plan->max_contacts);
	metric(metrics, "flows", "Active flows", db_get_ll(r, 0, "active_flows", 0), plan->max_flows);
	metric(metrics, "campaigns", "Campaigns", db_get_ll(r, 0, "campaigns", 0), PLAN_UNLIMITED);
	json_object_object_add(o, "metrics", metrics);
	if (plan_out)
		*plan_out = plan;
	return o;
}

enum fs_status billing_usage(struct fs_env *env, json_object **out, struct fs_error *err)
{
	PGresult *r = db_tenant_query_cached(env->db, env->arena, env->user_id, usage_sql, 0, NULL);

	if (!r || PQntuples(r) != 1)
		return fs_fail(err, FS_ERROR, "reading the usage failed");
	*out = usage_json(r, NULL);
	return FS_OK;
}

enum fs_status billing_overview(struct fs_env *env, json_object **out, struct fs_error *err)
{
	struct db_stmt q[2] = { { usage_sql, 0, NULL, 1, NULL }, { current_sql, 0, NULL, 1, NULL } };
	const struct plan *plan;
	json_object *usage;

	if (db_tenant_pipeline(env->db, env->arena, env->user_id, q, 2) < 0 ||
	    PQntuples(q[0].result) != 1)
		return fs_fail(err, FS_ERROR, "reading the billing overview failed");
	usage = usage_json(q[0].result, &plan);
	*out = json_object_new_object();
	json_object_object_add(*out, "current_plan", json_object_new_string(plan->tier));
	json_object_object_add(*out, "plan_name", json_object_new_string(plan->name));
	json_object_object_add(*out, "subscription",
			       PQntuples(q[1].result) ? subscription_json(q[1].result, 0) : NULL);
	json_object_object_add(*out, "usage", usage);
	return FS_OK;
}

/* ---- Stripe webhook ---------------------------------------------------- */

/* A string member (NULL when absent, not a string, empty or over 255 bytes). */
static const char *jstr(json_object *o, const char *key)
{
	json_object *v;
	const char *s;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return s && *s && strlen(s) <= 255 && strlen(s) == (size_t)json_object_get_string_len(v) ? s
												    : NULL;
}

/* An object member, or NULL. */
static json_object *jobj(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* A unix time member as decimal text in the arena, or NULL (absent, null,
 * not a positive integer). */
static const char *jtime(struct arena *a, json_object *o, const char *key)
{
	json_object *v;
	int64_t t;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return NULL;
	t = json_object_get_int64(v);
	if (t <= 0 || t > 253402300799LL) /* up to 9999-12-31 */
		return NULL;
	return arena_sprintf(a, "%lld", (long long)t);
}

/* Stripe's subscription statuses onto ours; NULL: not a subscription we
 * keep (incomplete: the first payment has not gone through yet). */
static const char *map_status(const char *s)
{
	if (!s)
		return NULL;
	if (strcmp(s, "active") == 0 || strcmp(s, "trialing") == 0 || strcmp(s, "past_due") == 0 ||
	    strcmp(s, "canceled") == 0)
		return s;
	if (strcmp(s, "unpaid") == 0)
		return "past_due";
	if (strcmp(s, "incomplete_expired") == 0 || strcmp(s, "paused") == 0)
		return "canceled";
	return NULL;
}

/* The plan a subscription object is for: metadata.plan (checkout sets it),
 * else its first item's price against the configured price ids. */
static const char *object_plan(const struct fs_config *cfg, json_object *obj)
{
	const char *tier = jstr(jobj(obj, "metadata"), "plan");
	json_object *items = jobj(obj, "items"), *data, *first;
	const char *price;

	if (tier && plan_find(tier) && strcmp(tier, "free") != 0)
		return plan_find(tier)->tier;
	if (!items || !json_object_object_get_ex(items, "data", &data) ||
	    !json_object_is_type(data, json_type_array) || json_object_array_length(data) < 1)
		return NULL;
	first = json_object_array_get_idx(data, 0);
	price = jstr(jobj(first, "price"), "id");
	if (!price)
		price = jstr(jobj(first, "plan"), "id");
	if (price && cfg->stripe_pro_price_id[0] && strcmp(price, cfg->stripe_pro_price_id) == 0)
		return "pro";
	if (price && cfg->stripe_enterprise_price_id[0] &&
	    strcmp(price, cfg->stripe_enterprise_price_id) == 0)
		return "enterprise";
	return NULL;
}

struct stripe_event {
	const char *id, *type, *created;
	json_object *object;
	const char *subscription; /* the subscription it is about, when any */
	const char *customer;
	const char *user_hint;    /* client_reference_id or metadata.user_id */
};

/* The tenant the event is about, as the system role: by subscription id,
 * then customer id, then the user id checkout put on it. NULL: nobody. */
static const char *resolve_tenant(struct fs_env *env, const struct stripe_event *ev)
{
	const char *hint = ev->user_hint && uuid_valid(ev->user_hint, strlen(ev->user_hint))
				   ? ev->user_hint
				   : NULL;
	const char *p[3] = { ev->subscription, ev->customer, hint };
	PGresult *r = db_query(env->sysdb, env->arena,
			       "SELECT coalesce("
			       " (SELECT user_id FROM subscriptions WHERE stripe_subscription_id = $1),"
			       " (SELECT id FROM users WHERE stripe_customer_id = $2),"
			       " (SELECT id FROM users WHERE id = $3::uuid)) AS user_id",
			       3, p);

	if (!r || PQntuples(r) != 1)
		return NULL;
	return db_get(r, 0, "user_id") ? arena_strdup(env->arena, db_get(r, 0, "user_id")) : NULL;
}

/* created / updated / deleted / trial_will_end: the subscription as Stripe
 * says it is now, unless a newer event already spoke for it. */
static enum fs_status apply_subscription(struct fs_env *env, const struct stripe_event *ev,
					 int deleted, struct fs_error *err)
{
	json_object *o = ev->object;
	const char *status = deleted ? "canceled" : map_status(jstr(o, "status"));
	const char *tier = object_plan(env->cfg, o);
	json_object *cancel;
	const char *p[10];
	PGresult *r;

	if (!status || !ev->subscription)
		return FS_OK; /* nothing we keep */
	if (!tier) {
		/* A plan we cannot tell: keep the one on record, if any. */
		const char *sp[1] = { ev->subscription };
		r = db_query(env->db, env->arena,
			     "SELECT plan FROM subscriptions WHERE stripe_subscription_id = $1", 1, sp);
		if (!r)
			return fs_fail(err, FS_ERROR, "reading the subscription failed");
		if (PQntuples(r) == 0) {
			log_warn("stripe event %s: subscription %s has no known plan; ignored", ev->id,
				 ev->subscription);
			return FS_OK;
		}
		tier = arena_strdup(env->arena, db_get(r, 0, "plan"));
	}
	p[0] = ev->subscription;
	p[1] = tier;
	p[2] = status;
	p[3] = jtime(env->arena, o, "current_period_start");
	p[4] = jtime(env->arena, o, "current_period_end");
	p[5] = json_object_object_get_ex(o, "cancel_at_period_end", &cancel) &&
			       json_object_get_boolean(cancel)
		       ? "t"
		       : "f";
	p[6] = jtime(env->arena, o, "trial_start");
	p[7] = jtime(env->arena, o, "trial_end");
	p[8] = ev->created;
	p[9] = NULL;
	/* A new live subscription replaces any other live one (one per user). */
	if (strcmp(status, "canceled") != 0 &&
	    !db_query(env->db, env->arena,
		      "UPDATE subscriptions SET status = 'canceled', updated_at = flowsend_now()"
		      " WHERE user_id = flowsend_current_user() AND status IN " LIVE_STATUSES
		      " AND stripe_subscription_id IS DISTINCT FROM $1",
		      1, p))
		return fs_fail(err, FS_ERROR, "updating the subscriptions failed");
	r = db_query(env->db, env->arena,
		     "INSERT INTO subscriptions AS s (user_id, stripe_subscription_id, plan, status,"
		     " current_period_start, current_period_end, cancel_at_period_end, trial_start,"
		     " trial_end, stripe_event_at)"
		     " VALUES (flowsend_current_user(), $1, $2, $3, to_timestamp($4::bigint),"
		     " to_timestamp($5::bigint), $6::boolean, to_timestamp($7::bigint),"
		     " to_timestamp($8::bigint), $9::bigint)"
		     " ON CONFLICT (stripe_subscription_id) WHERE stripe_subscription_id IS NOT NULL"
		     " DO UPDATE SET plan = EXCLUDED.plan, status = EXCLUDED.status,"
		     " current_period_start = coalesce(EXCLUDED.current_period_start, s.current_period_start),"
		     " current_period_end = coalesce(EXCLUDED.current_period_end, s.current_period_end),"
		     " cancel_at_period_end = EXCLUDED.cancel_at_period_end,"
		     " trial_start = coalesce(EXCLUDED.trial_start, s.trial_start),"
		     " trial_end = coalesce(EXCLUDED.trial_end, s.trial_end),"
		     " stripe_event_at = EXCLUDED.stripe_event_at, updated_at = flowsend_now()"
		     " WHERE s.stripe_event_at <= EXCLUDED.stripe_event_at AND s.status <> 'canceled'",
		     9, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "recording the subscription failed");
	return FS_OK;
}

/* invoice.payment_failed → past_due; a paid invoice brings it back. */
static enum fs_status apply_invoice(struct fs_env *env, const struct stripe_event *ev, int paid,
				    struct fs_error *err)
{
	const char *p[2] = { ev->subscription, ev->created };
	PGresult *r;

	if (paid)
		r = db_query(env->db, env->arena,
			     "UPDATE subscriptions SET status = 'active', updated_at = flowsend_now()"
			     " WHERE user_id = flowsend_current_user() AND status = 'past_due'"
			     " AND ($1::text IS NULL OR stripe_subscription_id = $1)",
			     1, p);
	else
		r = db_query(env->db, env->arena,
			     "UPDATE subscriptions SET status = 'past_due', updated_at = flowsend_now()"
			     " WHERE user_id = flowsend_current_user() AND status IN ('active', 'trialing')"
			     " AND ($1::text IS NULL OR stripe_subscription_id = $1)",
			     1, p);
	return r ? FS_OK : fs_fail(err, FS_ERROR, "updating the subscription failed");
}

/* users.plan follows the live subscription (free without one); the customer
 * id is remembered for the portal and for later events. */
static enum fs_status sync_user(struct fs_env *env, const struct stripe_event *ev,
				struct fs_error *err)
{
	const char *p[1] = { ev->customer };
	PGresult *r = db_query(
		env->db, env->arena,
		"UPDATE users u SET plan = coalesce((SELECT s.plan FROM subscriptions s"
		"  WHERE s.user_id = u.id AND s.status IN " LIVE_STATUSES
		"  ORDER BY s.created_at DESC LIMIT 1), 'free'),"
		" stripe_customer_id = coalesce(u.stripe_customer_id, $1), updated_at = flowsend_now()"
		" WHERE u.id = flowsend_current_user()",
		1, p);

	if (!r) {
		if (strcmp(db_last_sqlstate(env->db), "23505") == 0) {
			log_warn("stripe event %s: customer %s belongs to another user", ev->id, ev->customer);
			return fs_fail(err, FS_BAD_REQUEST, "Customer belongs to another account");
		}
		return fs_fail(err, FS_ERROR, "updating the plan failed");
	}
	return FS_OK;
}

static enum fs_status apply_event(struct fs_env *env, const struct stripe_event *ev,
				  struct fs_error *err)
{
	const char *t = ev->type;

	if (strcmp(t, "customer.subscription.created") == 0 ||
	    strcmp(t, "customer.subscription.updated") == 0 ||
	    strcmp(t, "customer.subscription.trial_will_end") == 0)
		return apply_subscription(env, ev, 0, err);
	if (strcmp(t, "customer.subscription.deleted") == 0)
		return apply_subscription(env, ev, 1, err);
	if (strcmp(t, "invoice.payment_failed") == 0)
		return apply_invoice(env, ev, 0, err);
	if (strcmp(t, "invoice.payment_succeeded") == 0 || strcmp(t, "invoice.paid") == 0)
		return apply_invoice(env, ev, 1, err);
	return FS_OK; /* checkout.session.completed and the rest: the customer id only */
}

static json_object *ack(const char *outcome)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "outcome", json_object_new_string(outcome));
	return o;
}

enum fs_status billing_stripe_event(struct fs_env *env, const char *signature, const char *body,
				    size_t len, json_object **out, struct fs_error *err)
{
	struct stripe_event ev;
	enum stripe_sig_result sig;
	json_object *root, *data;
	char perr[64];
	enum fs_status st;
	PGresult *r;

	sig = stripe_sig_verify(signature, signature ? strlen(signature) : 0, body, len,
				env->cfg->stripe_webhook_secret, time(NULL),
				STRIPE_SIG_TOLERANCE);
	if (sig != STRIPE_SIG_OK) {
		log_info("stripe webhook refused: %s",
			 sig == STRIPE_SIG_STALE      ? "timestamp outside the tolerance"
			 : sig == STRIPE_SIG_MISMATCH ? "no matching v1"
						      : "malformed header");
		return fs_fail(err, FS_BAD_REQUEST, "Invalid webhook signature");
	}
	root = fs_json_parse(body, len, perr, sizeof(perr));
	if (!root)
		return fs_fail(err, FS_BAD_REQUEST, "Invalid JSON payload");
	arena_add_cleanup(env->arena, fs_json_release, root);
	memset(&ev, 0, sizeof(ev));
	ev.id = jstr(root, "id");
	ev.type = jstr(root, "type");
	data = jobj(root, "data");
	ev.object = jobj(data, "object");
	if (!ev.id || !ev.type || !ev.object)
		return fs_fail(err, FS_BAD_REQUEST, "Invalid event: id, type and data.object are required");
	ev.created = jtime(env->arena, root, "created");
	if (!ev.created)
		ev.created = "0";
	ev.customer = jstr(ev.object, "customer");
	if (strncmp(ev.type, "customer.subscription.", 22) == 0)
		ev.subscription = jstr(ev.object, "id");
	else
		ev.subscription = jstr(ev.object, "subscription");
	ev.user_hint = jstr(ev.object, "client_reference_id");
	if (!ev.user_hint)
		ev.user_hint = jstr(jobj(ev.object, "metadata"), "user_id");
	env->user_id = resolve_tenant(env, &ev);
	if (!env->user_id) {
		log_info("stripe event %s (%s): no account matches; acknowledged", ev.id, ev.type);
		*out = ack("ignored");
		return FS_OK;
	}
	{
		const char *p[2] = { ev.id, ev.type };
		if (db_begin_tenant(env->db, env->user_id) != FS_OK)
			return fs_fail(err, FS_ERROR, "database unavailable");
		/* The id first: a replay (or a retry racing the first delivery)
		 * waits here for the first to commit, then finds the id taken. */
		r = db_query(env->db, env->arena,
			     "INSERT INTO stripe_events (id, user_id, type)"
			     " VALUES ($1, flowsend_current_user(), $2)"
			     " ON CONFLICT (id) DO NOTHING RETURNING id",
			     2, p);
	}
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "recording the event failed"));
	if (PQntuples(r) == 0) {
		db_rollback(env->db);
		*out = ack("duplicate");
		return FS_OK;
	}
	if ((st = apply_event(env, &ev, err)) != FS_OK || (st = sync_user(env, &ev, err)) != FS_OK)
		return fs_rollback_with(env, st);
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "recording the event failed");
	*out = ack("applied");
	return FS_OK;
}
