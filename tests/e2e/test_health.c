/* GET /api/v1/health: ok when PostgreSQL and Redis answer, 503 "degraded"
 * naming the one that does not. */
#include <hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "db/db.h"
#include "e2e.h"
#include "queue/redis.h"
#include "services/health.h"

static const char *field(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

START_TEST(health_is_ok_with_every_dependency)
{
	struct http_answer a;
	char ct[128];

	ck_assert_int_eq(http_call("GET", "/api/v1/health", NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(a.json);
	ck_assert_str_eq(field(a.json, "service"), "flowsend");
	ck_assert_str_eq(field(a.json, "status"), "ok");
	ck_assert_str_eq(field(a.json, "database"), "ok");
	ck_assert_str_eq(field(a.json, "redis"), "ok");
	const char *ts = field(a.json, "timestamp");
	ck_assert_ptr_nonnull(ts);
	ck_assert_uint_eq(strlen(ts), 24);
	ck_assert_int_eq(ts[10], 'T');
	ck_assert_int_eq(ts[23], 'Z');
	ck_assert_str_eq(http_header(&a, "Content-Type", ct, sizeof(ct)),
			 "application/json; charset=utf-8");
	ck_assert_ptr_nonnull(http_header(&a, "X-Request-Id", ct, sizeof(ct)));
	http_answer_free(&a);

	ck_assert_int_eq(http_call("HEAD", "/api/v1/health", NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(a.len, 0);
	http_answer_free(&a);
}
END_TEST

/* CLIENT PAUSE makes Redis stall its clients, so the responder's PING times
 * out exactly as if Redis were down. Our own UNPAUSE waits behind the pause
 * too: this client's timeout outlasts it. */
START_TEST(health_is_degraded_while_redis_stalls)
{
	struct fs_config cfg;
	char err[256];
	struct fs_redis r;
	struct http_answer a;
	const char *pause[] = { "CLIENT", "PAUSE", "2500", "ALL" };
	const char *unpause[] = { "CLIENT", "UNPAUSE" };
	redisReply *rep;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	fs_redis_init(&r, cfg.redis_url);
	r.timeout_ms = 5000;
	rep = fs_redis_argv(&r, 4, pause, NULL);
	ck_assert_ptr_nonnull(rep);
	freeReplyObject(rep);

	ck_assert_int_eq(http_call("GET", "/api/v1/health", NULL, NULL, 0, &a), 0);
	rep = fs_redis_argv(&r, 2, unpause, NULL);
	if (rep)
		freeReplyObject(rep);
	fs_redis_close(&r);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(field(a.json, "status"), "degraded");
	ck_assert_str_eq(field(a.json, "redis"), "error");
	ck_assert_str_eq(field(a.json, "database"), "ok");
	http_answer_free(&a);

	/* The worker reconnects by itself once Redis answers again. */
	ck_assert_int_eq(http_call("GET", "/api/v1/health", NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
}
END_TEST

START_TEST(health_check_reports_an_unreachable_database)
{
	struct fs_config cfg;
	char err[256];
	struct fs_db db;
	struct fs_redis r;
	struct health_report rep;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	db_init(&db, "postgresql://flowsend_app@/flowsend?host=/nonexistent&port=1&connect_timeout=2");
	fs_redis_init(&r, cfg.redis_url);
	health_check(&db, &r, &rep);
	ck_assert_int_eq(rep.database_ok, 0);
	ck_assert_int_eq(rep.redis_ok, 1);
	db_close(&db);
	fs_redis_close(&r);
}
END_TEST

Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("health");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, health_is_ok_with_every_dependency);
	tcase_add_test(tc, health_is_degraded_while_redis_stalls);
	tcase_add_test(tc, health_check_reports_an_unreachable_database);
	suite_add_tcase(s, tc);
	return s;
}
