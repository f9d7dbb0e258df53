/* The HTTP edge: CORS origins (parsing, matching, preflights, answer headers)
 * and Idempotency-Key (validation, fingerprint, stored form, Redis down). */
#include <stdlib.h>
#include <string.h>

#include "http/cors.h"
#include "http/idempotency.h"
#include "http/server.h"
#include "unit.h"

static int parse(struct fs_config *c, const char *list, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	return fs_config_parse_origins(c, list, err, errlen);
}

START_TEST(origins_are_normalised_as_browsers_send_them)
{
	struct fs_config c;
	char err[256];

	ck_assert_int_eq(parse(&c, "HTTPS://App.Example.com:443/, http://localhost:3000,"
				   "http://[::1]:80,\thttp://dashboard.test:3000 ,,",
			       err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.cors_norigins, 4);
	ck_assert_int_eq(c.cors_any, 0);
	ck_assert_str_eq(c.cors_origins[0], "https://app.example.com");
	ck_assert_str_eq(c.cors_origins[1], "http://localhost:3000");
	ck_assert_str_eq(c.cors_origins[2], "http://[::1]");
	ck_assert_str_eq(c.cors_origins[3], "http://dashboard.test:3000");
	/* The same origin twice, spelt differently: listed once. */
	ck_assert_int_eq(parse(&c, "https://a.example, HTTPS://A.EXAMPLE:443", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.cors_norigins, 1);
	ck_assert_int_eq(parse(&c, "https://a.example:80", err, sizeof(err)), 0);
	ck_assert_str_eq(c.cors_origins[0], "https://a.example:80");
	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.cors_norigins, 0);
	ck_assert_int_eq(parse(&c, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(parse(&c, " * ", err, sizeof(err)), 0);
	ck_assert_int_eq(c.cors_any, 1);
	ck_assert_uint_eq(c.cors_norigins, 0);
}
END_TEST

START_TEST(malformed_origins_are_refused_with_a_clear_message)
{
	static const struct {
		const char *list, *says;
	} bad[] = {
		{ "app.example.com", "scheme must be http" },
		{ "ftp://app.example.com", "scheme must be http" },
		{ "https://app.example.com/app", "no path" },
		{ "https://app.example.com?x=1", "unexpected characters" },
		{ "https://user@app.example.com", "unexpected characters" },
		{ "https://*.example.com", "wildcards are not supported" },
		{ "https://app.example.com:0", "port" },
		{ "https://app.example.com:65536", "port" },
		{ "https://app.example.com:", "port" },
		{ "https://", "host" },
		{ "https://.example.com", "host" },
		{ "http://[::1", "IPv6" },
		{ "null", "\"null\" cannot be allowed" },
		{ "*, https://app.example.com", "cannot be combined" },
		{ "https://ok.example, https://bad example", "\"https://bad example\"" },
	};
	struct fs_config c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(&c, bad[i].list, err, sizeof(err)) == -1, "accepted %s",
			      bad[i].list);
		ck_assert_msg(strstr(err, "FLOWSEND_CORS_ORIGINS") && strstr(err, bad[i].says),
			      "%s: %s", bad[i].list, err);
	}
	{
		char list[4096] = "";
		for (int i = 0; i < 33; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%shttp://h%d.test",
				 i ? "," : "", i);
		ck_assert_int_eq(parse(&c, list, err, sizeof(err)), -1);
		ck_assert(strstr(err, "at most 32 origins") != NULL);
		memset(list, 'a', sizeof(list) - 1);
		memcpy(list, "https://", 8);
		list[sizeof(list) - 1] = '\0';
		ck_assert_int_eq(parse(&c, list, err, sizeof(err)), -1);
		ck_assert(strstr(err, "too long") != NULL);
	}
	/* And through the environment: the service refuses to start. */
	setenv("FLOWSEND_CORS_ORIGINS", "https://app.example.com/", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.cors_origins[0], "https://app.example.com");
	setenv("FLOWSEND_CORS_ORIGINS", "app.example.com", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert(strstr(err, "FLOWSEND_CORS_ORIGINS") != NULL);
	unsetenv("FLOWSEND_CORS_ORIGINS");
}
END_TEST

START_TEST(origin_matching_is_exact)
{
	struct fs_config c;
	char err[256];

	ck_assert_int_eq(parse(&c, "https://app.example.com,http://localhost:3000", err,
			       sizeof(err)),
			 0);
	ck_assert_str_eq(fs_cors_allow_origin(&c, "https://app.example.com"),
			 "https://app.example.com");
	ck_assert_str_eq(fs_cors_allow_origin(&c, "http://localhost:3000"), "http://localhost:3000");
	static const char *refused[] = {
		"http://app.example.com",          "https://app.example.com:8443",
		"https://app.example.com.evil.io", "https://evil.app.example.com",
		"https://app.example.co",          "https://APP.example.com",
		"http://localhost",                "http://localhost:30000",
		"null",                            "",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_msg(fs_cors_allow_origin(&c, refused[i]) == NULL, "allowed %s",
			      refused[i]);
	ck_assert_ptr_null(fs_cors_allow_origin(&c, NULL));
	ck_assert_int_eq(parse(&c, "*", err, sizeof(err)), 0);
	ck_assert_str_eq(fs_cors_allow_origin(&c, "https://anything.example"), "*");
	ck_assert_ptr_null(fs_cors_allow_origin(&c, NULL));
	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	ck_assert_ptr_null(fs_cors_allow_origin(&c, "https://app.example.com"));
}
END_TEST

/* ---- through fs_dispatch ---- */

static void echo_create(struct fs_ctx *ctx)
{
	fs_header_add(ctx, "Location", "/api/v1/things/1");
	fs_respond_raw(ctx, 201, "application/json", ctx->req.body ? ctx->req.body : "{}",
		       ctx->req.body ? ctx->req.body_len : 2);
}

static void list_things(struct fs_ctx *ctx)
{
	fs_respond_raw(ctx, 200, "application/json", "[]", 2);
}

static int handler_runs;

static void counted(struct fs_ctx *ctx)
{
	handler_runs++;
	fs_respond_empty(ctx, 204);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/things", list_things, FS_ACCESS_READ, "list" },
	{ "POST", "/api/v1/things", echo_create, FS_ACCESS_WRITE, "create" },
	{ "POST", "/api/v1/open", counted, FS_ACCESS_PUBLIC, "public post" },
	{ "POST", "/api/v1/counted", counted, FS_ACCESS_WRITE, "counted" },
};
static const struct fs_app app = { "edge", routes, sizeof(routes) / sizeof(routes[0]) };

static struct fs_config cfg;
static struct fs_worker worker;
static struct fs_ctx ctx;
static int (*saved_auth)(struct fs_ctx *);

/* Any "Authorization" header is a tenant; none is a 401. */
static int stub_auth(struct fs_ctx *c)
{
	if (!fs_request_header(&c->req, c->env.arena, "Authorization"))
		return 0;
	c->env.auth.user_id = "00000000-0000-4000-8000-000000000001";
	c->env.user_id = c->env.auth.user_id;
	c->env.auth.scopes = FS_SCOPE_READ | FS_SCOPE_WRITE | FS_SCOPE_ADMIN;
	return 1;
}

static void setup(void)
{
	char err[256];

	unsetenv("FLOWSEND_ENV");
	unsetenv("FLOWSEND_CORS_ORIGINS");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	/* Nowhere: these tests must never reach a Redis another checkout runs. */
	cfg.redis_url = "unix:///nonexistent/flowsend-unit-redis.sock";
	ck_assert_int_eq(fs_config_parse_origins(&cfg, "http://dashboard.test:3000", err,
						 sizeof(err)),
			 0);
	fs_worker_init(&worker, &cfg);
	saved_auth = fs_authenticate;
	fs_authenticate = stub_auth;
	handler_runs = 0;
}

static void teardown(void)
{
	fs_authenticate = saved_auth;
	fs_worker_free(&worker);
}

/* Run one request with extra CGI parameters (NULL-terminated); the status. */
static int run(const char *method, const char *path, const char *const *params, const char *body)
{
	static char m[32], p[256];
	char *env[16];
	size_t n = 0;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(p, sizeof(p), "DOCUMENT_URI=%s", path);
	env[n++] = m;
	env[n++] = p;
	env[n++] = "REQUEST_ID=edge-rid";
	for (const char *const *q = params; q && *q && n < 15; q++)
		env[n++] = (char *)*q;
	env[n] = NULL;
	ck_assert_int_eq(fs_ctx_begin(&ctx, &worker, env, NULL), 0);
	if (body) {
		ctx.req.body = body;
		ctx.req.body_len = strlen(body);
		ctx.req.body_read = 1;
	}
	fs_dispatch(&app, &ctx);
	return ctx.res.status;
}

static int has(const char *line)
{
	return strstr(strbuf_cstr(&ctx.res.headers), line) != NULL;
}

static void finish(void)
{
	fs_ctx_end(&ctx, &worker);
}

START_TEST(allowed_preflight_gets_204_with_methods_and_headers)
{
	const char *pre[] = { "HTTP_ORIGIN=http://dashboard.test:3000",
			      "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST",
			      "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=authorization,content-type", NULL };

	/* No credentials: a preflight never carries them. */
	ck_assert_int_eq(run("OPTIONS", "/api/v1/things", pre, NULL), 204);
	ck_assert(has("Access-Control-Allow-Origin: http://dashboard.test:3000\r\n"));
	ck_assert(has("Access-Control-Allow-Methods: GET, POST\r\n"));
	ck_assert(has("Access-Control-Allow-Headers: " FS_CORS_ALLOW_HEADERS "\r\n"));
	ck_assert(has("Idempotency-Key"));
	ck_assert(has("Access-Control-Max-Age: " FS_CORS_MAX_AGE "\r\n"));
	ck_assert(has("Vary: Origin\r\n"));
	ck_assert(has("X-Request-Id: edge-rid\r\n"));
	ck_assert_uint_eq(ctx.res.body.len, 0);
	finish();
	/* A path no route knows: the general set, so the real request shows its 404. */
	ck_assert_int_eq(run("OPTIONS", "/api/v1/nothing", pre, NULL), 204);
	ck_assert(has("Access-Control-Allow-Methods: " FS_CORS_ALLOW_METHODS "\r\n"));
	finish();
}
END_TEST

START_TEST(refused_preflight_gets_403_without_cors_headers)
{
	const char *pre[] = { "HTTP_ORIGIN=http://evil.test", "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST",
			      NULL };
	const char *near[] = { "HTTP_ORIGIN=http://dashboard.test:3001",
			       "HTTP_ACCESS_CONTROL_REQUEST_METHOD=POST", NULL };

	ck_assert_int_eq(run("OPTIONS", "/api/v1/things", pre, NULL), 403);
	ck_assert(!has("Access-Control-"));
	ck_assert(strstr(ctx.res.body.buf, "FLOWSEND_CORS_ORIGINS") != NULL);
	finish();
	ck_assert_int_eq(run("OPTIONS", "/api/v1/things", near, NULL), 403);
	ck_assert(!has("Access-Control-"));
	finish();
}
END_TEST

START_TEST(plain_options_lists_the_methods)
{
	ck_assert_int_eq(run("OPTIONS", "/api/v1/things", NULL, NULL), 204);
	ck_assert(has("Allow: GET, POST, OPTIONS\r\n"));
	ck_assert(!has("Access-Control-"));
	finish();
	ck_assert_int_eq(run("OPTIONS", "/api/v1/nothing", NULL, NULL), 404);
	finish();
}
END_TEST

START_TEST(answers_to_an_allowed_origin_carry_cors_headers)
{
	const char *allowed[] = { "HTTP_ORIGIN=http://dashboard.test:3000", "HTTP_AUTHORIZATION=x",
				  NULL };
	const char *anonymous[] = { "HTTP_ORIGIN=http://dashboard.test:3000", NULL };
	const char *refused[] = { "HTTP_ORIGIN=https://dashboard.test:3000", "HTTP_AUTHORIZATION=x",
				  NULL };

	ck_assert_int_eq(run("GET", "/api/v1/things", allowed, NULL), 200);
	ck_assert(has("Access-Control-Allow-Origin: http://dashboard.test:3000\r\n"));
	ck_assert(has("Access-Control-Allow-Credentials: true\r\n"));
	ck_assert(has("Access-Control-Expose-Headers: " FS_CORS_EXPOSE_HEADERS "\r\n"));
	ck_assert(has("Vary: Origin\r\n"));
	finish();
	/* Errors too: the 401 of authentication, the 404 of the router. */
	ck_assert_int_eq(run("GET", "/api/v1/things", anonymous, NULL), 401);
	ck_assert(has("Access-Control-Allow-Origin: http://dashboard.test:3000\r\n"));
	finish();
	ck_assert_int_eq(run("GET", "/api/v1/nothing", anonymous, NULL), 404);
	ck_assert(has("Access-Control-Allow-Origin: http://dashboard.test:3000\r\n"));
	finish();
	/* Another origin is served (CORS is the browser's to enforce) without them. */
	ck_assert_int_eq(run("GET", "/api/v1/things", refused, NULL), 200);
	ck_assert(!has("Access-Control-"));
	ck_assert(has("Vary: Origin\r\n"));
	finish();
}
END_TEST

START_TEST(cors_off_adds_nothing_and_star_never_with_credentials)
{
	const char *o[] = { "HTTP_ORIGIN=http://dashboard.test:3000", "HTTP_AUTHORIZATION=x", NULL };
	char err[256];

	ck_assert_int_eq(fs_config_parse_origins(&cfg, "", err, sizeof(err)), 0);
	ck_assert_int_eq(run("GET", "/api/v1/things", o, NULL), 200);
	ck_assert(!has("Access-Control-"));
	ck_assert(!has("Vary"));
	finish();
	ck_assert_int_eq(fs_config_parse_origins(&cfg, "*", err, sizeof(err)), 0);
	ck_assert_int_eq(run("GET", "/api/v1/things", o, NULL), 200);
	ck_assert(has("Access-Control-Allow-Origin: *\r\n"));
	ck_assert(!has("Access-Control-Allow-Credentials"));
	finish();
}
END_TEST

START_TEST(idempotency_keys_are_validated)
{
	char k[300];

	ck_assert(fs_idempotency_key_valid("a", 1));
	ck_assert(fs_idempotency_key_valid("order 42/retry:~!", 17));
	ck_assert(!fs_idempotency_key_valid("", 0));
	ck_assert(!fs_idempotency_key_valid("tab\there", 8));
	ck_assert(!fs_idempotency_key_valid("caf\xc3\xa9", 5));
	ck_assert(!fs_idempotency_key_valid("del\x7f", 4));
	memset(k, 'k', sizeof(k));
	ck_assert(fs_idempotency_key_valid(k, 255));
	ck_assert(!fs_idempotency_key_valid(k, 256));
}
END_TEST

START_TEST(idempotency_fingerprint_and_names)
{
	char n1[FS_IDEM_NAME_SIZE], n2[FS_IDEM_NAME_SIZE], n3[FS_IDEM_NAME_SIZE],
		n4[FS_IDEM_NAME_SIZE];
	unsigned char s1[32], s2[32], s3[32], s4[32], f[6][32];

	fs_idempotency_derive("secret", "u:a", "key-1", 5, n1, s1);
	fs_idempotency_derive("secret", "u:b", "key-1", 5, n2, s2);
	fs_idempotency_derive("secret", "u:a", "key-2", 5, n3, s3);
	fs_idempotency_derive("other-secret", "u:a", "key-1", 5, n4, s4);
	ck_assert_uint_eq(strlen(n1), 8 + 64);
	ck_assert(strncmp(n1, "fs:idem:", 8) == 0);
	/* Another caller, key or server secret: another slot and another seal. */
	ck_assert_str_ne(n1, n2);
	ck_assert_str_ne(n1, n3);
	ck_assert_str_ne(n1, n4);
	ck_assert(memcmp(s1, s2, 32) != 0 && memcmp(s1, s3, 32) != 0 && memcmp(s1, s4, 32) != 0);
	/* The client's key never appears in the name. */
	ck_assert(strstr(n1, "key-1") == NULL);
	fs_idempotency_derive("secret", "u:a", "key-1", 5, n2, s2);
	ck_assert_str_eq(n1, n2);

	fs_idempotency_fingerprint(s1, "POST", "/api/v1/contacts", "", "{\"a\":1}", 7, f[0]);
	fs_idempotency_fingerprint(s1, "POST", "/api/v1/contacts", "", "{\"a\":1}", 7, f[1]);
	ck_assert(memcmp(f[0], f[1], 32) == 0);
	fs_idempotency_fingerprint(s1, "POST", "/api/v1/contacts", "", "{\"a\":2}", 7, f[1]);
	fs_idempotency_fingerprint(s1, "POST", "/api/v1/templates", "", "{\"a\":1}", 7, f[2]);
	fs_idempotency_fingerprint(s1, "PATCH", "/api/v1/contacts", "", "{\"a\":1}", 7, f[3]);
	fs_idempotency_fingerprint(s1, "POST", "/api/v1/contacts", "x=1", "{\"a\":1}", 7, f[4]);
	fs_idempotency_fingerprint(s3, "POST", "/api/v1/contacts", "", "{\"a\":1}", 7, f[5]);
	for (int i = 1; i < 6; i++)
		ck_assert_msg(memcmp(f[0], f[i], 32) != 0, "fingerprint %d collides", i);
	/* Fields are length-delimited: moving a byte from path to query changes it. */
	fs_idempotency_fingerprint(s1, "POST", "/a", "b", "", 0, f[1]);
	fs_idempotency_fingerprint(s1, "POST", "/ab", "", "", 0, f[2]);
	ck_assert(memcmp(f[1], f[2], 32) != 0);
}
END_TEST

START_TEST(idempotency_answers_pack_and_seal)
{
	struct fs_response res, back;
	struct strbuf packed = STRBUF_INIT, sealed = STRBUF_INIT, plain = STRBUF_INIT;
	struct arena a;
	unsigned char seal[32], other[32], fp[32];
	char name[FS_IDEM_NAME_SIZE];
	size_t mark;

	arena_init(&a, 0);
	fs_response_init(&res);
	fs_response_init(&back);
	strbuf_appends(&res.headers, "X-Request-Id: first\r\nRateLimit-Limit: 60\r\n");
	mark = res.headers.len;
	strbuf_appends(&res.headers, "Location: /api/v1/contacts/1\r\n");
	res.status = 201;
	res.content_type = "application/json; charset=utf-8";
	strbuf_append(&res.body, "{\"id\":\"1\",\"n\":\"a\\nb\"}\0x", 24);
	ck_assert_int_eq(fs_idempotency_pack(&res, mark, &packed), 0);

	fs_idempotency_derive("secret", "k:key", "retry-1", 7, name, seal);
	fs_idempotency_derive("secret", "k:key", "retry-2", 7, name, other);
	memset(fp, 7, sizeof(fp));
	ck_assert_int_eq(fs_idempotency_seal(seal, fp, packed.buf, packed.len, &sealed), 0);
	ck_assert_int_eq(sealed.buf[0], 'D');
	ck_assert(memcmp(sealed.buf + 1, fp, 32) == 0);
	for (size_t i = 0; i + 8 <= sealed.len; i++)
		ck_assert(memcmp(sealed.buf + i, "Location", 8) != 0); /* sealed, not clear */
	ck_assert_int_eq(fs_idempotency_open(other, sealed.buf, sealed.len, &plain), -1);
	ck_assert_int_eq(fs_idempotency_open(seal, sealed.buf, sealed.len, &plain), 0);
	ck_assert_uint_eq(plain.len, packed.len);
	ck_assert(memcmp(plain.buf, packed.buf, packed.len) == 0);

	/* Replayed under the new request's own X-Request-Id. */
	strbuf_appends(&back.headers, "X-Request-Id: second\r\n");
	ck_assert_int_eq(fs_idempotency_unpack(plain.buf, plain.len, &a, &back), 0);
	ck_assert_int_eq(back.status, 201);
	ck_assert_str_eq(back.content_type, "application/json; charset=utf-8");
	ck_assert_str_eq(strbuf_cstr(&back.headers),
			 "X-Request-Id: second\r\nLocation: /api/v1/contacts/1\r\n");
	ck_assert_uint_eq(back.body.len, 24);
	ck_assert(memcmp(back.body.buf, res.body.buf, 24) == 0);

	/* Altered or truncated: refused. */
	sealed.buf[sealed.len - 1] ^= 1;
	strbuf_reset(&plain);
	ck_assert_int_eq(fs_idempotency_open(seal, sealed.buf, sealed.len, &plain), -1);
	ck_assert_int_eq(fs_idempotency_open(seal, sealed.buf, 40, &plain), -1);
	ck_assert_int_eq(fs_idempotency_unpack("201\n", 4, &a, &back), -1);
	ck_assert_int_eq(fs_idempotency_unpack("99\n\n0\n", 6, &a, &back), -1);
	ck_assert_int_eq(fs_idempotency_unpack("200\n\n50\nshort", 13, &a, &back), -1);
	ck_assert_int_eq(fs_idempotency_unpack("204\n\n0\n", 7, &a, &back), 0);
	ck_assert_ptr_null(back.content_type);

	strbuf_free(&packed);
	strbuf_free(&sealed);
	strbuf_free(&plain);
	fs_response_free(&res);
	fs_response_free(&back);
	arena_destroy(&a);
}
END_TEST

START_TEST(idempotency_at_dispatch)
{
	const char *keyed[] = { "HTTP_AUTHORIZATION=x", "HTTP_IDEMPOTENCY_KEY=retry-1",
				"CONTENT_TYPE=application/json", NULL };
	const char *plain[] = { "HTTP_AUTHORIZATION=x", NULL };
	const char *bad_key[] = { "HTTP_AUTHORIZATION=x", "HTTP_IDEMPOTENCY_KEY=", NULL };
	const char *csv[] = { "HTTP_AUTHORIZATION=x", "HTTP_IDEMPOTENCY_KEY=retry-1",
			      "CONTENT_TYPE=text/csv", NULL };
	const char *public_keyed[] = { "HTTP_IDEMPOTENCY_KEY=retry-1", NULL };

	/* Without the header nothing asks Redis (which is unreachable here). */
	ck_assert_int_eq(run("POST", "/api/v1/counted", plain, "{}"), 204);
	ck_assert_int_eq(handler_runs, 1);
	finish();
	/* With it, an unreachable store refuses rather than risk a second write. */
	ck_assert_int_eq(run("POST", "/api/v1/counted", keyed, "{}"), 503);
	ck_assert(has("Retry-After: 5\r\n"));
	ck_assert(strstr(ctx.res.body.buf, "Idempotency-Key") != NULL);
	ck_assert_int_eq(handler_runs, 1);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/counted", bad_key, "{}"), 422);
	ck_assert(strstr(ctx.res.body.buf, "\"header\"") != NULL);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/counted", csv, "email\n"), 422);
	ck_assert(strstr(ctx.res.body.buf, "streamed") != NULL);
	finish();
	/* Public routes ignore it; GET ignores it. */
	ck_assert_int_eq(run("POST", "/api/v1/open", public_keyed, "{}"), 204);
	ck_assert_int_eq(handler_runs, 2);
	finish();
	ck_assert_int_eq(run("GET", "/api/v1/things", keyed, NULL), 200);
	finish();
}
END_TEST

Suite *edge_suite(void)
{
	Suite *s = suite_create("edge");
	TCase *tc = tcase_create("origins");
	tcase_add_test(tc, origins_are_normalised_as_browsers_send_them);
	tcase_add_test(tc, malformed_origins_are_refused_with_a_clear_message);
	tcase_add_test(tc, origin_matching_is_exact);
	tcase_add_test(tc, idempotency_keys_are_validated);
	tcase_add_test(tc, idempotency_fingerprint_and_names);
	tcase_add_test(tc, idempotency_answers_pack_and_seal);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, allowed_preflight_gets_204_with_methods_and_headers);
	tcase_add_test(tc, refused_preflight_gets_403_without_cors_headers);
	tcase_add_test(tc, plain_options_lists_the_methods);
	tcase_add_test(tc, answers_to_an_allowed_origin_carry_cors_headers);
	tcase_add_test(tc, cors_off_adds_nothing_and_star_never_with_credentials);
	tcase_add_test(tc, idempotency_at_dispatch);
	suite_add_tcase(s, tc);
	return s;
}
