/* Plans bind here: the effective plan, past-due refusals, flow activations,
 * mock checkout and the Stripe webhook that keeps subscriptions and
 * users.plan in step. Usage figures read the counters of schema 0037. */
#include "services/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/stripe_sig.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "net/stripe_api.h"

#define LIVE_STATUSES "('trialing', 'active', 'past_due')"

#define SUB_COLUMNS                                                                            \
	"s.id, s.user_id, s.stripe_subscription_id, s.plan, s.status,"                          \
	" flowsend_ts(s.current_period_start) AS current_period_start,"                          \
	" flowsend_ts(s.current_period_end) AS current_period_end, s.cancel_at_period_end,"      \
	" flowsend_ts(s.trial_start) AS trial_start, flowsend_ts(s.trial_end) AS trial_end,"      \
	" flowsend_ts(s.created_at) AS created_at, flowsend_ts(s.updated_at) AS updated_at"

/* The one period: the UTC calendar month the service's clock (clock_now, the
 * clock flowsend_now() reads too) is in. month is its first day, the key of
 * usage_monthly; start and end the first instants of it and of the next, as
 * the API writes times. Worked out here rather than by the statement, which
 * did the date arithmetic and two flowsend_ts calls on every GET /usage. */
struct usage_period {
	char month[48];
	char start[48];
	char end[48];
};

static void usage_period(struct usage_period *p)
{
	time_t now = clock_now();
	struct tm tm;
	int y, m;

	gmtime_r(&now, &tm);
	y = tm.tm_year + 1900;
	m = tm.tm_mon + 1;
	snprintf(p->month, sizeof(p->month), "%04d-%02d-01", y, m);
	snprintf(p->start, sizeof(p->start), "%04d-%02d-01T00:00:00Z", y, m);
	if (++m > 12) {
		m = 1;
		y++;
	}
	snprintf(p->end, sizeof(p->end), "%04d-%02d-01T00:00:00Z", y, m);
}

static enum fs_status stripe_checkout(struct fs_env *env, const struct plan *plan,
				      json_object **out, struct fs_error *err);
static enum fs_status stripe_portal(struct fs_env *env, const char *customer, json_object **out,
				    struct fs_error *err);

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
		return stripe_checkout(env, plan, out, err);
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
		return stripe_portal(env, db_get(r, 0, "stripe_customer_id"), out, err);
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
 * emails ($1: usage_period's month), its campaigns and active flows; the plan
 * from its row (not the authentication cache, which may trail a change by
 * moments). */
static const char usage_sql[] =
	"SELECT u.plan,"
	" (SELECT coalesce(sum(contacts), 0) FROM tenant_counters_all) AS contacts,"
	" coalesce((SELECT emails FROM usage_monthly m WHERE m.user_id = u.id"
	"  AND m.month = $1::date), 0) AS emails,"
	" coalesce(c.campaigns, 0) AS campaigns, coalesce(c.active_flows, 0) AS active_flows"
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

static json_object *usage_json(const PGresult *r, const struct usage_period *period,
			       const struct plan **plan_out)
{
	const struct plan *plan = plan_find_or_default(db_get(r, 0, "plan"));
	json_object *o = json_object_new_object(), *metrics = json_object_new_array();

	json_object_object_add(o, "plan", json_object_new_string(plan->tier));
	json_object_object_add(o, "period_start", json_object_new_string(period->start));
	json_object_object_add(o, "period_end", json_object_new_string(period->end));
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
	struct usage_period period;
	const char *params[1] = { period.month };
	PGresult *r;

	usage_period(&period);
	r = db_tenant_read_cached(env->db, env->arena, env->user_id, usage_sql, 1, params);
	if (!r || PQntuples(r) != 1)
		return fs_fail(err, FS_ERROR, "reading the usage failed");
	*out = usage_json(r, &period, NULL);
	return FS_OK;
}

enum fs_status billing_overview(struct fs_env *env, json_object **out, struct fs_error *err)
{
	struct usage_period period;
	const char *params[1] = { period.month };
	struct db_stmt q[2] = { { usage_sql, 1, params, 1, NULL }, { current_sql, 0, NULL, 1, NULL } };
	const struct plan *plan;
	json_object *usage;

	usage_period(&period);
	if (db_tenant_pipeline(env->db, env->arena, env->user_id, q, 2) < 0 ||
	    PQntuples(q[0].result) != 1)
		return fs_fail(err, FS_ERROR, "reading the billing overview failed");
	usage = usage_json(q[0].result, &period, &plan);
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
	const char *session;      /* checkout.session.*: the session's id */
};

/* The tenant the event is about, as the system role: by the checkout
 * session FlowSend opened, then subscription id, then customer id, then the
 * user id checkout put on it. 0 with *user_id (NULL: nobody), or -1 when the
 * database could not say (Stripe then retries the event). */
static int resolve_tenant(struct fs_env *env, const struct stripe_event *ev, const char **user_id)
{
	const char *hint = ev->user_hint && uuid_valid(ev->user_hint, strlen(ev->user_hint))
				   ? ev->user_hint
				   : NULL;
	const char *p[4] = { ev->subscription, ev->customer, hint, ev->session };
	PGresult *r = db_query(env->sysdb, env->arena,
			       "SELECT coalesce("
			       " (SELECT user_id FROM stripe_checkout_sessions WHERE id = $4),"
			       " (SELECT user_id FROM subscriptions WHERE stripe_subscription_id = $1),"
			       " (SELECT id FROM users WHERE stripe_customer_id = $2),"
			       " (SELECT id FROM users WHERE id = $3::uuid)) AS user_id",
			       4, p);

	*user_id = NULL;
	if (!r || PQntuples(r) != 1)
		return -1;
	if (db_get(r, 0, "user_id"))
		*user_id = arena_strdup(env->arena, db_get(r, 0, "user_id"));
	return 0;
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
	if (!p[3] || !p[4]) {
		/* Since API version 2025-03-31 the periods are on the items. */
		json_object *items = jobj(o, "items"), *data;
		if (items && json_object_object_get_ex(items, "data", &data) &&
		    json_object_is_type(data, json_type_array) && json_object_array_length(data) > 0) {
			json_object *first = json_object_array_get_idx(data, 0);
			if (json_object_is_type(first, json_type_object)) {
				p[3] = p[3] ? p[3] : jtime(env->arena, first, "current_period_start");
				p[4] = p[4] ? p[4] : jtime(env->arena, first, "current_period_end");
			}
		}
	}
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

/* checkout.session.completed: the session FlowSend opened is done; its
 * subscription is recorded beside it (the subscription events set the plan). */
static enum fs_status apply_checkout(struct fs_env *env, const struct stripe_event *ev,
				     struct fs_error *err)
{
	const char *p[2] = { ev->session, ev->subscription };

	if (!ev->session)
		return FS_OK;
	if (!db_query(env->db, env->arena,
		      "UPDATE stripe_checkout_sessions SET completed_at = coalesce(completed_at,"
		      " flowsend_now()), stripe_subscription_id = coalesce($2, stripe_subscription_id)"
		      " WHERE id = $1 AND user_id = flowsend_current_user()",
		      2, p))
		return fs_fail(err, FS_ERROR, "recording the checkout session failed");
	return FS_OK;
}

static enum fs_status apply_event(struct fs_env *env, const struct stripe_event *ev,
				  struct fs_error *err)
{
	const char *t = ev->type;

	if (strcmp(t, "checkout.session.completed") == 0)
		return apply_checkout(env, ev, err);

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
	return FS_OK; /* the rest: acknowledged; the customer id only */
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
	if (strncmp(ev.type, "checkout.session.", 17) == 0)
		ev.session = jstr(ev.object, "id");
	ev.user_hint = jstr(ev.object, "client_reference_id");
	if (!ev.user_hint)
		ev.user_hint = jstr(jobj(ev.object, "metadata"), "user_id");
	if (resolve_tenant(env, &ev, &env->user_id) < 0)
		return fs_fail(err, FS_ERROR, "finding the account of the event failed");
	if (!env->user_id) {
		log_warn("stripe event %s (%s): no account matches customer %s; acknowledged", ev.id,
			 ev.type, ev.customer ? ev.customer : "(none)");
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

/* ---- real Stripe: customers, Checkout and the portal ------------------- */

static void stripe_client_of(const struct fs_config *cfg, struct stripe_client *c)
{
	c->base = cfg->stripe_api_base;
	c->secret_key = cfg->stripe_secret_key;
	c->timeout_ms = cfg->stripe_timeout_ms;
	c->https_only = cfg->production;
}

/* What Stripe names an object by, checked before it is stored or shown:
 * 1 to 255 letters, digits and '_'. NULL otherwise. */
static const char *stripe_object_id(json_object *o)
{
	const char *s = jstr(o, "id");

	if (!s)
		return NULL;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_'))
			return NULL;
	return s;
}

/* The page a Stripe session sends the browser to: https://, printable
 * ASCII, at most 2,048 bytes. NULL otherwise. */
static const char *stripe_session_url(json_object *o)
{
	json_object *v;
	const char *s;
	size_t len;

	if (!json_object_object_get_ex(o, "url", &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len > 2048 || len <= 8 || strlen(s) != len || strncmp(s, "https://", 8) != 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return NULL;
	return s;
}

/* A customer id FlowSend made in mock mode names nothing at Stripe. */
static int real_customer(const char *id)
{
	return id && strncmp(id, "cus_mock_", 9) != 0;
}

/* Stripe's answer to one POST, owned by the request's arena. */
static enum fs_status stripe_call(struct fs_env *env, const char *path, const struct strbuf *form,
				  const char *key, json_object **obj, struct fs_error *err)
{
	struct stripe_client c;
	enum fs_status st;

	if (form->oom)
		return fs_fail(err, FS_ERROR, "building the Stripe request failed");
	stripe_client_of(env->cfg, &c);
	st = stripe_post(&c, path, form->buf, form->len, key, obj, NULL, err);
	if (st == FS_OK)
		arena_add_cleanup(env->arena, fs_json_release, *obj);
	return st;
}

/* The user's Stripe customer, made once: the Idempotency-Key names the user
 * and the address, so two checkouts at once get the same customer from
 * Stripe, and the first id stored wins. */
static enum fs_status stripe_customer(struct fs_env *env, const char *email, const char **customer,
				      struct fs_error *err)
{
	static const char *const meta_user[] = { "metadata", "user_id" };
	struct strbuf form = STRBUF_INIT;
	char hash[SHA256_HEX_LEN + 1], key[128];
	json_object *obj = NULL;
	const char *p[1];
	enum fs_status st;
	PGresult *r;

	sha256_hex(email, strlen(email), hash);
	snprintf(key, sizeof(key), "flowsend-customer-%s-%.16s", env->user_id, hash);
	stripe_form_add(&form, "email", email, strlen(email));
	stripe_form_add_nested(&form, meta_user, 2, env->user_id);
	st = stripe_call(env, "/v1/customers", &form, key, &obj, err);
	strbuf_free(&form);
	if (st != FS_OK)
		return st;
	if (!(p[0] = stripe_object_id(obj)))
		return fs_fail(err, FS_BAD_GATEWAY, "Stripe's answer named no customer");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "UPDATE users SET stripe_customer_id = CASE WHEN stripe_customer_id IS NULL"
			    " OR stripe_customer_id LIKE 'cus\\_mock\\_%' THEN $1 ELSE stripe_customer_id"
			    " END, updated_at = flowsend_now() WHERE id = flowsend_current_user()"
			    " RETURNING stripe_customer_id",
			    1, p);
	if (!r || PQntuples(r) != 1) {
		if (strcmp(db_last_sqlstate(env->db), "23505") == 0) {
			log_error("stripe customer %s is already another user's", p[0]);
			return fs_fail(err, FS_BAD_GATEWAY,
				       "Stripe returned a customer that belongs to another account");
		}
		return fs_fail(err, FS_ERROR, "storing the Stripe customer failed");
	}
	*customer = arena_strdup(env->arena, db_get(r, 0, "stripe_customer_id"));
	return FS_OK;
}

static enum fs_status stripe_checkout(struct fs_env *env, const struct plan *plan,
				      json_object **out, struct fs_error *err)
{
	static const char *const price_key[] = { "line_items", "0", "price" };
	static const char *const quantity_key[] = { "line_items", "0", "quantity" };
	static const char *const meta_user[] = { "metadata", "user_id" };
	static const char *const meta_plan[] = { "metadata", "plan" };
	static const char *const sub_user[] = { "subscription_data", "metadata", "user_id" };
	static const char *const sub_plan[] = { "subscription_data", "metadata", "plan" };
	static const char *const sub_trial[] = { "subscription_data", "trial_period_days" };
	const struct fs_config *cfg = env->cfg;
	const char *price = strcmp(plan->tier, "pro") == 0 ? cfg->stripe_pro_price_id
							   : cfg->stripe_enterprise_price_id;
	struct strbuf form = STRBUF_INIT;
	const char *customer, *email, *session, *url, *p[3];
	char key[64], days[16];
	json_object *obj = NULL;
	enum fs_status st;
	PGresult *r;

	if (!price[0])
		return fs_fail(err, FS_UNAVAILABLE, "The %s plan has no Stripe price on this server",
			       plan->name);
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT u.email, u.stripe_customer_id, EXISTS (SELECT 1 FROM subscriptions s"
			    " WHERE s.user_id = u.id AND s.status IN " LIVE_STATUSES ") AS live"
			    " FROM users u WHERE u.id = flowsend_current_user()",
			    0, NULL);
	if (!r || PQntuples(r) != 1)
		return fs_fail(err, FS_ERROR, "reading the billing account failed");
	if (db_get_bool(r, 0, "live"))
		return fs_fail(err, FS_BAD_REQUEST, "User already has an active subscription");
	email = arena_strdup(env->arena, db_get(r, 0, "email"));
	customer = db_get(r, 0, "stripe_customer_id");
	customer = real_customer(customer) ? arena_strdup(env->arena, customer) : NULL;
	if (!customer && (st = stripe_customer(env, email, &customer, err)) != FS_OK)
		return st;

	/* One key per checkout asked for: its retry repeats it, a new click
	 * makes a new session. */
	if (random_token("flowsend-checkout-", 18, key, sizeof(key)) < 0)
		return fs_fail(err, FS_ERROR, "creating the session failed");
	snprintf(days, sizeof(days), "%d", plan->trial_days);
	stripe_form_add(&form, "mode", "subscription", 12);
	stripe_form_add(&form, "customer", customer, strlen(customer));
	stripe_form_add(&form, "client_reference_id", env->user_id, strlen(env->user_id));
	stripe_form_add_nested(&form, price_key, 3, price);
	stripe_form_add_nested(&form, quantity_key, 3, "1");
	stripe_form_add_nested(&form, meta_user, 2, env->user_id);
	stripe_form_add_nested(&form, meta_plan, 2, plan->tier);
	stripe_form_add_nested(&form, sub_user, 3, env->user_id);
	stripe_form_add_nested(&form, sub_plan, 3, plan->tier);
	if (plan->trial_days > 0)
		stripe_form_add_nested(&form, sub_trial, 2, days);
	url = arena_sprintf(env->arena, "%s/app/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}",
			    cfg->public_url);
	stripe_form_add(&form, "success_url", url, strlen(url));
	url = arena_sprintf(env->arena, "%s/app/billing?checkout=canceled", cfg->public_url);
	stripe_form_add(&form, "cancel_url", url, strlen(url));
	st = stripe_call(env, "/v1/checkout/sessions", &form, key, &obj, err);
	strbuf_free(&form);
	if (st != FS_OK)
		return st;
	session = stripe_object_id(obj);
	url = stripe_session_url(obj);
	if (!session || !url) {
		log_warn("stripe checkout: the answer held no usable id or https url");
		return fs_fail(err, FS_BAD_GATEWAY, "Stripe's answer held no usable checkout session");
	}
	p[0] = session;
	p[1] = plan->tier;
	p[2] = customer;
	/* Kept so checkout.session.completed finds this user by the session;
	 * failing that, the webhook still finds it by the customer. */
	if (!db_tenant_query(env->db, env->arena, env->user_id,
			     "INSERT INTO stripe_checkout_sessions (id, user_id, plan, stripe_customer_id)"
			     " VALUES ($1, flowsend_current_user(), $2, $3) ON CONFLICT (id) DO NOTHING",
			     3, p))
		log_warn("checkout session %s: not recorded (%s)", session, db_last_sqlstate(env->db));
	*out = json_object_new_object();
	json_object_object_add(*out, "checkout_url", json_object_new_string(url));
	json_object_object_add(*out, "session_id", json_object_new_string(session));
	return FS_OK;
}

static enum fs_status stripe_portal(struct fs_env *env, const char *customer, json_object **out,
				    struct fs_error *err)
{
	struct strbuf form = STRBUF_INIT;
	json_object *obj = NULL;
	const char *url;
	char key[64];
	enum fs_status st;

	if (!real_customer(customer))
		return fs_fail(err, FS_BAD_REQUEST, "User has no billing account");
	if (random_token("flowsend-portal-", 18, key, sizeof(key)) < 0)
		return fs_fail(err, FS_ERROR, "creating the session failed");
	url = arena_sprintf(env->arena, "%s/app/billing", env->cfg->public_url);
	stripe_form_add(&form, "customer", customer, strlen(customer));
	stripe_form_add(&form, "return_url", url, strlen(url));
	st = stripe_call(env, "/v1/billing_portal/sessions", &form, key, &obj, err);
	strbuf_free(&form);
	if (st != FS_OK)
		return st;
	if (!(url = stripe_session_url(obj))) {
		log_warn("stripe portal: the answer held no usable https url");
		return fs_fail(err, FS_BAD_GATEWAY, "Stripe's answer held no usable portal address");
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "portal_url", json_object_new_string(url));
	return FS_OK;
}
