/* Small helpers for a service's tenant transaction (env->db). */
#ifndef FS_TENANT_H
#define FS_TENANT_H

#include <libpq-fe.h>

#include "core/env.h"
#include "core/status.h"

/* Roll back the tenant transaction and return st (for `return fs_rollback_with(...)`). */
enum fs_status fs_rollback_with(struct fs_env *env, enum fs_status st);
/* Run sql in the tenant's open transaction and expect a row: the result, or
 * NULL with the transaction rolled back and *st set, FS_ERROR ("<doing>
 * failed") or FS_NOT_FOUND (missing). */
PGresult *fs_query_row(struct fs_env *env, const char *sql, int nparams,
		       const char *const *params, const char *doing, const char *missing,
		       enum fs_status *st, struct fs_error *err);

#endif
