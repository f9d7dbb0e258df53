/* Hostile and mistaken requests through nginx: every answer is a JSON
 * {"detail": ...}, none is a 5xx, and the responders survive them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static void expect_json_error(const char *method, const char *path, const char *body,
			      size_t body_len, long status)
{
	struct http_answer a;

	ck_assert_int_eq(http_call(method, path, NULL, body, body_len, &a), 0);
	ck_assert_msg(a.status == status, "%s %.80s: want %ld, got %ld (%.200s)", method, path,
		      status, a.status, a.body ? a.body : "");
	ck_assert_msg(http_detail(&a) != NULL, "%s %.80s: no JSON detail in %.200s", method, path,
		      a.body ? a.body : "");
	http_answer_free(&a);
}

START_TEST(unknown_routes_are_json_404)
{
	expect_json_error("GET", "/api/v1/nothing-here", NULL, 0, 404);
	expect_json_error("GET", "/api/v1/health/extra", NULL, 0, 404);
	expect_json_error("GET", "/api/v2/health", NULL, 0, 404);
	expect_json_error("GET", "/no/such/page", NULL, 0, 404);
	expect_json_error("DELETE", "/api/v1/", NULL, 0, 404);
}
END_TEST

START_TEST(wrong_methods_are_json_405_with_allow)
{
	struct http_answer a;
	char allow[64];

	ck_assert_int_eq(http_call("POST", "/api/v1/health", NULL, "{}", 2, &a), 0);
	ck_assert_int_eq(a.status, 405);
	ck_assert_str_eq(http_detail(&a), "Method Not Allowed");
	ck_assert_str_eq(http_header(&a, "Allow", allow, sizeof(allow)), "GET");
	http_answer_free(&a);
	expect_json_error("DELETE", "/api/v1/openapi.json", NULL, 0, 405);
	expect_json_error("PROPFIND", "/api/v1/health", NULL, 0, 405);
}
END_TEST

START_TEST(bodies_over_the_cap_are_json_413)
{
	size_t n = 3 * 1024 * 1024;
	char *big = malloc(n);

	memset(big, 'a', n);
	expect_json_error("POST", "/api/v1/health", big, n, 413);
	free(big);
}
END_TEST

START_TEST(oversized_requests_are_json_errors)
{
	size_t n = 12000;
	char *path = malloc(n + 1);
	struct http_answer a;
	char hdr[20000];
	const char *headers[] = { hdr, NULL };

	memcpy(path, "/api/v1/", 8);
	memset(path + 8, 'x', n - 8);
	path[n] = '\0';
	ck_assert_int_eq(http_call("GET", path, NULL, NULL, 0, &a), 0);
	ck_assert_int_lt(a.status, 500);
	ck_assert_int_ge(a.status, 400);
	ck_assert_ptr_nonnull(http_detail(&a));
	http_answer_free(&a);
	free(path);

	memcpy(hdr, "X-Junk: ", 8);
	memset(hdr + 8, 'j', sizeof(hdr) - 9);
	hdr[sizeof(hdr) - 1] = '\0';
	ck_assert_int_eq(http_call("GET", "/api/v1/health", headers, NULL, 0, &a), 0);
	ck_assert_int_lt(a.status, 500);
	ck_assert_int_ge(a.status, 400);
	ck_assert_ptr_nonnull(http_detail(&a));
	http_answer_free(&a);
}
END_TEST

/* Deterministic garbage: odd bytes in paths and query strings, odd methods,
 * odd bodies, at every responder. Nothing may answer 5xx or non-JSON. */
START_TEST(garbage_never_yields_a_5xx)
{
	static const char *prefixes[] = { "/api/v1/health", "/api/v1/openapi.json", "/api/v1/",
					   "/t/", "/u/" };
	static const char *methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };
	static const char alphabet[] = "%0aZ/?&=+;.\\\"'<>{}[]~!$()*,:@ \xc3\xff\x80\x01";
	unsigned seed = 12345;

	for (int i = 0; i < 400; i++) {
		char path[256], body[128];
		size_t o, blen;
		struct http_answer a;
		const char *prefix = prefixes[(seed = seed * 1103515245 + 12345) % 5];
		const char *method = methods[(seed = seed * 1103515245 + 12345) % 6];

		o = (size_t)snprintf(path, sizeof(path), "%s", prefix);
		for (int k = (int)((seed >> 8) % 40); k > 0 && o < sizeof(path) - 4; k--) {
			seed = seed * 1103515245 + 12345;
			char c = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			if ((unsigned char)c < 0x21 || (unsigned char)c >= 0x7f || c == '%') {
				/* send odd bytes percent-encoded, as a client must */
				o += (size_t)snprintf(path + o, sizeof(path) - o, "%%%02X",
						      (unsigned char)c);
			} else if (c != ' ') {
				path[o++] = c;
			}
		}
		path[o] = '\0';
		blen = (seed >> 4) % sizeof(body);
		for (size_t k = 0; k < blen; k++) {
			seed = seed * 1103515245 + 12345;
			body[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		ck_assert_int_eq(http_call(method, path, NULL, strcmp(method, "GET") ? body : NULL,
					   blen, &a),
				 0);
		ck_assert_msg(a.status < 500, "%s %s answered %ld: %.200s", method, path, a.status,
			      a.body);
		if (a.status >= 400 && strcmp(method, "HEAD") != 0)
			ck_assert_msg(http_detail(&a) != NULL, "%s %s: non-JSON error %.200s", method,
				      path, a.body);
		http_answer_free(&a);
	}
	/* And the service is still healthy afterwards. */
	struct http_answer h;
	ck_assert_int_eq(http_call("GET", "/api/v1/health", NULL, NULL, 0, &h), 0);
	ck_assert_int_eq(h.status, 200);
	http_answer_free(&h);
}
END_TEST

Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("errors");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, unknown_routes_are_json_404);
	tcase_add_test(tc, wrong_methods_are_json_405_with_allow);
	tcase_add_test(tc, bodies_over_the_cap_are_json_413);
	tcase_add_test(tc, oversized_requests_are_json_errors);
	tcase_add_test(tc, garbage_never_yields_a_5xx);
	suite_add_tcase(s, tc);
	return s;
}
