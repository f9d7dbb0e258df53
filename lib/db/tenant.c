/* The tenant transaction helpers every service uses. */
#include "db/tenant.h"

#include "db/db.h"

enum fs_status fs_rollback_with(struct fs_env *env, enum fs_status st)
{
	db_rollback(env->db);
	return st;
}

PGresult *fs_query_row(struct fs_env *env, const char *sql, int nparams, const char *const *params,
		       const char *doing, const char *missing, enum fs_status *st,
		       struct fs_error *err)
{
	PGresult *r = db_query(env->db, env->arena, sql, nparams, params);

	if (!r)
		*st = fs_rollback_with(env, fs_fail(err, FS_ERROR, "%s failed", doing));
	else if (PQntuples(r) == 0)
		*st = fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "%s", missing));
	else
		return r;
	return NULL;
}
