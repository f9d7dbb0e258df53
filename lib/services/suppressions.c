/* Suppressions, as the tenant under row-level security. The address is
 * stored lower-cased beside its hash (flowsend_email_hash, schema 0001), and
 * the hash is what every check compares, so an erased address (email NULL)
 * still blocks. */
#include "services/suppressions.h"

#include <stdlib.h>
#include <string.h>

#include "services/contacts.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"

#define SUPPRESSION_COLUMNS                                                                    \
	"s.id, s.email, s.reason, flowsend_ts(s.created_at) AS created_at"

static const char *const reasons[] = { "manual", "bounce", "complaint", "unsubscribe" };

int suppression_reason_valid(const char *reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reason, reasons[i]) == 0)
			return 1;
	return 0;
}

static json_object *suppression_json(const PGresult *r, int row)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "email", fs_json_str_or_null(db_get(r, row, "email")));
	json_object_object_add(o, "reason", json_object_new_string(db_get(r, row, "reason")));
	json_object_object_add(o, "created_at", json_object_new_string(db_get(r, row, "created_at")));
	return o;
}

enum fs_status suppression_index(struct fs_env *env, const char *search, const struct fs_page *page,
				 json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { search ? contacts_like_pattern(env->arena, search) : NULL, limit, offset };
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	rows = db_query(env->db, env->arena,
			"SELECT " SUPPRESSION_COLUMNS " FROM suppressions s"
			" WHERE $1::text IS NULL OR lower(s.email) LIKE $1"
			" ORDER BY s.created_at DESC, s.id LIMIT $2::bigint OFFSET $3::bigint",
			3, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM suppressions s"
			 " WHERE $1::text IS NULL OR lower(s.email) LIKE $1",
			 1, p);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing suppressions failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, suppression_json(rows, i));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

enum fs_status suppression_add(struct fs_env *env, const char *email, const char *reason,
			       json_object **out, struct fs_error *err)
{
	const char *p[2] = { email, reason ? reason : "manual" };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "INSERT INTO suppressions AS s (user_id, email_hash, email, reason)"
				      " VALUES (flowsend_current_user(), flowsend_email_hash($1),"
				      "  lower($1), $2)"
				      " ON CONFLICT (user_id, email_hash) DO NOTHING"
				      " RETURNING " SUPPRESSION_COLUMNS,
				      2, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "adding the suppression failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_CONFLICT, "This address is already suppressed");
	*out = suppression_json(r, 0);
	return FS_OK;
}

enum fs_status suppression_get(struct fs_env *env, const char *id, json_object **out,
			       struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " SUPPRESSION_COLUMNS " FROM suppressions s WHERE s.id = $1",
				      1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the suppression failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Suppression not found");
	*out = suppression_json(r, 0);
	return FS_OK;
}

enum fs_status suppression_remove(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "WITH gone AS (DELETE FROM suppressions s WHERE s.id = $1"
				      "  AND s.reason <> 'erasure' RETURNING 1)"
				      " SELECT (SELECT count(*) FROM gone) AS deleted,"
				      " (SELECT count(*) FROM suppressions WHERE id = $1) AS kept",
				      1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "removing the suppression failed");
	if (db_get_ll(r, 0, "deleted", 0) > 0)
		return FS_OK;
	if (db_get_ll(r, 0, "kept", 0) > 0)
		return fs_fail(err, FS_BAD_REQUEST,
			       "This suppression records an erasure and cannot be removed");
	return fs_fail(err, FS_NOT_FOUND, "Suppression not found");
}
