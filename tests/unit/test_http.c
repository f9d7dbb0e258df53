/* JSON helpers, request parsing, the router and the config loader. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "http/request.h"
#include "http/router.h"
#include "json/json.h"
#include "unit.h"

START_TEST(json_parse_accepts_one_object)
{
	char err[128];
	json_object *o = fs_json_parse("{\"a\": [1, 2, \"\\u00e9\"]} \n", 25, err, sizeof(err));
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_is_type(o, json_type_object));
	json_object_put(o);
}
END_TEST

START_TEST(json_parse_rejects_malformed_input)
{
	const char *bad[] = { "", "{", "{\"a\":1,}", "{\"a\":1} x", "[1] [2]", "{\"a\":'x'}",
			      "{\"a\":\"\xff\"}", "{\"a\":NaN}", "01" };
	char err[128];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = fs_json_parse(bad[i], strlen(bad[i]), err, sizeof(err));
		ck_assert_msg(o == NULL, "accepted case %zu", i);
		ck_assert(strlen(err) > 0);
	}
}
END_TEST

/* Integers json-c would clamp are refused; those it keeps (int64, and
 * uint64 above it), fractions, exponents and digits in strings pass. */
START_TEST(json_parse_refuses_integers_past_64_bits)
{
	static const char *const bad[] = { "{\"n\":18446744073709551616}", "[-9223372036854775809]",
					   "{\"a\":\"1\",\"n\":[1,123456789012345678901234]}",
					   "[-12345678901234567890123]" };
	static const char *const good[] = {
		"{\"n\":18446744073709551615}", "[-9223372036854775808, 9223372036854775807]",
		"{\"n\":123456789012345678901234.5}", "[1e400, -12345678901234567890123e-3]",
		"{\"s\":\"123456789012345678901234\",\"k\\\"1234567890123456789012\":0}", "[0]", "[-0]"
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(fs_json_parse(bad[i], strlen(bad[i]), err, sizeof(err)) == NULL,
			      "accepted %s", bad[i]);
		ck_assert_msg(strstr(err, "does not fit in 64 bits") != NULL, "%s: %s", bad[i], err);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_object *o = fs_json_parse(good[i], strlen(good[i]), err, sizeof(err));
		ck_assert_msg(o != NULL || strstr(err, "NaN") != NULL, "refused %s: %s", good[i], err);
		json_object_put(o);
	}
	{
		const char *max = "[18446744073709551615]";
		json_object *o = fs_json_parse(max, strlen(max), err, sizeof(err));
		ck_assert_ptr_nonnull(o);
		ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "18446744073709551615"));
		json_object_put(o);
	}
}
END_TEST

START_TEST(json_parse_caps_nesting_depth)
{
	char deep[200];
	char err[128];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	ck_assert_ptr_null(fs_json_parse(deep, sizeof(deep), err, sizeof(err)));
}
END_TEST

START_TEST(json_getters_collect_fastapi_details)
{
	char err[128];
	const char *body = "{\"name\":\"\",\"age\":\"x\",\"ok\":1,\"nul\":\"a\\u0000b\","
			   "\"long\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}";
	json_object *o = fs_json_parse(body, strlen(body), err, sizeof(err));
	struct fs_validation v;
	const char *s;
	int64_t n;
	int b;

	ck_assert_ptr_nonnull(o);
	fs_validation_init(&v);
	ck_assert_int_eq(fs_json_get_string(&v, o, "name", 1, 1, 10, &s, NULL), -1);
	ck_assert_int_eq(fs_json_get_int(&v, o, "age", 1, 0, 10, &n), -1);
	ck_assert_int_eq(fs_json_get_bool(&v, o, "ok", 1, &b), -1);
	ck_assert_int_eq(fs_json_get_string(&v, o, "nul", 1, 0, 10, &s, NULL), -1);
	ck_assert_int_eq(fs_json_get_string(&v, o, "missing", 1, 0, 10, &s, NULL), 0);
	ck_assert_int_eq(fs_json_get_string(&v, o, "optional", 0, 0, 10, &s, NULL), 0);
	/* Three code points fit a limit of 3 although they take six bytes. */
	ck_assert_int_eq(fs_json_get_string(&v, o, "long", 1, 0, 3, &s, NULL), 1);
	ck_assert_int_eq(fs_json_get_string(&v, o, "long", 1, 0, 2, &s, NULL), -1);
	ck_assert(fs_validation_failed(&v));
	json_object *errs = fs_validation_take(&v);
	ck_assert_int_eq((int)json_object_array_length(errs), 6);
	json_object *first = json_object_array_get_idx(errs, 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(first, "type")),
			 "string_too_short");
	json_object *loc = json_object_object_get(first, "loc");
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(loc, 0)), "body");
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(loc, 1)), "name");
	json_object *missing = json_object_array_get_idx(errs, 4);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(missing, "msg")),
			 "Field required");
	json_object_put(errs);
	json_object_put(o);
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, json_parse_accepts_one_object);
	tcase_add_test(tc, json_parse_rejects_malformed_input);
	tcase_add_test(tc, json_parse_caps_nesting_depth);
	tcase_add_test(tc, json_parse_refuses_integers_past_64_bits);
	tcase_add_test(tc, json_getters_collect_fastapi_details);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(query_string_decoding)
{
	struct arena a;
	struct fs_param p[8];
	const char *qs = "search=a%2Bb+c&tag=&flag&x=%zz%4&&page=2&e=%00";
	long n;

	arena_init(&a, 0);
	n = fs_query_parse(&a, qs, strlen(qs), p, 8);
	ck_assert_int_eq(n, 6);
	ck_assert_str_eq(p[0].key, "search");
	ck_assert_str_eq(p[0].value, "a+b c");
	ck_assert_str_eq(p[1].key, "tag");
	ck_assert_str_eq(p[1].value, "");
	ck_assert_str_eq(p[2].key, "flag");
	ck_assert_str_eq(p[3].value, "%zz%4");
	ck_assert_str_eq(p[4].value, "2");
	ck_assert_uint_eq(p[5].value_len, 1);
	ck_assert_int_eq(fs_query_parse(&a, "a=1&b=2&c=3", 11, p, 2), -1);
	arena_destroy(&a);
}
END_TEST

START_TEST(request_from_cgi_params)
{
	struct arena a;
	struct fs_request r;
	char *env[] = { "REQUEST_METHOD=POST", "DOCUMENT_URI=/api/v1/contacts",
			"QUERY_STRING=page=3", "CONTENT_LENGTH=12",
			"CONTENT_TYPE=application/json", "HTTP_AUTHORIZATION=Bearer abc",
			"HTTP_X_API_KEY=fs_live_x", "REQUEST_ID=0123abcd", NULL };

	arena_init(&a, 0);
	ck_assert_int_eq(fs_request_parse(&r, &a, env), 0);
	ck_assert_str_eq(r.method, "POST");
	ck_assert_str_eq(r.path, "/api/v1/contacts");
	ck_assert_int_eq(r.content_length, 12);
	ck_assert_str_eq(fs_request_header(&r, &a, "Authorization"), "Bearer abc");
	ck_assert_str_eq(fs_request_header(&r, &a, "X-API-Key"), "fs_live_x");
	ck_assert_ptr_null(fs_request_header(&r, &a, "Cookie"));
	ck_assert_str_eq(fs_request_query(&r, "page")->value, "3");
	ck_assert_str_eq(r.request_id, "0123abcd");
	arena_destroy(&a);
}
END_TEST

START_TEST(request_body_caps)
{
	struct arena a;
	struct fs_request r;
	char *big[] = { "CONTENT_LENGTH=5000000", NULL };
	char *neg[] = { "CONTENT_LENGTH=-1", NULL };
	char *huge[] = { "CONTENT_LENGTH=99999999999999999999999", NULL };

	arena_init(&a, 0);
	fs_request_parse(&r, &a, big);
	ck_assert_int_eq(fs_request_read_body(&r, &a, 1024), FS_TOO_LARGE);
	fs_request_parse(&r, &a, neg);
	ck_assert_int_eq(fs_request_read_body(&r, &a, 1024), FS_BAD_REQUEST);
	fs_request_parse(&r, &a, huge);
	ck_assert_int_eq(fs_request_read_body(&r, &a, 1024), FS_BAD_REQUEST);
	arena_destroy(&a);
}
END_TEST

Suite *request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("request");
	tcase_add_test(tc, query_string_decoding);
	tcase_add_test(tc, request_from_cgi_params);
	tcase_add_test(tc, request_body_caps);
	suite_add_tcase(s, tc);
	return s;
}

static void noop(struct fs_ctx *ctx)
{
	(void)ctx;
}

static const struct fs_route table[] = {
	{ "GET", "/api/v1/contacts", noop, FS_ACCESS_READ, "list" },
	{ "POST", "/api/v1/contacts", noop, FS_ACCESS_WRITE, "create" },
	{ "GET", "/api/v1/contacts/count", noop, FS_ACCESS_READ, "count" },
	{ "GET", "/api/v1/contacts/:id", noop, FS_ACCESS_READ, "get" },
	{ "DELETE", "/api/v1/contacts/:id", noop, FS_ACCESS_WRITE, "delete" },
	{ "POST", "/api/v1/contacts/lists/:id/members", noop, FS_ACCESS_WRITE, "members" },
	{ "GET", "/u/*token", noop, FS_ACCESS_PUBLIC, "unsubscribe" },
};
#define NTABLE (sizeof(table) / sizeof(table[0]))
#define ID "123e4567-e89b-12d3-a456-426614174000"

START_TEST(router_matches_and_captures)
{
	struct fs_route_match m;
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contacts", &m),
			 FS_ROUTE_FOUND);
	ck_assert_str_eq(m.route->summary, "list");
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contacts/", &m),
			 FS_ROUTE_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contacts/count", &m),
			 FS_ROUTE_FOUND);
	ck_assert_str_eq(m.route->summary, "count");
	ck_assert_int_eq(fs_route_match(table, NTABLE, "DELETE", "/api/v1/contacts/" ID, &m),
			 FS_ROUTE_FOUND);
	ck_assert_uint_eq(m.nparams, 1);
	ck_assert_uint_eq(m.value_lens[0], 36);
	ck_assert(strncmp(m.values[0], ID, 36) == 0);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "POST",
					"/api/v1/contacts/lists/" ID "/members", &m),
			 FS_ROUTE_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "HEAD", "/u/abc.def", &m), FS_ROUTE_FOUND);
	ck_assert_uint_eq(m.value_lens[0], 7);
}
END_TEST

START_TEST(router_tells_404_from_405)
{
	struct fs_route_match m;
	ck_assert_int_eq(fs_route_match(table, NTABLE, "PUT", "/api/v1/contacts", &m),
			 FS_ROUTE_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(m.allow, "GET, POST");
	ck_assert_int_eq(fs_route_match(table, NTABLE, "PATCH", "/api/v1/contacts/" ID, &m),
			 FS_ROUTE_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(m.allow, "GET, DELETE");
	/* A malformed id is a 404, whatever the method. */
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contacts/12345", &m),
			 FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "PATCH", "/api/v1/contacts/nope", &m),
			 FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contactsx", &m),
			 FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/api/v1/contacts/" ID "/x", &m),
			 FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "/u/", &m), FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "", &m), FS_ROUTE_NOT_FOUND);
	ck_assert_int_eq(fs_route_match(table, NTABLE, "GET", "//", &m), FS_ROUTE_NOT_FOUND);
}
END_TEST

Suite *router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("router");
	tcase_add_test(tc, router_matches_and_captures);
	tcase_add_test(tc, router_tells_404_from_405);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(config_defaults_are_local)
{
	struct fs_config c;
	char err[256];
	unsetenv("FLOWSEND_ENV");
	unsetenv("FLOWSEND_DATABASE_URL");
	unsetenv("FLOWSEND_RATE_LIMITS");
	unsetenv("FLOWSEND_LINK_SECRET");
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.env, "development");
	ck_assert_str_eq(c.link_secret, FS_DEFAULT_LINK_SECRET);
	ck_assert_int_eq(c.rate_limits, 0);
	ck_assert_int_eq(c.access_token_ttl, 900);
	ck_assert_int_eq(c.refresh_token_ttl, 7 * 86400);
	ck_assert_uint_eq(c.json_body_max, 1024 * 1024);
	ck_assert(strstr(c.database_system_url, "user=flowsend_system") != NULL);
	ck_assert(strstr(c.database_migrate_url, "user=flowsend_owner") != NULL);
}
END_TEST

START_TEST(config_production_refuses_default_secrets)
{
	struct fs_config c;
	char err[256];
	setenv("FLOWSEND_ENV", "production", 1);
	unsetenv("FLOWSEND_JWT_SECRET");
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_JWT_SECRET") != NULL);
	setenv("FLOWSEND_JWT_SECRET", "a-real-secret-that-is-long-enough-123456", 1);
	setenv("FLOWSEND_PLATFORM_WEBHOOK_SECRET", "platform-secret", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "STRIPE_WEBHOOK_SECRET") != NULL);
	setenv("STRIPE_WEBHOOK_SECRET", "whsec_real", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_LINK_SECRET") != NULL);
	setenv("FLOWSEND_LINK_SECRET", "too-short", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_LINK_SECRET must be at least 32") != NULL);
	setenv("FLOWSEND_LINK_SECRET", "a-link-secret-of-our-own-long-enough-789", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_SECRET_KEY") != NULL);
	/* The default's bytes in base64 are still the default. */
	setenv("FLOWSEND_SECRET_KEY", "Zmxvd3NlbmQgbG9jYWwgc2VjcmV0LCBjaGFuZ2UgbWU=", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_SECRET_KEY") != NULL);
	setenv("FLOWSEND_SECRET_KEY", "not a key", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "64 hex digits") != NULL);
	setenv("FLOWSEND_SECRET_KEY", "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", 1);
	setenv("FLOWSEND_SNS_BASE_URL", "http://127.0.0.1:1", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_SNS_BASE_URL") != NULL);
	unsetenv("FLOWSEND_SNS_BASE_URL");
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.secret_key[0], 0x00);
	ck_assert_int_eq(c.secret_key[31], 0xff);
	ck_assert_int_eq(c.secret_key_is_default, 0);
	ck_assert_str_eq(c.link_secret, "a-link-secret-of-our-own-long-enough-789");
	ck_assert_int_eq(c.rate_limits, 1);
	setenv("FLOWSEND_RATE_LIMITS", "maybe", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	unsetenv("FLOWSEND_RATE_LIMITS");
	setenv("FLOWSEND_ACCESS_TOKEN_TTL", "12x", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	unsetenv("FLOWSEND_ACCESS_TOKEN_TTL");
	unsetenv("FLOWSEND_ENV");
	unsetenv("FLOWSEND_JWT_SECRET");
	unsetenv("FLOWSEND_PLATFORM_WEBHOOK_SECRET");
	unsetenv("STRIPE_WEBHOOK_SECRET");
	unsetenv("FLOWSEND_LINK_SECRET");
	unsetenv("FLOWSEND_SECRET_KEY");
}
END_TEST

START_TEST(config_secret_key_forms)
{
	unsigned char k[32], want[32];

	for (int i = 0; i < 32; i++)
		want[i] = (unsigned char)(i * 7 + 1);
	/* hex, base64 padded and not, URL alphabet */
	ck_assert_int_eq(fs_config_parse_key32("01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da", k), 0);
	ck_assert(memcmp(k, want, 32) == 0);
	ck_assert_int_eq(fs_config_parse_key32("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=", k), 0);
	ck_assert(memcmp(k, want, 32) == 0);
	ck_assert_int_eq(fs_config_parse_key32("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o", k), 0);
	ck_assert(memcmp(k, want, 32) == 0);
	ck_assert_int_eq(fs_config_parse_key32("___________________________________________w", k), -1);
	ck_assert_int_eq(fs_config_parse_key32("__________________________________________8", k), 0);
	ck_assert_int_eq(k[31], 0xff);
	/* wrong lengths, stray characters, leftover bits */
	ck_assert_int_eq(fs_config_parse_key32("0108", k), -1);
	ck_assert_int_eq(fs_config_parse_key32("", k), -1);
	ck_assert_int_eq(fs_config_parse_key32(NULL, k), -1);
	ck_assert_int_eq(fs_config_parse_key32("01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dz", k), -1);
	ck_assert_int_eq(fs_config_parse_key32("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09p=", k), -1);
	ck_assert_int_eq(fs_config_parse_key32("AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM0*o=", k), -1);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, config_defaults_are_local);
	tcase_add_test(tc, config_production_refuses_default_secrets);
	tcase_add_test(tc, config_secret_key_forms);
	suite_add_tcase(s, tc);
	return s;
}
