/* The flow engine. One batch is one transaction: claim due executions, read
 * their versions' steps and the tenants' monthly usage, run every execution
 * in C until it waits, completes or stops, then write all the moves and the
 * outbox rows of their email steps in one statement and commit. A crash
 * before the commit leaves everything as it was (the rows go back to due);
 * after it, every email of the batch is queued exactly once and delivery's
 * own claims and hand-overs take it from there. */
#include "services/flow_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "json/json.h"
#include "models/flow_steps.h"
#include "models/plan.h"
#include "services/webhooks.h"

/* How long an execution waits on its webhook call before the engine looks
 * again by itself; the webhooks pass wakes it as soon as the call ends. */
#define WEBHOOK_WAIT_S 86400L

struct eng_version {
	const char *flow_id;
	int version;
	struct flow_steps steps; /* issue 19's model: the steps the API validated */
	const char *problem;     /* why its executions cannot run, or NULL */
};

struct tenant_usage {
	const char *user_id;
	long limit; /* PLAN_UNLIMITED or the month's allowance */
	long used;
};

/* One array column of the write-back, built as a PostgreSQL array literal. */
struct col {
	struct strbuf sb;
	size_t n;
};

static void col_raw(struct col *c, const char *v)
{
	strbuf_appends(&c->sb, c->n++ ? "," : "{");
	strbuf_appends(&c->sb, v);
}

static void col_long(struct col *c, long v)
{
	strbuf_appendf(&c->sb, "%s%ld", c->n++ ? "," : "{", v);
}

/* A quoted text element, or NULL. */
static void col_text(struct col *c, const char *v)
{
	strbuf_appends(&c->sb, c->n++ ? "," : "{");
	if (!v) {
		strbuf_appends(&c->sb, "NULL");
		return;
	}
	strbuf_appendc(&c->sb, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			strbuf_appendc(&c->sb, '\\');
		strbuf_appendc(&c->sb, *v);
	}
	strbuf_appendc(&c->sb, '"');
}

static const char *col_done(struct col *c)
{
	if (c->n == 0)
		return "{}";
	strbuf_appendc(&c->sb, '}');
	return strbuf_cstr(&c->sb);
}

uint64_t flow_split_hash(const char *contact_id, const char *flow_id)
{
	uint64_t h = 1469598103934665603ULL;
	const char *parts[3] = { contact_id ? contact_id : "", ":", flow_id ? flow_id : "" };

	for (int p = 0; p < 3; p++)
		for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++)
			h = (h ^ *s) * 1099511628211ULL;
	/* FNV alone keeps ids that differ in their last characters close
	 * (uuid7 ids share their time prefix): a splitmix64 finish spreads them. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

int flow_split_pick(const char *contact_id, const char *flow_id, const long *weights, int n)
{
	uint64_t total = 0, point;

	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		total += weights[i] > 0 ? (uint64_t)weights[i] : 0;
	if (total == 0)
		return 0;
	point = flow_split_hash(contact_id, flow_id) % total;
	for (int i = 0; i < n; i++) {
		uint64_t w = weights[i] > 0 ? (uint64_t)weights[i] : 0;
		if (point < w)
			return i;
		point -= w;
	}
	return n - 1;
}

static int member_number(json_object *o, const char *key, double *out)
{
	json_object *v;
	char *end;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		*out = json_object_get_double(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		errno = 0;
		*out = strtod(s, &end);
		return *s && end != s && *end == '\0' && errno == 0;
	}
	return 0;
}

/* A version's steps through the model the API validates with: a version
 * that no longer validates fails its executions rather than run half-right. */
static void parse_version(struct arena *a, struct eng_version *v, const char *steps_json)
{
	char err[256];
	int bad = -1;

	if (!steps_json ||
	    flow_steps_parse(a, steps_json, strlen(steps_json), &v->steps, err, sizeof(err), &bad) < 0)
		v->problem = arena_sprintf(a, "the flow version's steps cannot run: %s",
					   steps_json ? err : "no steps");
}

static struct eng_version *version_find(struct eng_version *vs, int nv, const char *flow_id, int version)
{
	for (int i = 0; i < nv; i++)
		if (vs[i].version == version && strcmp(vs[i].flow_id, flow_id) == 0)
			return &vs[i];
	return NULL;
}

static struct tenant_usage *usage_find(struct tenant_usage *us, int nu, const char *user_id)
{
	for (int i = 0; i < nu; i++)
		if (strcmp(us[i].user_id, user_id) == 0)
			return &us[i];
	return NULL;
}

static int has_tag(const char *tags_json, const char *tag)
{
	char err[64];
	json_object *t = tags_json ? fs_json_parse(tags_json, strlen(tags_json), err, sizeof(err)) : NULL;
	int found = 0;

	if (t && json_object_is_type(t, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(t) && !found; i++) {
			json_object *x = json_object_array_get_idx(t, i);
			found = json_object_is_type(x, json_type_string) &&
				strcmp(json_object_get_string(x), tag) == 0;
		}
	}
	json_object_put(t);
	return found;
}

static int field_greater(const char *custom_json, const char *field, double than)
{
	char err[64];
	json_object *c = custom_json ? fs_json_parse(custom_json, strlen(custom_json), err, sizeof(err)) : NULL;
	double v = 0;
	int ok = c && json_object_is_type(c, json_type_object) && member_number(c, field, &v);

	json_object_put(c);
	return ok && v > than;
}

/* The claim: due executions of active flows, with what their steps read. */
static const char claim_sql[] =
	/* Each execution is looked up, tested and locked by a subquery of its
	 * own per queue row (LATERAL, FOR UPDATE inside it): as a join, a plan
	 * made from statistics taken while flow_executions was empty walked
	 * its whole primary key for every queue row, sequential scans and
	 * sorts off or not (28 s and 30 million buffer hits for a batch of
	 * 1,000 with 20,000 due). The flow's state as a per-row subplan, not
	 * a join: the scan walks the due index in order and stops at the
	 * limit (a join hashed every due row and sorted them: seconds at
	 * 100,000). The locked rows' own columns come with them: fetching
	 * them again by id cost half a millisecond a row. The execution's
	 * own status and next_run_at are tested in the subquery that locks
	 * it: a row another worker moved and committed after this scan read
	 * its queue row is re-read when locked (READ COMMITTED re-evaluates
	 * the locking subquery's conditions on it), so an execution just
	 * moved past a delay is not run twice. Only the rows the LIMIT takes
	 * are locked; the CTE runs once. */
	"WITH due AS MATERIALIZED ("
	"  SELECT e.id, e.user_id, e.flow_id, e.flow_version, e.contact_id, e.current_step, e.visit,"
	"   e.context"
	"  FROM flow_due d CROSS JOIN LATERAL ("
	"   SELECT x.id, x.user_id, x.flow_id, x.flow_version, x.contact_id, x.current_step, x.visit,"
	"    x.context FROM flow_executions x"
	"   WHERE x.id = d.execution_id AND x.status IN ('active', 'waiting')"
	"    AND x.next_run_at <= flowsend_now()"
	"    AND (SELECT f.status = 'active' AND f.deleted_at IS NULL FROM flows f WHERE f.id = x.flow_id)"
	"   FOR UPDATE SKIP LOCKED) e"
	"  WHERE d.due_at <= flowsend_now()"
	"  ORDER BY d.due_at LIMIT $1::int)"
	" SELECT e.id, e.user_id, e.flow_id, e.flow_version, e.contact_id, e.current_step, e.visit,"
	"  u.plan, k.id IS NULL AS gone, k.email, k.first_name, k.last_name, k.is_subscribed,"
	"  k.bounced_at IS NOT NULL AS bounced,"
	"  EXISTS (SELECT 1 FROM suppressions x WHERE x.user_id = e.user_id"
	"   AND x.email_hash = flowsend_email_hash(k.email)) AS suppressed,"
	"  array_to_json(k.tags)::text AS tags, k.custom_fields::text AS custom,"
	"  e.context::text AS context"
	" FROM due e"
	" JOIN users u ON u.id = e.user_id"
	" LEFT JOIN contacts k ON k.id = e.contact_id AND k.user_id = e.user_id";

/* Every move and every email of the batch, in one statement. */
static const char write_sql[] =
	"WITH x AS ("
	"  SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[], $5::int[], $6::text[])"
	"   AS x(id, step, status, delay_s, visit, err)),"
	" moved AS ("
	"  UPDATE flow_executions e SET current_step = x.step, status = x.status, visit = x.visit,"
	"   next_run_at = CASE WHEN x.status IN ('active', 'waiting')"
	"    THEN flowsend_now() + make_interval(secs => x.delay_s) END,"
	"   completed_at = CASE WHEN x.status IN ('completed', 'cancelled', 'failed') THEN flowsend_now() END,"
	"   locked_until = NULL, last_error = coalesce(x.err, e.last_error)"
	"  FROM x WHERE e.id = x.id RETURNING 1),"
	" mail AS ("
	"  INSERT INTO outbox (user_id, flow_execution_id, step_index, flow_visit, contact_id, to_email)"
	"  SELECT m.user_id, m.exec, m.step, m.visit, m.contact, m.email"
	"   FROM unnest($7::uuid[], $8::uuid[], $9::int[], $10::int[], $11::uuid[], $12::text[])"
	"   AS m(exec, user_id, step, visit, contact, email)"
	/* the visit's key alone arbitrates: no pre-check of the other unique
	 * indexes (a fresh uuid7 id cannot conflict) */
	"  ON CONFLICT (flow_execution_id, step_index, (coalesce(flow_visit, 0)))"
	"   WHERE flow_execution_id IS NOT NULL DO NOTHING RETURNING 1)"
	" SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM mail) AS mailed";

struct writeback {
	struct col id, step, status, delay, visit, err;
	struct col m_exec, m_user, m_step, m_visit, m_contact, m_email;
};

static void writeback_free(struct writeback *w)
{
	struct col *all[] = { &w->id, &w->step, &w->status, &w->delay, &w->visit, &w->err,
			      &w->m_exec, &w->m_user, &w->m_step, &w->m_visit, &w->m_contact, &w->m_email };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_free(&all[i]->sb);
}

/* Read the versions the batch's executions run on, once each. */
static int load_versions(struct fs_db *db, struct arena *a, const PGresult *r, struct eng_version **out,
			 int *nout)
{
	int n = PQntuples(r), nv = 0;
	struct eng_version *vs = arena_alloc(a, (size_t)n * sizeof(*vs));
	struct col fl = { STRBUF_INIT, 0 }, ve = { STRBUF_INIT, 0 };
	PGresult *q;
	int ret = -1;

	if (!vs)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *f = db_get(r, i, "flow_id");
		int v = (int)db_get_ll(r, i, "flow_version", 0);
		if (version_find(vs, nv, f, v))
			continue;
		memset(&vs[nv], 0, sizeof(vs[nv]));
		vs[nv].flow_id = f;
		vs[nv].version = v;
		vs[nv].problem = "the flow version no longer exists"; /* until its row is read */
		nv++;
		col_raw(&fl, f);
		col_long(&ve, v);
	}
	{
		const char *p[2] = { col_done(&fl), col_done(&ve) };
		q = db_query(db, a,
			     "SELECT v.flow_id, v.version, v.steps::text AS steps FROM flow_versions v"
			     " JOIN unnest($1::uuid[], $2::int[]) AS w(flow_id, version)"
			     " ON v.flow_id = w.flow_id AND v.version = w.version",
			     2, p);
	}
	if (!q)
		goto out;
	for (int i = 0; i < PQntuples(q); i++) {
		struct eng_version *v = version_find(vs, nv, db_get(q, i, "flow_id"),
						     (int)db_get_ll(q, i, "version", 0));
		if (v) {
			v->problem = NULL;
			parse_version(a, v, db_get(q, i, "steps"));
		}
	}
	*out = vs;
	*nout = nv;
	ret = 0;
out:
	strbuf_free(&fl.sb);
	strbuf_free(&ve.sb);
	return ret;
}

/* Whether each claimed execution's last email was opened by a person, read
 * only for executions whose version has an opened_previous condition. */
static const char opened_sql[] =
	"SELECT x.id FROM unnest($1::uuid[]) AS x(id)"
	" WHERE EXISTS (SELECT 1 FROM email_events ev WHERE ev.event_type = 'opened' AND NOT ev.is_bot"
	"  AND ev.outbox_id = (SELECT o.id FROM outbox o WHERE o.flow_execution_id = x.id"
	"   ORDER BY o.flow_visit DESC LIMIT 1))";

static int version_reads_opens(const struct eng_version *v)
{
	for (size_t i = 0; v && !v->problem && i < v->steps.n; i++)
		if (v->steps.steps[i].type == FLOW_STEP_CONDITION &&
		    v->steps.steps[i].condition == FLOW_COND_OPENED_PREVIOUS)
			return 1;
	return 0;
}

static int load_opened(struct fs_db *db, struct arena *a, const PGresult *r, struct eng_version *vs, int nv,
		       char *opened)
{
	int n = PQntuples(r);
	struct col ids = { STRBUF_INIT, 0 };
	PGresult *q;
	int ret = -1;

	for (int i = 0; i < n; i++)
		if (version_reads_opens(version_find(vs, nv, db_get(r, i, "flow_id"),
						     (int)db_get_ll(r, i, "flow_version", 0))))
			col_raw(&ids, db_get(r, i, "id"));
	if (ids.n == 0) {
		ret = 0;
		goto out;
	}
	{
		const char *p[1] = { col_done(&ids) };
		q = db_query_cached(db, a, opened_sql, 1, p);
	}
	if (!q)
		goto out;
	for (int k = 0; k < PQntuples(q); k++)
		for (int i = 0; i < n; i++)
			if (!opened[i] && strcmp(db_get(r, i, "id"), db_get(q, k, "id")) == 0) {
				opened[i] = 1;
				break;
			}
	ret = 0;
out:
	strbuf_free(&ids.sb);
	return ret;
}

/* Lock and read this month's usage of the batch's tenants whose plan has a
 * limit (the lock is campaigns', so sends and flow mail share the count). */
static int load_usage(struct fs_db *db, struct arena *a, const PGresult *r, struct tenant_usage **out,
		      int *nout)
{
	int n = PQntuples(r), nu = 0;
	struct tenant_usage *us = arena_alloc(a, (size_t)n * sizeof(*us));
	struct col ids = { STRBUF_INIT, 0 };
	PGresult *q;
	int ret = -1;

	if (!us)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *u = db_get(r, i, "user_id");
		const struct plan *p = plan_find_or_default(db_get(r, i, "plan"));
		if (usage_find(us, nu, u))
			continue;
		us[nu].user_id = u;
		us[nu].limit = p->max_emails_per_month;
		us[nu].used = 0;
		if (p->max_emails_per_month != PLAN_UNLIMITED)
			col_raw(&ids, u);
		nu++;
	}
	*out = us;
	*nout = nu;
	if (ids.n == 0) {
		ret = 0;
		goto out;
	}
	{
		const char *p[1] = { col_done(&ids) };
		q = db_query(db, a,
			     "SELECT t.user_id, flowsend_emails_this_month(t.user_id) AS used"
			     " FROM (SELECT DISTINCT u AS user_id FROM unnest($1::uuid[]) AS u ORDER BY 1) t,"
			     " LATERAL (SELECT pg_advisory_xact_lock(hashtext('flowsend-usage:' || t.user_id)))"
			     "  AS l",
			     1, p);
	}
	if (!q)
		goto out;
	for (int i = 0; i < PQntuples(q); i++) {
		struct tenant_usage *u = usage_find(us, nu, db_get(q, i, "user_id"));
		if (u)
			u->used = (long)db_get_ll(q, i, "used", 0);
	}
	ret = 0;
out:
	strbuf_free(&ids.sb);
	return ret;
}

static json_object *str_or_null(const char *v)
{
	return v ? json_object_new_string(v) : NULL;
}

/* The contact of execution row i as the webhook step sends it:
 * {id, email, first_name, last_name, tags, custom_fields}, in the arena. */
static const char *contact_json(struct arena *a, const PGresult *r, int i)
{
	char perr[64];
	const char *tags = db_get(r, i, "tags"), *custom = db_get(r, i, "custom");
	json_object *o = json_object_new_object(), *t, *cf;
	const char *out = NULL;

	if (!o)
		return NULL;
	t = tags ? fs_json_parse(tags, strlen(tags), perr, sizeof(perr)) : NULL;
	cf = custom ? fs_json_parse(custom, strlen(custom), perr, sizeof(perr)) : NULL;
	json_object_object_add(o, "id", str_or_null(db_get(r, i, "contact_id")));
	json_object_object_add(o, "email", str_or_null(db_get(r, i, "email")));
	json_object_object_add(o, "first_name", str_or_null(db_get(r, i, "first_name")));
	json_object_object_add(o, "last_name", str_or_null(db_get(r, i, "last_name")));
	json_object_object_add(o, "tags", t && json_object_is_type(t, json_type_array) ? t
					  : json_object_new_array());
	if (t && !json_object_is_type(t, json_type_array))
		json_object_put(t);
	json_object_object_add(o, "custom_fields", cf && json_object_is_type(cf, json_type_object) ? cf
						   : json_object_new_object());
	if (cf && !json_object_is_type(cf, json_type_object))
		json_object_put(cf);
	out = arena_strdup(a, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

/* Queue the call of webhook step `step` (its visit) in the batch's
 * transaction: 1 queued (the execution waits), 0 the URL was refused (*err
 * says so, the flow goes on), -1 the database failed. */
static int webhook_queue(struct fs_db *db, struct arena *a, const PGresult *r, int i, int step, long visit,
			 const char *url, const char **err)
{
	char call_id[37];
	struct fs_error e;
	enum fs_status st;

	memset(&e, 0, sizeof(e));
	st = webhook_flow_call_enqueue(db, a, db_get(r, i, "user_id"), db_get(r, i, "flow_id"),
				       db_get(r, i, "id"), step, (int)visit, url, contact_json(a, r, i),
				       db_get(r, i, "context"), call_id, &e);
	if (st == FS_OK)
		return 1;
	if (st == FS_INVALID) {
		*err = arena_sprintf(a, "step %d: webhook refused: %s", step, e.detail);
		return 0;
	}
	return -1;
}

/* Run execution row i from its current step; record its move and emails.
 * 0, or -1 when the database failed (the batch is rolled back). */
static int run_execution(struct fs_db *db, struct arena *a, const PGresult *r, int i, struct eng_version *v,
			 struct tenant_usage *u, int opened, struct writeback *w,
			 struct flow_engine_counts *c)
{
	const char *id = db_get(r, i, "id"), *contact = db_get(r, i, "contact_id");
	int step = (int)db_get_ll(r, i, "current_step", 0);
	long visit = (long)db_get_ll(r, i, "visit", 0), delay = 0;
	int emailed = 0;
	const char *status = NULL, *err = NULL;

	if (db_get_bool(r, i, "gone") || !db_get_bool(r, i, "is_subscribed") ||
	    db_get_bool(r, i, "bounced") || db_get_bool(r, i, "suppressed")) {
		status = "cancelled";
		err = db_get_bool(r, i, "gone")		? "contact deleted"
		      : !db_get_bool(r, i, "is_subscribed") ? "contact unsubscribed"
		      : db_get_bool(r, i, "bounced")	? "contact bounced"
							: "contact suppressed";
		c->stopped++;
		goto done;
	}
	if (!v || v->problem) {
		status = "failed";
		err = v ? v->problem : "the flow version no longer exists";
		c->failed++;
		goto done;
	}
	if (step >= 0 && step < (int)v->steps.n && v->steps.steps[step].type == FLOW_STEP_WEBHOOK) {
		/* Resting on a webhook step: its call of this visit decides. No
		 * call (arrived here after a delay): the loop below queues it. */
		const char *why = NULL;
		switch (webhook_flow_call_state(db, a, id, step, (int)visit, &why)) {
		case WEBHOOK_CALL_PENDING: /* woken early: wait on */
			status = "waiting";
			delay = WEBHOOK_WAIT_S;
			goto done;
		case WEBHOOK_CALL_DELIVERED:
			step++;
			break;
		case WEBHOOK_CALL_FAILED: /* recorded; the flow goes on after a failing step */
			err = arena_sprintf(a, "step %d: webhook failed: %s", step, why ? why : "unknown error");
			step++;
			break;
		case WEBHOOK_CALL_NONE:
			break;
		case WEBHOOK_CALL_ERROR:
		default:
			return -1;
		}
	}
	for (int hops = 0;; hops++) {
		const struct flow_step *s;

		if (step >= (int)v->steps.n) {
			status = "completed";
			c->completed++;
			break;
		}
		if (hops >= FLOW_ENGINE_MAX_HOPS) {
			status = "failed";
			err = arena_sprintf(a, "step %d: more than %d steps without a delay (a loop?)", step,
					    FLOW_ENGINE_MAX_HOPS);
			c->failed++;
			break;
		}
		s = &v->steps.steps[step];
		visit++;
		c->steps++;
		switch (s->type) {
		case FLOW_STEP_WEBHOOK: {
			/* Queued in this batch's transaction: the call and the wait
			 * commit together. The execution rests on the step, holding no
			 * worker, until the webhooks pass wakes it with the outcome. */
			int q = webhook_queue(db, a, r, i, step, visit, s->url, &err);
			if (q < 0)
				return -1;
			if (q > 0) {
				status = "waiting";
				delay = WEBHOOK_WAIT_S;
				goto done;
			}
			step++; /* refused: recorded, the flow goes on */
			break;
		}
		case FLOW_STEP_EMAIL:
			if (u && u->limit != PLAN_UNLIMITED && !plan_allows(u->limit, u->used, 1)) {
				err = arena_sprintf(a, "step %d: monthly email limit reached", step);
				c->limited++;
			} else {
				char sv[16], vv[24];
				snprintf(sv, sizeof(sv), "%d", step);
				snprintf(vv, sizeof(vv), "%ld", visit);
				col_raw(&w->m_exec, id);
				col_raw(&w->m_user, db_get(r, i, "user_id"));
				col_raw(&w->m_step, sv);
				col_raw(&w->m_visit, vv);
				col_raw(&w->m_contact, contact);
				col_text(&w->m_email, db_get(r, i, "email"));
				if (u)
					u->used++;
				emailed = 1;
				c->emails++;
			}
			step++;
			break;
		case FLOW_STEP_DELAY:
			/* Wait past the delay: when due it runs the step after it. */
			step++;
			delay = s->delay_seconds;
			status = "waiting";
			goto done;
		case FLOW_STEP_CONDITION: {
			int yes;
			if (s->condition == FLOW_COND_TAG_EQUALS)
				yes = has_tag(db_get(r, i, "tags"), s->value);
			else if (s->condition == FLOW_COND_FIELD_GT)
				yes = field_greater(db_get(r, i, "custom"), s->field, s->number);
			else /* an email queued in this pass cannot have been opened yet */
				yes = !emailed && opened;
			step = yes ? s->then_step : s->else_step;
			break;
		}
		case FLOW_STEP_SPLIT: {
			long wts[FLOW_SPLIT_MAX];
			for (int k = 0; k < s->nbranches && k < FLOW_SPLIT_MAX; k++)
				wts[k] = s->weights[k];
			step = s->branches[flow_split_pick(contact, db_get(r, i, "flow_id"), wts,
							   s->nbranches)];
			break;
		}
		}
	}
done:
	col_raw(&w->id, id);
	col_long(&w->step, step);
	col_text(&w->status, status);
	col_long(&w->delay, delay);
	col_long(&w->visit, visit);
	col_text(&w->err, err);
	return 0;
}

long flow_engine_run_batch(struct fs_db *db, struct arena *a, int batch, struct flow_engine_counts *c)
{
	char limit[16];
	const char *cp[1] = { limit };
	struct writeback w;
	struct eng_version *vs = NULL;
	struct tenant_usage *us = NULL;
	int nv = 0, nu = 0;
	long claimed = -1;
	char *opened;
	PGresult *r;

	memset(&w, 0, sizeof(w));
	snprintf(limit, sizeof(limit), "%d", batch > 0 ? batch : FLOW_ENGINE_BATCH);
	if (db_begin(db) != FS_OK)
		return -1;
	/* A claim over many due rows is estimated dear enough to be compiled
	 * by JIT: seconds of compiling for milliseconds of work. And the
	 * planner, which cannot see how many rows `due_at <= flowsend_now()`
	 * keeps, planned a scan of the whole due queue, a join of every due
	 * row and a sort, each batch: with 100,000 due, 2.9 s a batch of
	 * 1,000 (an O(n^2) wave). Without sorts or sequential scans the only
	 * plan left walks flow_due_at_idx in order and stops at the limit (58
	 * ms). Both settings go back for the rest of the batch. */
	if (!db_query_cached(db, a,
			     "SELECT set_config('jit', 'off', true), set_config('enable_sort', 'off', true),"
			     " set_config('enable_seqscan', 'off', true)",
			     0, NULL))
		goto fail;
	r = db_query_cached(db, a, claim_sql, 1, cp);
	if (!r)
		goto fail;
	if (!db_query_cached(db, a,
			     "SELECT set_config('enable_sort', 'on', true),"
			     " set_config('enable_seqscan', 'on', true)",
			     0, NULL))
		goto fail;
	claimed = PQntuples(r);
	if (claimed == 0) {
		db_rollback(db);
		return 0;
	}
	opened = arena_alloc(a, (size_t)claimed);
	if (!opened)
		goto fail;
	memset(opened, 0, (size_t)claimed);
	if (load_versions(db, a, r, &vs, &nv) < 0 || load_opened(db, a, r, vs, nv, opened) < 0 ||
	    load_usage(db, a, r, &us, &nu) < 0)
		goto fail;
	for (int i = 0; i < (int)claimed; i++)
		if (run_execution(db, a, r, i,
				  version_find(vs, nv, db_get(r, i, "flow_id"),
					       (int)db_get_ll(r, i, "flow_version", 0)),
				  usage_find(us, nu, db_get(r, i, "user_id")), opened[i], &w, c) < 0)
			goto fail;
	{
		const char *p[12] = { col_done(&w.id),	   col_done(&w.step),	 col_done(&w.status),
				      col_done(&w.delay),  col_done(&w.visit),	 col_done(&w.err),
				      col_done(&w.m_exec), col_done(&w.m_user),	 col_done(&w.m_step),
				      col_done(&w.m_visit), col_done(&w.m_contact), col_done(&w.m_email) };
		struct strbuf *all[] = { &w.id.sb, &w.step.sb, &w.status.sb, &w.delay.sb, &w.visit.sb,
					 &w.err.sb, &w.m_exec.sb, &w.m_user.sb, &w.m_step.sb,
					 &w.m_visit.sb, &w.m_contact.sb, &w.m_email.sb };
		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			if (all[k]->oom)
				goto fail;
		r = db_query_cached(db, a, write_sql, 12, p);
	}
	if (!r)
		goto fail;
	if (db_get_ll(r, 0, "mailed", 0) != (long long)w.m_exec.n)
		log_warn("flow engine: %zu emails to queue, %lld queued (the rest were queued before)",
			 w.m_exec.n, db_get_ll(r, 0, "mailed", 0));
	if (db_commit(db) != FS_OK) {
		claimed = -1;
		goto out;
	}
	c->claimed += claimed;
	goto out;
fail:
	db_rollback(db);
	claimed = -1;
out:
	writeback_free(&w);
	return claimed;
}

/* ---- scheduled flows ---- */

/* One due (or new) scheduled flow, locked; its next time is set and, when a
 * due time passed, its audience enrolled, in the same commit. */
static int schedule_one(struct fs_db *db, struct arena *a, struct flow_engine_counts *c)
{
	PGresult *r;
	const char *p[4];

	if (db_begin(db) != FS_OK)
		return -1;
	r = db_query(db, a,
		     "SELECT f.id, f.user_id, f.next_trigger_at, f.next_trigger_at IS NULL AS fresh,"
		     "  coalesce(NULLIF(f.trigger_config->>'timezone', ''), 'UTC') AS tz,"
		     "  f.trigger_config->>'cron' AS cron"
		     " FROM flows f WHERE f.status = 'active' AND f.trigger_type = 'scheduled'"
		     "  AND f.deleted_at IS NULL"
		     "  AND (f.next_trigger_at <= flowsend_now() OR f.next_trigger_at IS NULL)"
		     " ORDER BY f.next_trigger_at NULLS FIRST LIMIT 1 FOR UPDATE OF f SKIP LOCKED",
		     0, NULL);
	if (!r)
		goto fail;
	if (PQntuples(r) == 0) {
		db_rollback(db);
		return 0;
	}
	p[0] = db_get(r, 0, "id");
	p[1] = db_get(r, 0, "next_trigger_at");
	if (!db_get_bool(r, 0, "fresh")) {
		PGresult *e;
		/* Once per due time: the run's row is the record; a late run fires
		 * the time it missed once, then goes on from now. */
		e = db_query(db, a,
			     "WITH run AS ("
			     "  INSERT INTO flow_schedule_runs (flow_id, user_id, due_at)"
			     "  SELECT f.id, f.user_id, $2::timestamptz FROM flows f WHERE f.id = $1"
			     "  ON CONFLICT DO NOTHING RETURNING flow_id),"
			     " f AS (SELECT f.* FROM flows f JOIN run ON run.flow_id = f.id),"
			     " audience AS ("
			     "  SELECT k.id FROM f JOIN contacts k ON k.user_id = f.user_id"
			     "  WHERE k.is_subscribed AND k.bounced_at IS NULL"
			     "   AND (f.trigger_config->>'list_id' IS NULL OR EXISTS ("
			     "    SELECT 1 FROM contact_list_members m"
			     "    WHERE m.contact_id = k.id AND m.user_id = f.user_id"
			     "     AND m.list_id::text = f.trigger_config->>'list_id'))"
			     "   AND (flowsend_flow_reentry(f.trigger_config)"
			     "    OR NOT EXISTS (SELECT 1 FROM flow_executions x"
			     "     WHERE x.flow_id = f.id AND x.contact_id = k.id))),"
			     " enrolled AS ("
			     "  INSERT INTO flow_executions (user_id, flow_id, flow_version, contact_id, status,"
			     "   current_step, next_run_at, context, enrollment_key)"
			     "  SELECT f.user_id, f.id, f.current_version, a.id, 'active', 0, flowsend_now(),"
			     "   jsonb_build_object('trigger', 'scheduled', 'due_at', $2::timestamptz),"
			     /* issue 19's key: once per flow, or once per due time with re-entry */
			     "   CASE WHEN flowsend_flow_reentry(f.trigger_config)"
			     "    THEN 'at:' || to_char($2::timestamptz AT TIME ZONE 'UTC',"
			     "     'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ELSE 'once' END"
			     "  FROM f CROSS JOIN audience a WHERE f.current_version IS NOT NULL"
			     "  ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING RETURNING 1),"
			     " counted AS ("
			     "  UPDATE flow_schedule_runs s SET enrolled = (SELECT count(*) FROM enrolled)"
			     "  FROM run WHERE s.flow_id = run.flow_id AND s.due_at = $2::timestamptz RETURNING 1)"
			     " SELECT (SELECT count(*) FROM run) AS fired, (SELECT count(*) FROM enrolled) AS enrolled,"
			     "  (SELECT count(*) FROM counted) AS counted",
			     2, p);
		if (!e)
			goto fail;
		if (db_get_ll(e, 0, "fired", 0) > 0) {
			c->schedules++;
			c->enrolled += (long)db_get_ll(e, 0, "enrolled", 0);
			log_info("scheduled flow %s fired for %s: %lld enrolled", p[0], p[1],
				 db_get_ll(e, 0, "enrolled", 0));
		}
	}
	p[1] = db_get(r, 0, "cron");
	p[2] = db_get(r, 0, "tz");
	/* The next time after the later of the due time and now, so a run that
	 * comes late does not fire every time it missed. */
	r = db_query(db, a,
		     "UPDATE flows SET next_trigger_at = coalesce(flowsend_cron_next($2, $3,"
		     "  greatest(flowsend_now(), next_trigger_at)),"
		     "  'infinity'::timestamptz)"
		     " WHERE id = $1 RETURNING next_trigger_at",
		     3, p);
	if (!r)
		goto fail;
	if (db_commit(db) != FS_OK)
		return -1;
	return 1;
fail:
	db_rollback(db);
	return -1;
}

long flow_engine_schedule_due(struct fs_db *db, struct arena *a, struct flow_engine_counts *c)
{
	long n = 0;

	for (int i = 0; i < 1000; i++) {
		int rc = schedule_one(db, a, c);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		n++;
	}
	return n;
}
