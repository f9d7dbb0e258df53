/* Preferences run as the tenant the token's mail belongs to, under its
 * row-level security: another tenant's list ids simply match nothing. Only
 * static lists are offered; a dynamic list's members follow its rules. */
#include "services/preferences.h"

#include <string.h>

#include "core/strbuf.h"
#include "core/uuid.h"
#include "db/db.h"
#include "services/settings.h"
#include "services/unsubscribe.h"

static const char state_sql[] =
	"SELECT (SELECT from_name FROM users) AS from_name, o.contact_id IS NOT NULL AS has_contact,"
	" CASE WHEN o.contact_id IS NOT NULL THEN NOT COALESCE(k.is_subscribed, false)"
	"  ELSE EXISTS (SELECT 1 FROM opt_outs x WHERE x.user_id = o.user_id"
	"   AND x.email_hash = flowsend_email_hash(o.to_email)) END AS unsubscribed"
	" FROM outbox o LEFT JOIN contacts k ON k.id = o.contact_id AND k.user_id = o.user_id"
	" WHERE o.id = $1";

static const char lists_sql[] =
	"SELECT l.id, l.name, l.description,"
	" EXISTS (SELECT 1 FROM contact_list_members m WHERE m.list_id = l.id"
	"  AND m.contact_id = o.contact_id) AS member"
	" FROM outbox o JOIN contact_lists l ON l.is_public AND l.list_type = 'static'"
	" WHERE o.id = $1 AND o.contact_id IS NOT NULL ORDER BY l.name, l.id LIMIT 90"; /* PREFERENCES_MAX_LISTS */

/* Joins and leaves in one statement; the members' triggers keep the lists'
 * counts. Only the lists the page shows (the same first PREFERENCES_MAX_LISTS
 * in the same order): a list it never showed is none the person chose to
 * leave or join. */
static const char save_sql[] =
	"WITH o AS (SELECT contact_id FROM outbox WHERE id = $1 AND contact_id IS NOT NULL),"
	" pub AS (SELECT id FROM contact_lists WHERE is_public AND list_type = 'static'"
	"  ORDER BY name, id LIMIT 90)," /* PREFERENCES_MAX_LISTS, as lists_sql */
	" joined AS ("
	"  INSERT INTO contact_list_members (list_id, contact_id, user_id)"
	"  SELECT p.id, o.contact_id, flowsend_current_user() FROM pub p CROSS JOIN o"
	"  WHERE p.id = ANY($2::uuid[]) ON CONFLICT DO NOTHING RETURNING list_id),"
	" gone AS ("
	"  DELETE FROM contact_list_members m USING o, pub"
	"  WHERE m.contact_id = o.contact_id AND m.list_id = pub.id"
	"  AND NOT (m.list_id = ANY($2::uuid[])) RETURNING m.list_id)"
	" SELECT (SELECT count(*) FROM o) AS found, (SELECT count(*) FROM joined) AS joined,"
	" (SELECT count(*) FROM gone) AS gone";

static const char *sender_name(struct fs_env *env, const char *from_name)
{
	const char *name, *address;

	if (from_name && *from_name)
		return from_name;
	sender_parse_mailbox(env->arena, env->cfg->mail_from, &name, &address);
	return *name ? name : address;
}

static enum fs_status read_state(struct fs_env *env, const char *id, struct preferences *out,
				 struct fs_error *err)
{
	const char *p[1] = { id };
	struct db_stmt stmts[2] = { { state_sql, 1, p, 1, NULL }, { lists_sql, 1, p, 1, NULL } };
	PGresult *r;

	if (db_tenant_pipeline(env->db, env->arena, env->user_id, stmts, 2) < 0)
		return fs_fail(err, FS_ERROR, "reading the preferences failed");
	r = stmts[0].result;
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Unsubscribe link not found");
	out->sender = sender_name(env, db_get(r, 0, "from_name"));
	out->unsubscribed = db_get_bool(r, 0, "unsubscribed");
	out->has_contact = db_get_bool(r, 0, "has_contact");
	r = stmts[1].result;
	out->nlists = (size_t)PQntuples(r);
	out->lists = out->nlists ? arena_alloc(env->arena, out->nlists * sizeof(*out->lists)) : NULL;
	if (out->nlists && !out->lists)
		return fs_fail(err, FS_ERROR, "out of memory");
	for (size_t i = 0; i < out->nlists; i++) {
		out->lists[i].id = db_get(r, (int)i, "id");
		out->lists[i].name = db_get(r, (int)i, "name");
		out->lists[i].description = db_get(r, (int)i, "description");
		out->lists[i].member = db_get_bool(r, (int)i, "member");
	}
	return FS_OK;
}

enum fs_status preferences_show(struct fs_env *env, const char *token, struct preferences *out,
				struct fs_error *err)
{
	char id[37];
	enum fs_status st;

	memset(out, 0, sizeof(*out));
	if ((st = unsubscribe_resolve(env, token, id, err)) != FS_OK)
		return st;
	return read_state(env, id, out, err);
}

enum fs_status preferences_save(struct fs_env *env, const char *token, const char *const *ids,
				size_t n, struct preferences *out, struct fs_error *err)
{
	char id[37];
	struct strbuf arr = STRBUF_INIT;
	const char *p[2];
	enum fs_status st;
	PGresult *r;

	memset(out, 0, sizeof(*out));
	if (n > PREFERENCES_MAX_LISTS)
		return fs_fail(err, FS_BAD_REQUEST, "Too many lists");
	for (size_t i = 0; i < n; i++)
		if (!uuid_valid(ids[i], strlen(ids[i])))
			return fs_fail(err, FS_BAD_REQUEST, "Not a list");
	if ((st = unsubscribe_resolve(env, token, id, err)) != FS_OK)
		return st;
	strbuf_appendc(&arr, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_appendc(&arr, ',');
		strbuf_appends(&arr, ids[i]);
	}
	strbuf_appendc(&arr, '}');
	p[0] = id;
	p[1] = arena_strdup(env->arena, strbuf_cstr(&arr));
	strbuf_free(&arr);
	if (!p[1])
		return fs_fail(err, FS_ERROR, "out of memory");
	r = db_tenant_query(env->db, env->arena, env->user_id, save_sql, 2, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "saving the preferences failed");
	if (db_get_ll(r, 0, "found", 0) == 0)
		return fs_fail(err, FS_BAD_REQUEST, "This address has no lists to choose");
	st = read_state(env, id, out, err);
	out->joined = db_get_ll(r, 0, "joined", 0);
	out->left = db_get_ll(r, 0, "gone", 0);
	return st;
}

_Static_assert(PREFERENCES_MAX_LISTS == 90, "lists_sql's and save_sql's LIMIT is PREFERENCES_MAX_LISTS");
