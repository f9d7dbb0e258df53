/* Sender settings live on the users row; the tenant policy on users (id =
 * tenant) means these queries can only ever touch the caller's row. */
#include "services/settings.h"

#include <string.h>

#include "db/db.h"
#include "json/json.h"

void sender_parse_mailbox(struct arena *a, const char *mailbox, const char **name,
			  const char **address)
{
	const char *lt = strrchr(mailbox, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (lt && gt) {
		size_t nlen = (size_t)(lt - mailbox);
		while (nlen > 0 && (mailbox[nlen - 1] == ' ' || mailbox[nlen - 1] == '"'))
			nlen--;
		const char *n = mailbox;
		while (*n == '"' && nlen > 0) {
			n++;
			nlen--;
		}
		*name = arena_strndup(a, n, nlen);
		*address = arena_strndup(a, lt + 1, (size_t)(gt - lt - 1));
	} else {
		*name = "";
		*address = mailbox;
	}
}

static json_object *sender_json(struct fs_env *env, const PGresult *r)
{
	const char *def_name, *def_email;
	json_object *o = json_object_new_object();
	const char *v;

	sender_parse_mailbox(env->arena, env->cfg->mail_from, &def_name, &def_email);
	v = db_get(r, 0, "from_name");
	json_object_object_add(o, "from_name", json_object_new_string(v ? v : def_name));
	v = db_get(r, 0, "from_email");
	json_object_object_add(o, "from_email", json_object_new_string(v ? v : def_email));
	v = db_get(r, 0, "reply_to");
	json_object_object_add(o, "reply_to", fs_json_str_or_null(v));
	v = db_get(r, 0, "postal_address");
	json_object_object_add(o, "postal_address",
			       json_object_new_string(v ? v : env->cfg->postal_address));
	return o;
}

#define SENDER_COLUMNS "from_name, from_email, reply_to, postal_address"

enum fs_status sender_get(struct fs_env *env, json_object **out, struct fs_error *err)
{
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " SENDER_COLUMNS " FROM users", 0, NULL);

	if (!r || PQntuples(r) != 1)
		return fs_fail(err, FS_ERROR, "reading sender settings failed");
	*out = sender_json(env, r);
	return FS_OK;
}

enum fs_status sender_update(struct fs_env *env, const struct sender_update *u,
			     json_object **out, struct fs_error *err)
{
	const char *p[8] = {
		u->set_from_name ? "t" : "f",      u->from_name,
		u->set_from_email ? "t" : "f",     u->from_email,
		u->set_reply_to ? "t" : "f",       u->reply_to,
		u->set_postal_address ? "t" : "f", u->postal_address,
	};
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(env->db, env->arena,
		     "UPDATE users SET"
		     " from_name = CASE WHEN $1::boolean THEN $2 ELSE from_name END,"
		     " from_email = CASE WHEN $3::boolean THEN $4 ELSE from_email END,"
		     " reply_to = CASE WHEN $5::boolean THEN $6 ELSE reply_to END,"
		     " postal_address = CASE WHEN $7::boolean THEN $8 ELSE postal_address END,"
		     " updated_at = flowsend_now() RETURNING " SENDER_COLUMNS,
		     8, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK) {
		db_rollback(env->db);
		return fs_fail(err, FS_ERROR, "updating sender settings failed");
	}
	*out = sender_json(env, r);
	return FS_OK;
}
