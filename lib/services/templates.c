/* Templates. Row-level security shows a tenant its own rows plus the system
 * rows (user_id NULL) and lets it change only its own, so "not found" and
 * "system" are told apart by reading the row first. Content is compiled
 * before it is saved: a template that is stored always renders. */
#include "services/templates.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"

#define TEMPLATE_COLUMNS                                                                       \
	"t.id, t.user_id, t.name, t.subject, t.html_content, t.text_content, t.thumbnail_url,"  \
	" t.is_system, t.category, flowsend_ts(t.created_at) AS created_at,"                   \
	" flowsend_ts(t.updated_at) AS updated_at"

static const char *const categories[] = { "welcome", "cart", "promo", "newsletter",
					  "transactional" };

/* Shown when a preview has no contact. */
static const struct tpl_values sample_values = {
	.first_name = "Alex",
	.last_name = "Morgan",
	.email = "alex@example.com",
};

int template_category_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
		if (strcmp(name, categories[i]) == 0)
			return 1;
	return 0;
}

static json_object *template_json(const PGresult *r, int row)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "user_id", fs_json_str_or_null(db_get(r, row, "user_id")));
	json_object_object_add(o, "name", json_object_new_string(db_get(r, row, "name")));
	json_object_object_add(o, "subject", json_object_new_string(db_get(r, row, "subject")));
	json_object_object_add(o, "html_content",
			       json_object_new_string(db_get(r, row, "html_content")));
	json_object_object_add(o, "text_content", fs_json_str_or_null(db_get(r, row, "text_content")));
	json_object_object_add(o, "thumbnail_url",
			       fs_json_str_or_null(db_get(r, row, "thumbnail_url")));
	json_object_object_add(o, "is_system", json_object_new_boolean(db_get_bool(r, row, "is_system")));
	json_object_object_add(o, "category", json_object_new_string(db_get(r, row, "category")));
	json_object_object_add(o, "created_at", json_object_new_string(db_get(r, row, "created_at")));
	json_object_object_add(o, "updated_at", json_object_new_string(db_get(r, row, "updated_at")));
	return o;
}

enum fs_status template_compile(const char *subject, const char *html, const char *text,
				struct tpl_message *m, struct fs_error *err)
{
	struct tpl_error te;
	char detail[sizeof(err->detail)];

	if (tpl_message_compile(m, subject, strlen(subject), html, strlen(html), text,
				text ? strlen(text) : 0, &te) == 0)
		return FS_OK;
	tpl_error_detail(&te, detail, sizeof(detail));
	return fs_fail(err, FS_INVALID, "%s", detail);
}

/* Compile the parts the input sets (an update may change one). New HTML
 * without a text part also has its derived text compiled: entities can spell
 * "{{" there that the HTML itself does not have. */
static enum fs_status check_content(const struct template_input *in, struct fs_error *err)
{
	struct tpl_message m;
	enum fs_status st;
	int derive = in->set_html && !(in->set_text && in->text_content);

	st = template_compile(in->set_subject ? in->subject : "",
			      in->set_html ? in->html_content : "",
			      derive ? NULL : in->set_text && in->text_content ? in->text_content : "",
			      &m, err);
	tpl_message_free(&m);
	return st;
}

enum fs_status template_create(struct fs_env *env, const struct template_input *in,
			       json_object **out, struct fs_error *err)
{
	const char *p[6] = { in->name, in->subject, in->html_content, in->text_content,
			     in->thumbnail_url, in->category ? in->category : "newsletter" };
	enum fs_status st;
	PGresult *r;

	if ((st = check_content(in, err)) != FS_OK)
		return st;
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "INSERT INTO email_templates AS t (user_id, name, subject, html_content,"
			    " text_content, thumbnail_url, category)"
			    " VALUES (flowsend_current_user(), $1, $2, $3, $4, $5, $6)"
			    " RETURNING " TEMPLATE_COLUMNS,
			    6, p);
	if (!r || PQntuples(r) != 1)
		return fs_fail(err, FS_ERROR, "creating the template failed");
	*out = template_json(r, 0);
	return FS_OK;
}

enum fs_status template_get(struct fs_env *env, const char *id, json_object **out,
			    struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " TEMPLATE_COLUMNS " FROM email_templates t WHERE t.id = $1",
				      1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the template failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Template not found");
	*out = template_json(r, 0);
	return FS_OK;
}

#define TEMPLATE_FILTER                                                                        \
	" WHERE ($1::text IS NULL OR t.category = $1)"                                         \
	" AND ($2::boolean IS NULL OR t.is_system = $2::boolean)"

enum fs_status template_index(struct fs_env *env, const struct template_filter *f,
			      const struct fs_page *page, json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[4] = { f->category, f->is_system < 0 ? NULL : f->is_system ? "t" : "f", limit,
			     offset };
	PGresult *rows, *total;
	json_object *items;

	/* The caller's own first (newest first), then the system templates; the
	 * page and its total in one round trip, prepared once per worker, without
	 * BEGIN and COMMIT (db_tenant_read). */
	struct db_stmt q[2] = {
		{ "SELECT " TEMPLATE_COLUMNS " FROM email_templates t" TEMPLATE_FILTER
		  " ORDER BY t.is_system, t.created_at DESC, t.id"
		  " LIMIT $3::bigint OFFSET $4::bigint",
		  4, p, 1, NULL },
		{ "SELECT count(*) FROM email_templates t" TEMPLATE_FILTER, 2, p, 1, NULL },
	};

	fs_page_limits(page, limit, offset);
	if (db_tenant_read(env->db, env->arena, env->user_id, q, 2) < 0)
		return fs_fail(err, FS_ERROR, "listing templates failed");
	rows = q[0].result;
	total = q[1].result;
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, template_json(rows, i));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

/* Lock the row and tell a missing template from a system one. */
static enum fs_status editable(struct fs_env *env, const char *id, const char *refusal,
			       struct fs_error *err)
{
	const char *p[1] = { id };
	/* A tenant may not lock a system row (no UPDATE right on it): only its own
	 * rows are read again FOR UPDATE. */
	PGresult *r = db_query(env->db, env->arena,
			       "SELECT t.is_system FROM email_templates t WHERE t.id = $1", 1, p);

	if (r && PQntuples(r) == 1 && !db_get_bool(r, 0, "is_system"))
		r = db_query(env->db, env->arena,
			     "SELECT t.is_system FROM email_templates t WHERE t.id = $1 FOR UPDATE", 1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the template failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Template not found");
	if (db_get_bool(r, 0, "is_system"))
		return fs_fail(err, FS_BAD_REQUEST, "%s", refusal);
	return FS_OK;
}

enum fs_status template_update(struct fs_env *env, const char *id, const struct template_input *in,
			       json_object **out, struct fs_error *err)
{
	const char *p[10] = { id,
			      in->set_name ? in->name : NULL,
			      in->set_subject ? in->subject : NULL,
			      in->set_html ? in->html_content : NULL,
			      in->set_text ? "t" : "f",
			      in->text_content,
			      in->set_thumbnail ? "t" : "f",
			      in->thumbnail_url,
			      in->set_category ? in->category : NULL,
			      NULL };
	enum fs_status st;
	PGresult *r;

	if ((st = check_content(in, err)) != FS_OK)
		return st;
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = editable(env, id, "Cannot modify system templates", err)) != FS_OK)
		return fs_rollback_with(env, st);
	r = db_query(env->db, env->arena,
		     "UPDATE email_templates AS t SET name = COALESCE($2, t.name),"
		     " subject = COALESCE($3, t.subject), html_content = COALESCE($4, t.html_content),"
		     " text_content = CASE WHEN $5::boolean THEN $6 ELSE t.text_content END,"
		     " thumbnail_url = CASE WHEN $7::boolean THEN $8 ELSE t.thumbnail_url END,"
		     " category = COALESCE($9, t.category), updated_at = flowsend_now()"
		     " WHERE t.id = $1 RETURNING " TEMPLATE_COLUMNS,
		     9, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the template failed"));
	*out = template_json(r, 0);
	return FS_OK;
}

enum fs_status template_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	enum fs_status st;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = editable(env, id, "Cannot delete system templates", err)) != FS_OK)
		return fs_rollback_with(env, st);
	{
		PGresult *used = db_query(env->db, env->arena,
					  "SELECT 1 FROM campaigns WHERE template_id = $1"
					  " AND status IN ('scheduled', 'sending') LIMIT 1",
					  1, p);
		if (!used)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "deleting the template failed"));
		if (PQntuples(used) > 0)
			return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
							     "Template is used by a scheduled or sending"
							     " campaign"));
	}
	if (!db_query(env->db, env->arena, "DELETE FROM email_templates WHERE id = $1", 1, p) ||
	    db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "deleting the template failed"));
	return FS_OK;
}

/* The contact's values (custom fields parsed into the arena's care). */
static enum fs_status contact_values(struct fs_env *env, const char *contact_id,
				     struct tpl_values *v, struct fs_error *err)
{
	const char *p[1] = { contact_id };
	PGresult *r = db_query(env->db, env->arena,
			       "SELECT email, first_name, last_name, custom_fields::text AS custom"
			       " FROM contacts WHERE id = $1",
			       1, p);
	const char *custom;
	char perr[64];

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the contact failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	v->email = db_get(r, 0, "email");
	v->first_name = db_get(r, 0, "first_name");
	v->last_name = db_get(r, 0, "last_name");
	custom = db_get(r, 0, "custom");
	v->custom = custom ? fs_json_parse(custom, strlen(custom), perr, sizeof(perr)) : NULL;
	if (v->custom)
		arena_add_cleanup(env->arena, fs_json_release, v->custom);
	return FS_OK;
}

static json_object *render_json(const struct tpl_message *m, const struct tpl_values *v)
{
	struct strbuf subject = STRBUF_INIT, html = STRBUF_INIT, text = STRBUF_INIT;
	json_object *o = NULL;

	if (tpl_render(m->subject, v, &subject) == 0 && tpl_render(m->html, v, &html) == 0 &&
	    tpl_render(m->text, v, &text) == 0) {
		o = json_object_new_object();
		json_object_object_add(o, "subject", json_object_new_string_len(subject.buf ? subject.buf : "", (int)subject.len));
		json_object_object_add(o, "html", json_object_new_string_len(html.buf ? html.buf : "", (int)html.len));
		json_object_object_add(o, "text", json_object_new_string_len(text.buf ? text.buf : "", (int)text.len));
	}
	strbuf_free(&subject);
	strbuf_free(&html);
	strbuf_free(&text);
	return o;
}

enum fs_status template_preview(struct fs_env *env, const char *id, const struct template_input *in,
				const char *contact_id, json_object **out, struct fs_error *err)
{
	struct tpl_values v = sample_values;
	const char *subject = in ? in->subject : NULL, *html = in ? in->html_content : NULL;
	const char *text = in ? in->text_content : NULL, *postal;
	struct tpl_message m;
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if (id) {
		const char *p[1] = { id };
		r = fs_query_row(env,
				 "SELECT subject, html_content, text_content FROM email_templates WHERE id = $1",
				 1, p, "reading the template", "Template not found", &st, err);
		if (!r)
			return st;
		subject = db_get(r, 0, "subject");
		html = db_get(r, 0, "html_content");
		text = db_get(r, 0, "text_content");
	}
	if (contact_id && (st = contact_values(env, contact_id, &v, err)) != FS_OK)
		return fs_rollback_with(env, st);
	r = db_query(env->db, env->arena, "SELECT postal_address FROM users", 0, NULL);
	postal = r && PQntuples(r) == 1 ? db_get(r, 0, "postal_address") : NULL;
	v.postal_address = postal ? postal : env->cfg->postal_address;
	v.unsubscribe_url = arena_sprintf(env->arena, "%s/u/preview", env->cfg->public_url);
	db_commit(env->db);
	if ((st = template_compile(subject, html, text, &m, err)) != FS_OK)
		return st;
	*out = render_json(&m, &v);
	tpl_message_free(&m);
	return *out ? FS_OK : fs_fail(err, FS_ERROR, "rendering the preview failed");
}
