/* Signup forms. The merchant's side runs as the tenant; the public side
 * resolves the tenant once by the system role (the form by its id, the
 * sign-up by its signed token: a forged token costs an HMAC and no database
 * read) and does everything else as that tenant, under row-level security.
 * A sign-up is a form_submissions row until it is confirmed; only then does a
 * contact exist, made by contact_create like any other. */
#include "services/forms.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "mail/links.h"
#include "models/plan.h"
#include "queue/redis.h"
#include "services/batch.h"
#include "services/contacts.h"
#include "services/settings.h"

#define FORM_COLUMNS                                                                           \
	"f.id, f.name, f.list_id, f.double_opt_in, f.redirect_url, f.consent_text,"             \
	" flowsend_ts(f.created_at) AS created_at, flowsend_ts(f.updated_at) AS updated_at"

/* ---- small helpers ---- */

static const char *lower_copy(struct arena *a, const char *s)
{
	char *d = arena_strdup(a, s);
	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return d;
}

static const char *sender_name(struct fs_env *env, const char *from_name)
{
	const char *name, *address;

	if (from_name && *from_name)
		return from_name;
	sender_parse_mailbox(env->arena, env->cfg->mail_from, &name, &address);
	return *name ? name : address;
}

/* 1 when s is an IPv4 or IPv6 address PostgreSQL's inet accepts. */
static int ip_address_valid(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ---- the merchant's forms ---- */

/* The copy-paste snippet: a plain HTML form that works without JavaScript.
 * The honeypot sits off-screen, out of the tab order and hidden from screen
 * readers, so only a bot fills it. */
static const char *form_snippet(struct fs_env *env, const char *id, const char *consent)
{
	struct strbuf sb = STRBUF_INIT;
	const char *out;

	strbuf_appends(&sb, "<form method=\"post\" action=\"");
	strbuf_append_html(&sb, env->cfg->public_url);
	strbuf_appends(&sb, "/f/");
	strbuf_append_html(&sb, id);
	strbuf_appends(
		&sb,
		"\" accept-charset=\"utf-8\">\n"
		"  <label for=\"fs-email\">Email</label>\n"
		"  <input type=\"email\" id=\"fs-email\" name=\"email\" required maxlength=\"254\""
		" autocomplete=\"email\">\n"
		"  <label for=\"fs-first-name\">First name</label>\n"
		"  <input type=\"text\" id=\"fs-first-name\" name=\"first_name\" maxlength=\"100\""
		" autocomplete=\"given-name\">\n"
		"  <div style=\"position:absolute;left:-5000px\" aria-hidden=\"true\">"
		"<input type=\"text\" name=\"" FORM_HONEYPOT_FIELD "\" tabindex=\"-1\""
		" autocomplete=\"off\" value=\"\"></div>\n"
		"  <p>");
	strbuf_append_html(&sb, consent);
	strbuf_appends(&sb, "</p>\n  <button type=\"submit\">Subscribe</button>\n</form>\n");
	out = sb.oom ? NULL : arena_strndup(env->arena, sb.buf, sb.len);
	strbuf_free(&sb);
	return out;
}

static json_object *form_json(struct fs_env *env, const PGresult *r, int row, int snippet)
{
	json_object *o = json_object_new_object();
	const char *id = db_get(r, row, "id"), *consent = db_get(r, row, "consent_text");

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "name", json_object_new_string(db_get(r, row, "name")));
	json_object_object_add(o, "list_id", fs_json_str_or_null(db_get(r, row, "list_id")));
	json_object_object_add(o, "double_opt_in",
			       json_object_new_boolean(db_get_bool(r, row, "double_opt_in")));
	json_object_object_add(o, "redirect_url", fs_json_str_or_null(db_get(r, row, "redirect_url")));
	json_object_object_add(o, "consent_text", fs_json_str_or_null(consent));
	json_object_object_add(o, "action_url",
			       fs_json_str_or_null(arena_sprintf(env->arena, "%s/f/%s",
								 env->cfg->public_url, id)));
	if (snippet)
		json_object_object_add(
			o, "embed_html",
			fs_json_str_or_null(form_snippet(env, id, consent ? consent : FORM_DEFAULT_CONSENT)));
	json_object_object_add(o, "created_at", json_object_new_string(db_get(r, row, "created_at")));
	json_object_object_add(o, "updated_at", json_object_new_string(db_get(r, row, "updated_at")));
	return o;
}

/* In the open tenant transaction: the list exists for the tenant and has
 * members of its own (a dynamic list is evaluated from rules). */
static enum fs_status check_list(struct fs_env *env, const char *list_id, struct fs_error *err)
{
	const char *p[1] = { list_id };
	PGresult *r = db_query(env->db, env->arena,
			       "SELECT list_type FROM contact_lists WHERE id = $1", 1, p);

	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the list failed"));
	if (PQntuples(r) == 0)
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Contact list not found"));
	if (strcmp(db_get(r, 0, "list_type"), "static") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "A form adds people to a static list;"
						  " this list is dynamic"));
	return FS_OK;
}

enum fs_status form_create(struct fs_env *env, const struct form_input *in, json_object **out,
			   struct fs_error *err)
{
	const char *p[5] = { in->name, in->list_id, in->set_double_opt_in && !in->double_opt_in ? "f" : "t",
			     in->set_redirect_url ? in->redirect_url : NULL,
			     in->set_consent_text ? in->consent_text : NULL };
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if ((st = check_list(env, in->list_id, err)) != FS_OK)
		return st;
	r = db_query(env->db, env->arena,
		     "INSERT INTO forms AS f (user_id, name, list_id, double_opt_in, redirect_url,"
		     " consent_text, created_at, updated_at)"
		     " VALUES (flowsend_current_user(), $1, $2, $3::boolean, $4, $5, flowsend_now(),"
		     "  flowsend_now()) RETURNING " FORM_COLUMNS,
		     5, p);
	if (!r || PQntuples(r) != 1)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the form failed"));
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	*out = form_json(env, r, 0, 1);
	return FS_OK;
}

enum fs_status form_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " FORM_COLUMNS " FROM forms f WHERE f.id = $1", 1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the form failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Form not found");
	*out = form_json(env, r, 0, 1);
	return FS_OK;
}

enum fs_status form_index(struct fs_env *env, const struct fs_page *page, json_object **out,
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
			"SELECT " FORM_COLUMNS " FROM forms f ORDER BY f.created_at DESC, f.id"
			" LIMIT $1::bigint OFFSET $2::bigint",
			2, p);
	total = db_query(env->db, env->arena, "SELECT count(*) FROM forms", 0, NULL);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing forms failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, form_json(env, rows, i, 0));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

enum fs_status form_update(struct fs_env *env, const char *id, const struct form_input *in,
			   json_object **out, struct fs_error *err)
{
	const char *p[8] = { id,
			     in->set_name ? in->name : NULL,
			     in->set_list_id ? in->list_id : NULL,
			     in->set_double_opt_in ? (in->double_opt_in ? "t" : "f") : NULL,
			     in->set_redirect_url ? "t" : "f",
			     in->redirect_url,
			     in->set_consent_text ? "t" : "f",
			     in->consent_text };
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env, "SELECT id FROM forms WHERE id = $1 FOR UPDATE", 1, p,
			 "reading the form", "Form not found", &st, err);
	if (!r)
		return st;
	if (in->set_list_id && (st = check_list(env, in->list_id, err)) != FS_OK)
		return st;
	r = db_query(env->db, env->arena,
		     "UPDATE forms AS f SET name = COALESCE($2, f.name),"
		     " list_id = COALESCE($3::uuid, f.list_id),"
		     " double_opt_in = COALESCE($4::boolean, f.double_opt_in),"
		     " redirect_url = CASE WHEN $5::boolean THEN $6 ELSE f.redirect_url END,"
		     " consent_text = CASE WHEN $7::boolean THEN $8 ELSE f.consent_text END,"
		     " updated_at = flowsend_now()"
		     " WHERE f.id = $1 RETURNING " FORM_COLUMNS,
		     8, p);
	if (!r || PQntuples(r) != 1)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the form failed"));
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	*out = form_json(env, r, 0, 1);
	return FS_OK;
}

enum fs_status form_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "DELETE FROM forms WHERE id = $1 RETURNING id", 1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "deleting the form failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Form not found");
	return FS_OK;
}

/* ---- abuse limits ---- */

/* A fixed-window counter: the window's number is part of the key, so a key
 * whose EXPIRE was lost still stops counting when its window ends. */
static const char rate_script[] =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
	"return n\n";

/* 1 when this post makes more than max in the window of key. Redis being down
 * fails open (logged once a minute): a merchant's sign-ups matter more than
 * a throttle, and the mail limit lives in PostgreSQL. */
static int rate_exceeded(struct fs_env *env, const char *what, const char *id, int window_s,
			 long max)
{
	static double warned_at;
	char key[160], ttl[16];
	const char *argv[5] = { "EVAL", rate_script, "1", key, ttl };
	long long now = (long long)clock_now();
	redisReply *rep;
	long long n;

	if (!env->redis)
		return 0;
	snprintf(key, sizeof(key), "fs:form:%s:%s:%lld", what, id, now / window_s);
	snprintf(ttl, sizeof(ttl), "%d", 2 * window_s);
	rep = fs_redis_argv(env->redis, 5, argv, NULL);
	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		double t = (double)now;
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("form throttle script failed: %s", rep->str);
		if (!warned_at || t - warned_at >= 60) {
			warned_at = t;
			log_warn("form throttle unavailable: Redis unreachable, sign-ups are not counted");
		}
		if (rep)
			freeReplyObject(rep);
		return 0;
	}
	n = rep->integer;
	freeReplyObject(rep);
	return n > max;
}

/* ---- the confirmation mail ---- */

/* In the open tenant transaction: the message with the link, queued like a
 * test send (a pre-rendered payload, from the merchant's sender, not counted
 * against the plan); the batch worker sends it. */
static int queue_confirmation(struct fs_env *env, const char *to, const char *sender,
			      const char *token)
{
	const char *url = arena_sprintf(env->arena, "%s/f/confirm/%s", env->cfg->public_url, token);
	struct strbuf html = STRBUF_INIT, subject = STRBUF_INIT;
	json_object *p = json_object_new_object();
	const char *params[2];
	int ok;

	strbuf_appends(&html, "<!doctype html><html><body style=\"font-family:Arial,sans-serif;"
			      "color:#1f2937\"><p>Please confirm that you want to receive emails from"
			      " <strong>");
	strbuf_append_html(&html, sender);
	strbuf_appends(&html, "</strong>.</p><p><a href=\"");
	strbuf_append_html(&html, url);
	strbuf_appends(&html, "\" style=\"display:inline-block;padding:10px 18px;background:#f43f5e;"
			      "color:#ffffff;border-radius:6px;text-decoration:none\">"
			      "Confirm my subscription</a></p><p style=\"font-size:13px;color:#6b7280\">"
			      "If you did not sign up, ignore this message: you will not be"
			      " subscribed.</p></body></html>");
	strbuf_appendf(&subject, "Confirm your subscription to %s", sender);
	json_object_object_add(p, "subject", json_object_new_string(strbuf_cstr(&subject)));
	json_object_object_add(p, "html", json_object_new_string(strbuf_cstr(&html)));
	json_object_object_add(
		p, "text",
		json_object_new_string(arena_sprintf(
			env->arena,
			"Please confirm that you want to receive emails from %s.\n\n"
			"Confirm my subscription: %s\n\n"
			"If you did not sign up, ignore this message: you will not be subscribed.\n",
			sender, url)));
	json_object_object_add(p, "form_confirmation", json_object_new_boolean(1));
	params[0] = to;
	params[1] = arena_strdup(env->arena, json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	ok = !html.oom && !subject.oom && url && params[1] &&
	     db_query(env->db, env->arena,
		      "INSERT INTO outbox (user_id, to_email, payload)"
		      " VALUES (flowsend_current_user(), $1, $2::jsonb)",
		      2, params) != NULL;
	json_object_put(p);
	strbuf_free(&html);
	strbuf_free(&subject);
	return ok ? 0 : -1;
}

/* ---- confirming ---- */

static const char claim_sql[] =
	"SELECT s.status, s.email, s.first_name, s.last_name,"
	" (SELECT plan FROM users) AS plan, (SELECT from_name FROM users) AS from_name,"
	" EXISTS (SELECT 1 FROM suppressions x WHERE x.email_hash = flowsend_email_hash(s.email))"
	"  AS suppressed,"
	" (SELECT c.id FROM contacts c WHERE lower(c.email) = lower(s.email)) AS contact_id,"
	" (SELECT c.is_subscribed FROM contacts c WHERE lower(c.email) = lower(s.email))"
	"  AS is_subscribed,"
	" COALESCE((SELECT sum(t.contacts) FROM tenant_counters_all t), 0) AS ncontacts"
	" FROM form_submissions s WHERE s.id = $1 FOR UPDATE";

/* The sign-up is confirmed, the contact joins the list, and the consent
 * record becomes a "subscribed" activity entry; all once, whoever races. */
static const char finish_sql[] =
	"WITH s AS ("
	"  UPDATE form_submissions SET status = 'confirmed', confirmed_at = flowsend_now(),"
	"   contact_id = $2 WHERE id = $1 AND status = 'pending'"
	"  RETURNING id, form_id, list_id, consent_ip, consent_user_agent, consent_text, consent_at),"
	" m AS ("
	"  INSERT INTO contact_list_members (list_id, contact_id, user_id)"
	"  SELECT s.list_id, $2, flowsend_current_user() FROM s"
	"   JOIN contact_lists l ON l.id = s.list_id AND l.list_type = 'static'"
	"  ON CONFLICT DO NOTHING RETURNING 1),"
	" e AS ("
	"  INSERT INTO email_events (user_id, contact_id, event_type, metadata, created_at)"
	"  SELECT flowsend_current_user(), $2, 'subscribed', jsonb_build_object('source', 'form',"
	"   'form_id', s.form_id, 'submission_id', s.id, 'list_id', s.list_id,"
	"   'ip', host(s.consent_ip), 'user_agent', s.consent_user_agent,"
	"   'consent_text', s.consent_text, 'consent_at', flowsend_ts(s.consent_at))"
	"   , flowsend_now() FROM s RETURNING 1),"
	/* A re-subscribed contact ($3) enrolls in signup flows as a new one would
	 * (a created one did in contact_create's transaction); the once-per-flow
	 * key still holds, a flow with re-entry gets this sign-up's key. */
	" n AS ("
	"  SELECT flowsend_flow_enroll(flowsend_current_user(), 'signup', NULL, ARRAY[$2::uuid],"
	"   'form:' || s.id::text, '{}'::jsonb) AS enrolled FROM s WHERE $3::boolean)"
	" SELECT (SELECT count(*) FROM s) AS confirmed, (SELECT count(*) FROM m) AS joined,"
	" (SELECT count(*) FROM e) AS events, (SELECT coalesce(sum(enrolled), 0) FROM n) AS enrolled";

/* The contact's id from contact_create's JSON (arena copy), or NULL. */
static const char *created_id(struct fs_env *env, const char *json)
{
	char perr[64];
	json_object *o = fs_json_parse(json, strlen(json), perr, sizeof(perr)), *v;
	const char *id = NULL;

	if (o && json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_string))
		id = arena_strdup(env->arena, json_object_get_string(v));
	json_object_put(o);
	return id;
}

/* The contact with this address, after a create lost a race to another. */
static const char *existing_id(struct fs_env *env, const char *email)
{
	const char *p[1] = { email };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT id FROM contacts WHERE lower(email) = lower($1)", 1, p);

	return r && PQntuples(r) == 1 ? db_get(r, 0, "id") : NULL;
}

/* Confirm sign-up id of the tenant env->user_id (see form_confirm). */
static enum fs_status confirm_submission(struct fs_env *env, const char *id,
					 struct confirm_result *out, struct fs_error *err)
{
	const char *p[1] = { id };
	const char *email, *contact_id, *first, *last;
	int subscribed;
	const struct plan *plan;
	enum fs_status st;
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = fs_query_row(env, claim_sql, 1, p, "reading the sign-up", "Confirmation link not found",
			 &st, err);
	if (!r)
		return st;
	out->sender = sender_name(env, db_get(r, 0, "from_name"));
	out->email = email = db_get(r, 0, "email");
	first = db_get(r, 0, "first_name");
	last = db_get(r, 0, "last_name");
	contact_id = db_get(r, 0, "contact_id");
	subscribed = db_get_bool(r, 0, "is_subscribed");
	/* contact_create checks the plan of whoever asks: here the merchant's. */
	env->auth.plan = db_get(r, 0, "plan");
	plan = plan_find_or_default(env->auth.plan);
	if (strcmp(db_get(r, 0, "status"), "confirmed") == 0) {
		out->state = CONFIRM_DONE;
		db_rollback(env->db);
		return FS_OK;
	}
	if (strcmp(db_get(r, 0, "status"), "pending") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Confirmation link not found"));
	if (db_get_bool(r, 0, "suppressed")) {
		out->state = CONFIRM_SUPPRESSED;
		db_rollback(env->db);
		return FS_OK;
	}
	if (!contact_id && plan->max_contacts != PLAN_UNLIMITED &&
	    db_get_ll(r, 0, "ncontacts", 0) >= plan->max_contacts) {
		out->state = CONFIRM_LIMIT;
		db_rollback(env->db);
		return FS_OK;
	}
	/* Signing up again is the person's own act: an earlier opt-out of the
	 * address ends here (schema 0013). */
	if (!db_query(env->db, env->arena,
		      "DELETE FROM opt_outs WHERE user_id = flowsend_current_user()"
		      " AND email_hash = flowsend_email_hash($1)",
		      1, &email))
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "recording the sign-up failed"));
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");

	if (!contact_id) {
		struct contact_input in = { 0 };
		const char *json;
		struct fs_error cerr;

		in.set_email = 1;
		in.email = email;
		in.set_first_name = first != NULL;
		in.first_name = first;
		in.set_last_name = last != NULL;
		in.last_name = last;
		in.set_is_subscribed = 1;
		in.is_subscribed = 1;
		st = contact_create(env, &in, &json, &cerr);
		if (st == FS_OK) {
			contact_id = created_id(env, json);
			subscribed = 1;
			if (!contact_id)
				return fs_fail(err, FS_ERROR, "reading the new contact failed");
		} else if (st == FS_BAD_REQUEST && strstr(cerr.detail, "already exists")) {
			contact_id = existing_id(env, email); /* made meanwhile: subscribe it */
			if (!contact_id)
				return fs_fail(err, FS_ERROR, "reading the contact failed");
			subscribed = 0;
		} else if (st == FS_BAD_REQUEST && strstr(cerr.detail, "limit")) {
			out->state = CONFIRM_LIMIT; /* the limit was reached meanwhile */
			return FS_OK;
		} else {
			*err = cerr;
			return st;
		}
	}
	if (!subscribed) {
		struct contact_input in = { 0 };
		const char *json;

		in.set_is_subscribed = 1;
		in.is_subscribed = 1;
		if ((st = contact_update(env, contact_id, &in, &json, err)) != FS_OK)
			return st;
	}
	{
		const char *fp[3] = { id, contact_id, subscribed ? "false" : "true" };
		r = db_tenant_query(env->db, env->arena, env->user_id, finish_sql, 3, fp);
		if (!r)
			return fs_fail(err, FS_ERROR, "confirming the sign-up failed");
	}
	out->state = CONFIRM_DONE;
	return FS_OK;
}

/* The sign-up a confirmation token names and its tenant (env->user_id), or
 * FS_NOT_FOUND: forged or altered (no database read), unknown, or expired. */
static enum fs_status resolve_token(struct fs_env *env, const char *token, char *id,
				    struct fs_error *err)
{
	char hash[SHA256_HEX_LEN + 1];
	const char *p[2] = { id, hash };
	PGresult *r;

	if (strlen(token) != LINK_TOKEN_LEN ||
	    link_token_check(env->cfg, "f", token, id, 37) != LINK_KEY_LINK)
		return fs_fail(err, FS_NOT_FOUND, "Confirmation link not found");
	sha256_hex(token, strlen(token), hash);
	r = db_query(env->sysdb, env->arena,
		     "SELECT user_id, status = 'pending' AND expires_at < flowsend_now() AS expired"
		     " FROM form_submissions WHERE id = $1 AND confirm_token_hash = $2",
		     2, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "looking up the confirmation link failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Confirmation link not found");
	if (db_get_bool(r, 0, "expired"))
		return fs_fail(err, FS_NOT_FOUND, "This confirmation link has expired");
	env->user_id = db_get(r, 0, "user_id");
	return FS_OK;
}

enum fs_status form_confirm_show(struct fs_env *env, const char *token, struct confirm_result *out,
				 struct fs_error *err)
{
	char id[37];
	const char *p[1] = { id };
	enum fs_status st;
	PGresult *r;

	memset(out, 0, sizeof(*out));
	if ((st = resolve_token(env, token, id, err)) != FS_OK)
		return st;
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT s.status, s.email, (SELECT from_name FROM users) AS from_name"
			    " FROM form_submissions s WHERE s.id = $1",
			    1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the sign-up failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Confirmation link not found");
	out->sender = sender_name(env, db_get(r, 0, "from_name"));
	out->email = db_get(r, 0, "email");
	out->state = strcmp(db_get(r, 0, "status"), "confirmed") == 0 ? CONFIRM_DONE : CONFIRM_ASK;
	return FS_OK;
}

enum fs_status form_confirm(struct fs_env *env, const char *token, struct confirm_result *out,
			    struct fs_error *err)
{
	char id[37];
	enum fs_status st;

	memset(out, 0, sizeof(*out));
	if ((st = resolve_token(env, token, id, err)) != FS_OK)
		return st;
	return confirm_submission(env, id, out, err);
}

/* ---- the public sign-up ---- */

enum fs_status form_signup(struct fs_env *env, const char *form_id, const struct signup_input *in,
			   struct signup_result *out, struct fs_error *err)
{
	const char *p[1] = { form_id };
	const char *email = lower_copy(env->arena, in->email);
	char id[UUID_STR_LEN + 1], token[LINK_TOKEN_LEN + 1], hash[SHA256_HEX_LEN + 1];
	char addr_hash[SHA256_HEX_LEN + 1], addr_key[120];
	int double_opt_in, mail = 0;
	const char *list_id, *consent, *sender;
	enum fs_status st;
	PGresult *r;

	memset(out, 0, sizeof(*out));
	if (!email)
		return fs_fail(err, FS_ERROR, "out of memory");
	if (rate_exceeded(env, "f", form_id, 60, FORM_POSTS_PER_MINUTE))
		return fs_fail(err, FS_RATE_LIMITED,
			       "Too many sign-ups on this form right now; try again in a minute");
	r = db_query(env->sysdb, env->arena,
		     "SELECT user_id, list_id, double_opt_in, redirect_url, consent_text"
		     " FROM forms WHERE id = $1",
		     1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "looking up the form failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Form not found");
	env->user_id = db_get(r, 0, "user_id");
	list_id = db_get(r, 0, "list_id");
	double_opt_in = db_get_bool(r, 0, "double_opt_in");
	out->redirect_url = db_get(r, 0, "redirect_url");
	consent = db_get(r, 0, "consent_text");
	if (!consent)
		consent = FORM_DEFAULT_CONSENT;
	if (in->honeypot) {
		log_info("form %s: honeypot filled, sign-up dropped", form_id);
		return FS_OK;
	}
	sha256_hex(email, strlen(email), addr_hash);
	snprintf(addr_key, sizeof(addr_key), "%s:%s", env->user_id, addr_hash);
	if (rate_exceeded(env, "a", addr_key, 3600, FORM_ADDRESS_POSTS_PER_HOUR))
		return fs_fail(err, FS_RATE_LIMITED,
			       "Too many sign-ups for this address; try again later");

	if (uuid_generate(id) < 0)
		return fs_fail(err, FS_ERROR, "generating an id failed");
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	{
		/* One sign-up per address at a time, so the mail check holds under
		 * concurrent posts; suppressed addresses are neither kept nor mailed. */
		const char *cp[2] = { email, NULL };
		cp[1] = arena_sprintf(env->arena, "%d", FORM_MAIL_MINUTES);
		r = db_query(env->db, env->arena,
			     "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended("
			     "  'form:' || flowsend_current_user() || ':' || $1, 0))) l",
			     1, cp);
		if (r)
			r = db_query(env->db, env->arena,
				     "SELECT EXISTS (SELECT 1 FROM suppressions x"
				     "  WHERE x.email_hash = flowsend_email_hash($1)) AS suppressed,"
				     " EXISTS (SELECT 1 FROM form_submissions s WHERE lower(s.email) = $1"
				     "  AND s.mailed AND s.created_at > flowsend_now()"
				     "   - make_interval(mins => $2::int)) AS recent,"
				     " (SELECT from_name FROM users) AS from_name",
				     2, cp);
		if (!r)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "recording the sign-up failed"));
		if (db_get_bool(r, 0, "suppressed")) {
			db_rollback(env->db);
			log_info("form %s: suppressed address, sign-up dropped", form_id);
			return FS_OK;
		}
		mail = double_opt_in && !db_get_bool(r, 0, "recent");
		sender = sender_name(env, db_get(r, 0, "from_name"));
	}
	if (mail) {
		if (link_token_mint(env->cfg, "f", id, token, sizeof(token)) < 0)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "signing the link failed"));
		sha256_hex(token, strlen(token), hash);
	}
	{
		const char *ip = in->ip && *in->ip ? in->ip : NULL;
		const char *sp[12];

		/* An address nginx passed that is not one (a unix socket) is not recorded. */
		if (ip && !ip_address_valid(ip))
			ip = NULL;
		sp[0] = id;
		sp[1] = form_id;
		sp[2] = list_id;
		sp[3] = email;
		sp[4] = in->first_name;
		sp[5] = in->last_name;
		sp[6] = mail ? hash : NULL;
		sp[7] = arena_sprintf(env->arena, "%d", FORM_CONFIRM_DAYS);
		sp[8] = ip;
		sp[9] = in->user_agent;
		sp[10] = consent;
		sp[11] = mail ? "t" : "f";
		r = db_query(env->db, env->arena,
			     "INSERT INTO form_submissions (id, user_id, form_id, list_id, email, first_name,"
			     " last_name, status, confirm_token_hash, expires_at, consent_at, consent_ip,"
			     " consent_user_agent, consent_text, mailed, created_at)"
			     " VALUES ($1, flowsend_current_user(), $2, $3, $4, $5, $6, 'pending', $7,"
			     "  flowsend_now() + make_interval(days => $8::int), flowsend_now(),"
			     "  $9::inet, $10, $11, $12::boolean, flowsend_now())",
			     12, sp);
		if (!r)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "recording the sign-up failed"));
	}
	if (mail && queue_confirmation(env, email, sender, token) < 0)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "queueing the confirmation failed"));
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	if (mail)
		batch_wake(env->redis);
	if (!double_opt_in) {
		struct confirm_result cr;

		memset(&cr, 0, sizeof(cr));
		if ((st = confirm_submission(env, id, &cr, err)) != FS_OK)
			return st;
		out->subscribed = cr.state == CONFIRM_DONE;
	}
	return FS_OK;
}
