/* Campaigns. Every request runs as the tenant (row-level security); the send
 * locks the campaign row so two sends, or a send and a cancel, never
 * interleave. The fan-out names the owner explicitly too, because the batch
 * worker runs the same statement as the cross-tenant system role. */
#include "services/campaigns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "mail/template.h"
#include "services/batch.h"
#include "services/billing.h"
#include "services/segments.h"
#include "services/templates.h"

#define CAMPAIGN_COLUMNS                                                                       \
	"c.id, c.user_id, c.name, c.subject, c.template_id, c.list_id, c.status,"               \
	" flowsend_ts(c.scheduled_at) AS scheduled_at, flowsend_ts(c.sent_at) AS sent_at,"      \
	" c.total_recipients, c.sent_count, c.open_count, c.click_count, c.bounce_count,"       \
	" c.last_error, flowsend_ts(c.created_at) AS created_at, flowsend_ts(c.updated_at) AS updated_at"

static const char *const statuses[] = { "draft", "scheduled", "sending", "sent", "failed",
					"cancelled" };
static const char *const event_types[] = { "sent", "delivered", "opened", "clicked", "bounced",
					   "unsubscribed", "complained", "failed" };

static int one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

int campaign_status_valid(const char *s)
{
	return one_of(s, statuses, sizeof(statuses) / sizeof(statuses[0]));
}

int campaign_event_type_valid(const char *s)
{
	return one_of(s, event_types, sizeof(event_types) / sizeof(event_types[0]));
}

static json_object *campaign_json(const PGresult *r, int row)
{
	static const char *const strings[] = { "id", "user_id", "name", "subject", "status",
					       "created_at", "updated_at" };
	static const char *const nullable[] = { "template_id", "list_id", "scheduled_at", "sent_at",
						"last_error" };
	static const char *const counts[] = { "total_recipients", "sent_count", "open_count",
					      "click_count", "bounce_count" };
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		json_object_object_add(o, strings[i], json_object_new_string(db_get(r, row, strings[i])));
	for (size_t i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++)
		json_object_object_add(o, nullable[i], fs_json_str_or_null(db_get(r, row, nullable[i])));
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_object_object_add(o, counts[i],
				       json_object_new_int64(db_get_ll(r, row, counts[i], 0)));
	return o;
}

/* A campaign subject is rendered like a template's: it must compile. */
static enum fs_status check_subject(const char *subject, struct fs_error *err)
{
	struct tpl *t = NULL;
	struct tpl_error te;
	char detail[sizeof(err->detail)];

	if (tpl_compile(subject, strlen(subject), TPL_HEADER, &t, &te) == 0) {
		tpl_free(t);
		return FS_OK;
	}
	tpl_error_detail(&te, detail, sizeof(detail));
	return fs_fail(err, FS_INVALID, "%s (in subject)", detail);
}

/* The template and the list, when given, must be ones the tenant can use. */
static enum fs_status check_references(struct fs_env *env, const struct campaign_input *in,
				       struct fs_error *err)
{
	PGresult *r;

	if (in->set_template && in->template_id) {
		const char *p[1] = { in->template_id };
		r = db_query(env->db, env->arena, "SELECT 1 FROM email_templates WHERE id = $1", 1, p);
		if (!r)
			return fs_fail(err, FS_ERROR, "reading the template failed");
		if (PQntuples(r) == 0)
			return fs_fail(err, FS_NOT_FOUND, "Template not found");
	}
	if (in->set_list && in->list_id) {
		const char *p[1] = { in->list_id };
		r = db_query(env->db, env->arena, "SELECT 1 FROM contact_lists WHERE id = $1", 1, p);
		if (!r)
			return fs_fail(err, FS_ERROR, "reading the list failed");
		if (PQntuples(r) == 0)
			return fs_fail(err, FS_NOT_FOUND, "Contact list not found");
	}
	return FS_OK;
}

enum fs_status campaign_create(struct fs_env *env, const struct campaign_input *in,
			       json_object **out, struct fs_error *err)
{
	const char *p[5] = { in->name, in->subject, in->template_id, in->list_id, in->scheduled_at };
	enum fs_status st;
	PGresult *r;

	if ((st = check_subject(in->subject, err)) != FS_OK)
		return st;
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = check_references(env, in, err)) != FS_OK)
		return fs_rollback_with(env, st);
	/* Scheduling starts a send: refused while payment is past due. */
	if (in->scheduled_at &&
	    (st = billing_send_allowed(env->db, env->arena, env->user_id, err)) != FS_OK)
		return fs_rollback_with(env, st);
	r = db_query(env->db, env->arena,
		     "INSERT INTO campaigns AS c (user_id, name, subject, template_id, list_id,"
		     " scheduled_at, status) VALUES (flowsend_current_user(), $1, $2, $3, $4,"
		     " $5::timestamptz, CASE WHEN $5 IS NULL THEN 'draft' ELSE 'scheduled' END)"
		     " RETURNING " CAMPAIGN_COLUMNS,
		     5, p);
	if (!r && strcmp(db_last_sqlstate(env->db), "23503") == 0) /* deleted meanwhile */
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Template or list not found"));
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the campaign failed"));
	*out = campaign_json(r, 0);
	if (in->scheduled_at)
		batch_wake(env->redis); /* it may already be due */
	return FS_OK;
}

enum fs_status campaign_get(struct fs_env *env, const char *id, json_object **out,
			    struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " CAMPAIGN_COLUMNS " FROM campaigns c WHERE c.id = $1", 1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the campaign failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Campaign not found");
	*out = campaign_json(r, 0);
	return FS_OK;
}

enum fs_status campaign_index(struct fs_env *env, const char *status, const struct fs_page *page,
			      json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { status, limit, offset };
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	rows = db_query(env->db, env->arena,
			"SELECT " CAMPAIGN_COLUMNS " FROM campaigns c"
			" WHERE ($1::text IS NULL OR c.status = $1)"
			" ORDER BY c.created_at DESC, c.id LIMIT $2::bigint OFFSET $3::bigint",
			3, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM campaigns c WHERE ($1::text IS NULL OR c.status = $1)", 1, p);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing campaigns failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, campaign_json(rows, i));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

/* Lock the campaign row and read its status (and, when asked, its template
 * and list); on failure err is filled and the transaction rolled back. */
static enum fs_status lock_campaign(struct fs_env *env, const char *id, const char **status,
				    const char **template_id, const char **list_id,
				    struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_query(env->db, env->arena,
			       "SELECT status, template_id, list_id FROM campaigns WHERE id = $1 FOR UPDATE",
			       1, p);

	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the campaign failed"));
	if (PQntuples(r) == 0)
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Campaign not found"));
	*status = db_get(r, 0, "status");
	if (template_id)
		*template_id = db_get(r, 0, "template_id");
	if (list_id)
		*list_id = db_get(r, 0, "list_id");
	return FS_OK;
}

enum fs_status campaign_update(struct fs_env *env, const char *id, const struct campaign_input *in,
			       json_object **out, struct fs_error *err)
{
	const char *p[10] = { id,
			      in->set_name ? in->name : NULL,
			      in->set_subject ? in->subject : NULL,
			      in->set_template ? "t" : "f",
			      in->template_id,
			      in->set_list ? "t" : "f",
			      in->list_id,
			      in->set_scheduled ? "t" : "f",
			      in->scheduled_at,
			      NULL };
	const char *status;
	enum fs_status st;
	PGresult *r;

	if (in->set_subject && (st = check_subject(in->subject, err)) != FS_OK)
		return st;
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = lock_campaign(env, id, &status, NULL, NULL, err)) != FS_OK)
		return st;
	if (strcmp(status, "draft") != 0 && strcmp(status, "scheduled") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Can only update draft or scheduled campaigns"));
	if ((st = check_references(env, in, err)) != FS_OK)
		return fs_rollback_with(env, st);
	if (in->set_scheduled && in->scheduled_at &&
	    (st = billing_send_allowed(env->db, env->arena, env->user_id, err)) != FS_OK)
		return fs_rollback_with(env, st);
	/* A time makes it scheduled; clearing the time makes it a draft again. */
	r = db_query(env->db, env->arena,
		     "UPDATE campaigns AS c SET name = COALESCE($2, c.name),"
		     " subject = COALESCE($3, c.subject),"
		     " template_id = CASE WHEN $4::boolean THEN $5::uuid ELSE c.template_id END,"
		     " list_id = CASE WHEN $6::boolean THEN $7::uuid ELSE c.list_id END,"
		     " scheduled_at = CASE WHEN $8::boolean THEN $9::timestamptz ELSE c.scheduled_at END,"
		     " status = CASE WHEN NOT $8::boolean THEN c.status"
		     "  WHEN $9 IS NULL THEN 'draft' ELSE 'scheduled' END,"
		     " updated_at = flowsend_now() WHERE c.id = $1 RETURNING " CAMPAIGN_COLUMNS,
		     9, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the campaign failed"));
	*out = campaign_json(r, 0);
	if (in->set_scheduled && in->scheduled_at)
		batch_wake(env->redis);
	return FS_OK;
}

enum fs_status campaign_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	const char *status;
	enum fs_status st;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = lock_campaign(env, id, &status, NULL, NULL, err)) != FS_OK)
		return st;
	if (strcmp(status, "sending") == 0 || strcmp(status, "sent") == 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Cannot delete a campaign that has been sent"));
	if (!db_query(env->db, env->arena, "DELETE FROM campaigns WHERE id = $1", 1, p) ||
	    db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "deleting the campaign failed"));
	return FS_OK;
}

/* Who gets the campaign: the list's members (a dynamic list's rules as they
 * match now) or every contact, minus the unsubscribed, the bounced and the
 * suppressed. One INSERT ... SELECT; the (campaign, contact) key makes it
 * idempotent. */
static enum fs_status fan_out(struct fs_db *db, struct arena *a, const char *id,
			      const char *user_id, const char *list_id, long long *count,
			      struct fs_error *err)
{
	const char *params[3 + SEGMENT_MAX_PARAMS] = { id, user_id, list_id };
	struct strbuf sql = STRBUF_INIT;
	struct segment seg = { STRBUF_INIT, { 0 }, 0 };
	int nparams = 2;
	PGresult *r;

	strbuf_appends(&sql, "INSERT INTO outbox (user_id, campaign_id, contact_id, to_email)"
			     " SELECT c.user_id, $1, c.id, c.email FROM contacts c"
			     " WHERE c.user_id = $2 AND c.is_subscribed AND c.bounced_at IS NULL"
			     " AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.user_id = $2"
			     "  AND x.email_hash = flowsend_email_hash(c.email))");
	if (list_id) {
		const char *lp[2] = { list_id, user_id };
		char msg[200];
		r = db_query(db, a,
			     "SELECT list_type, rules::text AS rules FROM contact_lists"
			     " WHERE id = $1 AND user_id = $2",
			     2, lp);
		if (!r || PQntuples(r) == 0) {
			strbuf_free(&sql);
			return r ? fs_fail(err, FS_BAD_REQUEST, "The campaign's list no longer exists")
				 : fs_fail(err, FS_ERROR, "reading the list failed");
		}
		if (strcmp(db_get(r, 0, "list_type"), "static") == 0) {
			strbuf_appends(&sql, " AND EXISTS (SELECT 1 FROM contact_list_members m"
					     " WHERE m.list_id = $3 AND m.contact_id = c.id)");
			nparams = 3;
		} else {
			const char *rules = db_get(r, 0, "rules");
			if (segment_compile_text(a, rules, strlen(rules), 3, &seg, msg, sizeof(msg)) < 0) {
				strbuf_free(&sql);
				return fs_fail(err, FS_BAD_REQUEST, "The list's rules are invalid: %s", msg);
			}
			strbuf_appendf(&sql, " AND (%s)", strbuf_cstr(&seg.where));
			for (int i = 0; i < seg.nparams; i++)
				params[2 + i] = seg.params[i];
			nparams = 2 + seg.nparams;
			strbuf_free(&seg.where);
		}
	}
	strbuf_appends(&sql, " ON CONFLICT DO NOTHING");
	r = sql.oom ? NULL : db_query(db, a, strbuf_cstr(&sql), nparams, params);
	strbuf_free(&sql);
	if (!r)
		return fs_fail(err, FS_ERROR, "queueing the recipients failed");
	*count = strtoll(PQcmdTuples(r), NULL, 10);
	return FS_OK;
}

/* Serialise a tenant's sends for the rest of the transaction, so two sends
 * at once cannot both fit under the monthly limit (each counts after the
 * other has committed). */
static enum fs_status lock_monthly_usage(struct fs_db *db, struct arena *a, const char *user_id,
					 struct fs_error *err)
{
	const char *p[1] = { user_id };

	if (!db_query(db, a, "SELECT pg_advisory_xact_lock(hashtext('flowsend-usage:' || $1))", 1, p))
		return fs_fail(err, FS_ERROR, "locking this month's usage failed");
	return FS_OK;
}

/* used + adding against the plan; FS_BAD_REQUEST naming both when over. */
static enum fs_status check_monthly_limit(struct fs_db *db, struct arena *a, const char *user_id,
					  const struct plan *plan, long long adding,
					  int already_queued, struct fs_error *err)
{
	const char *p[1] = { user_id };
	PGresult *r;
	long long used;

	if (plan->max_emails_per_month == PLAN_UNLIMITED)
		return FS_OK;
	r = db_query(db, a, "SELECT flowsend_emails_this_month($1)", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading this month's usage failed");
	used = strtoll(PQgetvalue(r, 0, 0), NULL, 10) - (already_queued ? adding : 0);
	if (plan_allows(plan->max_emails_per_month, (long)used, (long)adding))
		return FS_OK;
	return fs_fail(err, FS_BAD_REQUEST,
		       "This campaign would send %lld emails, over your plan's monthly limit of %ld"
		       " (%lld already sent this month)",
		       adding, plan->max_emails_per_month, used);
}

enum fs_status campaign_start(struct fs_db *db, struct arena *a, const char *id,
			      const char *user_id, const char *list_id, const struct plan *plan,
			      long long *recipients, struct fs_error *err)
{
	const char *p[2] = { id, NULL };
	char total[24];
	enum fs_status st;

	if ((st = billing_send_allowed(db, a, user_id, err)) != FS_OK ||
	    (st = lock_monthly_usage(db, a, user_id, err)) != FS_OK ||
	    (st = fan_out(db, a, id, user_id, list_id, recipients, err)) != FS_OK)
		return st;
	if ((st = check_monthly_limit(db, a, user_id, plan, *recipients, 1, err)) != FS_OK)
		return st;
	snprintf(total, sizeof(total), "%lld", *recipients);
	p[1] = total;
	if (!db_query(db, a,
		      "UPDATE campaigns SET status = 'sending', started_at = flowsend_now(), sent_at = NULL,"
		      " total_recipients = $2::bigint, last_error = NULL, updated_at = flowsend_now()"
		      " WHERE id = $1",
		      2, p))
		return fs_fail(err, FS_ERROR, "starting the campaign failed");
	return FS_OK;
}

enum fs_status campaign_send(struct fs_env *env, const char *id, json_object **out,
			     struct fs_error *err)
{
	const char *p[1] = { id };
	const char *status, *template_id, *list_id;
	long long recipients;
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = lock_campaign(env, id, &status, &template_id, &list_id, err)) != FS_OK)
		return st;
	if (strcmp(status, "draft") != 0 && strcmp(status, "scheduled") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Campaign must be in draft or scheduled status to send"));
	if (!template_id)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST, "Campaign has no template"));
	st = campaign_start(env->db, env->arena, id, env->user_id, list_id, billing_plan(env),
			    &recipients, err);
	if (st != FS_OK)
		return fs_rollback_with(env, st);
	r = db_query(env->db, env->arena,
		     "SELECT " CAMPAIGN_COLUMNS " FROM campaigns c WHERE c.id = $1", 1, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "starting the campaign failed"));
	*out = campaign_json(r, 0);
	batch_wake(env->redis);
	return FS_OK;
}

enum fs_status campaign_test(struct fs_env *env, const char *id, const char *email,
			     struct fs_error *err)
{
	const char *p[1] = { id }, *ep[1] = { email };
	struct tpl_values v = { .first_name = "Alex", .last_name = "Morgan", .email = email };
	struct strbuf subject = STRBUF_INIT, html = STRBUF_INIT, text = STRBUF_INIT;
	struct tpl_message m;
	json_object *payload;
	enum fs_status st;
	const char *custom, *postal;
	char perr[64];
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env,
			 "SELECT c.subject, t.html_content, t.text_content, u.postal_address"
			 " FROM campaigns c JOIN users u ON u.id = c.user_id"
			 " LEFT JOIN email_templates t ON t.id = c.template_id WHERE c.id = $1",
			 1, p, "reading the campaign", "Campaign not found", &st, err);
	if (!r)
		return st;
	if (!db_get(r, 0, "html_content"))
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST, "Campaign has no template"));
	postal = db_get(r, 0, "postal_address");
	v.postal_address = postal ? postal : env->cfg->postal_address;
	v.unsubscribe_url = arena_sprintf(env->arena, "%s/u/test", env->cfg->public_url);
	if ((st = template_compile(db_get(r, 0, "subject"), db_get(r, 0, "html_content"),
				   db_get(r, 0, "text_content"), &m, err)) != FS_OK)
		return fs_rollback_with(env, st);
	/* The address's own contact data when it is a contact, else sample data. */
	r = db_query(env->db, env->arena,
		     "SELECT first_name, last_name, custom_fields::text AS custom FROM contacts"
		     " WHERE lower(email) = lower($1)",
		     1, ep);
	if (r && PQntuples(r) == 1) {
		v.first_name = db_get(r, 0, "first_name");
		v.last_name = db_get(r, 0, "last_name");
		custom = db_get(r, 0, "custom");
		if ((v.custom = fs_json_parse(custom, strlen(custom), perr, sizeof(perr))))
			arena_add_cleanup(env->arena, fs_json_release, v.custom);
	}
	if (tpl_render(m.subject, &v, &subject) < 0 || tpl_render(m.html, &v, &html) < 0 ||
	    tpl_render(m.text, &v, &text) < 0) {
		st = fs_fail(err, FS_ERROR, "rendering the test failed");
		goto out;
	}
	if ((st = billing_send_allowed(env->db, env->arena, env->user_id, err)) != FS_OK ||
	    (st = lock_monthly_usage(env->db, env->arena, env->user_id, err)) != FS_OK ||
	    (st = check_monthly_limit(env->db, env->arena, env->user_id, billing_plan(env), 1, 0,
				      err)) != FS_OK)
		goto out;
	payload = json_object_new_object();
	json_object_object_add(payload, "subject", json_object_new_string_len(subject.buf, (int)subject.len));
	json_object_object_add(payload, "html", json_object_new_string_len(html.buf, (int)html.len));
	json_object_object_add(payload, "text", json_object_new_string_len(text.buf, (int)text.len));
	json_object_object_add(payload, "test_of_campaign", json_object_new_string(id));
	arena_add_cleanup(env->arena, fs_json_release, payload);
	{
		const char *ip[2] = { email, fs_json_string(payload, NULL) };
		r = db_query(env->db, env->arena,
			     "INSERT INTO outbox (user_id, to_email, payload)"
			     " VALUES (flowsend_current_user(), $1, $2::jsonb)",
			     2, ip);
	}
	st = r && db_commit(env->db) == FS_OK ? FS_OK
					       : fs_fail(err, FS_ERROR, "queueing the test failed");
out:
	if (st != FS_OK)
		db_rollback(env->db);
	else
		batch_wake(env->redis);
	tpl_message_free(&m);
	strbuf_free(&subject);
	strbuf_free(&html);
	strbuf_free(&text);
	return st;
}

enum fs_status campaign_cancel(struct fs_env *env, const char *id, json_object **out,
			       struct fs_error *err)
{
	const char *p[1] = { id };
	const char *status;
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = lock_campaign(env, id, &status, NULL, NULL, err)) != FS_OK)
		return st;
	if (strcmp(status, "scheduled") != 0 && strcmp(status, "sending") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Only scheduled or sending campaigns can be cancelled"));
	/* Mail already handed to a worker finishes; the rest never leaves. */
	r = db_query(env->db, env->arena,
		     "UPDATE outbox SET status = 'cancelled' WHERE campaign_id = $1 AND due_at IS NOT NULL",
		     1, p);
	if (r)
		r = db_query(env->db, env->arena,
			     "UPDATE campaigns AS c SET status = 'cancelled', updated_at = flowsend_now()"
			     " WHERE c.id = $1 RETURNING " CAMPAIGN_COLUMNS,
			     1, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "cancelling the campaign failed"));
	*out = campaign_json(r, 0);
	return FS_OK;
}

/* part / whole as a percentage with two decimals, 0 when whole is 0. */
static json_object *rate(long long part, long long whole)
{
	char text[32];
	double v = whole > 0 ? round((double)part * 10000.0 / (double)whole) / 100.0 : 0.0;

	snprintf(text, sizeof(text), "%.2f", v);
	return json_object_new_double_s(v, text);
}

enum fs_status campaign_analytics(struct fs_env *env, const char *id, json_object **out,
				  struct fs_error *err)
{
	static const char *const totals[][2] = {
		{ "total_sent", "sent_count" },
		{ "total_delivered", "delivered_count" },
		{ "total_opened", "unique_opens" },
		{ "total_clicked", "unique_clicks" },
		{ "total_bounced", "bounce_count" },
		{ "total_unsubscribed", "unsubscribe_count" },
		{ "total_complained", "complaint_count" },
		{ "total_failed", "failed_count" },
	};
	const char *p[1] = { id };
	PGresult *r, *links;
	json_object *o, *arr;
	long long sent;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	/* Opens and clicks count each contact once, from the events themselves. */
	r = db_query(env->db, env->arena,
		     "SELECT c.id, c.name, c.sent_count, c.delivered_count, c.bounce_count,"
		     " c.unsubscribe_count, c.complaint_count, c.failed_count,"
		     " (SELECT count(DISTINCT e.contact_id) FROM email_events e WHERE e.campaign_id = c.id"
		     "   AND e.event_type = 'opened' AND NOT e.is_bot) AS unique_opens,"
		     " (SELECT count(DISTINCT e.contact_id) FROM email_events e WHERE e.campaign_id = c.id"
		     "   AND e.event_type = 'clicked' AND NOT e.is_bot) AS unique_clicks"
		     " FROM campaigns c WHERE c.id = $1",
		     1, p);
	links = r ? db_query(env->db, env->arena,
			     /* Kept by the tracking flush (issue 17): every human
			      * click, and each contact once. */
			     "SELECT l.url, l.total_clicks, l.click_count AS unique_clicks"
			     " FROM campaign_links l WHERE l.campaign_id = $1"
			     " ORDER BY l.total_clicks DESC, l.url LIMIT 200",
			     1, p)
		  : NULL;
	if (!r || !links)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the analytics failed"));
	db_commit(env->db);
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Campaign not found");
	sent = db_get_ll(r, 0, "sent_count", 0);
	o = json_object_new_object();
	json_object_object_add(o, "campaign_id", json_object_new_string(db_get(r, 0, "id")));
	json_object_object_add(o, "campaign_name", json_object_new_string(db_get(r, 0, "name")));
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		json_object_object_add(o, totals[i][0],
				       json_object_new_int64(db_get_ll(r, 0, totals[i][1], 0)));
	json_object_object_add(o, "open_rate", rate(db_get_ll(r, 0, "unique_opens", 0), sent));
	json_object_object_add(o, "click_rate", rate(db_get_ll(r, 0, "unique_clicks", 0), sent));
	json_object_object_add(o, "bounce_rate", rate(db_get_ll(r, 0, "bounce_count", 0), sent));
	arr = json_object_new_array();
	for (int i = 0; i < PQntuples(links); i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "url", json_object_new_string(db_get(links, i, "url")));
		json_object_object_add(l, "clicks",
				       json_object_new_int64(db_get_ll(links, i, "total_clicks", 0)));
		json_object_object_add(l, "unique_clicks",
				       json_object_new_int64(db_get_ll(links, i, "unique_clicks", 0)));
		json_object_array_add(arr, l);
	}
	json_object_object_add(o, "links", arr);
	*out = o;
	return FS_OK;
}

enum fs_status campaign_events(struct fs_env *env, const char *id, const char *event_type,
			       const struct fs_page *page, json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[4] = { id, event_type, limit, offset };
	PGresult *found, *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	found = db_query(env->db, env->arena, "SELECT 1 FROM campaigns WHERE id = $1", 1, p);
	rows = db_query(env->db, env->arena,
			"SELECT e.id, e.campaign_id, e.flow_id, e.contact_id, e.event_type,"
			" e.metadata::text AS metadata, flowsend_ts(e.created_at) AS created_at"
			" FROM email_events e WHERE e.campaign_id = $1"
			" AND ($2::text IS NULL OR e.event_type = $2)"
			" ORDER BY e.created_at DESC, e.id DESC LIMIT $3::bigint OFFSET $4::bigint",
			4, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM email_events e WHERE e.campaign_id = $1"
			 " AND ($2::text IS NULL OR e.event_type = $2)",
			 2, p);
	if (!found || !rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing events failed"));
	db_commit(env->db);
	if (PQntuples(found) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Campaign not found");
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++) {
		json_object *e = json_object_new_object();
		const char *meta = db_get(rows, i, "metadata");
		char perr[64];
		json_object *m = meta ? fs_json_parse(meta, strlen(meta), perr, sizeof(perr)) : NULL;

		json_object_object_add(e, "id", json_object_new_string(db_get(rows, i, "id")));
		json_object_object_add(e, "campaign_id", fs_json_str_or_null(db_get(rows, i, "campaign_id")));
		json_object_object_add(e, "flow_id", fs_json_str_or_null(db_get(rows, i, "flow_id")));
		json_object_object_add(e, "contact_id", fs_json_str_or_null(db_get(rows, i, "contact_id")));
		json_object_object_add(e, "event_type",
				       json_object_new_string(db_get(rows, i, "event_type")));
		json_object_object_add(e, "metadata", m ? m : json_object_new_object());
		json_object_object_add(e, "created_at",
				       json_object_new_string(db_get(rows, i, "created_at")));
		json_object_array_add(items, e);
	}
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}
