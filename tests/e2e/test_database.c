/* The schema's promises: migrations re-run as a no-op, and row-level security
 * confines the responders' role to the tenant set for the transaction. */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/migrate.h"
#include "e2e.h"

static struct fs_config cfg;
static struct arena arena;
static struct fs_db owner, app, sys;
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
	return s;
}
