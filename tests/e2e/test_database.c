/* The schema's promises: migrations re-run as a no-op, and row-level security
 * confines the responders' role to the tenant set for the transaction. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/migrate.h"
#include "e2e.h"

static struct fs_config cfg;
static struct arena arena;
static struct fs_db owner, app, sys, peer;
static char user_a[40], user_b[40];

static void insert_user(const char *id, const char *tag)
{
	char email[96];
	const char *p[2] = { id, email };
	snprintf(email, sizeof(email), "rls-%s-%s@example.com", tag, id);
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')",
				       2, p));
}

static void insert_contact(const char *user, const char *email)
{
	const char *p[2] = { user, email };
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "INSERT INTO contacts (user_id, email) VALUES ($1, $2)", 2, p));
}

static void setup(void)
{
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	arena_init(&arena, 0);
	db_init(&owner, cfg.database_migrate_url);
	db_init(&app, cfg.database_url);
	db_init(&sys, cfg.database_system_url);
	db_init(&peer, cfg.database_url);
	uuid_generate(user_a);
	uuid_generate(user_b);
	insert_user(user_a, "a");
	insert_user(user_b, "b");
	insert_contact(user_a, "alice@example.com");
	insert_contact(user_b, "bob@example.com");
	insert_contact(user_b, "bella@example.com");
}

static void teardown(void)
{
	const char *p[2] = { user_a, user_b };
	db_rollback(&app);
	db_query(&owner, &arena, "DELETE FROM users WHERE id IN ($1, $2)", 2, p);
	arena_destroy(&arena);
	db_close(&owner);
	db_close(&app);
	db_close(&sys);
	db_close(&peer);
}

/* Contacts of both test tenants visible to a query with no user filter. */
static long visible(struct fs_db *db)
{
	const char *p[2] = { user_a, user_b };
	PGresult *r = db_query(db, &arena,
			       "SELECT count(*) AS n FROM contacts c JOIN users u ON u.id = c.user_id"
			       " WHERE u.id IN ($1, $2)",
			       2, p);
	ck_assert_ptr_nonnull(r);
	return (long)db_get_ll(r, 0, "n", -1);
}

START_TEST(tenant_queries_without_a_filter_see_only_their_tenant)
{
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_int_eq(visible(&app), 1);
	/* No WHERE user_id at all: still only tenant A's row. */
	PGresult *r = db_query(&app, &arena, "SELECT email FROM contacts", 0, NULL);
	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < PQntuples(r); i++)
		ck_assert_str_ne(db_get(r, i, "email"), "bob@example.com");
	ck_assert_int_eq(db_commit(&app), FS_OK);

	ck_assert_int_eq(db_begin_tenant(&app, user_b), FS_OK);
	ck_assert_int_eq(visible(&app), 2);
	ck_assert_int_eq(db_commit(&app), FS_OK);
}
END_TEST

START_TEST(no_tenant_set_sees_nothing)
{
	ck_assert_int_eq(visible(&app), 0);
	/* The setting is per transaction: after COMMIT it is gone again. */
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_int_eq(db_commit(&app), FS_OK);
	ck_assert_int_eq(visible(&app), 0);
}
END_TEST

START_TEST(writes_into_another_tenant_are_refused)
{
	const char *p[1] = { user_b };

	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_ptr_null(db_query(&app, &arena,
				    "INSERT INTO contacts (user_id, email) VALUES ($1, 'x@example.com')",
				    1, p));
	ck_assert_str_eq(db_last_sqlstate(&app), "42501");
	db_rollback(&app);

	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	PGresult *r = db_query(&app, &arena,
			       "UPDATE contacts SET first_name = 'hacked' WHERE user_id = $1", 1, p);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(PQcmdTuples(r), "0");
	r = db_query(&app, &arena, "DELETE FROM users WHERE id = $1", 1, p);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(PQcmdTuples(r), "0");
	db_commit(&app);
	ck_assert_int_eq(visible(&sys), 3);
}
END_TEST

START_TEST(the_app_role_cannot_lift_the_policies)
{
	ck_assert_ptr_null(db_query(&app, &arena, "ALTER TABLE contacts DISABLE ROW LEVEL SECURITY",
				    0, NULL));
	/* With row_security off a query a policy would filter fails instead. */
	ck_assert_ptr_nonnull(db_query(&app, &arena, "SET row_security = off", 0, NULL));
	ck_assert_ptr_null(db_query(&app, &arena, "SELECT count(*) FROM contacts", 0, NULL));
	ck_assert_str_eq(db_last_sqlstate(&app), "42501");
	ck_assert_ptr_nonnull(db_query(&app, &arena, "RESET row_security", 0, NULL));
	ck_assert_ptr_null(db_query(&app, &arena, "CREATE TABLE sneaky (id int)", 0, NULL));
}
END_TEST

START_TEST(the_system_role_crosses_tenants)
{
	ck_assert_int_eq(visible(&sys), 3);
}
END_TEST

START_TEST(migrations_rerun_as_a_no_op)
{
	int applied = -1;
	ck_assert_int_eq(db_migrate(&owner, "schema", &applied), 0);
	ck_assert_int_eq(applied, 0);
	PGresult *r = db_query(&owner, &arena,
			       "SELECT count(*) AS n FROM schema_migrations WHERE version = '0001'",
			       0, NULL);
	ck_assert_int_eq(db_get_ll(r, 0, "n", 0), 1);
}
END_TEST

/* ---- a lost connection ---- */

/* End db's session from killer (a session of the same role, as PostgreSQL lets a
 * role end its own sessions), as a restart or an operator would, and wait
 * until the session's last words have reached db's socket. */
static void terminate(struct fs_db *db, struct fs_db *killer)
{
	char pid[16];
	const char *p[1] = { pid };
	PGresult *r;
	struct pollfd pf;

	snprintf(pid, sizeof(pid), "%d", PQbackendPID(db->conn));
	r = db_query(killer, &arena, "SELECT pg_terminate_backend($1::int, 5000) AS gone", 1, p);
	ck_assert_ptr_nonnull(r);
	ck_assert(db_get_bool(r, 0, "gone"));
	pf.fd = PQsocket(db->conn);
	pf.events = POLLIN;
	pf.revents = 0;
	ck_assert_int_eq(poll(&pf, 1, 5000), 1);
}

static PGresult *insert_as_tenant(const char *email)
{
	const char *p[2] = { user_a, email };
	return db_query(&app, &arena, "INSERT INTO contacts (user_id, email) VALUES ($1, $2)", 2, p);
}

/* Rows with this address, seen by the owner (no policies). */
static long long stored(const char *email)
{
	const char *p[2] = { user_a, email };
	PGresult *r = db_query(&owner, &arena,
			       "SELECT count(*) AS n FROM contacts WHERE user_id = $1 AND email = $2", 2, p);
	ck_assert_ptr_nonnull(r);
	return db_get_ll(r, 0, "n", -1);
}

START_TEST(a_transaction_cut_between_two_statements_commits_nothing)
{
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_ptr_nonnull(insert_as_tenant("cut-first@example.com"));
	terminate(&app, &peer);
	/* Neither this statement nor any later one of the transaction may run on
	 * a new session, where each would commit on its own. */
	ck_assert_ptr_null(insert_as_tenant("cut-second@example.com"));
	ck_assert_str_eq(db_last_sqlstate(&app), "08006");
	ck_assert_ptr_null(db_query(&app, &arena, "SELECT 1", 0, NULL));
	ck_assert_str_eq(db_last_sqlstate(&app), "08003");
	ck_assert_ptr_null(db_query_cached(&app, &arena, "SELECT 1", 0, NULL));
	/* BEGIN does not end a transaction, so it cannot start a new one here. */
	ck_assert_int_ne(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_int_ne(db_commit(&app), FS_OK);
	ck_assert_str_eq(db_last_sqlstate(&app), "08003");
	ck_assert_int_eq(db_lost(&app), DB_LOSS_NOT_DONE);
	ck_assert_int_eq(stored("cut-first@example.com"), 0);
	ck_assert_int_eq(stored("cut-second@example.com"), 0);
	/* The transaction is over: the next one runs on a new session. */
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_ptr_nonnull(insert_as_tenant("cut-after@example.com"));
	ck_assert_int_eq(db_commit(&app), FS_OK);
	ck_assert_int_eq(stored("cut-after@example.com"), 1);
}
END_TEST

START_TEST(a_transaction_cut_before_commit_is_not_reported_done)
{
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_ptr_nonnull(insert_as_tenant("cut-commit@example.com"));
	terminate(&app, &peer);
	ck_assert_int_ne(db_commit(&app), FS_OK);
	ck_assert_str_eq(db_last_sqlstate(&app), "08006");
	ck_assert_int_eq(db_lost(&app), DB_LOSS_NOT_DONE);
	ck_assert_int_eq(stored("cut-commit@example.com"), 0);
	/* A rollback of the lost transaction is no error either. */
	db_rollback(&app);
	ck_assert_ptr_nonnull(db_query(&app, &arena, "SELECT 1", 0, NULL));
}
END_TEST

START_TEST(a_commit_whose_answer_is_lost_is_an_error)
{
	/* A deferred trigger ends the session while COMMIT runs: the client
	 * cannot know how the COMMIT ended. */
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_ptr_nonnull(db_query(&app, &arena,
				       "CREATE TEMP TABLE cut_at_commit (x int) ON COMMIT DROP", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&app, &arena,
				       "CREATE FUNCTION pg_temp.cut_session() RETURNS trigger"
				       " LANGUAGE plpgsql AS $$ BEGIN"
				       " PERFORM pg_terminate_backend(pg_backend_pid());"
				       " PERFORM pg_sleep(5); RETURN NULL; END $$",
				       0, NULL));
	ck_assert_ptr_nonnull(db_query(&app, &arena,
				       "CREATE CONSTRAINT TRIGGER cut AFTER INSERT ON cut_at_commit"
				       " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
				       " EXECUTE FUNCTION pg_temp.cut_session()",
				       0, NULL));
	ck_assert_ptr_nonnull(insert_as_tenant("cut-in-commit@example.com"));
	ck_assert_ptr_nonnull(db_query(&app, &arena, "INSERT INTO cut_at_commit VALUES (1)", 0, NULL));
	ck_assert_int_ne(db_commit(&app), FS_OK);
	ck_assert_str_eq(db_last_sqlstate(&app), "08007");
	ck_assert_int_eq(db_lost(&app), DB_LOSS_UNKNOWN);
	ck_assert_int_eq(stored("cut-in-commit@example.com"), 0);
	db_end_request(&app);
	ck_assert_int_eq(db_lost(&app), DB_LOSS_NONE);
}
END_TEST

START_TEST(a_sent_pipeline_is_never_run_again)
{
	/* The pipeline ends its own session the first time only (a sequence
	 * counts outside transactions): run again, it would commit. */
	struct db_stmt s[2] = {
		{ "INSERT INTO contacts (user_id, email) VALUES ($1, 'cut-pipeline@example.com')", 1,
		  NULL, 0, NULL },
		{ "SELECT CASE WHEN nextval('e2e_cut_once') = 1"
		  " THEN pg_terminate_backend(pg_backend_pid()) END",
		  0, NULL, 0, NULL },
	};
	const char *u[1] = { user_a };

	s[0].params = u;
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "DROP SEQUENCE IF EXISTS e2e_cut_once", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "CREATE SEQUENCE e2e_cut_once", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "GRANT USAGE ON SEQUENCE e2e_cut_once TO flowsend_app", 0, NULL));
	ck_assert_int_eq(db_tenant_pipeline(&app, &arena, user_a, s, 2), -1);
	ck_assert_str_eq(db_last_sqlstate(&app), "08006");
	ck_assert_int_eq(db_lost(&app), DB_LOSS_NOT_DONE);
	ck_assert_int_eq(stored("cut-pipeline@example.com"), 0);
	/* The pipeline was its own transaction: the next one simply runs. */
	ck_assert_int_eq(db_tenant_pipeline(&app, &arena, user_a, s, 2), 0);
	ck_assert_int_eq(stored("cut-pipeline@example.com"), 1);
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "DROP SEQUENCE e2e_cut_once", 0, NULL));
}
END_TEST

START_TEST(a_statement_sent_ahead_answers_later_and_is_never_run_again)
{
	/* The delivery loop sends its step and works while the server commits
	 * (db_send_cached / db_receive): the answer comes back as db_query's
	 * would, and one whose answer was lost is not run again (it may have
	 * committed: the caller decides). */
	static const char add_one[] = "SELECT $1::int + 1 AS x";
	static const char cut_once[] = "SELECT CASE WHEN nextval('e2e_cut_send') = 1"
				       " THEN pg_terminate_backend(pg_backend_pid()) END";
	const char *p[1] = { "41" };
	PGresult *r;
	int spins = 0;

	ck_assert_int_eq(db_send_cached(&sys, add_one, 1, p), 0);
	while (!db_answer_ready(&sys) && spins++ < 5000) {
		struct pollfd pf = { db_socket(&sys), POLLIN, 0 };
		poll(&pf, 1, 10);
	}
	r = db_receive(&sys, &arena);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(db_get(r, 0, "x"), "42");
	/* Prepared once: the second time runs the same statement. */
	ck_assert_int_eq(db_send_cached(&sys, add_one, 1, p), 0);
	r = db_receive(&sys, &arena);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(db_get(r, 0, "x"), "42");

	ck_assert_ptr_nonnull(db_query(&owner, &arena, "DROP SEQUENCE IF EXISTS e2e_cut_send", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "CREATE SEQUENCE e2e_cut_send", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "GRANT USAGE ON SEQUENCE e2e_cut_send TO flowsend_system", 0, NULL));
	ck_assert_int_eq(db_send_cached(&sys, cut_once, 0, NULL), 0);
	ck_assert_ptr_null(db_receive(&sys, &arena));
	ck_assert_str_eq(db_last_sqlstate(&sys), "08007");
	ck_assert_int_eq(db_lost(&sys), DB_LOSS_UNKNOWN);
	r = db_query(&owner, &arena, "SELECT last_value FROM e2e_cut_send", 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(db_get(r, 0, "last_value"), "1");
	db_end_request(&sys);
	/* The next statement opens a new session. */
	ck_assert_int_eq(db_send_cached(&sys, add_one, 1, p), 0);
	r = db_receive(&sys, &arena);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(db_get(r, 0, "x"), "42");
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "DROP SEQUENCE e2e_cut_send", 0, NULL));
}
END_TEST

START_TEST(an_idle_session_that_was_ended_is_replaced)
{
	const char *u[1] = { user_a };
	PGresult *r;
	int before;

	/* A plain statement. */
	ck_assert_ptr_nonnull(db_query(&app, &arena, "SELECT 1", 0, NULL));
	before = PQbackendPID(app.conn);
	terminate(&app, &peer);
	r = db_query(&app, &arena, "SELECT pg_backend_pid() AS pid", 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_ne(db_get_ll(r, 0, "pid", before), before);
	/* A prepared one (the new session has none yet). */
	terminate(&app, &peer);
	ck_assert_ptr_nonnull(db_query_cached(&app, &arena, "SELECT 2", 0, NULL));
	/* A tenant transaction and a pipeline. */
	terminate(&app, &peer);
	ck_assert_int_eq(db_begin_tenant(&app, user_a), FS_OK);
	ck_assert_int_eq(visible(&app), 1);
	ck_assert_int_eq(db_commit(&app), FS_OK);
	terminate(&app, &peer);
	r = db_tenant_query(&app, &arena, user_a, "SELECT count(*) AS n FROM contacts WHERE user_id = $1",
			    1, u);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(db_get_ll(r, 0, "n", -1), 1);
	ck_assert_int_eq(db_lost(&app), DB_LOSS_NONE);
	ck_assert_str_eq(db_last_sqlstate(&app), "");
}
END_TEST

/* End every session of role but the caller's, logged in through url, all at
 * once, and wait until they are gone. */
static void terminate_role(const char *url, const char *role)
{
	struct fs_db killer;
	const char *p[1] = { role };
	PGresult *r;

	db_init(&killer, url);
	r = db_query(&killer, &arena,
		     "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity"
		     " WHERE usename = $1 AND pid <> pg_backend_pid()",
		     1, p);
	ck_assert_ptr_nonnull(r);
	p[0] = PQgetvalue(r, 0, 0);
	ck_assert_ptr_nonnull(db_query(&killer, &arena,
				       "SELECT count(*) FROM unnest($1::int[]) AS p(pid)"
				       " WHERE pg_terminate_backend(pid)",
				       1, p));
	for (int i = 0; i < 500; i++) {
		r = db_query(&killer, &arena,
			     "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY ($1::int[])", 1, p);
		ck_assert_ptr_nonnull(r);
		if (db_get_ll(r, 0, "count", -1) == 0)
			break;
		usleep(10000);
	}
	db_close(&killer);
}

START_TEST(requests_after_the_database_ended_every_session_succeed)
{
	char token[1024], other[1024], body[96];

	e2e_new_tenant("reconnect", token, sizeof(token));
	for (int i = 0; i < 8; i++)
		e2e_expect(token, "GET", "/api/v1/contacts", NULL, 200, NULL, NULL);
	/* What a restart of PostgreSQL does to the responders' idle sessions. */
	terminate_role(cfg.database_url, "flowsend_app");
	terminate_role(cfg.database_system_url, "flowsend_system");
	e2e_new_tenant("reconnect", other, sizeof(other));
	for (int i = 0; i < 8; i++) {
		snprintf(body, sizeof(body), "{\"email\":\"back-%d@example.com\"}", i);
		e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
		e2e_expect(token, "GET", "/api/v1/contacts", NULL, 200, NULL, NULL);
	}
}
END_TEST

Suite *database_suite(void)
{
	Suite *s = suite_create("database");
	TCase *tc = tcase_create("rls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, tenant_queries_without_a_filter_see_only_their_tenant);
	tcase_add_test(tc, no_tenant_set_sees_nothing);
	tcase_add_test(tc, writes_into_another_tenant_are_refused);
	tcase_add_test(tc, the_app_role_cannot_lift_the_policies);
	tcase_add_test(tc, the_system_role_crosses_tenants);
	tcase_add_test(tc, migrations_rerun_as_a_no_op);
	suite_add_tcase(s, tc);
	tc = tcase_create("lost connection");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_transaction_cut_between_two_statements_commits_nothing);
	tcase_add_test(tc, a_transaction_cut_before_commit_is_not_reported_done);
	tcase_add_test(tc, a_commit_whose_answer_is_lost_is_an_error);
	tcase_add_test(tc, a_sent_pipeline_is_never_run_again);
	tcase_add_test(tc, an_idle_session_that_was_ended_is_replaced);
	tcase_add_test(tc, requests_after_the_database_ended_every_session_succeed);
	tcase_add_test(tc, a_statement_sent_ahead_answers_later_and_is_never_run_again);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
