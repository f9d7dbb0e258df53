/* The whole request path short of FastCGI: parse, route, handler helpers,
 * error shapes, serialisation. */
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/server.h"
#include "json/json.h"
#include "unit.h"

static void things_list(struct fs_ctx *ctx)
{
	struct fs_page p;
	int bad;
	const char *search;

	if (fs_ctx_pagination(ctx, &p) < 0)
		return;
	search = fs_ctx_query_string(ctx, "search", 10, &bad);
	if (bad)
		return;
	json_object *items = json_object_new_array();
	if (search)
		json_object_array_add(items, json_object_new_string(search));
	fs_respond_json(ctx, 200, fs_page_json(&p, items, 7));
}

static void things_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	const char *name;
	int64_t count = 0;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "name", 1, 1, 10, &name, NULL);
	fs_json_get_int(&v, body, "count", 0, 0, 100, &count);
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "count", json_object_new_int64(count));
	fs_respond_json(ctx, 201, o);
}

static void things_get(struct fs_ctx *ctx)
{
	fs_respond_raw(ctx, 200, "text/plain", fs_ctx_param(ctx, "id"), 36);
}

static void silent(struct fs_ctx *ctx)
{
	(void)ctx;
}

/* A service whose query fails, reported the usual way: FS_ERROR. */
static void needs_db(struct fs_ctx *ctx)
{
	struct fs_error err;

	if (!db_query(ctx->env.db, ctx->env.arena, "SELECT 1", 0, NULL))
		return fs_respond_failure(ctx, fs_fail(&err, FS_ERROR, "reading things failed"), &err);
	fs_respond_empty(ctx, 204);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/things", things_list, FS_ACCESS_PUBLIC, "list" },
	{ "POST", "/api/v1/things", things_create, FS_ACCESS_PUBLIC, "create" },
	{ "GET", "/api/v1/things/:id", things_get, FS_ACCESS_PUBLIC, "get" },
	{ "GET", "/api/v1/private", things_list, FS_ACCESS_READ, "private" },
	{ "GET", "/api/v1/silent", silent, FS_ACCESS_PUBLIC, "silent" },
	{ "GET", "/api/v1/needs-db", needs_db, FS_ACCESS_PUBLIC, "needs-db" },
};
static const struct fs_app app = { "unit", routes, sizeof(routes) / sizeof(routes[0]) };

static struct fs_config cfg;
static struct fs_worker worker;
static struct fs_ctx ctx;
static json_object *answer;

static void setup(void)
{
	char err[128];
	unsetenv("FLOWSEND_ENV");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	fs_worker_init(&worker, &cfg);
	answer = NULL;
}

static void teardown(void)
{
	json_object_put(answer);
	fs_worker_free(&worker);
}

/* Run one request; body may be NULL. Returns the HTTP status. */
static int run(const char *method, const char *path, const char *query, const char *body)
{
	static char m[32], p[512], q[512];
	char *env[] = { m, p, q, "REQUEST_ID=unit-rid", NULL };
	char err[64];

	json_object_put(answer);
	answer = NULL;
	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(p, sizeof(p), "DOCUMENT_URI=%s", path);
	snprintf(q, sizeof(q), "QUERY_STRING=%s", query ? query : "");
	ck_assert_int_eq(fs_ctx_begin(&ctx, &worker, env, NULL), 0);
	if (body) {
		ctx.req.body = body;
		ctx.req.body_len = strlen(body);
		ctx.req.body_read = 1;
	}
	fs_dispatch(&app, &ctx);
	int status = ctx.res.status;
	if (ctx.res.body.len && ctx.res.content_type &&
	    strncmp(ctx.res.content_type, "application/json", 16) == 0)
		answer = fs_json_parse(ctx.res.body.buf, ctx.res.body.len, err, sizeof(err));
	return status;
}

static const char *detail(void)
{
	json_object *d = json_object_object_get(answer, "detail");
	return d ? json_object_get_string(d) : "";
}

static void finish(void)
{
	fs_ctx_end(&ctx, &worker);
}

START_TEST(unknown_route_is_json_404_and_wrong_method_405)
{
	ck_assert_int_eq(run("GET", "/api/v1/nothing", NULL, NULL), 404);
	ck_assert_str_eq(detail(), "Not Found");
	finish();
	ck_assert_int_eq(run("DELETE", "/api/v1/things", NULL, NULL), 405);
	ck_assert_str_eq(detail(), "Method Not Allowed");
	ck_assert(strstr(ctx.res.headers.buf, "Allow: GET, POST\r\n") != NULL);
	ck_assert(strstr(ctx.res.headers.buf, "X-Request-Id: unit-rid\r\n") != NULL);
	finish();
	ck_assert_int_eq(run("GET", "/api/v1/things/not-a-uuid", NULL, NULL), 404);
	finish();
}
END_TEST

START_TEST(pagination_defaults_and_errors)
{
	ck_assert_int_eq(run("GET", "/api/v1/things", NULL, NULL), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(answer, "page")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(answer, "page_size")), 50);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(answer, "total")), 7);
	finish();
	const char *bad[] = { "page=0", "page=abc", "page_size=101", "page_size=0", "page=1e3",
			      "page=99999999999999999999", "page=" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(run("GET", "/api/v1/things", bad[i], NULL), 422);
		json_object *d = json_object_object_get(answer, "detail");
		ck_assert(json_object_is_type(d, json_type_array));
		finish();
	}
	ck_assert_int_eq(run("GET", "/api/v1/things", "search=%ff%fe", NULL), 422);
	finish();
	ck_assert_int_eq(run("GET", "/api/v1/things", "search=abcdefghijk", NULL), 422);
	finish();
	ck_assert_int_eq(run("GET", "/api/v1/things", "search=caf%C3%A9", NULL), 200);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(
				 json_object_object_get(answer, "items"), 0)),
			 "caf\xc3\xa9");
	finish();
}
END_TEST

START_TEST(json_bodies_are_validated)
{
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "{\"name\":\"box\",\"count\":3}"),
			 201);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(answer, "count")), 3);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "{\"name\": "), 422);
	ck_assert(strstr(detail(), "JSON decode error") != NULL);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "[1,2]"), 422);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "{\"name\":5,\"count\":\"x\"}"),
			 422);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(answer, "detail")),
			 2);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "{\"name\":\"\xc3\x28\"}"), 422);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, "{\"name\":\"much too long a name\"}"),
			 422);
	finish();
	ck_assert_int_eq(run("POST", "/api/v1/things", NULL, ""), 422);
	finish();
}
END_TEST

START_TEST(protected_routes_need_credentials)
{
	ck_assert_int_eq(run("GET", "/api/v1/private", NULL, NULL), 401);
	ck_assert_str_eq(detail(), "Not authenticated");
	finish();
}
END_TEST

START_TEST(a_silent_handler_is_a_logged_500_without_details)
{
	ck_assert_int_eq(run("GET", "/api/v1/silent", NULL, NULL), 500);
	ck_assert(strstr(detail(), "unit-rid") != NULL);
	ck_assert(strstr(detail(), "handler") == NULL);
	finish();
}
END_TEST

START_TEST(a_lost_database_is_a_503_that_says_so)
{
	/* No server behind this socket: the connection cannot be made. */
	db_init(&worker.db, "postgresql:///flowsend?host=/nonexistent/flowsend-unit");
	ck_assert_int_eq(run("GET", "/api/v1/needs-db", NULL, NULL), 503);
	ck_assert_str_eq(detail(), "The database connection was lost; the request was not completed."
				   " Retry it.");
	ck_assert_str_eq(db_last_sqlstate(&worker.db), "08001");
	finish();
	/* The next request starts clean: a failure of its own is a 500 again. */
	ck_assert_int_eq(run("GET", "/api/v1/silent", NULL, NULL), 500);
	finish();
}
END_TEST

START_TEST(path_parameters_and_head)
{
	struct strbuf out = STRBUF_INIT;
	ck_assert_int_eq(run("HEAD", "/api/v1/things/123e4567-e89b-12d3-a456-426614174000", NULL,
			     NULL),
			 200);
	ck_assert(strncmp(ctx.res.body.buf, "123e4567-e89b-12d3-a456-426614174000", 36) == 0);
	fs_response_serialize(&ctx.res, &out);
	ck_assert(strncmp(out.buf, "Status: 200 OK\r\nContent-Type: text/plain\r\n", 42) == 0);
	/* HEAD: the headers and nothing after them. */
	ck_assert(strstr(out.buf, "\r\n\r\n")[4] == '\0');
	strbuf_free(&out);
	finish();
}
END_TEST

Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unknown_route_is_json_404_and_wrong_method_405);
	tcase_add_test(tc, pagination_defaults_and_errors);
	tcase_add_test(tc, json_bodies_are_validated);
	tcase_add_test(tc, protected_routes_need_credentials);
	tcase_add_test(tc, a_silent_handler_is_a_logged_500_without_details);
	tcase_add_test(tc, a_lost_database_is_a_503_that_says_so);
	tcase_add_test(tc, path_parameters_and_head);
	suite_add_tcase(s, tc);
	return s;
}
