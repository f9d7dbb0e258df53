/* Lists. A static list's size is the maintained contact_count column; a
 * dynamic list's is counted when asked, from its compiled rules. */
#include "services/lists.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "models/contact.h"
#include "services/contacts.h"
#include "services/segments.h"

#define LIST_COLUMNS                                                                           \
	"l.id, l.user_id, l.name, l.description, l.list_type, l.rules::text AS rules,"          \
	" l.is_public, l.contact_count, flowsend_ts(l.created_at) AS created_at,"               \
	" flowsend_ts(l.updated_at) AS updated_at"

/* Count the contacts matching stored rules text; -1 on failure. */
static long long dynamic_count(struct fs_env *env, const char *rules_text)
{
	struct segment seg;
	char err[200];
	char *sql;
	PGresult *r;
	long long n = -1;

	if (segment_compile_text(env->arena, rules_text, strlen(rules_text), 1, &seg, err,
				 sizeof(err)) < 0)
		return -1;
	sql = arena_sprintf(env->arena, "SELECT count(*) FROM contacts c WHERE %s",
			    strbuf_cstr(&seg.where));
	r = db_query(env->db, env->arena, sql, seg.nparams, seg.params);
	if (r)
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	strbuf_free(&seg.where);
	return n;
}

/* The sizes of every dynamic list in rows, in one scan of the tenant's
 * contacts (a count(*) FILTER per list) rather than one scan per list: a page
 * of three dynamic lists over 1,000,000 contacts took 3.5 s counted one by one.
 * counts[i] is set for the dynamic rows only. 0, or -1 on failure. */
static int dynamic_counts(struct fs_env *env, const PGresult *rows, long long *counts)
{
	struct strbuf sql = STRBUF_INIT;
	const char **params = NULL;
	int nparams = 0, ndynamic = 0, n = PQntuples(rows), rc = -1;
	int *column = arena_alloc(env->arena, (size_t)(n ? n : 1) * sizeof(*column));
	PGresult *r;

	if (!column)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *rules = db_get(rows, i, "rules");
		struct segment seg;
		char err[200];

		column[i] = -1;
		if (strcmp(db_get(rows, i, "list_type"), "dynamic") != 0)
			continue;
		if (!rules) {
			counts[i] = 0;
			continue;
		}
		if (segment_compile_text(env->arena, rules, strlen(rules), nparams + 1, &seg, err,
					 sizeof(err)) < 0)
			goto out;
		if (seg.nparams > 0) {
			const char **more = arena_alloc(env->arena,
							(size_t)(nparams + seg.nparams) * sizeof(*more));
			if (!more) {
				strbuf_free(&seg.where);
				goto out;
			}
			if (nparams)
				memcpy(more, params, (size_t)nparams * sizeof(*more));
			memcpy(more + nparams, seg.params, (size_t)seg.nparams * sizeof(*more));
			params = more;
			nparams += seg.nparams;
		}
		strbuf_appends(&sql, ndynamic ? ", " : "SELECT ");
		strbuf_appendf(&sql, "count(*) FILTER (WHERE %s)", strbuf_cstr(&seg.where));
		strbuf_free(&seg.where);
		column[i] = ndynamic++;
	}
	if (ndynamic == 0) {
		rc = 0;
		goto out;
	}
	strbuf_appends(&sql, " FROM contacts c");
	if (sql.oom)
		goto out;
	r = db_query(env->db, env->arena, strbuf_cstr(&sql), nparams, params);
	if (!r)
		goto out;
	for (int i = 0; i < n; i++)
		if (column[i] >= 0)
			counts[i] = strtoll(PQgetvalue(r, 0, column[i]), NULL, 10);
	rc = 0;
out:
	strbuf_free(&sql);
	return rc;
}

/* A list's JSON; a dynamic list's size is dynamic (counted by the caller),
 * a static one's the maintained column. */
static json_object *list_json_counted(const PGresult *r, int row, long long dynamic)
{
	json_object *o = json_object_new_object();
	const char *rules = db_get(r, row, "rules");
	const char *type = db_get(r, row, "list_type");
	long long count = db_get_ll(r, row, "contact_count", 0);
	char err[64];

	if (strcmp(type, "dynamic") == 0)
		count = dynamic;
	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "user_id", json_object_new_string(db_get(r, row, "user_id")));
	json_object_object_add(o, "name", json_object_new_string(db_get(r, row, "name")));
	json_object_object_add(o, "description", fs_json_str_or_null(db_get(r, row, "description")));
	json_object_object_add(o, "list_type", json_object_new_string(type));
	json_object_object_add(o, "rules", rules ? fs_json_parse(rules, strlen(rules), err, sizeof(err)) : NULL);
	json_object_object_add(o, "is_public", json_object_new_boolean(db_get_bool(r, row, "is_public")));
	json_object_object_add(o, "contact_count", json_object_new_int64(count < 0 ? 0 : count));
	json_object_object_add(o, "created_at", json_object_new_string(db_get(r, row, "created_at")));
	json_object_object_add(o, "updated_at", json_object_new_string(db_get(r, row, "updated_at")));
	return o;
}

static json_object *list_json(struct fs_env *env, const PGresult *r, int row, int *ok)
{
	const char *rules = db_get(r, row, "rules");
	long long count = 0;

	*ok = 1;
	if (strcmp(db_get(r, row, "list_type"), "dynamic") == 0 && rules) {
		count = dynamic_count(env, rules);
		if (count < 0)
			*ok = 0;
	}
	return list_json_counted(r, row, count);
}

/* Rules are checked by compiling them: a list is never saved with rules that
 * would fail later. */
static enum fs_status check_rules(struct fs_env *env, json_object *rules, struct fs_error *err)
{
	struct segment seg;
	char msg[200];

	if (segment_compile(env->arena, rules, 1, &seg, msg, sizeof(msg)) < 0)
		return fs_fail(err, FS_INVALID, "%s", msg);
	strbuf_free(&seg.where);
	return FS_OK;
}

enum fs_status list_create(struct fs_env *env, const struct list_input *in, json_object **out,
			   struct fs_error *err)
{
	int dynamic = strcmp(in->list_type, "dynamic") == 0;
	const char *rules_text = NULL;
	PGresult *r;
	int ok;

	if (dynamic) {
		enum fs_status st;
		if (!in->rules)
			return fs_fail(err, FS_INVALID, "Invalid rules: a dynamic list needs rules");
		if ((st = check_rules(env, in->rules, err)) != FS_OK)
			return st;
		rules_text = fs_json_string(in->rules, NULL);
	} else if (in->rules) {
		return fs_fail(err, FS_INVALID, "Static lists take members, not rules");
	}
	{
		const char *p[5] = { in->name, in->description, in->list_type, rules_text,
				     in->is_public ? "t" : "f" };
		if (db_begin_tenant(env->db, env->user_id) != FS_OK)
			return fs_fail(err, FS_ERROR, "database unavailable");
		r = db_query(env->db, env->arena,
			     "INSERT INTO contact_lists AS l (user_id, name, description, list_type, rules,"
			     " is_public) VALUES (flowsend_current_user(), $1, $2, $3, $4::jsonb, $5)"
			     " RETURNING " LIST_COLUMNS,
			     5, p);
	}
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the list failed"));
	*out = list_json(env, r, 0, &ok);
	if (!ok || db_commit(env->db) != FS_OK) {
		json_object_put(*out);
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the list failed"));
	}
	return FS_OK;
}

enum fs_status list_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;
	enum fs_status st;
	int ok;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env,
			 "SELECT " LIST_COLUMNS " FROM contact_lists l WHERE l.id = $1",
			 1, p, "reading the list", "Contact list not found", &st, err);
	if (!r)
		return st;
	*out = list_json(env, r, 0, &ok);
	db_commit(env->db);
	if (!ok) {
		json_object_put(*out);
		return fs_fail(err, FS_ERROR, "counting the dynamic list failed");
	}
	return FS_OK;
}

enum fs_status list_index(struct fs_env *env, const struct fs_page *page, json_object **out,
			  struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[2] = { limit, offset };
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	rows = db_query(env->db, env->arena,
			"SELECT " LIST_COLUMNS " FROM contact_lists l ORDER BY l.created_at DESC, l.id"
			" LIMIT $1::bigint OFFSET $2::bigint",
			2, p);
	total = db_query(env->db, env->arena, "SELECT count(*) FROM contact_lists", 0, NULL);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing lists failed"));
	{
		long long *counts = arena_alloc(env->arena,
						(size_t)(PQntuples(rows) ? PQntuples(rows) : 1) *
							sizeof(*counts));
		if (!counts || dynamic_counts(env, rows, counts) < 0)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "counting a dynamic list failed"));
		items = json_object_new_array();
		for (int i = 0; i < PQntuples(rows); i++)
			json_object_array_add(items, list_json_counted(rows, i, counts[i]));
	}
	db_commit(env->db);
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

enum fs_status list_update(struct fs_env *env, const char *id, const struct list_input *in,
			   json_object **out, struct fs_error *err)
{
	const char *rules_text = NULL;
	PGresult *r;
	enum fs_status st;
	int ok;

	if (in->set_rules) {
		if (!in->rules)
			return fs_fail(err, FS_INVALID, "Invalid rules: rules cannot be removed");
		if ((st = check_rules(env, in->rules, err)) != FS_OK)
			return st;
		rules_text = fs_json_string(in->rules, NULL);
	}
	{
		const char *p[8] = { id,
				     in->set_name ? in->name : NULL,
				     in->set_description ? "t" : "f", in->description,
				     rules_text,
				     in->set_is_public ? (in->is_public ? "t" : "f") : NULL,
				     NULL, NULL };
		if (db_begin_tenant(env->db, env->user_id) != FS_OK)
			return fs_fail(err, FS_ERROR, "database unavailable");
		r = fs_query_row(env,
				 "SELECT list_type FROM contact_lists WHERE id = $1",
				 1, p, "reading the list", "Contact list not found", &st, err);
		if (!r)
			return st;
		if (rules_text && strcmp(PQgetvalue(r, 0, 0), "static") == 0)
			return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
							  "Static lists take members, not rules"));
		r = db_query(env->db, env->arena,
			     "UPDATE contact_lists AS l SET name = COALESCE($2, l.name),"
			     " description = CASE WHEN $3::boolean THEN $4 ELSE l.description END,"
			     " rules = COALESCE($5::jsonb, l.rules),"
			     " is_public = COALESCE($6::boolean, l.is_public), updated_at = flowsend_now()"
			     " WHERE l.id = $1 RETURNING " LIST_COLUMNS,
			     6, p);
	}
	if (!r || PQntuples(r) == 0)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the list failed"));
	*out = list_json(env, r, 0, &ok);
	if (!ok || db_commit(env->db) != FS_OK) {
		json_object_put(*out);
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the list failed"));
	}
	return FS_OK;
}

enum fs_status list_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;
	enum fs_status st;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env,
			 "DELETE FROM contact_lists WHERE id = $1 RETURNING id",
			 1, p, "deleting the list", "Contact list not found", &st, err);
	if (!r)
		return st;
	db_commit(env->db);
	return FS_OK;
}

enum fs_status list_members(struct fs_env *env, const char *id, const char *ids_json, int add,
			    long long *changed, long long *count, struct fs_error *err)
{
	const char *p[2] = { id, ids_json };
	PGresult *r;
	enum fs_status st;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env,
			 "SELECT list_type FROM contact_lists WHERE id = $1 FOR UPDATE",
			 1, p, "reading the list", "Contact list not found", &st, err);
	if (!r)
		return st;
	if (strcmp(PQgetvalue(r, 0, 0), "static") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Members can only be changed on static lists; "
						  "dynamic lists follow their rules"));
	/* Only the tenant's own contacts can join: the policy hides the rest. */
	if (add)
		r = db_query(env->db, env->arena,
			     "INSERT INTO contact_list_members (list_id, contact_id, user_id)"
			     " SELECT $1, c.id, c.user_id FROM contacts c"
			     " WHERE c.id IN (SELECT jsonb_array_elements_text($2::jsonb)::uuid)"
			     " ON CONFLICT DO NOTHING",
			     2, p);
	else
		r = db_query(env->db, env->arena,
			     "DELETE FROM contact_list_members WHERE list_id = $1"
			     " AND contact_id IN (SELECT jsonb_array_elements_text($2::jsonb)::uuid)",
			     2, p);
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "changing members failed"));
	*changed = strtoll(PQcmdTuples(r), NULL, 10);
	r = db_query(env->db, env->arena, "SELECT contact_count FROM contact_lists WHERE id = $1", 1, p);
	if (!r || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "changing members failed"));
	*count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	return FS_OK;
}

enum fs_status list_contacts(struct fs_env *env, const char *id, const struct fs_page *page,
			     struct strbuf *out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[SEGMENT_MAX_PARAMS + 3];
	PGresult *r, *rows, *total;
	enum fs_status st;
	const char *type, *rules;

	fs_page_limits(page, limit, offset);
	p[0] = id;
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env,
			 "SELECT list_type, rules::text AS rules, contact_count FROM contact_lists WHERE id = $1",
			 1, p, "reading the list", "Contact list not found", &st, err);
	if (!r)
		return st;
	type = db_get(r, 0, "list_type");
	rules = db_get(r, 0, "rules");
	if (strcmp(type, "static") == 0) {
		p[1] = limit;
		p[2] = offset;
		rows = db_query(env->db, env->arena,
				"SELECT " CONTACT_COLUMNS " FROM contact_list_members m"
				" JOIN contacts c ON c.id = m.contact_id WHERE m.list_id = $1"
				" ORDER BY m.added_at DESC, c.id LIMIT $2::bigint OFFSET $3::bigint",
				3, p);
		total = r; /* contact_count, maintained by triggers */
		if (!rows)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing members failed"));
		db_commit(env->db);
		contacts_page_json(out, rows, db_get_ll(total, 0, "contact_count", 0), page);
		return FS_OK;
	} else {
		struct segment seg;
		char msg[200];
		char *sql;
		int n;

		if (!rules || segment_compile_text(env->arena, rules, strlen(rules), 1, &seg, msg,
						   sizeof(msg)) < 0)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "stored rules do not compile"));
		n = seg.nparams;
		memcpy(p, seg.params, sizeof(char *) * (size_t)n);
		p[n] = limit;
		p[n + 1] = offset;
		sql = arena_sprintf(env->arena,
				    "SELECT " CONTACT_COLUMNS " FROM contacts c WHERE %s"
				    " ORDER BY c.created_at DESC, c.id LIMIT $%d::bigint OFFSET $%d::bigint",
				    strbuf_cstr(&seg.where), n + 1, n + 2);
		rows = db_query(env->db, env->arena, sql, n + 2, p);
		sql = arena_sprintf(env->arena, "SELECT count(*) FROM contacts c WHERE %s",
				    strbuf_cstr(&seg.where));
		total = db_query(env->db, env->arena, sql, n, p);
		strbuf_free(&seg.where);
		if (!rows || !total)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "evaluating the list failed"));
		db_commit(env->db);
		contacts_page_json(out, rows, strtoll(PQgetvalue(total, 0, 0), NULL, 10), page);
		return FS_OK;
	}
}

enum fs_status list_preview(struct fs_env *env, json_object *rules, struct strbuf *out,
			    struct fs_error *err)
{
	struct segment seg;
	char msg[200];
	char *sql;
	PGresult *rows, *total;

	if (segment_compile(env->arena, rules, 1, &seg, msg, sizeof(msg)) < 0)
		return fs_fail(err, FS_INVALID, "%s", msg);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK) {
		strbuf_free(&seg.where);
		return fs_fail(err, FS_ERROR, "database unavailable");
	}
	sql = arena_sprintf(env->arena, "SELECT count(*) FROM contacts c WHERE %s",
			    strbuf_cstr(&seg.where));
	total = db_query(env->db, env->arena, sql, seg.nparams, seg.params);
	sql = arena_sprintf(env->arena,
			    "SELECT flowsend_contact_json(c) FROM contacts c WHERE %s"
			    " ORDER BY c.created_at DESC, c.id LIMIT 5",
			    strbuf_cstr(&seg.where));
	rows = db_query(env->db, env->arena, sql, seg.nparams, seg.params);
	strbuf_free(&seg.where);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "previewing the rules failed"));
	db_commit(env->db);
	strbuf_appendf(out, "{\"count\":%s,\"sample\":[", PQgetvalue(total, 0, 0));
	for (int i = 0; i < PQntuples(rows); i++) {
		if (i)
			strbuf_appendc(out, ',');
		strbuf_appends(out, PQgetvalue(rows, i, 0));
	}
	strbuf_appends(out, "]}");
	return FS_OK;
}
