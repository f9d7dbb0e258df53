/* API keys. The raw key exists only in the create answer; lookups hash what
 * the client sends and find the row by its unique hash. */
#include "services/apikeys.h"

#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "json/json.h"

#define KEY_COLUMNS "id, name, key_prefix, scopes, is_active, last_used_at, created_at"

int apikey_shape_ok(const char *key, size_t len)
{
	return token_shape_ok(key, len, APIKEY_PREFIX, 100);
}

/* "{read,write}" -> ["read", "write"] */
static json_object *scopes_json(const char *pgarray)
{
	json_object *a = json_object_new_array();
	static const char *names[] = { "read", "write", "admin" };

	for (size_t i = 0; pgarray && i < 3; i++)
		if (strstr(pgarray, names[i]))
			json_object_array_add(a, json_object_new_string(names[i]));
	return a;
}

static json_object *key_row_json(struct arena *a, const PGresult *r, int row)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "name", json_object_new_string(db_get(r, row, "name")));
	json_object_object_add(o, "key_prefix", json_object_new_string(db_get(r, row, "key_prefix")));
	json_object_object_add(o, "scopes", scopes_json(db_get(r, row, "scopes")));
	json_object_object_add(o, "is_active", json_object_new_boolean(db_get_bool(r, row, "is_active")));
	json_object_object_add(o, "last_used_at",
			       fs_json_str_or_null(db_iso_time(a, db_get(r, row, "last_used_at"))));
	json_object_object_add(o, "created_at",
			       fs_json_str_or_null(db_iso_time(a, db_get(r, row, "created_at"))));
	return o;
}

enum fs_status apikey_issue(struct fs_env *env, struct fs_db *db, const char *user_id,
			    const char *name, const char *scopes, int is_platform, char *key_out,
			    size_t key_size, json_object **row, struct fs_error *err)
{
	char hash[SHA256_HEX_LEN + 1], prefix[APIKEY_SHOWN_PREFIX_LEN + 1];
	const char *params[6] = { user_id, name, hash, prefix, scopes, is_platform ? "t" : "f" };
	int tenant = db == env->db;
	PGresult *r;

	if (random_token(APIKEY_PREFIX, 32, key_out, key_size) < 0)
		return fs_fail(err, FS_ERROR, "random key generation failed");
	sha256_hex(key_out, strlen(key_out), hash);
	memcpy(prefix, key_out, APIKEY_SHOWN_PREFIX_LEN);
	prefix[APIKEY_SHOWN_PREFIX_LEN] = '\0';
	if (tenant && db_begin_tenant(db, user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if (tenant) {
		/* Only while the caller's session is the account's: the shared lock
		 * makes a claim or reset wait for this key, then revoke it too, or
		 * makes this request see their new epoch and stop. */
		char epoch[24];
		const char *ep[1] = { epoch };
		snprintf(epoch, sizeof(epoch), "%ld", env->auth.session_epoch);
		r = db_query(db, env->arena,
			     "SELECT 1 FROM users WHERE session_epoch = $1::int FOR SHARE", 1, ep);
		if (!r || PQntuples(r) != 1) {
			db_rollback(db);
			return r ? fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired token")
				 : fs_fail(err, FS_ERROR, "reading the account failed");
		}
	}
	r = db_query(db, env->arena,
		     "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, scopes, is_platform)"
		     " VALUES ($1, $2, $3, $4, $5, $6) RETURNING " KEY_COLUMNS,
		     6, params);
	if (!r || (tenant && db_commit(db) != FS_OK)) {
		if (tenant)
			db_rollback(db);
		return fs_fail(err, FS_ERROR, "storing the API key failed");
	}
	if (row)
		*row = key_row_json(env->arena, r, 0);
	return FS_OK;
}

enum fs_status apikey_list(struct fs_env *env, json_object **items, struct fs_error *err)
{
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY created_at DESC, id",
				      0, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "listing API keys failed");
	*items = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_object_array_add(*items, key_row_json(env->arena, r, i));
	return FS_OK;
}

enum fs_status apikey_revoke(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *params[1] = { id };
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(env->db, env->arena,
		     "UPDATE api_keys SET is_active = false WHERE id = $1 AND is_active RETURNING id",
		     1, params);
	if (!r || db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "revoking the API key failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "API key not found");
	return FS_OK;
}
