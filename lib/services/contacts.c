/* Contacts. A single contact's JSON is PostgreSQL's (flowsend_contact_json,
 * schema 0003) where a read returns it whole; pages and creates build it in
 * C from the columns (models/contact.c), the same fields. */
#include "services/contacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "models/contact.h"
#include "models/plan.h"
#include "queue/shm_batch.h"

char *contacts_like_pattern(struct arena *a, const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = arena_alloc(a, 2 * n + 3);

	if (!out)
		return NULL;
	out[o++] = '%';
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' || c == '_' || c == '\\')
			out[o++] = '\\';
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[o++] = '%';
	out[o] = '\0';
	return out;
}

static const char *lower_copy(struct arena *a, const char *s)
{
	char *d = arena_strdup(a, s);
	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return d;
}

/* Begin the tenant transaction or fail with a logged 500. */
static enum fs_status begin(struct fs_env *env, struct fs_error *err)
{
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	return FS_OK;
}

static enum fs_status commit(struct fs_env *env, struct fs_error *err)
{
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	return FS_OK;
}

static enum fs_status duplicate_or_error(struct fs_env *env, const char *email,
					 struct fs_error *err, const char *what)
{
	if (strcmp(db_last_sqlstate(env->db), "23505") == 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						  "Contact with email %s already exists", email));
	return fs_rollback_with(env, fs_fail(err, FS_ERROR, "%s failed", what));
}

long contacts_room_left(struct fs_env *env, long adding)
{
	const struct plan *plan = plan_find_or_default(env->auth.plan);
	char limit[24], want[24];
	const char *p[2] = { limit, want };
	PGresult *r;

	if (plan->max_contacts == PLAN_UNLIMITED)
		return -1;
	snprintf(limit, sizeof(limit), "%ld", plan->max_contacts);
	snprintf(want, sizeof(want), "%ld", adding);
	/* The lock is taken inside the function, and the count read by a
	 * statement after it: a statement's snapshot predates its own lock wait,
	 * so reading the count in the statement that waited could miss the
	 * commit it waited for. */
	r = db_query_cached(env->db, env->arena,
			    "SELECT flowsend_contacts_room($1::bigint, $2::bigint) AS n", 2, p);
	if (!r)
		return -2;
	return (long)db_get_ll(r, 0, "n", 0);
}

/* One round trip: the tenant and the insert go down one pipeline, in the
 * implicit transaction its Sync commits. On a capped plan the insert itself
 * asks flowsend_contacts_room (schema 0018) first, which takes the tenant's
 * slot lock(s) and reads the count after it holds them; no room means no row
 * and a 400. What PostgreSQL would otherwise do per create in expressions is
 * done here: the id (a UUIDv7, as flowsend_uuid7() makes them), the tenant
 * (the row policy still checks it), the tags as a text[] literal, the time
 * read once for the four columns that take it, and the JSON from the
 * columns. Measured with callgrind on a single-user backend running 1,000
 * prepared creates: 991.5 M instructions with the JSON, the tags unpacked
 * and the defaults in PostgreSQL, 935.2 M with the JSON and tags here, 768.7 M
 * with the rest (after schemas 0103 and 0108). */
static const char create_sql[] =
	"INSERT INTO contacts AS c (id, user_id, email, first_name, last_name, tags,"
	" custom_fields, is_subscribed, subscribed_at, unsubscribed_at, created_at, updated_at)"
	" SELECT $8::uuid, $9::uuid, $1, $2, $3, $4::text[], $5::jsonb, s.ok,"
	"  CASE WHEN s.ok THEN s.t END, CASE WHEN NOT s.ok THEN s.t END, s.t, s.t"
	" FROM (SELECT $6::boolean AND NOT EXISTS (SELECT 1 FROM opt_outs o"
	"  WHERE o.user_id = $9::uuid AND o.email_hash = flowsend_email_hash($1)) AS ok,"
	"  flowsend_now() AS t OFFSET 0) s"
	" WHERE $7::bigint IS NULL OR flowsend_contacts_room($7::bigint, 1) > 0"
	" RETURNING " CONTACT_COLUMNS;

/* Alone: one create in one round trip (create_sql above). */
static enum fs_status create_alone(struct fs_env *env, const struct contact_input *in,
				   const char *email, const char *id, const char **json,
				   struct fs_error *err)
{
	const struct plan *plan = plan_find_or_default(env->auth.plan);
	struct strbuf buf = STRBUF_INIT;
	char limit[24];
	/* An address that unsubscribed before (as a contact since deleted, say)
	 * is created unsubscribed: only its owner can sign up again (schema 0013). */
	const char *params[9] = {
		email,
		in->set_first_name ? in->first_name : NULL,
		in->set_last_name ? in->last_name : NULL,
		"{}",
		in->set_custom_fields ? in->custom_fields_json : "{}",
		(!in->set_is_subscribed || in->is_subscribed) ? "t" : "f",
		NULL,
		id,
		env->user_id,
	};
	struct db_stmt q[1] = {{create_sql, 9, params, 1, NULL}};

	if (in->set_tags) {
		if (json_string_array_to_pg(&buf, in->tags_json) < 0) {
			strbuf_free(&buf);
			return fs_fail(err, FS_BAD_REQUEST, "Tags must be a list of strings");
		}
		params[3] = arena_strdup(env->arena, strbuf_cstr(&buf));
		strbuf_reset(&buf);
	}
	if (plan->max_contacts != PLAN_UNLIMITED) {
		snprintf(limit, sizeof(limit), "%ld", plan->max_contacts);
		params[6] = limit;
	}
	if (db_tenant_pipeline(env->db, env->arena, env->user_id, q, 1) < 0) {
		strbuf_free(&buf);
		if (strcmp(db_last_sqlstate(env->db), "23505") == 0)
			return fs_fail(err, FS_BAD_REQUEST, "Contact with email %s already exists",
				       email);
		return fs_fail(err, FS_ERROR, "creating the contact failed");
	}
	/* Signup flows enrolled the new contact in this same transaction
	 * (the contacts_created trigger, schema 0085). */
	if (PQntuples(q[0].result) == 0) {
		strbuf_free(&buf);
		return fs_fail(err, FS_BAD_REQUEST, "Contact limit reached for your plan");
	}
	contact_json_append(&buf, q[0].result, 0);
	*json = arena_strdup(env->arena, strbuf_cstr(&buf));
	strbuf_free(&buf);
	return *json ? FS_OK : fs_fail(err, FS_ERROR, "out of memory");
}

/* Creates together: a tenant's concurrent creates (one responder's workers)
 * go down as one statement and one commit, led by one of the workers
 * (queue/shm_batch). Per create, PostgreSQL then runs a share of one
 * statement's start-up, one trigger call and one commit instead of its own;
 * see README, "Session 15". cgi/contacts.c makes the shared queue before its
 * workers fork; without it (the batch binary, the forms responder, tests)
 * every create goes alone, as does one inside a transaction of its caller's. */
static struct shm_batch *create_batch;

void contacts_use_create_batch(struct shm_batch *b)
{
	create_batch = b;
}

/* A request as the leader reads it: one element of the JSON array the batch
 * statement unpacks, its id first (at a fixed offset, to match the rows). */
#define BATCH_ID_AT 7 /* strlen("{\"id\":\"") */

enum batch_answer {
	BATCH_CREATED = 1, /* the answer is the contact's JSON */
	BATCH_DUPLICATE,   /* the tenant has a contact with that address */
	BATCH_READ,	   /* created; its JSON did not fit: read it back */
	BATCH_AGAIN,	   /* not done: the batch failed; create it alone */
	BATCH_UNKNOWN,	   /* the commit's answer was lost: look it up by id */
};

/* Many creates in one statement: the same columns as create_sql, the
 * opt-out check per row. ON CONFLICT DO NOTHING: a row whose address the
 * tenant has (or an earlier row of the batch has) is skipped, and its
 * request answered 400; the others still go in. Rows go in by address, so
 * two batches of a tenant that share addresses wait for each other in the
 * same order, never in a deadlock (which would send both batches' creates
 * again alone, a second later). The contacts_created
 * trigger's many-rows path counts, indexes, enrolls and emits for them. */
static const char batch_sql[] =
	"INSERT INTO contacts AS c (id, user_id, email, first_name, last_name, tags,"
	" custom_fields, is_subscribed, subscribed_at, unsubscribed_at, created_at, updated_at)"
	" SELECT r.id, $2::uuid, r.email, r.first_name, r.last_name, r.tags, r.custom_fields, s.ok,"
	"  CASE WHEN s.ok THEN n.t END, CASE WHEN NOT s.ok THEN n.t END, n.t, n.t"
	" FROM (SELECT flowsend_now() AS t OFFSET 0) n,"
	"  jsonb_to_recordset($1::jsonb) AS r(id uuid, email text, first_name text, last_name text,"
	"   tags text[], custom_fields jsonb, subscribe boolean),"
	"  LATERAL (SELECT r.subscribe AND NOT EXISTS (SELECT 1 FROM opt_outs o"
	"   WHERE o.user_id = $2::uuid AND o.email_hash = flowsend_email_hash(r.email)) AS ok) s"
	" ORDER BY lower(r.email)"
	" ON CONFLICT (user_id, lower(email)) DO NOTHING"
	" RETURNING " CONTACT_COLUMNS;

static void set_answer(struct shm_batch_item *it, int status)
{
	it->status = status;
	it->res_len = 0;
}

/* The leader's part: run the batch (in this worker's session) and answer each. */
static void create_batch_run(void *arg, const char *tenant, struct shm_batch_item *items, size_t n)
{
	struct fs_env *env = arg;
	struct strbuf rows = STRBUF_INIT, one = STRBUF_INIT;
	const char *params[2];
	PGresult *r;

	strbuf_append(&rows, "[", 1);
	for (size_t k = 0; k < n; k++) {
		if (k)
			strbuf_append(&rows, ",", 1);
		strbuf_append(&rows, items[k].req, items[k].req_len);
		set_answer(&items[k], BATCH_DUPLICATE);
	}
	strbuf_append(&rows, "]", 1);
	params[0] = strbuf_cstr(&rows);
	params[1] = tenant;
	r = db_tenant_query_cached(env->db, env->arena, tenant, batch_sql, 2, params);
	if (!r) {
		int st = db_lost(env->db) == DB_LOSS_UNKNOWN ? BATCH_UNKNOWN : BATCH_AGAIN;
		log_warn("contacts: a batch of %zu creates failed (%s); %s", n,
			 db_last_sqlstate(env->db),
			 st == BATCH_AGAIN ? "each goes again alone" : "each is looked up");
		for (size_t k = 0; k < n; k++)
			set_answer(&items[k], st);
		strbuf_free(&rows);
		return;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		const char *id = PQgetvalue(r, row, 0);

		for (size_t k = 0; k < n; k++) {
			const char *req = items[k].req;

			if (items[k].req_len < BATCH_ID_AT + UUID_STR_LEN ||
			    memcmp(req + BATCH_ID_AT, id, UUID_STR_LEN) != 0)
				continue;
			strbuf_reset(&one);
			contact_json_append(&one, r, row);
			if (one.len <= items[k].res_max) {
				memcpy(items[k].res, strbuf_cstr(&one), one.len);
				items[k].res_len = one.len;
				items[k].status = BATCH_CREATED;
			} else {
				set_answer(&items[k], BATCH_READ);
			}
			break;
		}
	}
	strbuf_free(&one);
	strbuf_free(&rows);
}

/* The request as one element of the batch's JSON array; -1 when it does
 * not fit a slot (it goes alone). */
static int batch_request(struct strbuf *out, const struct contact_input *in, const char *email,
			 const char *id)
{
	strbuf_appendf(out, "{\"id\":\"%s\",\"email\":", id);
	fs_json_append_string(out, email);
	strbuf_append(out, ",\"first_name\":", 14);
	if (in->set_first_name && in->first_name)
		fs_json_append_string(out, in->first_name);
	else
		strbuf_append(out, "null", 4);
	strbuf_append(out, ",\"last_name\":", 13);
	if (in->set_last_name && in->last_name)
		fs_json_append_string(out, in->last_name);
	else
		strbuf_append(out, "null", 4);
	strbuf_append(out, ",\"tags\":", 8);
	strbuf_appends(out, in->set_tags ? in->tags_json : "[]");
	strbuf_append(out, ",\"custom_fields\":", 17);
	strbuf_appends(out, in->set_custom_fields ? in->custom_fields_json : "{}");
	strbuf_appendf(out, ",\"subscribe\":%s}",
		       (!in->set_is_subscribed || in->is_subscribed) ? "true" : "false");
	return !out->oom && out->len <= CREATE_BATCH_REQ_MAX ? 0 : -1;
}

/* 1 when answered (*st), 0 when the create is to go alone. */
static int create_batched(struct fs_env *env, const struct contact_input *in, const char *email,
			  const char *id, const char **json, struct fs_error *err,
			  enum fs_status *st)
{
	struct strbuf req = STRBUF_INIT;
	char *res = arena_alloc(env->arena, CREATE_BATCH_RES_MAX + 1);
	size_t res_len;
	int status;
	enum shm_batch_outcome out;

	if (!res || batch_request(&req, in, email, id) < 0) {
		strbuf_free(&req);
		return 0;
	}
	out = shm_batch_run(create_batch, env->user_id, strbuf_cstr(&req), req.len, res,
			    CREATE_BATCH_RES_MAX, &res_len, &status, create_batch_run, env);
	strbuf_free(&req);
	if (out == SHM_BATCH_ALONE || (out == SHM_BATCH_DONE && status == BATCH_AGAIN))
		return 0;
	if (out == SHM_BATCH_DONE && status == BATCH_CREATED) {
		res[res_len] = '\0';
		*json = res;
		*st = FS_OK;
		return 1;
	}
	if (out == SHM_BATCH_DONE && status == BATCH_DUPLICATE) {
		*st = fs_fail(err, FS_BAD_REQUEST, "Contact with email %s already exists", email);
		return 1;
	}
	/* Created but too big to hand over, or its leader (or the leader's
	 * session) was lost: the id says whether it is there. Not there, it goes
	 * alone with the same id, so a commit still in flight can never make it
	 * twice. That commit may still land first (a killed worker's backend
	 * ends its statement and commit before it finds the client gone): the
	 * lone insert then fails on the address or the id, and the row with this
	 * id is the request's own. */
	*st = contact_get(env, id, json, err);
	if (*st == FS_NOT_FOUND) {
		struct fs_error again;
		const char *found;

		*st = create_alone(env, in, email, id, json, err);
		if (*st == FS_BAD_REQUEST && contact_get(env, id, &found, &again) == FS_OK) {
			*json = found;
			*st = FS_OK;
		}
	}
	return 1;
}

enum fs_status contact_create(struct fs_env *env, const struct contact_input *in, const char **json,
			      struct fs_error *err)
{
	const struct plan *plan = plan_find_or_default(env->auth.plan);
	const char *email = lower_copy(env->arena, in->email);
	char id[UUID_STR_LEN + 1];
	enum fs_status st;

	if (uuid_generate_v7(id) < 0)
		return fs_fail(err, FS_ERROR, "no randomness for the contact's id");
	/* Batched: unlimited plans only (a capped plan's room is checked per
	 * create), and not inside a transaction of the caller's. */
	if (create_batch && plan->max_contacts == PLAN_UNLIMITED && !env->db->in_tx &&
	    create_batched(env, in, email, id, json, err, &st))
		return st;
	return create_alone(env, in, email, id, json, err);
}

enum fs_status contact_get(struct fs_env *env, const char *id, const char **json,
			   struct fs_error *err)
{
	const char *params[1] = { id };
	PGresult *r;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	r = db_tenant_read_cached(env->db, env->arena, env->user_id,
				  "SELECT flowsend_contact_json(c) AS j FROM contacts c WHERE c.id = $1",
				  1, params);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the contact failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	*json = db_get(r, 0, "j");
	return FS_OK;
}

enum fs_status contact_update(struct fs_env *env, const char *id, const struct contact_input *in,
			      const char **json, struct fs_error *err)
{
	const char *email = in->set_email ? lower_copy(env->arena, in->email) : NULL;
	const char *params[10] = {
		id,
		in->set_email ? "t" : "f", email,
		in->set_first_name ? "t" : "f", in->first_name,
		in->set_last_name ? "t" : "f", in->last_name,
		in->set_tags ? in->tags_json : NULL,
		in->set_custom_fields ? in->custom_fields_json : NULL,
		in->set_is_subscribed ? (in->is_subscribed ? "t" : "f") : NULL,
	};
	PGresult *r;
	enum fs_status st;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (in->set_is_subscribed && in->is_subscribed) {
		/* Subscribing again is the person's own act, never the merchant's. */
		const char *op[3] = { id, email, in->set_email ? "t" : "f" };
		r = db_query(env->db, env->arena,
			     "SELECT EXISTS (SELECT 1 FROM opt_outs o WHERE o.user_id = flowsend_current_user()"
			     "  AND o.email_hash = flowsend_email_hash(CASE WHEN $3::boolean THEN $2"
			     "   ELSE c.email END))"
			     " AND (NOT c.is_subscribed OR ($3::boolean AND lower(c.email) <> $2)) AS refused"
			     " FROM contacts c WHERE c.id = $1",
			     3, op);
		if (!r)
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the contact failed"));
		if (PQntuples(r) == 1 && db_get_bool(r, 0, "refused"))
			return fs_rollback_with(
				env, fs_fail(err, FS_BAD_REQUEST,
					     "This address unsubscribed; only its owner can subscribe"
					     " again, through a signup form"));
	}
	/* The old subscription state comes from the row before the update, so an
	 * unsubscribe is recorded once, when it actually happens. An address
	 * changed to one that opted out stops being mailed too. */
	r = db_query(env->db, env->arena,
		     "WITH old AS (SELECT id, is_subscribed, $2::boolean AND EXISTS (SELECT 1"
		     "  FROM opt_outs o WHERE o.user_id = flowsend_current_user()"
		     "  AND o.email_hash = flowsend_email_hash($3)) AS opted_out"
		     "  FROM contacts WHERE id = $1 FOR UPDATE)"
		     " UPDATE contacts AS c SET"
		     " email = CASE WHEN $2::boolean THEN $3 ELSE c.email END,"
		     " first_name = CASE WHEN $4::boolean THEN $5 ELSE c.first_name END,"
		     " last_name = CASE WHEN $6::boolean THEN $7 ELSE c.last_name END,"
		     " tags = CASE WHEN $8::jsonb IS NULL THEN c.tags"
		     "   ELSE ARRAY(SELECT jsonb_array_elements_text($8::jsonb)) END,"
		     " custom_fields = COALESCE($9::jsonb, c.custom_fields),"
		     " is_subscribed = COALESCE($10::boolean, c.is_subscribed) AND NOT old.opted_out,"
		     " subscribed_at = CASE WHEN $10::boolean AND NOT old.is_subscribed"
		     "   AND NOT old.opted_out THEN flowsend_now() ELSE c.subscribed_at END,"
		     " unsubscribed_at = CASE WHEN old.opted_out AND old.is_subscribed THEN flowsend_now()"
		     "   WHEN old.opted_out THEN c.unsubscribed_at"
		     "   WHEN $10::boolean THEN NULL"
		     "   WHEN NOT $10::boolean AND old.is_subscribed THEN flowsend_now()"
		     "   ELSE c.unsubscribed_at END,"
		     " updated_at = flowsend_now()"
		     " FROM old WHERE c.id = old.id"
		     " RETURNING c.id, c.email, old.is_subscribed AS was_subscribed, c.is_subscribed,"
		     " flowsend_contact_json(c) AS j",
		     10, params);
	if (!r)
		return duplicate_or_error(env, email ? email : "", err, "updating the contact");
	if (PQntuples(r) == 0)
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Contact not found"));
	if (db_get_bool(r, 0, "was_subscribed") && !db_get_bool(r, 0, "is_subscribed")) {
		const char *u[2] = { id, db_get(r, 0, "email") };
		if (!db_query(env->db, env->arena,
			      "INSERT INTO unsubscribes (user_id, contact_id, email_hash, source)"
			      " VALUES (flowsend_current_user(), $1, flowsend_email_hash($2), 'api')",
			      2, u))
			return fs_rollback_with(env, fs_fail(err, FS_ERROR, "recording the unsubscribe failed"));
	}
	if ((st = commit(env, err)) != FS_OK)
		return st;
	*json = db_get(r, 0, "j");
	return FS_OK;
}

enum fs_status contact_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *params[1] = { id };
	PGresult *r;
	enum fs_status st;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	r = db_query(env->db, env->arena, "DELETE FROM contacts WHERE id = $1 RETURNING id", 1,
		     params);
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "deleting the contact failed"));
	if (PQntuples(r) == 0)
		return fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Contact not found"));
	return commit(env, err);
}

/* Every table that can hold a copy of a contact's data, and what erasure does
 * to it (README, "Personal data"): contacts (and contact_search, list
 * memberships, flow executions and their queued mail, by cascade) deleted;
 * outbox rows to the address that are not a contact's (test sends) deleted;
 * form_submissions by address or contact deleted; email_events stripped of
 * metadata and url (the figures stay); unsubscribes and opt_outs deleted;
 * a dynamic list's rule values that name the address become "[erased]";
 * suppressions keep the hash only, so the address is never mailed again. */
/* A rule value (or an element of a list value) holding the address, in any
 * case, becomes "[erased]": it matched only the person, who is gone. */
#define RULE_NAMES_ADDRESS(v) "position(lower($1) IN lower(" v ")) > 0"
static const char erase_from_rules_sql[] =
	"UPDATE contact_lists l SET updated_at = flowsend_now(), rules = jsonb_set(l.rules,"
	" '{conditions}', (SELECT jsonb_agg(CASE"
	"   WHEN jsonb_typeof(c->'value') = 'array' THEN jsonb_set(c, '{value}', COALESCE((SELECT"
	"    jsonb_agg(CASE WHEN " RULE_NAMES_ADDRESS("e #>> '{}'") " THEN '\"[erased]\"'::jsonb"
	"    ELSE e END ORDER BY i) FROM jsonb_array_elements(c->'value') WITH ORDINALITY AS y(e, i)),"
	"    '[]'::jsonb))"
	"   WHEN " RULE_NAMES_ADDRESS("c->>'value'") " THEN jsonb_set(c, '{value}', '\"[erased]\"')"
	"   ELSE c END ORDER BY n)"
	"  FROM jsonb_array_elements(l.rules->'conditions') WITH ORDINALITY AS x(c, n)))"
	" WHERE l.rules IS NOT NULL AND jsonb_typeof(l.rules->'conditions') = 'array'"
	" AND " RULE_NAMES_ADDRESS("l.rules::text");

enum fs_status contact_erase(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *params[1] = { id };
	const char *both[2] = { id, NULL };
	PGresult *r;
	enum fs_status st;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	r = fs_query_row(env, "SELECT email FROM contacts WHERE id = $1 FOR UPDATE", 1, params,
			 "reading the contact", "Contact not found", &st, err);
	if (!r)
		return st;
	both[1] = arena_strdup(env->arena, db_get(r, 0, "email"));
	/* Events outlive the contact for the account's totals, but nothing in
	 * them may point back at the person; test sends have none. */
	if (!db_query(env->db, env->arena,
		      "INSERT INTO suppressions (user_id, email_hash, email, reason)"
		      " VALUES (flowsend_current_user(), flowsend_email_hash($1), NULL, 'erasure')"
		      " ON CONFLICT (user_id, email_hash) DO UPDATE SET email = NULL, reason = 'erasure'",
		      1, both + 1) ||
	    !db_query(env->db, env->arena,
		      "UPDATE email_events SET metadata = '{}', url = NULL WHERE contact_id = $1", 1,
		      params) ||
	    !db_query(env->db, env->arena,
		      "DELETE FROM outbox WHERE user_id = flowsend_current_user() AND contact_id IS NULL"
		      " AND lower(to_email) = lower($1) AND NOT (payload IS NOT NULL AND payload ? 'account_mail')",
		      1, both + 1) ||
	    !db_query(env->db, env->arena,
		      "DELETE FROM form_submissions WHERE user_id = flowsend_current_user()"
		      " AND (lower(email) = lower($2) OR contact_id = $1)",
		      2, both) ||
	    !db_query(env->db, env->arena,
		      "DELETE FROM unsubscribes WHERE user_id = flowsend_current_user()"
		      " AND (email_hash = flowsend_email_hash($2) OR contact_id = $1)",
		      2, both) ||
	    !db_query(env->db, env->arena,
		      "DELETE FROM opt_outs WHERE user_id = flowsend_current_user()"
		      " AND email_hash = flowsend_email_hash($1)",
		      1, both + 1) ||
	    !db_query(env->db, env->arena, erase_from_rules_sql, 1, both + 1) ||
	    !db_query(env->db, env->arena, "DELETE FROM contacts WHERE id = $1", 1, params))
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "erasing the contact failed"));
	return commit(env, err);
}

enum fs_status contact_export(struct fs_env *env, const char *id, const char **json,
			      struct fs_error *err)
{
	const char *params[1] = { id };
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
		     "SELECT json_build_object("
		     " 'contact', flowsend_contact_json(c),"
		     " 'lists', COALESCE((SELECT json_agg(json_build_object('id', l.id, 'name', l.name,"
		     "   'added_at', flowsend_ts(m.added_at)) ORDER BY m.added_at)"
		     "   FROM contact_list_members m JOIN contact_lists l ON l.id = m.list_id"
		     "   WHERE m.contact_id = c.id), '[]'),"
		     " 'events', COALESCE((SELECT json_agg(json_build_object('id', e.id,"
		     "   'event_type', e.event_type, 'campaign_id', e.campaign_id, 'flow_id', e.flow_id,"
		     "   'metadata', e.metadata, 'url', e.url, 'created_at', flowsend_ts(e.created_at))"
		     "   ORDER BY e.created_at) FROM email_events e WHERE e.contact_id = c.id), '[]'),"
		     " 'unsubscribes', COALESCE((SELECT json_agg(json_build_object('source', u.source,"
		     "   'campaign_id', u.campaign_id, 'flow_id', u.flow_id,"
		     "   'created_at', flowsend_ts(u.created_at)) ORDER BY u.created_at)"
		     "   FROM unsubscribes u WHERE u.contact_id = c.id), '[]'),"
		     /* Issue 24: the consent record of every sign-up through a form. */
		     " 'consents', COALESCE((SELECT json_agg(json_build_object('id', s.id,"
		     "   'form_id', s.form_id, 'list_id', s.list_id, 'status', s.status,"
		     "   'consent_at', flowsend_ts(s.consent_at), 'ip', host(s.consent_ip),"
		     "   'user_agent', s.consent_user_agent, 'consent_text', s.consent_text,"
		     "   'confirmed_at', flowsend_ts(s.confirmed_at)) ORDER BY s.consent_at)"
		     "   FROM form_submissions s WHERE s.contact_id = c.id"
		     "    OR (s.contact_id IS NULL AND lower(s.email) = lower(c.email))), '[]'),"
		     " 'exported_at', flowsend_ts(flowsend_now()))"
		     " FROM contacts c WHERE c.id = $1",
		     1, params);
	if (!r)
		return fs_fail(err, FS_ERROR, "exporting the contact failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	*json = PQgetvalue(r, 0, 0);
	return FS_OK;
}

/* ?search= (schema/0017_tenant_search.sql): the tenant's contacts whose text
 * matches are found first, in the trigram index of contact_search, which leads
 * with the tenant, and in the ranges of freshly imported contacts and the
 * single creates the batch worker has not indexed yet (schemas 0011 and
 * 0103: contact_search_backlog, contact_count_deltas), read directly;
 * then each match is read from contacts by its key. So a search costs what the
 * tenant's matches cost, whatever the database holds. The LATERAL subqueries
 * with OFFSET 0 keep PostgreSQL to that order: the tenant is a parameter of
 * the row-level policy, so the planner guesses every tenant's size alike, and
 * left to itself it would read all of a 1,000,000-contact tenant's rows to
 * check them against a handful of matches (4 s for "user12345"). A contact
 * queued and also indexed (an edit indexes at once), in two ranges, or both
 * in an import's range and as a single create (made while the range was
 * queued, its id falls inside it) is taken once: the queued ones are one
 * UNION. */
#define CONTACT_MATCHES                                                                       \
	" (SELECT s.contact_id AS id FROM contact_search s WHERE s.doc LIKE lower($1)"         \
	"  UNION ALL (SELECT q.id FROM contact_search_backlog b CROSS JOIN LATERAL"             \
	"   (SELECT p.id FROM contacts p"                                                        \
	"     WHERE p.user_id = b.user_id AND p.id >= b.first_id AND p.id <= b.last_id"          \
	"      AND flowsend_contact_search_text(p.email, p.first_name, p.last_name)"             \
	"       LIKE lower($1)"                                                                  \
	"      AND NOT EXISTS (SELECT 1 FROM contact_search i"                                   \
	"                       WHERE i.contact_id = p.id AND i.user_id = p.user_id)"            \
	"     OFFSET 0) q"                                                                       \
	"  UNION SELECT p.id FROM contact_count_deltas d JOIN contacts p"                          \
	"   ON p.id = d.contact_id AND p.user_id = d.user_id"                                      \
	"   WHERE flowsend_contact_search_text(p.email, p.first_name, p.last_name)"                \
	"    LIKE lower($1)"                                                                       \
	"    AND NOT EXISTS (SELECT 1 FROM contact_search i"                                       \
	"                     WHERE i.contact_id = p.id AND i.user_id = p.user_id))) m"
/* The match's contact, when it passes the other filters. */
#define CONTACT_MATCHED(columns)                                                              \
	" CROSS JOIN LATERAL (SELECT " columns " FROM contacts c WHERE c.id = m.id"            \
	CONTACT_FILTER " OFFSET 0) c"
/* A search with no trigram to look up ("a", "jo", "a.b") would make PostgreSQL
 * read the whole index or table, every tenant's rows: it reads the tenant's
 * contacts instead. */
#define CONTACT_SCAN                                                                          \
	" flowsend_contact_search_text(c.email, c.first_name, c.last_name) LIKE lower($1)"
/* A page found by the index costs a read of every match, a million for
 * "example" in a tenant of addresses @*.example (3 s). So the tenant's newest
 * CONTACT_HEAD contacts are checked first: when they hold the page (most
 * contacts match, or the tenant has no more), it is theirs, as no older
 * contact can come before them; otherwise the matches are read. The newest
 * are taken from the listing index alone (contacts_user_created_idx), then
 * read by key: asked for whole rows, the planner, which guesses every tenant
 * small, may read all of a big tenant's rows to sort them (0.4 s). In the
 * other orders of ?sort= the head is the tenant's first contacts in that order,
 * from the index that holds it (contacts_user_email_key for the addresses:
 * 1,000 rows in 0.6 ms at a million contacts). */
#define CONTACT_HEAD "1000"
/* The orders, over the alias t: the tie on created_at is broken by id, the
 * way the index holds them (walked backwards for oldest first); an address is
 * unique in its tenant (lower(email)), so it needs none. */
#define BY_NEWEST(t) " " t ".created_at DESC, " t ".id"
#define BY_OLDEST(t) " " t ".created_at, " t ".id DESC"
#define BY_EMAIL(t) " lower(" t ".email)"
#define BY_EMAIL_DESC(t) " lower(" t ".email) DESC"
/* The tenant's first CONTACT_HEAD contacts in the order `by` that pass match
 * (and the filters), up to the page's end, and whether they hold the page:
 * when they do, no later contact can come before them. The statement goes on
 * with the rows of head when held, else its own way to the matches. */
#define CONTACT_HEAD_BY(match, by)                                                            \
	"WITH newest AS MATERIALIZED (SELECT n.id FROM contacts n"                              \
	"  ORDER BY" by("n") " LIMIT " CONTACT_HEAD "),"                                        \
	" head AS MATERIALIZED (SELECT " CONTACT_COLUMNS " FROM newest n"                       \
	"  CROSS JOIN LATERAL (SELECT " CONTACT_COLUMNS " FROM contacts c"                      \
	"   WHERE c.id = n.id AND" match CONTACT_FILTER " OFFSET 0) c"                           \
	"  ORDER BY" by("c") " LIMIT" CONTACT_PAGE_END "),"                                     \
	" held AS (SELECT (SELECT count(*) FROM head) =" CONTACT_PAGE_END                       \
	"  OR (SELECT count(*) FROM newest) < " CONTACT_HEAD " AS page) "                       \
	"SELECT * FROM (SELECT * FROM head WHERE (SELECT page FROM held)"
#define CONTACT_PAGE_END " $4::bigint + $5::bigint"
#define CONTACT_INDEXED_PAGE(by)                                                              \
	CONTACT_HEAD_BY(CONTACT_SCAN, by)                                                       \
	" UNION ALL (SELECT " CONTACT_COLUMNS " FROM" CONTACT_MATCHES                            \
	CONTACT_MATCHED(CONTACT_COLUMNS) " WHERE NOT (SELECT page FROM held)"                    \
	"  ORDER BY" by("c") " LIMIT" CONTACT_PAGE_END ")) c"                                   \
	" ORDER BY" by("c") " LIMIT $4::bigint OFFSET $5::bigint"
/* Filters without a search (?tag=, ?subscribed=) take the same two paths: the
 * tenant's first contacts in the order when they hold the page (a common tag,
 * most contacts subscribed), else the index that leads with the tenant (a rare
 * tag: schema/0020_tenant_tags.sql). Left to itself the planner, guessing the
 * tenant small, would read all of a big tenant's rows in order to find a page
 * of a common tag (1 s for a page of 50 at 1,000,000 contacts). */
#define CONTACT_FILTERED_PAGE(by)                                                             \
	CONTACT_HEAD_BY(CONTACT_NO_SEARCH, by)                                                  \
	" UNION ALL (SELECT " CONTACT_COLUMNS " FROM contacts c"                                \
	"  WHERE NOT (SELECT page FROM held) AND" CONTACT_NO_SEARCH CONTACT_FILTER               \
	"  ORDER BY" by("c") " LIMIT" CONTACT_PAGE_END ")) c"                                   \
	" ORDER BY" by("c") " LIMIT $4::bigint OFFSET $5::bigint"
#define CONTACT_SCANNED_PAGE(by)                                                              \
	"SELECT " CONTACT_COLUMNS " FROM contacts c WHERE" CONTACT_SCAN CONTACT_FILTER          \
	" ORDER BY" by("c") " LIMIT $4::bigint OFFSET $5::bigint"
#define CONTACT_PLAIN_PAGE(by)                                                                \
	"SELECT " CONTACT_COLUMNS " FROM contacts c"                                            \
	" ORDER BY" by("c") " LIMIT $1::bigint OFFSET $2::bigint"
#define CONTACT_NO_SEARCH " $1::text IS NULL"
#define CONTACT_FILTER                                                                        \
	" AND ($2::text IS NULL OR c.tags @> ARRAY[$2::text])"                                  \
	" AND ($3::boolean IS NULL OR c.is_subscribed = $3::boolean)"

/* A page whose rows' first column is already JSON text. */
static void json_rows_page(struct strbuf *out, const PGresult *rows, long long total,
			   const struct fs_page *page)
{
	strbuf_appends(out, "{\"items\":[");
	for (int i = 0; i < PQntuples(rows); i++) {
		if (i)
			strbuf_appendc(out, ',');
		strbuf_appends(out, PQgetvalue(rows, i, 0));
	}
	strbuf_appendf(out, "],\"total\":%lld,\"page\":%lld,\"page_size\":%lld}", total,
		       (long long)page->page, (long long)page->page_size);
}

void contacts_page_json(struct strbuf *out, const PGresult *rows, long long total,
			const struct fs_page *page)
{
	strbuf_appends(out, "{\"items\":[");
	for (int i = 0; i < PQntuples(rows); i++) {
		if (i)
			strbuf_appendc(out, ',');
		contact_json_append(out, rows, i);
	}
	strbuf_appendf(out, "],\"total\":%lld,\"page\":%lld,\"page_size\":%lld}", total,
		       (long long)page->page, (long long)page->page_size);
}

int contact_sort_parse(const char *s)
{
	static const char *const names[CONTACT_SORT_COUNT] = { "-created_at", "created_at", "email",
								"-email" };

	for (int i = 0; i < CONTACT_SORT_COUNT; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int contacts_search_indexable(const char *s)
{
	int run = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
			run++;
		else if (ch >= 0xc0)
			run++; /* a UTF-8 sequence starts: one character */
		else if (ch < 0x80)
			run = 0; /* continuation bytes (0x80-0xbf) stay in their character */
		if (run >= 3)
			return 1;
	}
	return 0;
}

enum fs_status contact_list(struct fs_env *env, const struct contact_filter *f,
			    const struct fs_page *page, struct strbuf *out, struct fs_error *err)
{
	/* Without a search, by an indexed search, by a search read from the
	 * tenant's contacts: the page and its total. */
	static const char *const page_sql[CONTACT_SORT_COUNT][3] = {
		{ CONTACT_FILTERED_PAGE(BY_NEWEST), CONTACT_INDEXED_PAGE(BY_NEWEST),
		  CONTACT_SCANNED_PAGE(BY_NEWEST) },
		{ CONTACT_FILTERED_PAGE(BY_OLDEST), CONTACT_INDEXED_PAGE(BY_OLDEST),
		  CONTACT_SCANNED_PAGE(BY_OLDEST) },
		{ CONTACT_FILTERED_PAGE(BY_EMAIL), CONTACT_INDEXED_PAGE(BY_EMAIL),
		  CONTACT_SCANNED_PAGE(BY_EMAIL) },
		{ CONTACT_FILTERED_PAGE(BY_EMAIL_DESC), CONTACT_INDEXED_PAGE(BY_EMAIL_DESC),
		  CONTACT_SCANNED_PAGE(BY_EMAIL_DESC) },
	};
	static const char *const plain_sql[CONTACT_SORT_COUNT] = {
		CONTACT_PLAIN_PAGE(BY_NEWEST), CONTACT_PLAIN_PAGE(BY_OLDEST),
		CONTACT_PLAIN_PAGE(BY_EMAIL), CONTACT_PLAIN_PAGE(BY_EMAIL_DESC),
	};
	static const char *const total_sql[3] = {
		"SELECT count(*) FROM contacts c WHERE" CONTACT_NO_SEARCH CONTACT_FILTER,
		"SELECT count(*) FROM" CONTACT_MATCHES CONTACT_MATCHED("1"),
		"SELECT count(*) FROM contacts c WHERE" CONTACT_SCAN CONTACT_FILTER,
	};
	char limit[24], offset[24];
	const char *params[5] = {
		f->search && *f->search ? contacts_like_pattern(env->arena, f->search) : NULL,
		f->tag,
		f->subscribed < 0 ? NULL : (f->subscribed ? "t" : "f"),
		limit, offset,
	};
	int filtered = params[0] || params[1] || params[2];
	/* By tag alone, the total is the maintained per-tag counter. */
	int tag_only = params[1] && !params[0] && !params[2];
	int how = !params[0] ? 0 : contacts_search_indexable(f->search) ? 1 : 2;
	int sort = f->sort >= 0 && f->sort < CONTACT_SORT_COUNT ? (int)f->sort : 0;
	PGresult *rows, *total;

	fs_page_limits(page, limit, offset);
	if (filtered) {
		/* The indexed search's statements are long: parsing and planning
		 * them cost more than running them for a small tenant (3.5 ms
		 * against 0.9), so each worker prepares them once. Their shape
		 * does not depend on the values, so the generic plan PostgreSQL
		 * settles on is the one it would pick for each search. The others
		 * are planned with their values: LIMIT 50 lets a search read from
		 * the tenant's contacts stop at the fiftieth match. */
		struct db_stmt q[2] = {
			{ page_sql[sort][how], 5, params, how == 1, NULL },
			{ total_sql[how], 3, params, how == 1, NULL },
		};
		if (tag_only) {
			q[1].sql = "SELECT COALESCE(sum(contacts), 0) FROM tag_counts_all WHERE tag = $1";
			q[1].nparams = 1;
			q[1].params = params + 1;
			q[1].cached = 1;
		}
		if (db_tenant_read(env->db, env->arena, env->user_id, q, 2) < 0)
			return fs_fail(err, FS_ERROR, "listing contacts failed");
		rows = q[0].result;
		total = q[1].result;
	} else {
		/* The common case: constant statements, prepared once per worker,
		 * sent in one round trip without BEGIN and COMMIT (db_tenant_read); the total is the
		 * maintained counter (its slots, schema 0018, and the single creates not
		 * folded yet, schema 0097), no
		 * count(*) over the tenant. */
		struct db_stmt q[2] = {
			{ plain_sql[sort], 2, params + 3, 1, NULL },
			{ "SELECT COALESCE(sum(contacts), 0) FROM tenant_counters_all", 0, NULL, 1, NULL },
		};
		if (db_tenant_read(env->db, env->arena, env->user_id, q, 2) < 0)
			return fs_fail(err, FS_ERROR, "listing contacts failed");
		rows = q[0].result;
		total = q[1].result;
	}
	contacts_page_json(out, rows, strtoll(PQgetvalue(total, 0, 0), NULL, 10), page);
	return FS_OK;
}

enum fs_status contact_count(struct fs_env *env, long long *count, struct fs_error *err)
{
	PGresult *r = db_tenant_read_cached(env->db, env->arena, env->user_id,
					    "SELECT COALESCE(sum(contacts), 0) FROM tenant_counters_all", 0, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "counting contacts failed");
	*count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	return FS_OK;
}

enum fs_status contact_events(struct fs_env *env, const char *id, const struct fs_page *page,
			      struct strbuf *out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *params[3] = { id, limit, offset };
	PGresult *exists, *rows, *total;
	enum fs_status st;

	fs_page_limits(page, limit, offset);
	if ((st = begin(env, err)) != FS_OK)
		return st;
	exists = db_query(env->db, env->arena, "SELECT 1 FROM contacts WHERE id = $1", 1, params);
	rows = db_query(env->db, env->arena,
			"SELECT json_build_object('id', e.id, 'campaign_id', e.campaign_id,"
			" 'flow_id', e.flow_id, 'contact_id', e.contact_id, 'event_type', e.event_type,"
			" 'metadata', e.metadata, 'created_at', flowsend_ts(e.created_at))"
			" FROM email_events e WHERE e.contact_id = $1"
			" ORDER BY e.created_at DESC, e.id DESC LIMIT $2::bigint OFFSET $3::bigint",
			3, params);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM email_events WHERE contact_id = $1", 1, params);
	if (!exists || !rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading contact events failed"));
	if ((st = commit(env, err)) != FS_OK)
		return st;
	if (PQntuples(exists) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	json_rows_page(out, rows, strtoll(PQgetvalue(total, 0, 0), NULL, 10), page);
	return FS_OK;
}
