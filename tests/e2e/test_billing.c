/* Billing, usage and analytics end to end (issue 22): the original's billing
 * behaviours in mock mode, the Stripe webhook (signature cases, replays,
 * each subscription event, out-of-order delivery), past_due and downgrade
 * rules, api_access per plan, usage that follows real sends and imports over
 * the UTC month, and analytics equal to a direct count of the events (bot
 * hits left out), with tenants kept apart and auth on every route. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/strbuf.h"
#include "core/stripe_sig.h"
#include "db/db.h"
#include "e2e.h"
#include "mail/track_token.h"
#include "services/billing.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"
#define BROWSER "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)" \
		" Chrome/120.0 Safari/537.36"

static char token[4096];

static struct fs_config config(void)
{
	struct fs_config cfg;
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	return cfg;
}

static long long owner1(const char *sql, const char *a1)
{
	const char *p[1] = { a1 };
	return e2e_owner_value(sql, a1 ? 1 : 0, p);
}

/* A member of an object as a number (0 when absent). */
static long long num(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* /usage's metric name: used, and its limit into *limit. */
static long long usage_of(const char *tok, const char *name, long long *limit)
{
	struct http_answer a;
	json_object *metrics;
	long long used = -1;

	e2e_expect(tok, "GET", "/api/v1/usage", NULL, 200, NULL, &a);
	metrics = json_object_object_get(a.json, "metrics");
	ck_assert_int_eq(json_object_array_length(metrics), 4);
	for (size_t i = 0; i < json_object_array_length(metrics); i++) {
		json_object *m = json_object_array_get_idx(metrics, i);
		if (strcmp(json_str(m, "name"), name) == 0) {
			used = num(m, "used");
			if (limit)
				*limit = num(m, "limit");
		}
	}
	http_answer_free(&a);
	ck_assert_msg(used >= 0, "no metric %s", name);
	return used;
}

/* POST /webhooks/stripe with body signed at t by secret (NULL: no header;
 * header given: that header as it is). The answer's status. */
static long stripe_post(const char *body, const char *secret, long long t, const char *header,
			struct http_answer *out)
{
	char sig[STRIPE_SIG_HEADER_MAX + 64], line[STRIPE_SIG_HEADER_MAX + 96];
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	struct http_answer a;
	long status;

	if (header) {
		snprintf(line, sizeof(line), "Stripe-Signature: %s", header);
		headers[1] = line;
	} else if (secret) {
		ck_assert_int_eq(stripe_sig_sign(body, strlen(body), secret, t, sig, sizeof(sig)), 0);
		snprintf(line, sizeof(line), "Stripe-Signature: %s", sig);
		headers[1] = line;
	}
	ck_assert_int_eq(http_call("POST", "/api/v1/webhooks/stripe", headers, body, strlen(body), &a), 0);
	status = a.status;
	if (out)
		*out = a;
	else
		http_answer_free(&a);
	return status;
}

/* A properly signed event: 200 expected, the outcome ("applied",
 * "duplicate", "ignored") returned in a static buffer. */
static const char *stripe_event(const char *body)
{
	static char outcome[32];
	struct fs_config cfg = config();
	struct http_answer a;

	ck_assert_int_eq(stripe_post(body, cfg.stripe_webhook_secret, time(NULL), NULL, &a), 200);
	ck_assert_str_eq(json_str(a.json, "status"), "ok");
	snprintf(outcome, sizeof(outcome), "%s", json_str(a.json, "outcome"));
	http_answer_free(&a);
	return outcome;
}

static int event_seq;

/* A subscription event's body: type, subscription id, customer, status,
 * plan (NULL: no metadata), created (0: now). */
static void sub_body(char *out, size_t size, const char *type, const char *sub, const char *customer,
		     const char *status, const char *plan, long long created)
{
	long long now = time(NULL);
	char meta[64] = "{}";

	if (plan)
		snprintf(meta, sizeof(meta), "{\"plan\":\"%s\"}", plan);
	snprintf(out, size,
		 "{\"id\":\"evt_e2e_%d_%lld_%d\",\"object\":\"event\",\"type\":\"%s\",\"created\":%lld,"
		 "\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"subscription\",\"customer\":\"%s\","
		 "\"status\":\"%s\",\"current_period_start\":%lld,\"current_period_end\":%lld,"
		 "\"cancel_at_period_end\":false,\"trial_start\":%s,\"trial_end\":%s,\"metadata\":%s}}}",
		 (int)getpid(), now, ++event_seq, type, created ? created : now, sub, customer, status,
		 now, now + 30 * 86400, strcmp(status, "trialing") == 0 ? "1700000000" : "null",
		 strcmp(status, "trialing") == 0 ? "1900000000" : "null", meta);
}

static void invoice_body(char *out, size_t size, const char *type, const char *sub,
			 const char *customer)
{
	snprintf(out, size,
		 "{\"id\":\"evt_e2e_inv_%d_%lld_%d\",\"type\":\"%s\",\"created\":%lld,"
		 "\"data\":{\"object\":{\"id\":\"in_1\",\"object\":\"invoice\",\"customer\":\"%s\","
		 "\"subscription\":\"%s\"}}}",
		 (int)getpid(), (long long)time(NULL), ++event_seq, type, (long long)time(NULL), customer,
		 sub);
}

/* The tenant's live subscription member, or "" when none (into out). */
static const char *current(const char *tok, const char *key, char *out, size_t size)
{
	struct http_answer a;
	const char *v;

	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	v = a.json && json_object_is_type(a.json, json_type_object) ? json_str(a.json, key) : NULL;
	snprintf(out, size, "%s", v ? v : "");
	http_answer_free(&a);
	return out;
}

static void checkout(const char *tok, const char *plan)
{
	char body[64];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"plan\":\"%s\"}", plan);
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", body, 201, NULL, &a);
	ck_assert_ptr_nonnull(json_str(a.json, "checkout_url"));
	ck_assert_ptr_nonnull(json_str(a.json, "session_id"));
	http_answer_free(&a);
}

/* The stripe customer id mock checkout gave the tenant. */
static void customer_of(const char *tok, char *out, size_t size)
{
	char uid[40];
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT stripe_customer_id FROM users WHERE id = $1", 1,
					     (const char *const[]){ e2e_user_id(tok, uid) }, out, size));
}

/* Poll /auth/me until plan shows (the auth cache hears of it by NOTIFY). */
static void wait_plan(const char *tok, const char *plan)
{
	for (int i = 0; i < 50; i++) {
		struct http_answer a;
		int seen;
		e2e_expect(tok, "GET", "/api/v1/auth/me", NULL, 200, NULL, &a);
		seen = strcmp(json_str(a.json, "plan"), plan) == 0;
		http_answer_free(&a);
		if (seen)
			return;
		usleep(100000);
	}
	ck_abort_msg("plan %s never reached the responders", plan);
}

static void campaign(const char *tok, const char *extra, char *id)
{
	char body[512];
	struct http_answer a;

	snprintf(body, sizeof(body),
		 "{\"name\":\"Billing\",\"subject\":\"Hi\",\"template_id\":\"" WELCOME_TEMPLATE "\"%s}",
		 extra ? extra : "");
	e2e_expect(tok, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void wait_campaign(const char *tok, const char *id, const char *status)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	for (int i = 0; i < 600; i++) {
		struct http_answer a;
		int same;
		e2e_expect(tok, "GET", path, NULL, 200, NULL, &a);
		same = strcmp(json_str(a.json, "status"), status) == 0;
		http_answer_free(&a);
		if (same)
			return;
		usleep(100000);
	}
	ck_abort_msg("campaign %s never became %s", id, status);
}

static void import(const char *tok, int n, const char *domain)
{
	struct strbuf body = STRBUF_INIT;

	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < n; i++)
		strbuf_appendf(&body, "%s\"n%d@%s\"", i ? "," : "", i, domain);
	strbuf_appends(&body, "]}");
	e2e_expect(tok, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
}

/* ---- billing ----------------------------------------------------------- */

START_TEST(plans_checkout_portal_current_overview_as_the_original)
{
	struct http_answer a;
	json_object *plans, *o;

	e2e_new_tenant("bill", token, sizeof(token));
	e2e_expect(NULL, "GET", "/api/v1/billing/plans", NULL, 200, NULL, &a);
	plans = a.json;
	ck_assert_int_eq(json_object_array_length(plans), 3);
	o = json_object_array_get_idx(plans, 0);
	ck_assert_str_eq(json_str(o, "tier"), "free");
	ck_assert_int_eq(num(o, "price_monthly_cents"), 0);
	ck_assert_int_eq(num(o, "trial_days"), 0);
	ck_assert(!json_object_get_boolean(json_object_object_get(o, "api_access")));
	ck_assert_str_eq(json_str(json_object_array_get_idx(plans, 1), "tier"), "pro");
	ck_assert_str_eq(json_str(json_object_array_get_idx(plans, 2), "tier"), "enterprise");
	http_answer_free(&a);

	/* Before: free, no subscription, usage metrics. */
	e2e_expect(token, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert(a.json == NULL || json_object_is_type(a.json, json_type_null));
	ck_assert_str_eq(a.body, "null");
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "current_plan"), "free");
	ck_assert_str_eq(json_str(a.json, "plan_name"), "Free");
	ck_assert(json_object_is_type(json_object_object_get(a.json, "subscription"), json_type_null));
	ck_assert_int_eq(json_object_array_length(json_object_object_get(
				 json_object_object_get(a.json, "usage"), "metrics")),
			 4);
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/billing/portal", NULL, 400, "User has no billing account", NULL);

	/* The refusals, then a checkout. */
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"free\"}", 400,
		   "Cannot checkout for free plan", NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"gold\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":7}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\\u0000\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "[1]", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, &a);
	ck_assert_msg(strstr(json_str(a.json, "checkout_url"), json_str(a.json, "session_id")) != NULL,
		      "the url names the session");
	ck_assert(strncmp(json_str(a.json, "session_id"), "cs_", 3) == 0);
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"enterprise\"}", 400,
		   "User already has an active subscription", NULL);

	/* After: pro, active, 30 days. */
	e2e_expect(token, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "pro");
	ck_assert_str_eq(json_str(a.json, "status"), "active");
	ck_assert_ptr_nonnull(json_str(a.json, "current_period_end"));
	ck_assert_ptr_nonnull(json_str(a.json, "user_id"));
	ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "cancel_at_period_end")));
	http_answer_free(&a);
	ck_assert_int_eq(owner1("SELECT extract(day FROM current_period_end - current_period_start)::int"
				" FROM subscriptions WHERE user_id = $1::uuid",
				e2e_user_id(token, (char[40]){ 0 })),
			 30);
	e2e_expect(token, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "current_plan"), "pro");
	ck_assert_str_eq(json_str(a.json, "plan_name"), "Pro");
	ck_assert_str_eq(json_str(json_object_object_get(a.json, "subscription"), "status"), "active");
	http_answer_free(&a);
	wait_plan(token, "pro");
	e2e_expect(token, "POST", "/api/v1/billing/portal", NULL, 200, NULL, &a);
	ck_assert_ptr_nonnull(json_str(a.json, "portal_url"));
	http_answer_free(&a);
}
END_TEST

START_TEST(every_route_needs_auth_and_keeps_tenants_apart)
{
	static const char *const routes[][2] = {
		{ "POST", "/api/v1/billing/checkout" }, { "POST", "/api/v1/billing/portal" },
		{ "GET", "/api/v1/billing/current" },   { "GET", "/api/v1/billing/overview" },
		{ "GET", "/api/v1/usage" },             { "GET", "/api/v1/analytics" },
		{ "GET", "/api/v1/analytics?days=7" },
	};
	char other[4096], sub[64], buf[64];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		e2e_expect(NULL, routes[i][0], routes[i][1], "{\"plan\":\"pro\"}", 401, "Not authenticated", NULL);
		e2e_expect("not-a-jwt", routes[i][0], routes[i][1], "{\"plan\":\"pro\"}", 401, NULL, NULL);
	}
	e2e_expect(NULL, "GET", "/api/v1/billing/plans", NULL, 200, NULL, NULL);
	e2e_expect(NULL, "PUT", "/api/v1/usage", NULL, 405, NULL, NULL);
	e2e_expect(NULL, "GET", "/api/v1/usage/x", NULL, 404, NULL, NULL);

	e2e_new_tenant("bill-a", token, sizeof(token));
	e2e_new_tenant("bill-b", other, sizeof(other));
	checkout(token, "pro");
	current(token, "stripe_subscription_id", sub, sizeof(sub));
	ck_assert(strlen(sub) > 4);
	/* B sees nothing of A's. */
	ck_assert_str_eq(current(other, "id", buf, sizeof(buf)), "");
	{
		struct http_answer a;
		e2e_expect(other, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
		ck_assert_str_eq(json_str(a.json, "current_plan"), "free");
		http_answer_free(&a);
	}
	e2e_expect(other, "POST", "/api/v1/billing/portal", NULL, 400, "User has no billing account", NULL);
	/* Its own checkout is not blocked by A's subscription. */
	checkout(other, "enterprise");
	ck_assert_str_eq(current(other, "plan", buf, sizeof(buf)), "enterprise");
	ck_assert_str_eq(current(token, "plan", buf, sizeof(buf)), "pro");
	/* An import for A counts for A alone. */
	import(token, 3, "iso-a.example");
	ck_assert_int_eq(usage_of(token, "contacts", NULL), 3);
	ck_assert_int_eq(usage_of(other, "contacts", NULL), 0);
}
END_TEST

START_TEST(the_webhook_signature_is_always_checked)
{
	struct fs_config cfg = config();
	char body[2048], hex[SHA256_HEX_LEN + 1], header[512], sig[256];
	long long now = time(NULL);
	struct http_answer a;
	struct strbuf big = STRBUF_INIT;

	sub_body(body, sizeof(body), "customer.subscription.updated", "sub_nobody", "cus_nobody",
		 "active", "pro", 0);
	/* valid, for nobody we know: acknowledged, nothing applied */
	ck_assert_int_eq(stripe_post(body, cfg.stripe_webhook_secret, now, NULL, &a), 200);
	ck_assert_str_eq(json_str(a.json, "outcome"), "ignored");
	http_answer_free(&a);
	/* wrong secret, missing, stale (> 5 minutes), too far ahead */
	ck_assert_int_eq(stripe_post(body, "whsec_wrong", now, NULL, &a), 400);
	ck_assert_str_eq(http_detail(&a), "Invalid webhook signature");
	http_answer_free(&a);
	ck_assert_int_eq(stripe_post(body, NULL, now, NULL, NULL), 400);
	ck_assert_int_eq(stripe_post(body, cfg.stripe_webhook_secret, now - 301, NULL, NULL), 400);
	ck_assert_int_eq(stripe_post(body, cfg.stripe_webhook_secret, now - 290, NULL, NULL), 200);
	ck_assert_int_eq(stripe_post(body, cfg.stripe_webhook_secret, now + 3600, NULL, NULL), 400);
	/* malformed headers */
	{
		static const char *const bad[] = { "garbage", "t=,v1=00", "v1=abc", "t=123",
						   "t=12a,v1=00", "t=1,t=2,v1=00", "t=1;v1=00", "=,=", "," };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_int_eq(stripe_post(body, NULL, 0, bad[i], NULL), 400);
	}
	/* several v1 (a secret being rolled): any one matching is enough */
	{
		struct strbuf payload = STRBUF_INIT;
		strbuf_appendf(&payload, "%lld.%s", now, body);
		hmac_sha256_hex(cfg.stripe_webhook_secret, strlen(cfg.stripe_webhook_secret), payload.buf,
				payload.len, hex);
		strbuf_free(&payload);
		snprintf(header, sizeof(header), "t=%lld, v1=%064d, v0=abc, v1=%s", now, 0, hex);
		ck_assert_int_eq(stripe_post(body, NULL, 0, header, NULL), 200);
		snprintf(header, sizeof(header), "t=%lld,v1=%064d,v1=%064d", now, 0, 1);
		ck_assert_int_eq(stripe_post(body, NULL, 0, header, NULL), 400);
		/* the signature of another body does not carry over */
		snprintf(header, sizeof(header), "t=%lld,v1=%s", now, hex);
		ck_assert_int_eq(stripe_post("{\"id\":\"evt_x\"}", NULL, 0, header, NULL), 400);
		/* nor to another timestamp */
		snprintf(header, sizeof(header), "t=%lld,v1=%s", now - 1, hex);
		ck_assert_int_eq(stripe_post(body, NULL, 0, header, NULL), 400);
	}
	/* signed but not JSON, or not an event: 400, never 500 */
	ck_assert_int_eq(stripe_post("not json", cfg.stripe_webhook_secret, now, NULL, &a), 400);
	ck_assert_str_eq(http_detail(&a), "Invalid JSON payload");
	http_answer_free(&a);
	ck_assert_int_eq(stripe_post("{}", cfg.stripe_webhook_secret, now, NULL, NULL), 400);
	ck_assert_int_eq(stripe_post("[]", cfg.stripe_webhook_secret, now, NULL, NULL), 400);
	ck_assert_int_eq(stripe_post("{\"id\":5,\"type\":\"x\",\"data\":{\"object\":{}}}",
				     cfg.stripe_webhook_secret, now, NULL, NULL),
			 400);
	ck_assert_int_eq(stripe_post("{\"id\":\"evt_1\",\"type\":\"x\",\"data\":{\"object\":[]}}",
				     cfg.stripe_webhook_secret, now, NULL, NULL),
			 400);
	/* hostile values: a huge header, NUL in the header */
	strbuf_appends(&big, "t=1");
	for (int i = 0; i < 600; i++)
		strbuf_appends(&big, ",v1=0000000000");
	ck_assert_int_eq(stripe_post(body, NULL, 0, big.buf, NULL), 400);
	strbuf_free(&big);
	ck_assert_int_eq(stripe_sig_sign(body, strlen(body), cfg.stripe_webhook_secret, now, sig,
					 sizeof(sig)),
			 0);
	/* unknown kinds of events, for an account that exists, are acknowledged */
	e2e_new_tenant("bill-sig", token, sizeof(token));
	checkout(token, "pro");
	{
		char cus[64], ev[512];
		customer_of(token, cus, sizeof(cus));
		snprintf(ev, sizeof(ev),
			 "{\"id\":\"evt_unknown_%d_%lld\",\"type\":\"charge.refunded\",\"data\":{\"object\":"
			 "{\"customer\":\"%s\"}}}",
			 (int)getpid(), now, cus);
		ck_assert_str_eq(stripe_event(ev), "applied");
		ck_assert_str_eq(stripe_event(ev), "duplicate");
	}
}
END_TEST

START_TEST(subscription_events_move_the_plan_and_replays_change_nothing)
{
	char body[2048], sub[64], cus[64], buf[64], camp[40], path[128], trial[64];

	e2e_new_tenant("bill-ev", token, sizeof(token));
	/* Stripe's ids are unique: one of its own for each run */
	snprintf(trial, sizeof(trial), "sub_e2e_trial_%d_%lld", (int)getpid(), (long long)time(NULL));
	checkout(token, "pro");
	current(token, "stripe_subscription_id", sub, sizeof(sub));
	customer_of(token, cus, sizeof(cus));
	wait_plan(token, "pro");

	/* updated: an upgrade */
	sub_body(body, sizeof(body), "customer.subscription.updated", sub, cus, "active", "enterprise", 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "plan", buf, sizeof(buf)), "enterprise");
	wait_plan(token, "enterprise");
	/* the same event again (a retry, or a replay with a fresh signature) */
	ck_assert_str_eq(stripe_event(body), "duplicate");
	ck_assert_int_eq(owner1("SELECT count(*) FROM stripe_events WHERE user_id = $1::uuid",
				e2e_user_id(token, (char[40]){ 0 })),
			 1);

	/* created: a new subscription in trial replaces the mock one */
	sub_body(body, sizeof(body), "customer.subscription.created", trial, cus, "trialing",
		 "pro", 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "status", buf, sizeof(buf)), "trialing");
	ck_assert_str_eq(current(token, "stripe_subscription_id", buf, sizeof(buf)), trial);
	ck_assert_str_eq(current(token, "trial_end", buf, sizeof(buf)), "2030-03-17T17:46:40Z");
	wait_plan(token, "pro");
	ck_assert_int_eq(owner1("SELECT count(*) FROM subscriptions WHERE user_id = $1::uuid"
				" AND status IN ('trialing', 'active', 'past_due')",
				e2e_user_id(token, (char[40]){ 0 })),
			 1);
	/* trial end: Stripe warns, then the subscription turns active */
	sub_body(body, sizeof(body), "customer.subscription.trial_will_end", trial, cus,
		 "trialing", "pro", 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	sub_body(body, sizeof(body), "customer.subscription.updated", trial, cus, "active",
		 "pro", 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "status", buf, sizeof(buf)), "active");

	/* payment failed: past_due, every send refused */
	import(token, 2, "pastdue.example");
	campaign(token, NULL, camp);
	invoice_body(body, sizeof(body), "invoice.payment_failed", trial, cus);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "status", buf, sizeof(buf)), "past_due");
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 400, "Payment past due", NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", camp);
	e2e_expect(token, "POST", path, "{\"email\":\"t@pastdue.example\"}", 400, "Payment past due", NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", camp);
	e2e_expect(token, "PATCH", path, "{\"scheduled_at\":\"2030-01-01T00:00:00Z\"}", 400,
		   "Payment past due", NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"x\",\"subject\":\"y\",\"scheduled_at\":\"2030-01-01T00:00:00Z\"}", 400,
		   "Payment past due", NULL);
	/* the plan stays (data and reads are untouched), a checkout is refused */
	{
		struct http_answer a;
		e2e_expect(token, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
		ck_assert_str_eq(json_str(a.json, "current_plan"), "pro");
		http_answer_free(&a);
	}
	e2e_expect(token, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 400,
		   "User already has an active subscription", NULL);
	/* paid: sends work again */
	invoice_body(body, sizeof(body), "invoice.payment_succeeded", trial, cus);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "status", buf, sizeof(buf)), "active");
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);

	/* deleted: back to free, no live subscription */
	sub_body(body, sizeof(body), "customer.subscription.deleted", trial, cus, "canceled",
		 NULL, 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "id", buf, sizeof(buf)), "");
	wait_plan(token, "free");
	/* an older "updated" delivered late does not bring it back */
	sub_body(body, sizeof(body), "customer.subscription.updated", trial, cus, "active",
		 "pro", (long long)time(NULL) - 100);
	ck_assert_str_eq(stripe_event(body), "applied");
	ck_assert_str_eq(current(token, "id", buf, sizeof(buf)), "");
	{
		struct http_answer a;
		e2e_expect(token, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
		ck_assert_str_eq(json_str(a.json, "current_plan"), "free");
		http_answer_free(&a);
	}
	/* and a new checkout is possible again */
	checkout(token, "pro");
}
END_TEST

START_TEST(a_downgrade_keeps_data_but_refuses_more_than_the_new_limits)
{
	char body[2048], sub[64], cus[64], camp[40], path[128], uid[40];
	struct e2e_env e;
	struct fs_error err;
	long long limit;

	e2e_new_tenant("bill-down", token, sizeof(token));
	checkout(token, "pro");
	wait_plan(token, "pro");
	current(token, "stripe_subscription_id", sub, sizeof(sub));
	customer_of(token, cus, sizeof(cus));
	import(token, 600, "down.example");
	ck_assert_int_eq(usage_of(token, "contacts", &limit), 600);
	ck_assert_int_eq(limit, 10000);

	sub_body(body, sizeof(body), "customer.subscription.deleted", sub, cus, "canceled", NULL, 0);
	ck_assert_str_eq(stripe_event(body), "applied");
	wait_plan(token, "free");
	/* the data stays */
	ck_assert_int_eq(usage_of(token, "contacts", &limit), 600);
	ck_assert_int_eq(limit, 250);
	e2e_expect(token, "GET", "/api/v1/contacts?page_size=1", NULL, 200, NULL, NULL);
	/* but no new contact, and no send over the free month's 500 */
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"new@down.example\"}", 400,
		   "Contact limit reached for your plan", NULL);
	campaign(token, NULL, camp);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 400, "over your plan's monthly limit of 500", NULL);
	ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 0);

	/* active flows: two on free is the limit (the flows API asks
	 * billing_flow_activation_allowed before activating) */
	e2e_user_id(token, uid);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(owner1("WITH f AS (INSERT INTO flows (user_id, name, trigger_type, status)"
					" VALUES ($1::uuid, 'f', 'signup', 'active') RETURNING 1)"
					" SELECT count(*) FROM f",
					uid),
				 1);
	ck_assert_int_eq(usage_of(token, "flows", &limit), 3);
	ck_assert_int_eq(limit, 2);
	e2e_env_open(&e, uid, "free");
	ck_assert_int_eq(db_begin_tenant(e.env.db, uid), FS_OK);
	ck_assert_int_eq(billing_flow_activation_allowed(&e.env, &err), FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "Active flow limit reached for your plan");
	db_rollback(e.env.db);
	ck_assert_int_eq(owner1("WITH f AS (UPDATE flows SET status = 'paused' WHERE user_id = $1::uuid"
				" RETURNING 1) SELECT count(*) FROM f",
				uid),
			 3);
	ck_assert_int_eq(usage_of(token, "flows", NULL), 0);
	ck_assert_int_eq(db_begin_tenant(e.env.db, uid), FS_OK);
	ck_assert_int_eq(billing_flow_activation_allowed(&e.env, &err), FS_OK);
	db_rollback(e.env.db);
	/* the send side of flows asks the same past_due question */
	ck_assert_int_eq(db_begin_tenant(e.env.db, uid), FS_OK);
	ck_assert_int_eq(billing_send_allowed(e.env.db, e.env.arena, uid, &err), FS_OK);
	db_rollback(e.env.db);
	/* and the monthly quota: 500 on free, none used yet */
	ck_assert_int_eq(db_begin_tenant(e.env.db, uid), FS_OK);
	ck_assert_int_eq(billing_email_quota(e.env.db, e.env.arena, uid, plan_find("free"), 500, &err), FS_OK);
	ck_assert_int_eq(billing_email_quota(e.env.db, e.env.arena, uid, plan_find("free"), 501, &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "Monthly email limit reached for your plan");
	ck_assert_int_eq(billing_email_quota(e.env.db, e.env.arena, uid, plan_find("enterprise"), 1L << 40,
					     &err),
			 FS_OK);
	db_rollback(e.env.db);
	e2e_env_close(&e);
	ck_assert_int_eq(owner1("WITH f AS (DELETE FROM flows WHERE user_id = $1::uuid RETURNING 1)"
				" SELECT count(*) FROM f",
				uid),
			 3);
	ck_assert_int_eq(owner1("SELECT flows FROM usage_counters WHERE user_id = $1::uuid", uid), 0);
}
END_TEST

START_TEST(api_access_follows_the_plan)
{
	struct fs_config cfg = config();
	char key[256], rkey[256], provisioned[256], email[128], body[512], sig[600];
	struct http_answer a;

	e2e_new_tenant("bill-key", token, sizeof(token));
	/* keys can be created on every plan */
	e2e_expect(token, "POST", "/api/v1/api-keys", "{\"name\":\"k\",\"scopes\":[\"admin\"]}", 201, NULL, &a);
	snprintf(key, sizeof(key), "%s", json_str(a.json, "key"));
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/api-keys", "{\"name\":\"r\",\"scopes\":[\"read\"]}", 201, NULL, &a);
	snprintf(rkey, sizeof(rkey), "%s", json_str(a.json, "key"));
	http_answer_free(&a);
	/* but on free they are refused, after authentication, before the scope */
	ck_assert_int_eq(http_key("GET", "/api/v1/auth/me", key, NULL, &a), 0);
	ck_assert_int_eq(a.status, 403);
	ck_assert_str_eq(http_detail(&a), "API access requires the Pro or Enterprise plan");
	http_answer_free(&a);
	ck_assert_int_eq(http_key("POST", "/api/v1/contacts", rkey, "{\"email\":\"a@b.example\"}", &a), 0);
	ck_assert_int_eq(a.status, 403);
	ck_assert_str_eq(http_detail(&a), "API access requires the Pro or Enterprise plan");
	http_answer_free(&a);
	ck_assert_int_eq(http_key("GET", "/api/v1/usage", "fs_live_unknown", NULL, &a), 0);
	ck_assert_int_eq(a.status, 401);
	http_answer_free(&a);
	/* the dashboard's JWT works on every plan */
	e2e_expect(token, "GET", "/api/v1/usage", NULL, 200, NULL, NULL);
	/* pro: the keys work, and scopes apply again */
	checkout(token, "pro");
	wait_plan(token, "pro");
	ck_assert_int_eq(http_key("GET", "/api/v1/usage", key, NULL, &a), 0);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
	ck_assert_int_eq(http_key("POST", "/api/v1/contacts", rkey, "{\"email\":\"a@b.example\"}", &a), 0);
	ck_assert_int_eq(a.status, 403);
	ck_assert_str_eq(http_detail(&a), "Insufficient scope");
	http_answer_free(&a);

	/* a provisioned (platform) key works on free */
	e2e_unique_email("bill-prov", email, sizeof(email));
	snprintf(body, sizeof(body),
		 "{\"email\":\"%s\",\"external_platform_id\":\"bill-%d-%ld\",\"plan\":\"free\"}", email,
		 (int)getpid(), (long)time(NULL));
	{
		char hex[SHA256_HEX_LEN + 1];
		struct strbuf p = STRBUF_INIT;
		long long now = time(NULL);
		const char *headers[3] = { "Content-Type: application/json", sig, NULL };
		strbuf_appendf(&p, "%lld.%s", now, body);
		hmac_sha256_hex(cfg.platform_webhook_secret, strlen(cfg.platform_webhook_secret), p.buf,
				p.len, hex);
		strbuf_free(&p);
		snprintf(sig, sizeof(sig), "X-Platform-Signature: t=%lld,v1=%s", now, hex);
		ck_assert_int_eq(http_call("POST", "/api/v1/auth/provision", headers, body, strlen(body), &a),
				 0);
		ck_assert_int_eq(a.status, 201);
		snprintf(provisioned, sizeof(provisioned), "%s", json_str(a.json, "api_key"));
		http_answer_free(&a);
	}
	ck_assert_int_eq(http_key("GET", "/api/v1/usage", provisioned, NULL, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(json_str(a.json, "plan"), "free");
	http_answer_free(&a);
}
END_TEST

START_TEST(usage_follows_sends_and_imports_over_the_utc_month)
{
	char camp[40], path[128], uid[40], start[32], end[32];
	struct http_answer a;
	time_t now = time(NULL);
	struct tm tm;
	long long limit;

	e2e_new_tenant("bill-use", token, sizeof(token));
	e2e_user_id(token, uid);
	ck_assert_int_eq(usage_of(token, "emails_sent", &limit), 0);
	ck_assert_int_eq(limit, 500);
	import(token, 7, "use.example");
	ck_assert_int_eq(usage_of(token, "contacts", NULL), 7);
	campaign(token, NULL, camp);
	ck_assert_int_eq(usage_of(token, "campaigns", &limit), 1);
	ck_assert_int_eq(limit, -1);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);
	wait_campaign(token, camp, "sent");
	ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 7);
	/* a test send counts too */
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", camp);
	e2e_expect(token, "POST", path, "{\"email\":\"t@use.example\"}", 202, NULL, NULL);
	ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 8);
	/* the counter equals what the outbox holds for the month */
	ck_assert_int_eq(owner1("SELECT count(*) FROM outbox WHERE user_id = $1::uuid AND status <> 'cancelled'"
				" AND NOT (payload IS NOT NULL AND payload ? 'account_mail')"
				" AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
				uid),
			 8);
	/* last month's mail is last month's */
	ck_assert_int_eq(owner1("WITH m AS (INSERT INTO usage_monthly (user_id, month, emails)"
				" VALUES ($1::uuid, (date_trunc('month', now() AT TIME ZONE 'UTC')"
				" - interval '1 month')::date, 400) RETURNING 1) SELECT count(*) FROM m",
				uid),
			 1);
	ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 8);
	/* the period is the UTC calendar month */
	gmtime_r(&now, &tm);
	strftime(start, sizeof(start), "%Y-%m-01T00:00:00Z", &tm);
	tm.tm_mon += 1;
	if (tm.tm_mon == 12) {
		tm.tm_mon = 0;
		tm.tm_year += 1;
	}
	strftime(end, sizeof(end), "%Y-%m-01T00:00:00Z", &tm);
	e2e_expect(token, "GET", "/api/v1/usage", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "free");
	ck_assert_str_eq(json_str(a.json, "period_start"), start);
	ck_assert_str_eq(json_str(a.json, "period_end"), end);
	http_answer_free(&a);
	/* the overview carries the same usage */
	e2e_expect(token, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(json_object_object_get(a.json, "usage"), "period_start"), start);
	http_answer_free(&a);
	/* a cancelled campaign gives back what never left */
	e2e_pause_worker(1);
	{
		char second[40];
		campaign(token, NULL, second);
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", second);
		e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);
		ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 15);
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s/cancel", second);
		e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
		ck_assert_int_eq(usage_of(token, "emails_sent", NULL), 8);
	}
	e2e_pause_worker(0);
}
END_TEST

/* ---- analytics --------------------------------------------------------- */

static void hit_pixel(const struct fs_config *cfg, const char *outbox_id, const char *method,
		      const char *agent)
{
	struct track_key k = { 1, cfg->link_secret };
	char tok[TRACK_TOKEN_MAX + 1], path[TRACK_TOKEN_MAX + 16];
	const char *headers[2] = { agent, NULL };
	struct http_answer a;

	ck_assert_int_eq(track_token_mint(&k, TRACK_OPEN, outbox_id, NULL, tok, sizeof(tok)), 0);
	snprintf(path, sizeof(path), "/t/o/%s.gif", tok);
	ck_assert_int_eq(http_call(method, path, headers, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
}

START_TEST(analytics_equal_the_events_and_leave_bots_out)
{
	struct fs_config cfg = config();
	char camp[40], path[128], uid[40], ids[5][40];
	struct http_answer a;
	json_object *daily, *today;

	e2e_new_tenant("anl", token, sizeof(token));
	e2e_user_id(token, uid);
	import(token, 5, "anl.example");
	campaign(token, NULL, camp);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);
	wait_campaign(token, camp, "sent");
	/* Out of the scanners' window after delivery. */
	ck_assert_int_eq(owner1("WITH o AS (UPDATE outbox SET sent_at = sent_at - interval '1 minute'"
				" WHERE campaign_id = $1::uuid RETURNING 1) SELECT count(*) FROM o",
				camp),
			 5);
	for (int i = 0; i < 5; i++) {
		char sql[200];
		snprintf(sql, sizeof(sql),
			 "SELECT id FROM outbox WHERE campaign_id = $1::uuid ORDER BY to_email OFFSET %d LIMIT 1", i);
		ck_assert_ptr_nonnull(e2e_owner_text(sql, 1, (const char *const[]){ camp }, ids[i], 40));
	}
	/* three people open (one twice), a scanner fetches the fourth's pixel */
	hit_pixel(&cfg, ids[0], "GET", BROWSER);
	hit_pixel(&cfg, ids[0], "GET", BROWSER);
	hit_pixel(&cfg, ids[1], "GET", BROWSER);
	hit_pixel(&cfg, ids[2], "GET", BROWSER);
	hit_pixel(&cfg, ids[3], "HEAD", BROWSER);
	for (int i = 0; i < 100 && owner1("SELECT count(*) FROM email_events WHERE campaign_id = $1::uuid"
					  " AND event_type = 'opened'", camp) < 5; i++)
		usleep(100000);
	ck_assert_int_eq(owner1("SELECT count(*) FROM email_events WHERE campaign_id = $1::uuid"
				" AND event_type = 'opened' AND is_bot", camp),
			 1);

	e2e_expect(token, "GET", "/api/v1/analytics?days=1", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"),
			 owner1("SELECT count(*) FROM email_events WHERE user_id = $1::uuid"
				" AND event_type = 'sent'", uid));
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 5);
	ck_assert_int_eq(num(a.json, "total_opens"),
			 owner1("SELECT count(DISTINCT (campaign_id, contact_id)) FROM email_events"
				" WHERE user_id = $1::uuid AND event_type = 'opened' AND NOT is_bot", uid));
	ck_assert_int_eq(num(a.json, "total_opens"), 3);
	ck_assert_int_eq(num(a.json, "total_clicks"), 0);
	ck_assert_int_eq(num(a.json, "total_bounces"), 0);
	ck_assert_int_eq(num(a.json, "total_contacts"), 5);
	ck_assert_int_eq(num(a.json, "total_campaigns"), 1);
	ck_assert_int_eq(num(a.json, "total_flows"), 0);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(a.json, "overall_open_rate")),
				60.0, 0.001);
	daily = json_object_object_get(a.json, "daily");
	ck_assert_int_eq(json_object_array_length(daily), 1);
	today = json_object_array_get_idx(daily, 0);
	ck_assert_int_eq(num(today, "sent"), 5);
	ck_assert_int_eq(num(today, "opened"), 3);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "campaigns")), 1);
	{
		json_object *c = json_object_array_get_idx(json_object_object_get(a.json, "campaigns"), 0);
		ck_assert_str_eq(json_str(c, "campaign_id"), camp);
		ck_assert_int_eq(num(c, "total_sent"), 5);
		ck_assert_int_eq(num(c, "total_opened"), 3);
	}
	http_answer_free(&a);
	/* the campaign's own figures agree */
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/analytics", camp);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_opened"), 3);
	http_answer_free(&a);
}
END_TEST

START_TEST(the_daily_series_has_bounds)
{
	static const char *const bad[] = { "0", "366", "-1", "x", "1.5", "", "1e3", "99999999999999999999",
					   "%00", "30%20", "0x10" };
	char path[128], uid[40];
	struct http_answer a;
	json_object *daily;

	e2e_new_tenant("anl-days", token, sizeof(token));
	e2e_user_id(token, uid);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/analytics?days=%s", bad[i]);
		e2e_expect(token, "GET", path, NULL, 422, NULL, NULL);
	}
	/* default 30, max 365, oldest first, ending today (UTC) */
	e2e_expect(token, "GET", "/api/v1/analytics", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "daily")), 30);
	http_answer_free(&a);
	/* a figure 10 days ago shows in ?days=11, not in ?days=10 */
	ck_assert_int_eq(owner1("WITH d AS (INSERT INTO daily_stats (user_id, day, sent, opened)"
				" VALUES ($1::uuid, (now() AT TIME ZONE 'UTC')::date - 10, 40, 4)"
				" RETURNING 1) SELECT count(*) FROM d",
				uid),
			 1);
	e2e_expect(token, "GET", "/api/v1/analytics?days=365", NULL, 200, NULL, &a);
	daily = json_object_object_get(a.json, "daily");
	ck_assert_int_eq(json_object_array_length(daily), 365);
	ck_assert_int_eq(num(json_object_array_get_idx(daily, 354), "sent"), 40);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 40);
	ck_assert(strcmp(json_str(json_object_array_get_idx(daily, 0), "date"),
			 json_str(json_object_array_get_idx(daily, 364), "date")) < 0);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/analytics?days=11", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 40);
	ck_assert_int_eq(num(a.json, "total_opens"), 4);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(a.json, "overall_open_rate")),
				10.0, 0.001);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/analytics?days=10", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 0);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "daily")), 10);
	http_answer_free(&a);
	/* another tenant sees none of it */
	{
		char other[4096];
		e2e_new_tenant("anl-other", other, sizeof(other));
		e2e_expect(other, "GET", "/api/v1/analytics?days=365", NULL, 200, NULL, &a);
		ck_assert_int_eq(num(a.json, "total_emails_sent"), 0);
		http_answer_free(&a);
	}
}
END_TEST

/* The answer is written as text from one statement's rows placed by (part,
 * rank/day): the recent campaigns come newest first (at most 50, drafts and
 * scheduled ones left out) with exactly escaped names and their rates, and
 * every change of the rollup or the counters shows in the very next answer
 * (nothing is cached). */
START_TEST(analytics_campaigns_newest_first_and_every_change_shows_at_once)
{
	char camp[3][40], uid[40], sql[600];
	static const char hostile[] = "Q\"uote\\back\nline\ttab \x01 \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82 </script>";
	struct http_answer a;
	json_object *list, *c, *daily;

	e2e_new_tenant("anl-camp", token, sizeof(token));
	e2e_user_id(token, uid);
	for (int i = 0; i < 3; i++)
		campaign(token, NULL, camp[i]);
	/* 0: sent 3 minutes ago; 1: sent 2 minutes ago, a hostile name; 2: a draft */
	ck_assert_int_eq(owner1("WITH u AS (UPDATE campaigns SET status = 'sent', sent_count = 10,"
				" open_count = 4, click_count = 1, bounce_count = 0,"
				" created_at = now() - interval '3 minutes' WHERE id = $1::uuid RETURNING 1)"
				" SELECT count(*) FROM u",
				camp[0]),
			 1);
	{
		const char *p[2] = { camp[1], hostile };
		ck_assert_int_eq(e2e_owner_value("WITH u AS (UPDATE campaigns SET status = 'sent',"
						 " name = $2, sent_count = 3, open_count = 1,"
						 " click_count = 0, bounce_count = 1,"
						 " created_at = now() - interval '2 minutes'"
						 " WHERE id = $1::uuid RETURNING 1) SELECT count(*) FROM u",
						 2, p),
				 1);
	}
	e2e_expect(token, "GET", "/api/v1/analytics?days=7", NULL, 200, NULL, &a);
	list = json_object_object_get(a.json, "campaigns");
	ck_assert_int_eq(json_object_array_length(list), 2);
	c = json_object_array_get_idx(list, 0);
	ck_assert_str_eq(json_str(c, "campaign_id"), camp[1]);
	ck_assert_str_eq(json_str(c, "campaign_name"), hostile);
	ck_assert_str_eq(json_str(c, "status"), "sent");
	ck_assert_int_eq(num(c, "total_sent"), 3);
	ck_assert_int_eq(num(c, "total_bounced"), 1);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(c, "open_rate")), 33.33, 0.001);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(c, "bounce_rate")), 33.33, 0.001);
	c = json_object_array_get_idx(list, 1);
	ck_assert_str_eq(json_str(c, "campaign_id"), camp[0]);
	ck_assert_int_eq(num(c, "total_opened"), 4);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(c, "open_rate")), 40.0, 0.001);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(c, "click_rate")), 10.0, 0.001);
	/* two decimals in the text, as before */
	ck_assert_ptr_nonnull(strstr(a.body, "\"open_rate\":40.00,"));
	ck_assert_int_eq(num(a.json, "total_campaigns"), 3);
	http_answer_free(&a);

	/* 55 more sent campaigns, older than those two: the newest 50 show, in order */
	ck_assert_int_eq(owner1("WITH i AS (INSERT INTO campaigns (user_id, name, subject, status, sent_count,"
				" created_at) SELECT $1::uuid, 'old ' || g, 'S', 'sent', g,"
				" now() - interval '1 hour' - g * interval '1 minute'"
				" FROM generate_series(1, 55) g RETURNING 1) SELECT count(*) FROM i",
				uid),
			 55);
	e2e_expect(token, "GET", "/api/v1/analytics?days=7", NULL, 200, NULL, &a);
	list = json_object_object_get(a.json, "campaigns");
	ck_assert_int_eq(json_object_array_length(list), 50);
	ck_assert_str_eq(json_str(json_object_array_get_idx(list, 0), "campaign_id"), camp[1]);
	ck_assert_str_eq(json_str(json_object_array_get_idx(list, 1), "campaign_id"), camp[0]);
	for (int i = 2; i < 50; i++) {
		c = json_object_array_get_idx(list, (size_t)i);
		ck_assert_int_eq(num(c, "total_sent"), i - 1);
	}
	http_answer_free(&a);

	/* the rollup: a row today, then more opens, then a new day's row at the
	 * window's first day; each answer right after each change */
	snprintf(sql, sizeof(sql),
		 "WITH d AS (INSERT INTO daily_stats (user_id, day, sent, opened, clicked, bounced)"
		 " VALUES ($1::uuid, (now() AT TIME ZONE 'UTC')::date, 8, 2, 1, 1) RETURNING 1)"
		 " SELECT count(*) FROM d");
	ck_assert_int_eq(owner1(sql, uid), 1);
	e2e_expect(token, "GET", "/api/v1/analytics?days=7", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 8);
	ck_assert_int_eq(num(a.json, "total_opens"), 2);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(a.json, "overall_open_rate")),
				25.0, 0.001);
	http_answer_free(&a);
	ck_assert_int_eq(owner1("WITH d AS (UPDATE daily_stats SET opened = opened + 1 WHERE user_id = $1::uuid"
				" AND day = (now() AT TIME ZONE 'UTC')::date RETURNING 1) SELECT count(*) FROM d",
				uid),
			 1);
	ck_assert_int_eq(owner1("WITH d AS (INSERT INTO daily_stats (user_id, day, sent)"
				" VALUES ($1::uuid, (now() AT TIME ZONE 'UTC')::date - 6, 2),"
				" ($1::uuid, (now() AT TIME ZONE 'UTC')::date - 7, 1000) RETURNING 1)"
				" SELECT count(*) FROM d",
				uid),
			 2);
	e2e_expect(token, "GET", "/api/v1/analytics?days=7", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 10);
	ck_assert_int_eq(num(a.json, "total_opens"), 3);
	daily = json_object_object_get(a.json, "daily");
	ck_assert_int_eq(json_object_array_length(daily), 7);
	ck_assert_int_eq(num(json_object_array_get_idx(daily, 0), "sent"), 2);
	ck_assert_int_eq(num(json_object_array_get_idx(daily, 6), "opened"), 3);
	for (int i = 1; i < 6; i++)
		ck_assert_int_eq(num(json_object_array_get_idx(daily, (size_t)i), "sent"), 0);
	/* each date is the day after the one before, the last one today (UTC) */
	{
		char today[16];
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT ((now() AT TIME ZONE 'UTC')::date)::text", 0, NULL,
						     today, sizeof(today)));
		ck_assert_str_eq(json_str(json_object_array_get_idx(daily, 6), "date"), today);
		for (int i = 1; i < 7; i++) {
			const char *p[2] = { json_str(json_object_array_get_idx(daily, (size_t)i - 1), "date"),
					     json_str(json_object_array_get_idx(daily, (size_t)i), "date") };
			ck_assert_int_eq(e2e_owner_value("SELECT ($2::date - $1::date)", 2, p), 1);
		}
	}
	http_answer_free(&a);
	/* the eighth day back counts in ?days=8 */
	e2e_expect(token, "GET", "/api/v1/analytics?days=8", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total_emails_sent"), 1010);
	http_answer_free(&a);
	/* another tenant's figures stay its own */
	{
		char other[4096];
		e2e_new_tenant("anl-camp-other", other, sizeof(other));
		e2e_expect(other, "GET", "/api/v1/analytics?days=365", NULL, 200, NULL, &a);
		ck_assert_int_eq(num(a.json, "total_emails_sent"), 0);
		ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "campaigns")), 0);
		ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "daily")), 365);
		http_answer_free(&a);
	}
}
END_TEST

Suite *billing_suite(void)
{
	Suite *s = suite_create("billing");
	TCase *tc = tcase_create("billing");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, plans_checkout_portal_current_overview_as_the_original);
	tcase_add_test(tc, every_route_needs_auth_and_keeps_tenants_apart);
	tcase_add_test(tc, the_webhook_signature_is_always_checked);
	tcase_add_test(tc, subscription_events_move_the_plan_and_replays_change_nothing);
	tcase_add_test(tc, a_downgrade_keeps_data_but_refuses_more_than_the_new_limits);
	tcase_add_test(tc, api_access_follows_the_plan);
	tcase_add_test(tc, usage_follows_sends_and_imports_over_the_utc_month);
	suite_add_tcase(s, tc);
	return s;
}

Suite *analytics_suite(void)
{
	Suite *s = suite_create("analytics");
	TCase *tc = tcase_create("analytics");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, analytics_equal_the_events_and_leave_bots_out);
	tcase_add_test(tc, the_daily_series_has_bounds);
	tcase_add_test(tc, analytics_campaigns_newest_first_and_every_change_shows_at_once);
	suite_add_tcase(s, tc);
	return s;
}
