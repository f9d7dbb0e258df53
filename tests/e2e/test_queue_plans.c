/* The worker's batch claims keep to the batch whatever the statistics said
 * when PostgreSQL planned them (README, "Queue plans").
 *
 * Each test runs a service's own statement on a session that plans it once,
 * generically, while its queue is empty and freshly analyzed (what autovacuum
 * does to a queue the worker keeps empty), then fills the queue with QUEUED
 * rows and asserts from EXPLAIN (ANALYZE, BUFFERS) of that cached plan that
 * the rows the plan visited and the buffers it read stay within a bound set by
 * the batch, not by the queue: the former forms rescanned the locking
 * subquery, or compared every queued row with every claimed id, for millions
 * of rows here. The queues are temporary tables of the session (they come
 * first in the search path), so the running worker never sees them, and no
 * autovacuum re-plans the statement in between. */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/uuid.h"
#include "db/db.h"
#include "e2e.h"
#include "services/delivery.h"
#include "services/flow_engine.h"
#include "services/retention.h"
#include "services/webhooks.h"

#define QUEUED 5000
#define STR_(x) #x
#define STR(x) STR_(x)
/* Rows visited and buffers read per row a claim may take. */
#define PER_ROW 50

static struct fs_config cfg;
static struct arena arena;
static struct fs_db owner, sys;
static char user_id[40], flow_id[40];

static void run(struct fs_db *db, const char *sql)
{
	ck_assert_msg(db_query(db, &arena, sql, 0, NULL) != NULL, "%s: %s", sql,
		      db_last_sqlstate(db));
}

static void setup(void)
{
	char err[256], email[96];
	const char *p[2] = { user_id, email };

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	arena_init(&arena, 0);
	db_init(&owner, cfg.database_migrate_url);
	db_init(&sys, cfg.database_system_url);
	uuid_generate(user_id);
	uuid_generate(flow_id);
	snprintf(email, sizeof(email), "queue-plans-%s@example.com", user_id);
	ck_assert_ptr_nonnull(db_query(
		&owner, &arena, "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')",
		2, p));
	p[1] = flow_id;
	/* Active, with no version: the engine's real claim never runs it. */
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "INSERT INTO flows (id, user_id, name, trigger_type, status)"
				       " VALUES ($2, $1, 'queue plans', 'signup', 'active')",
				       2, p));
	run(&sys, "SET plan_cache_mode = force_generic_plan");
}

static void teardown(void)
{
	const char *p[1] = { user_id };

	db_query(&owner, &arena, "DELETE FROM users WHERE id = $1", 1, p);
	arena_destroy(&arena);
	db_close(&owner);
	db_close(&sys);
}

/* The session's own empty copy of a queue table, analyzed while empty. */
static void empty_queue(const char *table)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE %s (LIKE public.%s INCLUDING ALL)", table,
		 table);
	run(&sys, sql);
	snprintf(sql, sizeof(sql), "VACUUM ANALYZE pg_temp.%s", table);
	run(&sys, sql);
}

/* The prepared name of the session's statement that contains marker. */
static void prepared_name(const char *marker, char *name, size_t size)
{
	for (int i = 0; i < sys.nprepared; i++)
		if (strstr(sys.prepared[i], marker)) {
			snprintf(name, size, "fs_%d", i);
			return;
		}
	ck_abort_msg("no prepared statement contains \"%s\"", marker);
}

static long long json_ll(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (long long)json_object_get_double(v) : 0;
}

/* Rows a plan node and its children produced or threw away, over all loops. */
static long long rows_visited(json_object *node)
{
	json_object *plans;
	long long n = (json_ll(node, "Actual Rows") + json_ll(node, "Rows Removed by Filter") +
		       json_ll(node, "Rows Removed by Join Filter") +
		       json_ll(node, "Rows Removed by Index Recheck")) *
		      json_ll(node, "Actual Loops");

	if (json_object_object_get_ex(node, "Plans", &plans))
		for (size_t i = 0; i < json_object_array_length(plans); i++)
			n += rows_visited(json_object_array_get_idx(plans, i));
	return n;
}

/* EXPLAIN ANALYZE of the cached statement (rolled back), checked against the
 * bound for a claim of up to batch rows. */
static void assert_linear(const char *marker, const char *args, long batch)
{
	char name[16], sql[128];
	json_object *root, *plan;
	PGresult *r;
	long long rows, hits;

	prepared_name(marker, name, sizeof(name));
	snprintf(sql, sizeof(sql), "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE %s%s", name,
		 args);
	ck_assert_int_eq(db_begin(&sys), FS_OK);
	r = db_query(&sys, &arena, sql, 0, NULL);
	ck_assert_msg(r != NULL, "%s: %s", sql, db_last_sqlstate(&sys));
	root = json_tokener_parse(PQgetvalue(r, 0, 0));
	db_rollback(&sys);
	ck_assert_ptr_nonnull(root);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(root, 0), "Plan", &plan));
	rows = rows_visited(plan);
	hits = json_ll(plan, "Shared Hit Blocks") + json_ll(plan, "Shared Read Blocks") +
	       json_ll(plan, "Local Hit Blocks") + json_ll(plan, "Local Read Blocks");
	json_object_put(root);
	ck_assert_msg(rows <= PER_ROW * batch,
		      "%s visited %lld rows for a batch of %ld (%d queued)", marker, rows, batch,
		      QUEUED);
	ck_assert_msg(hits <= PER_ROW * batch,
		      "%s read %lld buffers for a batch of %ld (%d queued)", marker, hits, batch,
		      QUEUED);
}

/* Flow steps' webhook calls: 32 leased a pass. */
START_TEST(the_webhook_call_lease_takes_its_batch_alone)
{
	struct webhook_pass_stats st;
	const char *p[1] = { user_id };

	empty_queue("webhook_events");
	for (int i = 0; i < 6; i++)
		ck_assert_int_ge(webhooks_deliver(&sys, &arena, 1e18, &st), 0);
	ck_assert_ptr_nonnull(db_query(
		&sys, &arena,
		"INSERT INTO pg_temp.webhook_events (user_id, url, event_type, next_attempt_at)"
		" SELECT $1, 'http://127.0.0.1:1/', 'flow.step',"
		"  flowsend_now() - interval '1 hour' + i * interval '1 ms'"
		" FROM generate_series(1, " STR(QUEUED) ") i",
		1, p));
	assert_linear("UPDATE webhook_events w SET next_attempt_at", "", 32);
}
END_TEST

/* Retention: a chunk of 1,000 of each kind a pass. */
START_TEST(the_retention_chunk_takes_its_chunk_alone)
{
	const char *p[1] = { user_id };

	empty_queue("webhook_events");
	empty_queue("form_submissions");
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(retention_prune(&sys, &arena), 0);
	ck_assert_ptr_nonnull(
		db_query(&sys, &arena,
			 "INSERT INTO pg_temp.webhook_events (user_id, url, event_type, status,"
			 "  completed_at)"
			 " SELECT $1, 'http://127.0.0.1:1/', 'flow.step', 'delivered',"
			 "  flowsend_now() - interval '40 days' + i * interval '1 ms'"
			 " FROM generate_series(1, " STR(QUEUED) ") i",
			 1, p));
	ck_assert_ptr_nonnull(
		db_query(&sys, &arena,
			 "INSERT INTO pg_temp.form_submissions (user_id, email, expires_at)"
			 " SELECT $1, 'plan' || i || '@example.com',"
			 "  flowsend_now() - interval '40 days' + i * interval '1 ms'"
			 " FROM generate_series(1, " STR(QUEUED) ") i",
			 1, p));
	assert_linear("DELETE FROM webhook_events WHERE", "", 2 * RETENTION_CHUNK);
}
END_TEST

/* The outbox claim (mock mode's; SMTP's has the same claim). */
START_TEST(the_outbox_claim_takes_its_batch_alone)
{
	struct delivery_counts c;
	const char *p[1] = { user_id };

	empty_queue("outbox");
	empty_queue("delivery_claims");
	for (int i = 0; i < 6; i++) {
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(delivery_run_batch(&sys, &cfg, &arena, 1000, NULL, 0, &c), 0);
	}
	ck_assert_ptr_nonnull(
		db_query(&sys, &arena,
			 "INSERT INTO pg_temp.outbox (user_id, to_email, next_attempt_at)"
			 " SELECT $1, 'plan' || i || '@example.com',"
			 "  flowsend_now() - interval '1 hour' + i * interval '1 ms'"
			 " FROM generate_series(1, " STR(QUEUED) ") i",
			 1, p));
	assert_linear("INSERT INTO delivery_claims", "(1000)", 1000);
}
END_TEST

/* The flow engine's claim of due executions. */
START_TEST(the_flow_engine_claim_takes_its_batch_alone)
{
	struct flow_engine_counts c;
	const char *p[2] = { user_id, flow_id };

	empty_queue("flow_due");
	empty_queue("flow_executions");
	for (int i = 0; i < 6; i++) {
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(flow_engine_run_batch(&sys, &arena, 1000, &c), 0);
	}
	/* Random ids, as uuid7 ones are to the due order once delays differ:
	 * the former join walked the primary key up to each queue row's. */
	ck_assert_ptr_nonnull(
		db_query(&sys, &arena,
			 "INSERT INTO pg_temp.flow_executions (id, user_id, flow_id, flow_version,"
			 "  contact_id, status, next_run_at, enrollment_key)"
			 " SELECT gen_random_uuid(), $1, $2, 1, gen_random_uuid(), 'active',"
			 "  flowsend_now() - interval '1 hour' + i * interval '1 ms', 'once'"
			 " FROM generate_series(1, " STR(QUEUED) ") i",
			 2, p));
	run(&sys,
	    "INSERT INTO pg_temp.flow_due SELECT id, next_run_at FROM pg_temp.flow_executions");
	run(&sys, "SET enable_seqscan = off"); /* as the engine plans it */
	run(&sys, "SET enable_sort = off");
	assert_linear("FROM flow_due d", "(1000)", 1000);
}
END_TEST

Suite *queue_plans_suite(void)
{
	Suite *s = suite_create("queue_plans");
	TCase *tc = tcase_create("generic plans from an empty queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, the_webhook_call_lease_takes_its_batch_alone);
	tcase_add_test(tc, the_retention_chunk_takes_its_chunk_alone);
	tcase_add_test(tc, the_outbox_claim_takes_its_batch_alone);
	tcase_add_test(tc, the_flow_engine_claim_takes_its_batch_alone);
	suite_add_tcase(s, tc);
	return s;
}
