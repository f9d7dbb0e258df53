/* Real Stripe end to end (issue 23): the billing and webhooks responders are
 * restarted with STRIPE_SECRET_KEY and STRIPE_API_BASE aimed at a stand-in
 * (tests/sink/stripe_standin.py) that records every request and answers as
 * Stripe does, misbehaving on demand; then put back in mock mode for the
 * suites after this one. Asserts the form fields and headers of customers,
 * Checkout and portal sessions, one customer per user, the Idempotency-Key
 * kept across the retry, Stripe's errors as clear answers, and signed
 * events moving the user to the plan. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/stripe_sig.h"
#include "e2e.h"

#define SECRET "sk_test_flowsend"
#define PRO_PRICE "price_pro_e2e"
#define ENTERPRISE_PRICE "price_enterprise_e2e"

static pid_t standin_pid;
static char standin_dir[512];

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

static int instance_offset(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return port >= 18080 && port < 18090 ? port - 18080 : 0;
}

/* FLOWSEND_DNS_SERVER's port + 300 (scripts/stack.sh: + 100 SNS, + 200
 * the outbound webhook receiver). */
static int standin_port(void)
{
	return 13053 + instance_offset() + 300;
}

static void stop_group(const char *name)
{
	char path[600];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pid/fs-%s.pid", state_dir(), name);
	if (!(f = fopen(path, "r")))
		return;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0)
		return;
	kill(-(pid_t)pid, SIGTERM);
	for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++)
		usleep(100000);
	kill(-(pid_t)pid, SIGKILL);
}

/* The billing and webhooks responders again, with (real) or without the
 * Stripe settings; stack.sh starts the responders that are not running. */
static void restart_responders(int real)
{
	char cmd[1024], base[64];
	int rc;

	stop_group("billing");
	stop_group("webhooks");
	if (real) {
		snprintf(base, sizeof(base), "http://127.0.0.1:%d", standin_port());
		setenv("STRIPE_SECRET_KEY", SECRET, 1);
		setenv("STRIPE_API_BASE", base, 1);
		setenv("STRIPE_PRO_PRICE_ID", PRO_PRICE, 1);
		setenv("STRIPE_ENTERPRISE_PRICE_ID", ENTERPRISE_PRICE, 1);
		setenv("FLOWSEND_STRIPE_TIMEOUT_MS", "1000", 1);
	} else {
		unsetenv("STRIPE_SECRET_KEY");
		unsetenv("STRIPE_API_BASE");
		unsetenv("STRIPE_PRO_PRICE_ID");
		unsetenv("STRIPE_ENTERPRISE_PRICE_ID");
		unsetenv("FLOWSEND_STRIPE_TIMEOUT_MS");
	}
	if (instance_offset() == 0)
		snprintf(cmd, sizeof(cmd), "cd %s/../.. && scripts/stack.sh start test >/dev/null 2>&1",
			 e2e_bin());
	else
		snprintf(cmd, sizeof(cmd),
			 "cd %s/../.. && scripts/stack.sh start test%d >/dev/null 2>&1", e2e_bin(),
			 instance_offset());
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "stripe suite: restarting the responders failed (%d)\n", rc);
}

static void real_mode_on(void)
{
	char cmd[2048];

	snprintf(standin_dir, sizeof(standin_dir), "%s/stripe-standin", state_dir());
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", standin_dir, standin_dir);
	if (system(cmd) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "exec %s %s/../../tests/sink/stripe_standin.py %d %s "
		 ">>%s/standin.log 2>&1",
		 e2e_python(), e2e_bin(), standin_port(), standin_dir, standin_dir);
	standin_pid = fork();
	if (standin_pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (!e2e_wait_port(standin_port()))
		fprintf(stderr, "stripe suite: the stand-in did not start on %d\n", standin_port());
	restart_responders(1);
}

static void real_mode_off(void)
{
	restart_responders(0);
	if (standin_pid > 0) {
		kill(standin_pid, SIGTERM);
		waitpid(standin_pid, NULL, 0);
		standin_pid = 0;
	}
}

/* ---- the stand-in's record ---- */

static void standin_mode(const char *mode)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mode", standin_dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(mode, f);
	fclose(f);
}

static void standin_clear(void)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/requests.jsonl", standin_dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	standin_mode("ok");
}

/* Every request recorded since standin_clear, oldest first (the caller puts). */
static json_object *requests(void)
{
	char path[600];
	json_object *arr = json_object_new_array();
	char *text, *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/requests.jsonl", standin_dir);
	text = e2e_slurp(path, NULL);
	ck_assert_ptr_nonnull(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);
		ck_assert_ptr_nonnull(o);
		json_object_array_add(arr, o);
	}
	free(text);
	return arr;
}

static size_t count_path(json_object *reqs, const char *path)
{
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(reqs); i++)
		n += strcmp(json_str(json_object_array_get_idx(reqs, i), "path"), path) == 0;
	return n;
}

/* The i-th request to path (NULL when there are fewer). */
static json_object *nth(json_object *reqs, const char *path, size_t i)
{
	for (size_t k = 0; k < json_object_array_length(reqs); k++) {
		json_object *r = json_object_array_get_idx(reqs, k);
		if (strcmp(json_str(r, "path"), path) == 0 && i-- == 0)
			return r;
	}
	return NULL;
}

/* The form as "key=value\n" lines, in the order sent. */
static const char *form_text(json_object *req, char *out, size_t size)
{
	json_object *form = json_object_object_get(req, "form");
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(form); i++) {
		json_object *pair = json_object_array_get_idx(form, i);
		int n = snprintf(out + o, size - o, "%s=%s\n",
				 json_object_get_string(json_object_array_get_idx(pair, 0)),
				 json_object_get_string(json_object_array_get_idx(pair, 1)));
		ck_assert(n > 0 && (size_t)n < size - o);
		o += (size_t)n;
	}
	return out;
}

static const char *form_value(json_object *req, const char *key)
{
	json_object *form = json_object_object_get(req, "form");

	for (size_t i = 0; i < json_object_array_length(form); i++) {
		json_object *pair = json_object_array_get_idx(form, i);
		if (strcmp(json_object_get_string(json_object_array_get_idx(pair, 0)), key) == 0)
			return json_object_get_string(json_object_array_get_idx(pair, 1));
	}
	return NULL;
}

static void assert_headers(json_object *req, const char *key_prefix)
{
	ck_assert_str_eq(json_str(req, "authorization"), "Bearer " SECRET);
	ck_assert_str_eq(json_str(req, "content_type"), "application/x-www-form-urlencoded");
	ck_assert_ptr_nonnull(json_str(req, "idempotency_key"));
	ck_assert_msg(strncmp(json_str(req, "idempotency_key"), key_prefix, strlen(key_prefix)) == 0,
		      "idempotency key %s", json_str(req, "idempotency_key"));
}

static const char *customer_of(const char *uid, char *out)
{
	const char *p[1] = { uid };
	return e2e_owner_text("SELECT stripe_customer_id FROM users WHERE id = $1::uuid", 1, p, out, 64);
}

/* POST /webhooks/stripe, signed with the test instance's secret: 200
 * expected; the outcome ("applied", "ignored", ...) into a static buffer. */
static const char *signed_event(const char *body)
{
	static char outcome[32];
	char sig[STRIPE_SIG_HEADER_MAX + 64], line[STRIPE_SIG_HEADER_MAX + 96], err[256];
	const char *headers[3] = { "Content-Type: application/json", line, NULL };
	struct fs_config cfg;
	struct http_answer a;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(stripe_sig_sign(body, strlen(body), cfg.stripe_webhook_secret, time(NULL),
					 sig, sizeof(sig)),
			 0);
	snprintf(line, sizeof(line), "Stripe-Signature: %s", sig);
	ck_assert_int_eq(http_call("POST", "/api/v1/webhooks/stripe", headers, body, strlen(body), &a),
			 0);
	ck_assert_msg(a.status == 200, "webhook: %ld %s", a.status, a.body);
	ck_assert_str_eq(json_str(a.json, "status"), "ok");
	snprintf(outcome, sizeof(outcome), "%s", json_str(a.json, "outcome"));
	http_answer_free(&a);
	return outcome;
}

static int seq;

/* ---- the tests ---- */

START_TEST(checkout_and_portal_send_what_stripe_expects_and_make_one_customer)
{
	char tok[4096], other[4096], uid[40], cus[64], form[4096], expect[4096], key1[200];
	json_object *reqs, *r;
	struct http_answer a;

	standin_clear();
	e2e_new_tenant("stripe-a", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	e2e_expect(tok, "POST", "/api/v1/billing/portal", NULL, 400, "User has no billing account", NULL);
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"free\"}", 400,
		   "Cannot checkout for free plan", NULL);
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, &a);
	ck_assert_msg(strncmp(json_str(a.json, "session_id"), "cs_test_", 8) == 0, "%s", a.body);
	ck_assert(strncmp(json_str(a.json, "checkout_url"), "https://checkout.stripe.com/c/pay/cs_test_",
			  42) == 0);
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "checkout_url"), json_str(a.json, "session_id")));
	http_answer_free(&a);

	reqs = requests();
	ck_assert_int_eq(json_object_array_length(reqs), 2);
	/* The customer first, made once, for this user's address. */
	r = nth(reqs, "/v1/customers", 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_eq(r, json_object_array_get_idx(reqs, 0));
	snprintf(key1, sizeof(key1), "flowsend-customer-%s-", uid);
	assert_headers(r, key1);
	ck_assert_ptr_nonnull(strstr(json_str(r, "raw"), "metadata%5Buser_id%5D="));
	ck_assert_str_eq(form_value(r, "metadata[user_id]"), uid);
	ck_assert_ptr_nonnull(strstr(form_value(r, "email"), "stripe-a"));
	ck_assert_int_eq(json_object_array_length(json_object_object_get(r, "form")), 2);
	ck_assert_ptr_nonnull(customer_of(uid, cus));
	ck_assert(strncmp(cus, "cus_", 4) == 0);

	/* Then the session: every field, in order. */
	r = nth(reqs, "/v1/checkout/sessions", 0);
	assert_headers(r, "flowsend-checkout-");
	snprintf(key1, sizeof(key1), "%s", json_str(r, "idempotency_key"));
	snprintf(expect, sizeof(expect),
		 "mode=subscription\ncustomer=%s\nclient_reference_id=%s\n"
		 "line_items[0][price]=" PRO_PRICE "\nline_items[0][quantity]=1\n"
		 "metadata[user_id]=%s\nmetadata[plan]=pro\n"
		 "subscription_data[metadata][user_id]=%s\nsubscription_data[metadata][plan]=pro\n"
		 "subscription_data[trial_period_days]=14\n"
		 "success_url=%s/app/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}\n"
		 "cancel_url=%s/app/billing?checkout=canceled\n",
		 cus, uid, uid, uid, getenv("FLOWSEND_PUBLIC_URL"), getenv("FLOWSEND_PUBLIC_URL"));
	ck_assert_str_eq(form_text(r, form, sizeof(form)), expect);
	ck_assert_ptr_nonnull(strstr(json_str(r, "raw"), "line_items%5B0%5D%5Bprice%5D=" PRO_PRICE));
	ck_assert_ptr_nonnull(strstr(json_str(r, "raw"), "%7BCHECKOUT_SESSION_ID%7D"));
	json_object_put(reqs);

	/* Still free until Stripe says otherwise. */
	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(a.body, "null");
	http_answer_free(&a);

	/* A second checkout reuses the customer and has a key of its own. */
	standin_clear();
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"enterprise\"}", 201, NULL, NULL);
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/customers"), 0);
	ck_assert_int_eq(count_path(reqs, "/v1/checkout/sessions"), 1);
	r = nth(reqs, "/v1/checkout/sessions", 0);
	ck_assert_str_eq(form_value(r, "customer"), cus);
	ck_assert_str_eq(form_value(r, "line_items[0][price]"), ENTERPRISE_PRICE);
	ck_assert_str_eq(form_value(r, "metadata[plan]"), "enterprise");
	ck_assert_str_ne(json_str(r, "idempotency_key"), key1);
	json_object_put(reqs);
	{
		const char *p[1] = { uid };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM stripe_checkout_sessions"
						 " WHERE user_id = $1::uuid AND stripe_customer_id IS NOT NULL",
						 1, p),
				 2);
	}

	/* The portal for that customer, back to the dashboard. */
	standin_clear();
	e2e_expect(tok, "POST", "/api/v1/billing/portal", NULL, 200, NULL, &a);
	ck_assert(strncmp(json_str(a.json, "portal_url"), "https://billing.stripe.com/p/session/", 36) ==
		  0);
	http_answer_free(&a);
	reqs = requests();
	ck_assert_int_eq(json_object_array_length(reqs), 1);
	r = nth(reqs, "/v1/billing_portal/sessions", 0);
	assert_headers(r, "flowsend-portal-");
	snprintf(expect, sizeof(expect), "customer=%s\nreturn_url=%s/app/billing\n", cus,
		 getenv("FLOWSEND_PUBLIC_URL"));
	ck_assert_str_eq(form_text(r, form, sizeof(form)), expect);
	json_object_put(reqs);

	/* Another tenant: its own customer, never the first one's. */
	standin_clear();
	e2e_new_tenant("stripe-b", other, sizeof(other));
	e2e_expect(other, "POST", "/api/v1/billing/portal", NULL, 400, "User has no billing account", NULL);
	reqs = requests();
	ck_assert_int_eq(json_object_array_length(reqs), 0);
	json_object_put(reqs);
	e2e_expect(other, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, NULL);
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/customers"), 1);
	ck_assert_str_ne(form_value(nth(reqs, "/v1/checkout/sessions", 0), "customer"), cus);
	json_object_put(reqs);
}
END_TEST

START_TEST(two_checkouts_at_once_make_one_customer)
{
	char tok[4096], uid[40], cus[64];
	const char *headers[4];
	char auth[4200];
	json_object *reqs;
	pid_t kids[2];

	standin_clear();
	e2e_new_tenant("stripe-race", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	headers[0] = auth;
	headers[1] = "Content-Type: application/json";
	headers[2] = NULL;
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct http_answer a;
			int ok = http_call("POST", "/api/v1/billing/checkout", headers, "{\"plan\":\"pro\"}",
					   14, &a) == 0 &&
				 a.status == 201;
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/checkout/sessions"), 2);
	/* Both asked with the same key, so Stripe made one customer, stored once. */
	if (count_path(reqs, "/v1/customers") == 2)
		ck_assert_str_eq(json_str(nth(reqs, "/v1/customers", 0), "idempotency_key"),
				 json_str(nth(reqs, "/v1/customers", 1), "idempotency_key"));
	ck_assert_ptr_nonnull(customer_of(uid, cus));
	ck_assert_str_eq(form_value(nth(reqs, "/v1/checkout/sessions", 0), "customer"), cus);
	ck_assert_str_eq(form_value(nth(reqs, "/v1/checkout/sessions", 1), "customer"), cus);
	json_object_put(reqs);
}
END_TEST

START_TEST(a_retry_after_a_timeout_or_a_dropped_connection_keeps_the_key)
{
	char tok[4096], first[200];
	json_object *reqs;
	struct http_answer a;
	struct timespec t0, t1;

	e2e_new_tenant("stripe-retry", tok, sizeof(tok));
	/* A customer first, so only the session misbehaves below. */
	standin_clear();
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, NULL);

	standin_clear();
	standin_mode("timeout_once checkout/sessions");
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, &a);
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/checkout/sessions"), 2);
	snprintf(first, sizeof(first), "%s",
		 json_str(nth(reqs, "/v1/checkout/sessions", 0), "idempotency_key"));
	ck_assert_str_eq(json_str(nth(reqs, "/v1/checkout/sessions", 1), "idempotency_key"), first);
	ck_assert_str_eq(json_str(nth(reqs, "/v1/checkout/sessions", 1), "raw"),
			 json_str(nth(reqs, "/v1/checkout/sessions", 0), "raw"));
	ck_assert(strncmp(json_str(a.json, "session_id"), "cs_test_", 8) == 0);
	http_answer_free(&a);
	json_object_put(reqs);

	standin_clear();
	standin_mode("drop_once checkout/sessions");
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, NULL);
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/checkout/sessions"), 2);
	ck_assert_str_eq(json_str(nth(reqs, "/v1/checkout/sessions", 0), "idempotency_key"),
			 json_str(nth(reqs, "/v1/checkout/sessions", 1), "idempotency_key"));
	ck_assert_str_ne(json_str(nth(reqs, "/v1/checkout/sessions", 0), "idempotency_key"), first);
	json_object_put(reqs);

	/* Stripe never answers: two tries of a second each, then 502. */
	standin_clear();
	standin_mode("timeout checkout/sessions");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 502,
		   "Stripe did not answer in time", NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 6);
	reqs = requests();
	ck_assert_int_eq(count_path(reqs, "/v1/checkout/sessions"), 2);
	ck_assert_str_eq(json_str(nth(reqs, "/v1/checkout/sessions", 0), "idempotency_key"),
			 json_str(nth(reqs, "/v1/checkout/sessions", 1), "idempotency_key"));
	json_object_put(reqs);
}
END_TEST

START_TEST(stripe_errors_become_clear_answers)
{
	static const struct {
		const char *mode;
		long status;
		const char *detail;
		size_t calls; /* session requests: 5xx and bad answers are not retried */
	} cases[] = {
		{ "card_error", 400, "The payment was declined by Stripe: Your card was declined.", 1 },
		{ "invalid_request", 400, "Stripe refused the request: No such price: 'price_gone'", 1 },
		{ "server_error", 502, "Stripe failed (HTTP 500)", 1 },
		{ "rate_limited", 502, "Stripe is rate limiting", 1 },
		{ "huge", 502, "too large", 1 },
		{ "not_json", 502, "could not be read", 1 },
		{ "bad_url", 502, "no usable checkout session", 1 },
	};
	char tok[4096], uid[40], cus[64], mode[128];
	json_object *reqs;
	struct http_answer a;

	e2e_new_tenant("stripe-err", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	/* Making the customer fails: nothing is stored, the next try makes it. */
	standin_clear();
	standin_mode("server_error customers");
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 502,
		   "Stripe failed (HTTP 500)", NULL);
	ck_assert_ptr_null(customer_of(uid, cus));
	standin_mode("ok");
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, NULL);
	ck_assert_ptr_nonnull(customer_of(uid, cus));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		standin_clear();
		snprintf(mode, sizeof(mode), "%s checkout/sessions", cases[i].mode);
		standin_mode(mode);
		e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", cases[i].status,
			   cases[i].detail, &a);
		ck_assert_ptr_null(strstr(a.body, SECRET));
		ck_assert_ptr_null(strstr(a.body, "Internal server error"));
		http_answer_free(&a);
		reqs = requests();
		ck_assert_msg(count_path(reqs, "/v1/checkout/sessions") == cases[i].calls, "%s: %zu calls",
			      cases[i].mode, count_path(reqs, "/v1/checkout/sessions"));
		json_object_put(reqs);
	}
	/* The portal says the same. */
	standin_clear();
	standin_mode("invalid_request billing_portal");
	e2e_expect(tok, "POST", "/api/v1/billing/portal", NULL, 400, "Stripe refused the request", NULL);
	standin_mode("server_error billing_portal");
	e2e_expect(tok, "POST", "/api/v1/billing/portal", NULL, 502, "Stripe failed (HTTP 500)", NULL);
	standin_mode("bad_url billing_portal");
	e2e_expect(tok, "POST", "/api/v1/billing/portal", NULL, 502, "no usable portal address", NULL);
	standin_mode("ok");
	{
		const char *p[1] = { uid };
		/* Only the sessions Stripe made are kept. */
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM stripe_checkout_sessions"
						 " WHERE user_id = $1::uuid",
						 1, p),
				 1);
	}
}
END_TEST

START_TEST(signed_events_move_the_user_to_the_plan)
{
	char tok[4096], other[4096], uid[40], ouid[40], cus[64], ocus[64], session[128],
		osession[128], body[4096], sub[64];
	const char *p[2];
	struct http_answer a;
	long long now = time(NULL);

	standin_clear();
	e2e_new_tenant("stripe-ev", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, &a);
	snprintf(session, sizeof(session), "%s", json_str(a.json, "session_id"));
	http_answer_free(&a);
	ck_assert_ptr_nonnull(customer_of(uid, cus));
	snprintf(sub, sizeof(sub), "sub_e2e_%d_%lld", (int)getpid(), now);

	/* The checkout completes: the session is linked to this user. */
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_cs_%d_%lld_%d\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"checkout.session\","
		 "\"mode\":\"subscription\",\"status\":\"complete\",\"customer\":\"%s\","
		 "\"subscription\":\"%s\",\"client_reference_id\":\"%s\","
		 "\"metadata\":{\"user_id\":\"%s\",\"plan\":\"pro\"}}}}",
		 (int)getpid(), now, ++seq, now, session, cus, sub, uid, uid);
	ck_assert_str_eq(signed_event(body), "applied");
	p[0] = session;
	p[1] = sub;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM stripe_checkout_sessions WHERE id = $1"
					 " AND completed_at IS NOT NULL AND stripe_subscription_id = $2",
					 2, p),
			 1);
	ck_assert_int_eq(signed_event(body)[0], 'd'); /* duplicate */

	/* The subscription, as recent API versions send it: no metadata, the
	 * plan from the price id, the periods on the item. */
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_sub_%d_%lld_%d\",\"object\":\"event\",\"type\":\"customer.subscription.created\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"subscription\","
		 "\"customer\":\"%s\",\"status\":\"trialing\",\"cancel_at_period_end\":false,"
		 "\"trial_start\":%lld,\"trial_end\":%lld,\"metadata\":{},"
		 "\"items\":{\"object\":\"list\",\"data\":[{\"id\":\"si_1\",\"price\":{\"id\":\"" PRO_PRICE "\"},"
		 "\"current_period_start\":%lld,\"current_period_end\":%lld}]}}}}",
		 (int)getpid(), now, ++seq, now, sub, cus, now, now + 14 * 86400, now, now + 14 * 86400);
	ck_assert_str_eq(signed_event(body), "applied");
	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "pro");
	ck_assert_str_eq(json_str(a.json, "status"), "trialing");
	ck_assert_str_eq(json_str(a.json, "stripe_subscription_id"), sub);
	ck_assert_ptr_nonnull(json_str(a.json, "current_period_end"));
	ck_assert_ptr_nonnull(json_str(a.json, "trial_end"));
	http_answer_free(&a);
	e2e_expect(tok, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "current_plan"), "pro");
	http_answer_free(&a);
	/* Now live: another checkout is refused before Stripe is asked. */
	standin_clear();
	e2e_expect(tok, "POST", "/api/v1/billing/checkout", "{\"plan\":\"enterprise\"}", 400,
		   "User already has an active subscription", NULL);
	{
		json_object *reqs = requests();
		ck_assert_int_eq(json_object_array_length(reqs), 0);
		json_object_put(reqs);
	}

	/* An upgrade in the portal: the enterprise price. */
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_sub_%d_%lld_%d\",\"object\":\"event\",\"type\":\"customer.subscription.updated\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"subscription\","
		 "\"customer\":\"%s\",\"status\":\"active\",\"cancel_at_period_end\":false,"
		 "\"current_period_start\":%lld,\"current_period_end\":%lld,"
		 "\"items\":{\"data\":[{\"price\":{\"id\":\"" ENTERPRISE_PRICE "\"}}]}}}}",
		 (int)getpid(), now, ++seq, now + 1, sub, cus, now, now + 30 * 86400);
	ck_assert_str_eq(signed_event(body), "applied");
	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "enterprise");
	ck_assert_str_eq(json_str(a.json, "status"), "active");
	http_answer_free(&a);

	/* Events for nobody we know, and events we do not handle: acknowledged. */
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_nobody_%d_%lld\",\"object\":\"event\",\"type\":\"customer.subscription.created\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"sub_nobody_%lld\",\"object\":\"subscription\","
		 "\"customer\":\"cus_nobody_%lld\",\"status\":\"active\",\"metadata\":{\"plan\":\"pro\"}}}}",
		 (int)getpid(), now, now, now, now);
	ck_assert_str_eq(signed_event(body), "ignored");
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_nobody_cs_%d_%lld\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"cs_test_nobody\",\"object\":\"checkout.session\","
		 "\"customer\":\"cus_nobody_%lld\",\"client_reference_id\":\"not-a-uuid\","
		 "\"metadata\":{\"user_id\":\"00000000-0000-4000-8000-00000000dead\"}}}}",
		 (int)getpid(), now, now, now);
	ck_assert_str_eq(signed_event(body), "ignored");
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_tax_%d_%lld\",\"object\":\"event\",\"type\":\"customer.tax_id.created\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"txi_1\",\"customer\":\"%s\"}}}",
		 (int)getpid(), now, now, cus);
	ck_assert_str_eq(signed_event(body), "applied");
	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "enterprise");
	http_answer_free(&a);

	/* Another user's session: the event goes to the user who opened it,
	 * whatever user id it carries, and changes nothing of the first. */
	e2e_new_tenant("stripe-ev2", other, sizeof(other));
	e2e_user_id(other, ouid);
	e2e_expect(other, "POST", "/api/v1/billing/checkout", "{\"plan\":\"pro\"}", 201, NULL, &a);
	snprintf(osession, sizeof(osession), "%s", json_str(a.json, "session_id"));
	http_answer_free(&a);
	ck_assert_ptr_nonnull(customer_of(ouid, ocus));
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_cs2_%d_%lld\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"checkout.session\","
		 "\"customer\":\"%s\",\"subscription\":null,\"client_reference_id\":\"%s\","
		 "\"metadata\":{\"user_id\":\"%s\"}}}}",
		 (int)getpid(), now, now, osession, cus, uid, uid);
	ck_assert_str_eq(signed_event(body), "applied");
	p[0] = osession;
	p[1] = ouid;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM stripe_checkout_sessions WHERE id = $1"
					 " AND user_id = $2::uuid AND completed_at IS NOT NULL",
					 2, p),
			 1);
	ck_assert_ptr_nonnull(customer_of(ouid, ocus));
	ck_assert_str_ne(ocus, cus);
	customer_of(uid, ocus);
	ck_assert_str_eq(ocus, cus);
	e2e_expect(other, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(a.body, "null");
	http_answer_free(&a);
	e2e_expect(tok, "GET", "/api/v1/billing/current", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "plan"), "enterprise");
	http_answer_free(&a);

	/* Cancelled in the portal: back to free. */
	snprintf(body, sizeof(body),
		 "{\"id\":\"evt_del_%d_%lld\",\"object\":\"event\",\"type\":\"customer.subscription.deleted\","
		 "\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\",\"object\":\"subscription\","
		 "\"customer\":\"%s\",\"status\":\"canceled\"}}}",
		 (int)getpid(), now, now + 2, sub, cus);
	ck_assert_str_eq(signed_event(body), "applied");
	e2e_expect(tok, "GET", "/api/v1/billing/overview", NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "current_plan"), "free");
	http_answer_free(&a);
}
END_TEST

Suite *stripe_suite(void)
{
	Suite *s = suite_create("stripe");
	TCase *tc = tcase_create("stripe");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, real_mode_on, real_mode_off);
	tcase_add_test(tc, checkout_and_portal_send_what_stripe_expects_and_make_one_customer);
	tcase_add_test(tc, two_checkouts_at_once_make_one_customer);
	tcase_add_test(tc, a_retry_after_a_timeout_or_a_dropped_connection_keeps_the_key);
	tcase_add_test(tc, stripe_errors_become_clear_answers);
	tcase_add_test(tc, signed_events_move_the_user_to_the_plan);
	suite_add_tcase(s, tc);
	return s;
}
