/* The HTTP edge through nginx (issue 13): CORS for a dashboard on another
 * origin (the test instance allows http://dashboard.test:3000, scripts/stack.sh). */
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

Suite *edge_suite(void)
{
	Suite *s = suite_create("edge");
	TCase *tc = tcase_create("edge");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dashboard_origin_preflight_and_login);
	tcase_add_test(tc, other_origins_get_no_cors_headers);
	tcase_add_test(tc, every_answer_to_the_dashboard_carries_cors);
	suite_add_tcase(s, tc);
	return s;
}
