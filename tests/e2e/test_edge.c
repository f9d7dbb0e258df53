/* The HTTP edge through nginx (issue 13): CORS for a dashboard on another
 * origin (the test instance allows http://dashboard.test:3000, scripts/stack.sh)
 * and Idempotency-Key on POSTs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "e2e.h"

#define DASHBOARD "http://dashboard.test:3000"
#define PW "edge-password-1"

static int has_header(const struct http_answer *a, const char *name)
{
	char buf[8];
	return http_header(a, name, buf, sizeof(buf)) != NULL;
}

/* Any Access-Control-* header in the answer. */
static int has_cors(const struct http_answer *a)
{
	const char *line = a->headers;

	while (line && *line) {
		if (strncasecmp(line, "Access-Control-", 15) == 0)
			return 1;
		line = strstr(line, "\r\n");
		line = line ? line + 2 : NULL;
	}
	return 0;
}

static void header_contains(const struct http_answer *a, const char *name, const char *part)
{
	char buf[1024];

	ck_assert_msg(http_header(a, name, buf, sizeof(buf)) != NULL, "no %s header in\n%s", name,
		      a->headers);
	ck_assert_msg(strstr(buf, part) != NULL, "%s: %s lacks %s", name, buf, part);
}

static void preflight(const char *origin, const char *path, const char *method,
		      struct http_answer *a)
{
	char o[256], m[128];
	const char *h[] = { o, m, "Access-Control-Request-Headers: content-type,authorization",
			    NULL };

	snprintf(o, sizeof(o), "Origin: %s", origin);
	snprintf(m, sizeof(m), "Access-Control-Request-Method: %s", method);
	ck_assert_int_eq(http_call("OPTIONS", path, h, NULL, 0, a), 0);
}

static void login_from(const char *origin, const char *email, struct http_answer *a)
{
	char o[256], body[256];
	const char *h[] = { o, "Content-Type: application/json", NULL };

	snprintf(o, sizeof(o), "Origin: %s", origin);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"" PW "\"}", email);
	ck_assert_int_eq(http_call("POST", "/api/v1/auth/login", h, body, strlen(body), a), 0);
}

START_TEST(dashboard_origin_preflight_and_login)
{
	struct http_answer a;
	char email[128];

	preflight(DASHBOARD, "/api/v1/auth/login", "POST", &a);
	ck_assert_msg(a.status == 204, "preflight: %ld %s", a.status, a.body);
	header_contains(&a, "Access-Control-Allow-Origin", DASHBOARD);
	header_contains(&a, "Access-Control-Allow-Methods", "POST");
	header_contains(&a, "Access-Control-Allow-Headers", "Content-Type");
	header_contains(&a, "Access-Control-Allow-Headers", "Authorization");
	header_contains(&a, "Access-Control-Allow-Headers", "X-API-Key");
	header_contains(&a, "Access-Control-Allow-Headers", "Idempotency-Key");
	header_contains(&a, "Access-Control-Max-Age", "7200");
	header_contains(&a, "Vary", "Origin");
	ck_assert_uint_eq(a.len, 0);
	http_answer_free(&a);

	/* A route's own methods; no credentials needed for a preflight. */
	preflight(DASHBOARD, "/api/v1/contacts/00000000-0000-4000-8000-000000000000", "PATCH", &a);
	ck_assert_int_eq(a.status, 204);
	header_contains(&a, "Access-Control-Allow-Methods", "GET, PATCH, DELETE");
	http_answer_free(&a);

	e2e_unique_email("edge-cors", email, sizeof(email));
	e2e_register(email, PW, NULL, 0, NULL, 0);
	login_from(DASHBOARD, email, &a);
	ck_assert_msg(a.status == 200, "login: %ld %s", a.status, a.body);
	header_contains(&a, "Access-Control-Allow-Origin", DASHBOARD);
	header_contains(&a, "Access-Control-Allow-Credentials", "true");
	header_contains(&a, "Access-Control-Expose-Headers", "X-Request-Id");
	header_contains(&a, "Access-Control-Expose-Headers", "Retry-After");
	header_contains(&a, "Access-Control-Expose-Headers", "RateLimit-Remaining");
	header_contains(&a, "Vary", "Origin");
	http_answer_free(&a);
}
END_TEST

START_TEST(other_origins_get_no_cors_headers)
{
	static const char *others[] = { "http://evil.test", "https://dashboard.test:3000",
					"http://dashboard.test:3001", "http://dashboard.test",
					"null" };
	struct http_answer a;
	char email[128];

	e2e_unique_email("edge-refused", email, sizeof(email));
	e2e_register(email, PW, NULL, 0, NULL, 0);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		preflight(others[i], "/api/v1/auth/login", "POST", &a);
		ck_assert_msg(a.status == 403, "%s preflight: %ld", others[i], a.status);
		ck_assert_msg(!has_cors(&a), "%s preflight:\n%s", others[i], a.headers);
		ck_assert_ptr_nonnull(http_detail(&a));
		http_answer_free(&a);
		/* The request itself is served (the browser withholds it), bare. */
		login_from(others[i], email, &a);
		ck_assert_int_eq(a.status, 200);
		ck_assert_msg(!has_cors(&a), "%s login:\n%s", others[i], a.headers);
		http_answer_free(&a);
	}
}
END_TEST

START_TEST(every_answer_to_the_dashboard_carries_cors)
{
	const char *o[] = { "Origin: " DASHBOARD, NULL };
	const char *evil[] = { "Origin: http://evil.test", NULL };
	struct http_answer a;
	char token[2048], auth[2100];
	const char *with_token[] = { "Origin: " DASHBOARD, auth, NULL };

	/* Authentication's 401. */
	ck_assert_int_eq(http_call("GET", "/api/v1/contacts", o, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 401);
	header_contains(&a, "Access-Control-Allow-Origin", DASHBOARD);
	http_answer_free(&a);
	/* nginx's own 404 for a prefix no responder serves. */
	ck_assert_int_eq(http_call("GET", "/api/v1/no-such-prefix", o, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 404);
	ck_assert(!has_header(&a, "X-Request-Id"));
	header_contains(&a, "Access-Control-Allow-Origin", DASHBOARD);
	ck_assert_ptr_nonnull(http_detail(&a));
	http_answer_free(&a);
	ck_assert_int_eq(http_call("GET", "/api/v1/no-such-prefix", evil, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 404);
	ck_assert(!has_cors(&a));
	http_answer_free(&a);
	/* A streamed answer. */
	e2e_new_tenant("edge-export", token, sizeof(token));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	ck_assert_int_eq(http_call("GET", "/api/v1/contacts/export", with_token, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	header_contains(&a, "Access-Control-Allow-Origin", DASHBOARD);
	http_answer_free(&a);
	/* OPTIONS without Origin: the methods, no CORS. */
	ck_assert_int_eq(http_call("OPTIONS", "/api/v1/contacts", NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 204);
	header_contains(&a, "Allow", "GET, POST");
	ck_assert(!has_cors(&a));
	http_answer_free(&a);
}
END_TEST

/* ---- Idempotency-Key ---- */

static int keyed_post(const char *token, const char *path, const char *key, const char *body,
		      struct http_answer *a)
{
	char auth[2100], k[400];
	const char *h[] = { auth, "Content-Type: application/json", k, NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(k, sizeof(k), "Idempotency-Key: %s", key);
	return http_call("POST", path, h, body, strlen(body), a);
}

static long long contacts_with(const char *email)
{
	const char *p[1] = { email };
	return e2e_owner_value("SELECT count(*) FROM contacts WHERE email = $1", 1, p);
}

START_TEST(a_retry_gets_the_first_answer_and_makes_no_second_write)
{
	struct http_answer first, again, other;
	char token[2048], token_b[2048], email[128], body[256], key[64], rid1[64], rid2[64], v[16];

	e2e_new_tenant("edge-idem", token, sizeof(token));
	e2e_new_tenant("edge-idem-b", token_b, sizeof(token_b));
	e2e_unique_email("contact", email, sizeof(email));
	e2e_unique_email("key", key, sizeof(key));
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Ann\"}", email);

	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", key, body, &first), 0);
	ck_assert_msg(first.status == 201, "%ld %s", first.status, first.body);
	ck_assert(!has_header(&first, "Idempotent-Replayed"));
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", key, body, &again), 0);
	ck_assert_msg(again.status == 201, "retry: %ld %s", again.status, again.body);
	ck_assert_str_eq(again.body, first.body);
	ck_assert_str_eq(http_header(&again, "Idempotent-Replayed", v, sizeof(v)), "true");
	/* Each answer keeps its own request id. */
	ck_assert_str_ne(http_header(&first, "X-Request-Id", rid1, sizeof(rid1)),
			 http_header(&again, "X-Request-Id", rid2, sizeof(rid2)));
	ck_assert_int_eq(contacts_with(email), 1);
	http_answer_free(&again);

	/* The same key with another body. */
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", key,
				    "{\"email\":\"someone-else@example.com\"}", &again),
			 0);
	ck_assert_int_eq(again.status, 422);
	ck_assert_msg(http_detail(&again) && strstr(http_detail(&again), "different request"),
		      "%s", again.body);
	http_answer_free(&again);
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts/lists", key, body, &again), 0);
	ck_assert_int_eq(again.status, 422);
	http_answer_free(&again);

	/* Another tenant with the same key and body: its own write, not the answer. */
	ck_assert_int_eq(keyed_post(token_b, "/api/v1/contacts", key, body, &other), 0);
	ck_assert_msg(other.status == 201, "%ld %s", other.status, other.body);
	ck_assert(!has_header(&other, "Idempotent-Replayed"));
	ck_assert_str_ne(json_str(other.json, "id"), json_str(first.json, "id"));
	ck_assert_int_eq(contacts_with(email), 2);
	http_answer_free(&other);
	http_answer_free(&first);
}
END_TEST

START_TEST(client_errors_are_kept_and_bad_keys_refused)
{
	struct http_answer a, b;
	char token[2048], key[64], v[16], longkey[300];
	const char *csv = "email\nedge-csv@example.com\n";
	char auth[2100];
	const char *csv_h[] = { auth, "Content-Type: text/csv", "Idempotency-Key: csv-1", NULL };

	e2e_new_tenant("edge-idem4xx", token, sizeof(token));
	e2e_unique_email("key", key, sizeof(key));
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", key, "{\"email\":\"nope\"}", &a), 0);
	ck_assert_int_eq(a.status, 422);
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", key, "{\"email\":\"nope\"}", &b), 0);
	ck_assert_int_eq(b.status, 422);
	ck_assert_str_eq(b.body, a.body);
	ck_assert_str_eq(http_header(&b, "Idempotent-Replayed", v, sizeof(v)), "true");
	http_answer_free(&a);
	http_answer_free(&b);

	memset(longkey, 'k', 256);
	longkey[256] = '\0';
	ck_assert_int_eq(keyed_post(token, "/api/v1/contacts", longkey, "{}", &a), 0);
	ck_assert_int_eq(a.status, 422);
	ck_assert(strstr(a.body, "Idempotency-Key") != NULL);
	http_answer_free(&a);

	/* Streamed imports are refused with the header, before anything is read. */
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", csv_h, csv, strlen(csv), &a),
			 0);
	ck_assert_int_eq(a.status, 422);
	ck_assert_msg(http_detail(&a) && strstr(http_detail(&a), "streamed"), "%s", a.body);
	http_answer_free(&a);
	ck_assert_int_eq(contacts_with("edge-csv@example.com"), 0);
}
END_TEST

START_TEST(public_routes_ignore_the_header)
{
	struct http_answer a;
	char email[128], body[256];
	const char *h[] = { "Content-Type: application/json", "Idempotency-Key: login-1", NULL };

	e2e_unique_email("edge-public", email, sizeof(email));
	e2e_register(email, PW, NULL, 0, NULL, 0);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"" PW "\"}", email);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(http_call("POST", "/api/v1/auth/login", h, body, strlen(body), &a),
				 0);
		ck_assert_int_eq(a.status, 200);
		ck_assert(!has_header(&a, "Idempotent-Replayed"));
		http_answer_free(&a);
	}
}
END_TEST

#define RACERS 8

struct racer {
	const char *token, *key, *body;
	pthread_barrier_t *go;
	long status;
	char *answer;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct http_answer a;

	pthread_barrier_wait(r->go);
	if (keyed_post(r->token, "/api/v1/contacts", r->key, r->body, &a) == 0) {
		r->status = a.status;
		r->answer = strdup(a.body ? a.body : "");
		http_answer_free(&a);
	}
	return NULL;
}

START_TEST(concurrent_duplicates_make_one_write)
{
	struct racer r[RACERS];
	pthread_t t[RACERS];
	pthread_barrier_t go;
	char token[2048], email[128], body[256], key[64];
	const char *created = NULL;
	int n201 = 0;

	e2e_new_tenant("edge-race", token, sizeof(token));
	e2e_unique_email("racer", email, sizeof(email));
	e2e_unique_email("key", key, sizeof(key));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	pthread_barrier_init(&go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ token, key, body, &go, 0, NULL };
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < RACERS; i++) {
		ck_assert_msg(r[i].status == 201 || r[i].status == 409, "racer %d: %ld %s", i,
			      r[i].status, r[i].answer);
		if (r[i].status == 409)
			ck_assert(strstr(r[i].answer, "still in progress") != NULL);
		if (r[i].status == 201) {
			n201++;
			if (created)
				ck_assert_str_eq(r[i].answer, created);
			created = r[i].answer;
		}
	}
	ck_assert_int_ge(n201, 1);
	ck_assert_int_eq(contacts_with(email), 1);
	for (int i = 0; i < RACERS; i++)
		free(r[i].answer);
}
END_TEST

Suite *edge_suite(void)
{
	Suite *s = suite_create("edge");
	TCase *tc = tcase_create("edge");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dashboard_origin_preflight_and_login);
	tcase_add_test(tc, other_origins_get_no_cors_headers);
	tcase_add_test(tc, every_answer_to_the_dashboard_carries_cors);
	tcase_add_test(tc, a_retry_gets_the_first_answer_and_makes_no_second_write);
	tcase_add_test(tc, client_errors_are_kept_and_bad_keys_refused);
	tcase_add_test(tc, public_routes_ignore_the_header);
	tcase_add_test(tc, concurrent_duplicates_make_one_write);
	suite_add_tcase(s, tc);
	return s;
}
