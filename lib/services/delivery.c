/* Delivery. A claim is its own statement (committed at once, so other
 * workers skip those rows); the outcome of a whole batch is one statement
 * too: outbox rows, events, the campaigns' counts and the daily rollup move
 * together or not at all. Each outcome names the claim (row id and attempt
 * number), so a worker whose claim lapsed cannot record over another's.
 *
 * With SMTP, claimed ('sending') is not handed over: a row becomes 'handing'
 * in a commit made just before its message goes to the SMTP client, for at
 * most as many rows as the sender has slots, and its outcome is committed
 * after, in the statement that hands over the next ones. A worker killed at
 * any moment leaves at most its slots in doubt; those become 'failed'
 * ("interrupted") and are never sent again, while rows it had only claimed
 * go back to the queue. */
#include "services/delivery.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "json/json.h"
#include "mail/links.h"
#include "mail/dkim.h"
#include "mail/message.h"
#include "mail/smtp.h"
#include "mail/template.h"
#include "models/plan.h"
#include "services/campaigns.h"
#include "services/senders.h"
#include "services/settings.h"
#include "services/track_links.h"

#define CLAIM_MINUTES "10"

/* The flow of a flow message's execution, for its events (issue 20); NULL
 * for campaign and pre-rendered mail without a lookup. */
#define FLOW_OF(x) \
	"CASE WHEN " x ".flow_execution_id IS NOT NULL THEN (SELECT fe.flow_id FROM flow_executions fe" \
	" WHERE fe.id = " x ".flow_execution_id) END"

/* A campaign's compiled message and sender data, shared by its rows in a batch. */
struct campaign_render {
	const char *id;      /* the campaign's, or flow/version/step for a flow's email step */
	const char *flow_id; /* issue 20: a flow's step (links are the flow's), else NULL */
	const char *postal_address;
	struct tpl_message msg;
	const char *problem; /* why its rows fail, or NULL */
	int unreadable;      /* a database error: leave its rows to be retried */
	struct track_links *links; /* issue 17: its tracked links met so far (arena) */
};

struct outcome_arrays {
	struct strbuf ids, attempts;
	size_t n;
};

struct batch_outcome {
	struct outcome_arrays sent, failed, skipped;
	struct strbuf why; /* text[] parallel to failed */
};

static void outcome_add(struct outcome_arrays *o, const char *id, const char *attempts)
{
	strbuf_appends(&o->ids, o->n ? "," : "{");
	strbuf_appends(&o->ids, id);
	strbuf_appends(&o->attempts, o->n ? "," : "{");
	strbuf_appends(&o->attempts, attempts);
	o->n++;
}

static const char *outcome_array(struct strbuf *sb, size_t n)
{
	if (n == 0)
		return "{}";
	strbuf_appendc(sb, '}');
	return strbuf_cstr(sb);
}

/* One element of a PostgreSQL text[] literal, quoted. */
static void array_text(struct strbuf *sb, int first, const char *s)
{
	strbuf_appends(sb, first ? "{\"" : ",\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_appendc(sb, '\\');
		strbuf_appendc(sb, *s);
	}
	strbuf_appendc(sb, '"');
}

static void outcome_free(struct batch_outcome *b)
{
	struct outcome_arrays *all[] = { &b->sent, &b->failed, &b->skipped };

	for (size_t i = 0; i < 3; i++) {
		strbuf_free(&all[i]->ids);
		strbuf_free(&all[i]->attempts);
	}
	strbuf_free(&b->why);
}

/* Start one due campaign; 1 when one was found, 0 when none is due, -1. */
static int start_one(struct fs_db *db, struct arena *a, struct delivery_counts *c)
{
	struct fs_error err = { { 0 } };
	const char *id, *user_id, *list_id;
	long long recipients = 0;
	enum fs_status st;
	PGresult *r;

	if (db_begin(db) != FS_OK)
		return -1;
	r = db_query(db, a,
		     "SELECT c.id, c.user_id, c.list_id, c.template_id, u.plan FROM campaigns c"
		     " JOIN users u ON u.id = c.user_id"
		     " WHERE c.status = 'scheduled' AND c.scheduled_at <= flowsend_now()"
		     " ORDER BY c.scheduled_at LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
		     0, NULL);
	if (!r) {
		db_rollback(db);
		return -1;
	}
	if (PQntuples(r) == 0) {
		db_rollback(db);
		return 0;
	}
	id = db_get(r, 0, "id");
	user_id = db_get(r, 0, "user_id");
	list_id = db_get(r, 0, "list_id");
	if (!db_get(r, 0, "template_id")) {
		st = fs_fail(&err, FS_BAD_REQUEST, "Campaign has no template");
	} else {
		st = campaign_start(db, a, id, user_id, list_id,
				    plan_find_or_default(db_get(r, 0, "plan")), &recipients, &err);
	}
	if (st == FS_OK) {
		if (db_commit(db) != FS_OK)
			return -1;
		c->campaigns_started++;
		log_info("campaign %s started: %lld recipients", id, recipients);
		return 1;
	}
	db_rollback(db);
	{
		const char *p[2] = { id, err.detail };
		if (st != FS_BAD_REQUEST) {
			/* A database error (a timeout, a lost connection): try this one
			 * again in a minute rather than block every campaign behind it. */
			log_warn("campaign %s could not start, retrying in a minute: %s", id, err.detail);
			return db_query(db, a,
					"UPDATE campaigns SET scheduled_at = flowsend_now() + interval '1 minute',"
					" last_error = $2 WHERE id = $1 AND status = 'scheduled'",
					2, p)
				       ? 1
				       : -1;
		}
		/* It cannot go out as it is: say why on the campaign, never retry blindly. */
		if (!db_query(db, a,
			      "UPDATE campaigns SET status = 'failed', last_error = $2, updated_at = flowsend_now()"
			      " WHERE id = $1 AND status = 'scheduled'",
			      2, p))
			return -1;
	}
	c->campaigns_failed++;
	log_warn("campaign %s could not start: %s", id, err.detail);
	return 1;
}

int delivery_start_due(struct fs_db *db, const struct fs_config *cfg, struct arena *a,
		       struct delivery_counts *c)
{
	(void)cfg;
	for (int i = 0; i < 100; i++) {
		int rc = start_one(db, a, c);
		if (rc <= 0)
			return rc;
	}
	return 0;
}

static struct campaign_render *campaign_for(struct fs_db *db, struct arena *a,
					    const struct fs_config *cfg, struct campaign_render *cache,
					    size_t *ncache, const char *id)
{
	struct campaign_render *cr;
	const char *p[1] = { id };
	struct tpl_error te;
	PGresult *r;

	for (size_t i = 0; i < *ncache; i++)
		if (strcmp(cache[i].id, id) == 0)
			return &cache[i];
	cr = &cache[(*ncache)++];
	memset(cr, 0, sizeof(*cr));
	cr->id = id;
	r = db_query(db, a,
		     "SELECT c.subject, t.html_content, t.text_content, u.postal_address"
		     " FROM campaigns c JOIN users u ON u.id = c.user_id"
		     " LEFT JOIN email_templates t ON t.id = c.template_id WHERE c.id = $1",
		     1, p);
	if (!r) {
		cr->unreadable = 1;
		return cr;
	}
	if (PQntuples(r) == 0) {
		cr->problem = "the campaign no longer exists";
		return cr;
	}
	if (!db_get(r, 0, "html_content")) {
		cr->problem = "the campaign's template was deleted";
		return cr;
	}
	cr->postal_address = db_get(r, 0, "postal_address");
	if (!cr->postal_address)
		cr->postal_address = cfg->postal_address;
	if (tpl_message_compile(&cr->msg, db_get(r, 0, "subject"), strlen(db_get(r, 0, "subject")),
				db_get(r, 0, "html_content"), strlen(db_get(r, 0, "html_content")),
				db_get(r, 0, "text_content"),
				db_get(r, 0, "text_content") ? strlen(db_get(r, 0, "text_content")) : 0,
				&te) < 0)
		cr->problem = arena_sprintf(a, "the template does not render: %s", te.what);
	return cr;
}

/* A flow's email step (issue 20), rendered like a campaign: the step's
 * subject, else its template's. Keyed by flow, version and step, so a batch
 * of one step's mail reads and compiles it once. */
static struct campaign_render *flow_step_for(struct fs_db *db, struct arena *a,
					     const struct fs_config *cfg, struct campaign_render *cache,
					     size_t *ncache, const PGresult *claim, int row)
{
	const char *flow_id = db_get(claim, row, "flow_id");
	const char *p[3] = { flow_id, db_get(claim, row, "flow_version"), db_get(claim, row, "step_index") };
	const char *key = arena_sprintf(a, "%s/%s/%s", flow_id ? flow_id : "-", p[1] ? p[1] : "-",
					p[2] ? p[2] : "-");
	struct campaign_render *cr;
	struct tpl_error te;
	PGresult *r;

	for (size_t i = 0; key && i < *ncache; i++)
		if (strcmp(cache[i].id, key) == 0)
			return &cache[i];
	cr = &cache[(*ncache)++];
	memset(cr, 0, sizeof(*cr));
	cr->id = key ? key : "";
	cr->flow_id = flow_id;
	if (!key) {
		cr->unreadable = 1;
		return cr;
	}
	if (!flow_id || !p[1] || !p[2]) {
		cr->problem = "the flow execution no longer exists";
		return cr;
	}
	r = db_query(db, a,
		     "SELECT coalesce(NULLIF(st.s->>'subject', ''), t.subject) AS subject, t.html_content,"
		     "  t.text_content, u.postal_address, st.s->>'type' AS type"
		     " FROM flow_versions v JOIN users u ON u.id = v.user_id"
		     " CROSS JOIN LATERAL (SELECT v.steps -> $3::int AS s) st"
		     " LEFT JOIN email_templates t ON t.id = CASE WHEN st.s->>'template_id' ~"
		     "   '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"
		     "   THEN (st.s->>'template_id')::uuid END AND (t.user_id = v.user_id OR t.is_system)"
		     " WHERE v.flow_id = $1 AND v.version = $2::int",
		     3, p);
	if (!r) {
		cr->unreadable = 1;
		return cr;
	}
	if (PQntuples(r) == 0) {
		cr->problem = "the flow version no longer exists";
		return cr;
	}
	if (!db_get(r, 0, "type") || strcmp(db_get(r, 0, "type"), "email") != 0) {
		cr->problem = "the flow step is not an email step";
		return cr;
	}
	if (!db_get(r, 0, "html_content") || !db_get(r, 0, "subject")) {
		cr->problem = "the flow step's template was deleted";
		return cr;
	}
	cr->postal_address = db_get(r, 0, "postal_address");
	if (!cr->postal_address)
		cr->postal_address = cfg->postal_address;
	if (tpl_message_compile(&cr->msg, db_get(r, 0, "subject"), strlen(db_get(r, 0, "subject")),
				db_get(r, 0, "html_content"), strlen(db_get(r, 0, "html_content")),
				db_get(r, 0, "text_content"),
				db_get(r, 0, "text_content") ? strlen(db_get(r, 0, "text_content")) : 0,
				&te) < 0)
		cr->problem = arena_sprintf(a, "the template does not render: %s", te.what);
	return cr;
}

/* Render one campaign message for a recipient; 0, or -1 when it cannot be
 * rendered. Mock mode stops here: rendering is the whole of "sending". */
static int deliver_campaign_row(const struct fs_config *cfg, struct arena *a,
				const struct campaign_render *cr, const PGresult *r, int row,
				struct strbuf *scratch)
{
	struct tpl_values v = { 0 };
	const char *custom = db_get(r, row, "custom");
	char token[LINK_TOKEN_LEN + 1], perr[64];
	int rc;

	if (link_token_mint(cfg, "u", db_get(r, row, "id"), token, sizeof(token)) < 0)
		return -1;
	v.first_name = db_get(r, row, "first_name");
	v.last_name = db_get(r, row, "last_name");
	v.email = db_get(r, row, "to_email");
	v.postal_address = cr->postal_address;
	v.unsubscribe_url = arena_sprintf(a, "%s/u/%s", cfg->public_url, token);
	v.custom = custom ? fs_json_parse(custom, strlen(custom), perr, sizeof(perr)) : NULL;
	strbuf_reset(scratch);
	rc = tpl_render(cr->msg.subject, &v, scratch) < 0 || tpl_render(cr->msg.html, &v, scratch) < 0 ||
		     tpl_render(cr->msg.text, &v, scratch) < 0
	     ? -1
	     : 0;
	json_object_put(v.custom);
	return rc;
}

static const char record_sql[] =
	"WITH sent AS ("
	"  UPDATE outbox o SET status = 'sent', sent_at = flowsend_now(),"
	"   message_id = '<' || o.id || '@mock.flowsend>'"
	"  FROM unnest($1::uuid[], $2::int[]) AS x(id, attempts)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted,"
	"   o.flow_execution_id),"
	" failed AS ("
	"  UPDATE outbox o SET status = 'failed', last_error = x.why"
	"  FROM unnest($3::uuid[], $4::int[], $5::text[]) AS x(id, attempts, why)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted, x.why,"
	"   o.flow_execution_id),"
	" skipped AS ("
	"  UPDATE outbox o SET status = 'cancelled',"
	"   last_error = 'unsubscribed, bounced, suppressed or cancelled before sending'"
	"  FROM unnest($6::uuid[], $7::int[]) AS x(id, attempts)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending' RETURNING o.id),"
	" events AS ("
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id, event_type,"
	"   metadata)"
	"  SELECT s.user_id, s.campaign_id, " FLOW_OF("s") ", s.contact_id, s.id, t.kind, '{}'::jsonb"
	"   FROM sent s CROSS JOIN (VALUES ('sent'), ('delivered')) AS t(kind)"
	"   WHERE s.counted AND (t.kind = 'sent' OR $8::boolean)"
	"  UNION ALL"
	"  SELECT f.user_id, f.campaign_id, " FLOW_OF("f") ", f.contact_id, f.id, 'failed',"
	"   jsonb_build_object('error', f.why)"
	"   FROM failed f WHERE f.counted"
	"  RETURNING 1),"
	" tally AS ("
	"  SELECT user_id, campaign_id, 1 AS sent, 0 AS failed FROM sent WHERE counted"
	"  UNION ALL SELECT user_id, campaign_id, 0, 1 FROM failed WHERE counted),"
	" campaigns_counted AS ("
	"  UPDATE campaigns c SET sent_count = c.sent_count + t.sent,"
	"   delivered_count = c.delivered_count + CASE WHEN $8::boolean THEN t.sent ELSE 0 END,"
	"   failed_count = c.failed_count + t.failed, updated_at = flowsend_now()"
	"  FROM (SELECT campaign_id, sum(sent) AS sent, sum(failed) AS failed FROM tally"
	"        WHERE campaign_id IS NOT NULL GROUP BY campaign_id) t"
	"  WHERE c.id = t.campaign_id RETURNING 1),"
	" daily AS ("
	"  INSERT INTO daily_stats AS d (user_id, day, sent, delivered, failed)"
	"  SELECT user_id, (flowsend_now() AT TIME ZONE 'UTC')::date, sum(sent),"
	"   CASE WHEN $8::boolean THEN sum(sent) ELSE 0 END, sum(failed) FROM tally GROUP BY user_id"
	"  ON CONFLICT (user_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent,"
	"   delivered = d.delivered + EXCLUDED.delivered, failed = d.failed + EXCLUDED.failed"
	"  RETURNING 1),"
	/* When every claimed row is in the outcome ($10), the claim ends in the
	 * same commit: rows this statement did not move were taken by the tidy
	 * pass or another claim, never still this one's. */
	" ended AS ("
	"  DELETE FROM delivery_claims WHERE id = $9::bigint AND $10::boolean RETURNING 1)"
	" SELECT (SELECT count(*) FROM sent) AS sent, (SELECT count(*) FROM failed) AS failed,"
	" (SELECT count(*) FROM skipped) AS skipped, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM campaigns_counted) AS campaigns, (SELECT count(*) FROM daily) AS days,"
	" (SELECT count(*) FROM ended) AS ended";

/* The claim, shared by mock and SMTP mode: up to $1 due rows become
 * 'sending' (FOR UPDATE SKIP LOCKED, so any number of workers can run) ...
 * The rows are updated by primary key (= ANY of the claimed ids), run
 * through db_query_queue: joined to the claimed rows, a plan cached while
 * the queue was empty scanned the whole outbox and compared every row with
 * every claimed id (2.3 s for a batch of 1,000 with 20,000 queued). */
#define CLAIM_DUE                                                                              \
	"WITH due AS ("                                                                         \
	"  SELECT id FROM outbox WHERE due_at <= flowsend_now()"                                \
	"  ORDER BY due_at LIMIT $1::int FOR UPDATE SKIP LOCKED),"                               \
	" claim AS ("                                                                           \
	"  INSERT INTO delivery_claims (locked_until, outbox_ids)"                              \
	"  SELECT flowsend_now() + interval '" CLAIM_MINUTES " minutes', (SELECT array_agg(id) FROM due)" \
	"  WHERE EXISTS (SELECT 1 FROM due) RETURNING id),"                                     \
	" claimed AS ("                                                                         \
	"  UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,"                   \
	"   claim_id = (SELECT id FROM claim)"                                                  \
	"  WHERE o.id = ANY (ARRAY(SELECT id FROM due))"                                         \
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.to_email, o.payload, o.attempts," \
	"   o.claim_id, o.flow_execution_id, o.step_index)"                                    \
	" SELECT cl.id, cl.user_id, cl.campaign_id, cl.contact_id, cl.to_email, cl.claim_id,"   \
	"  cl.flow_execution_id, cl.step_index, fe.flow_id, fe.flow_version,"
/* ... and each says whether it must be skipped: its contact unsubscribed,
 * bounced or gone, its address suppressed, its campaign cancelled. */
#define CLAIM_SKIP                                                                             \
	"  ((cl.contact_id IS NOT NULL AND (k.id IS NULL OR NOT k.is_subscribed"                \
	"    OR k.bounced_at IS NOT NULL))"                                                     \
	"   OR EXISTS (SELECT 1 FROM suppressions x WHERE x.user_id = cl.user_id"               \
	"    AND x.email_hash = flowsend_email_hash(cl.to_email))"                              \
	"   OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = cl.campaign_id"                   \
	"    AND c.status = 'cancelled')) AS skip"                                              \
	" FROM claimed cl LEFT JOIN contacts k ON k.id = cl.contact_id AND k.user_id = cl.user_id" \
	" LEFT JOIN flow_executions fe ON fe.id = cl.flow_execution_id AND fe.user_id = cl.user_id"

static const char claim_sql[] =
	CLAIM_DUE
	"  cl.payload IS NOT NULL AS prerendered, cl.attempts,"
	"  k.first_name, k.last_name, k.custom_fields::text AS custom,"
	CLAIM_SKIP;

/* A batch's claim ends once none of its rows is claimed or in flight. One
 * left behind (rows it could not read, outcomes it could not record) lapses,
 * and the tidy pass settles its rows. */
static int claim_end(struct fs_db *db, struct arena *a, const PGresult *claim)
{
	const char *p[1] = { db_get(claim, 0, "claim_id") };

	if (!p[0])
		return 0;
	return db_query_cached(db, a,
			       "DELETE FROM delivery_claims dc WHERE dc.id = $1 AND NOT EXISTS"
			       " (SELECT 1 FROM outbox o WHERE o.id = ANY (dc.outbox_ids)"
			       "  AND o.claim_id = $1 AND o.status IN ('sending', 'handing'))",
			       1, p)
		       ? 0
		       : -1;
}

static long run_batch_mock(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			   struct delivery_counts *c)
{
	char limit[16];
	const char *cp[1] = { limit };
	struct batch_outcome out;
	struct campaign_render *cache;
	struct strbuf scratch = STRBUF_INIT;
	size_t ncache = 0;
	long claimed;
	int all_recorded = 1;
	PGresult *r, *claim;

	snprintf(limit, sizeof(limit), "%d", batch);
	r = db_query_queue(db, a, claim_sql, 1, cp);
	if (!r)
		return -1;
	claimed = PQntuples(r);
	if (claimed == 0)
		return 0;
	claim = r;
	memset(&out, 0, sizeof(out));
	cache = arena_alloc(a, (size_t)claimed * sizeof(*cache));
	if (!cache)
		return -1;
	for (int i = 0; i < claimed; i++) {
		const char *id = db_get(r, i, "id"), *attempts = db_get(r, i, "attempts");
		const char *campaign = db_get(r, i, "campaign_id"), *problem = NULL;

		if (db_get_bool(r, i, "skip")) {
			outcome_add(&out.skipped, id, attempts);
			continue;
		}
		if (campaign || db_get(r, i, "flow_execution_id")) {
			struct campaign_render *cr =
				campaign ? campaign_for(db, a, cfg, cache, &ncache, campaign)
					 : flow_step_for(db, a, cfg, cache, &ncache, r, i);
			if (cr->unreadable) {
				all_recorded = 0;
				continue; /* its claim lapses and the mail goes back in the queue */
			}
			problem = cr->problem;
			if (!problem && deliver_campaign_row(cfg, a, cr, r, i, &scratch) < 0)
				problem = "rendering the message failed";
		}
		/* Pre-rendered mail (test sends) needs nothing more in mock mode. */
		if (problem) {
			array_text(&out.why, out.failed.n == 0, problem);
			outcome_add(&out.failed, id, attempts);
		} else {
			outcome_add(&out.sent, id, attempts);
		}
	}
	for (size_t i = 0; i < ncache; i++)
		tpl_message_free(&cache[i].msg);
	strbuf_free(&scratch);
	{
		const char *p[10];
		p[0] = outcome_array(&out.sent.ids, out.sent.n);
		p[1] = outcome_array(&out.sent.attempts, out.sent.n);
		p[2] = outcome_array(&out.failed.ids, out.failed.n);
		p[3] = outcome_array(&out.failed.attempts, out.failed.n);
		p[4] = out.failed.n ? (strbuf_appendc(&out.why, '}'), strbuf_cstr(&out.why)) : "{}";
		p[5] = outcome_array(&out.skipped.ids, out.skipped.n);
		p[6] = outcome_array(&out.skipped.attempts, out.skipped.n);
		p[7] = "t"; /* mock mode: accepted counts as delivered */
		p[8] = db_get(claim, 0, "claim_id");
		p[9] = all_recorded && p[8] ? "t" : "f";
		r = db_query(db, a, record_sql, 10, p);
	}
	outcome_free(&out);
	if (!r)
		return -1;
	c->sent += db_get_ll(r, 0, "sent", 0);
	c->failed += db_get_ll(r, 0, "failed", 0);
	c->skipped += db_get_ll(r, 0, "skipped", 0);
	/* One commit fewer a batch (each waits for its flush on a durable disk). */
	if (db_get_ll(r, 0, "ended", 0) == 0 && claim_end(db, a, claim) < 0)
		return -1;
	return claimed;
}

/* Rows a dead worker had handed to SMTP: whether the server took them is
 * unknown, so they fail ("interrupted") with their event and counts, and
 * are never sent again. */
static const char interrupted_sql[] =
	"WITH lapsed_claims AS ("
	"  DELETE FROM delivery_claims WHERE locked_until < flowsend_now() RETURNING id, outbox_ids),"
	/* A claim lists its rows (schema/0053_send_indexes.sql). */
	" lapsed_rows AS ("
	"  SELECT lc.id AS claim_id, x.id FROM lapsed_claims lc CROSS JOIN LATERAL unnest(lc.outbox_ids) AS x(id)),"
	" lapsed AS ("
	"  UPDATE outbox o SET status = 'failed', last_error = 'interrupted'"
	"  FROM lapsed_rows lr WHERE o.id = lr.id AND o.claim_id = lr.claim_id AND o.status = 'handing'"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted,"
	"   o.flow_execution_id),"
	/* A worker that died mid-batch left its claim: the mail it had not
	 * handed over goes back in the queue. */
	" released AS ("
	"  UPDATE outbox o SET status = 'pending'"
	"  FROM lapsed_rows lr WHERE o.id = lr.id AND o.claim_id = lr.claim_id AND o.status = 'sending'"
	"  RETURNING 1),"
	" events AS ("
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id, event_type,"
	"   metadata)"
	"  SELECT l.user_id, l.campaign_id, " FLOW_OF("l") ", l.contact_id, l.id, 'failed',"
	"   '{\"error\": \"interrupted\"}'::jsonb"
	"   FROM lapsed l WHERE l.counted RETURNING 1),"
	" campaigns_counted AS ("
	"  UPDATE campaigns c SET failed_count = c.failed_count + t.n, updated_at = flowsend_now()"
	"  FROM (SELECT campaign_id, count(*) AS n FROM lapsed WHERE counted AND campaign_id IS NOT NULL"
	"        GROUP BY campaign_id) t WHERE c.id = t.campaign_id RETURNING 1),"
	" daily AS ("
	"  INSERT INTO daily_stats AS d (user_id, day, failed)"
	"  SELECT user_id, (flowsend_now() AT TIME ZONE 'UTC')::date, count(*) FROM lapsed"
	"   WHERE counted GROUP BY user_id"
	"  ON CONFLICT (user_id, day) DO UPDATE SET failed = d.failed + EXCLUDED.failed RETURNING 1)"
	" SELECT (SELECT count(*) FROM lapsed) AS lapsed, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM released) AS released,"
	" (SELECT count(*) FROM campaigns_counted) AS campaigns, (SELECT count(*) FROM daily) AS days";

int delivery_tidy(struct fs_db *db, struct arena *a, struct delivery_counts *c)
{
	PGresult *r;
	long long lapsed;

	/* Session 12: the settling statement runs its tables' statement
	 * triggers even when nothing lapsed (nearly always): ask first. */
	r = db_query_cached(db, a,
			    "SELECT EXISTS (SELECT 1 FROM delivery_claims WHERE locked_until < flowsend_now())"
			    " AS lapsed",
			    0, NULL);
	if (!r)
		return -1;
	lapsed = 0;
	if (db_get_bool(r, 0, "lapsed")) {
		r = db_query_cached(db, a, interrupted_sql, 0, NULL);
		if (!r)
			return -1;
		lapsed = db_get_ll(r, 0, "lapsed", 0);
	}
	if (lapsed > 0) {
		c->interrupted += lapsed;
		c->failed += lapsed;
		log_warn("%lld messages were being handed to SMTP by a worker that stopped: marked failed"
			 " (interrupted), never sent again",
			 lapsed);
	}
	/* A campaign is finished once none of its mail is queued (the queue's
	 * index) or claimed or in flight (the rows of live claims). */
	/* Session 12: the rows of live claims are read only when a campaign has
	 * nothing queued left (the InitPlan on idle), and by primary key (= ANY
	 * of the claim's array): planned as a join with unnest(), the check ran
	 * after every batch as a scan of the whole outbox against every claimed
	 * id, up to a second a call, more of a send's database time than the
	 * sending itself. */
	r = db_query_cached(db, a,
		     "WITH idle AS MATERIALIZED ("
		     "  SELECT c.id FROM campaigns c WHERE c.status = 'sending'"
		     "  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign_id = c.id AND o.due_at IS NOT NULL)),"
		     " busy AS ("
		     "  SELECT o.campaign_id FROM delivery_claims dc"
		     "  JOIN outbox o ON o.id = ANY (dc.outbox_ids) AND o.claim_id = dc.id"
		     "  WHERE EXISTS (SELECT 1 FROM idle) AND o.campaign_id IN (SELECT id FROM idle)"
		     "  AND o.status IN ('sending', 'handing'))"
		     " UPDATE campaigns c SET status = 'sent', sent_at = flowsend_now(), updated_at = flowsend_now()"
		     " FROM idle WHERE c.id = idle.id AND c.status = 'sending'"
		     " AND c.id NOT IN (SELECT campaign_id FROM busy)"
		     " RETURNING c.id",
		     0, NULL);
	if (!r)
		return -1;
	c->campaigns_finished += PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
		log_info("campaign %s sent", PQgetvalue(r, i, 0));
	return 0;
}

/* ---- SMTP ---- */

struct delivery_sender {
	struct smtp_pool *pool;
	struct senders *senders; /* issue 16: which From and which DKIM key */
	int concurrency; /* this process's share */
	double rate;
	double pace; /* messages per ms the last full batch went at, 0 before one */
	char shown[160]; /* the URL without credentials, for the log */
};

struct delivery_sender *delivery_sender_open(const struct fs_config *cfg, int processes, char *err,
					     size_t errlen)
{
	struct smtp_settings st;
	struct delivery_sender *s;
	const char *scheme_end, *host;

	if (errlen)
		err[0] = '\0';
	if (!*cfg->smtp_url)
		return NULL;
	if (processes < 1)
		processes = 1;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(&st, 0, sizeof(st));
	st.url = cfg->smtp_url;
	st.user = cfg->smtp_user;
	st.password = cfg->smtp_password;
	st.ca_file = cfg->smtp_ca_file;
	st.tls = strcmp(cfg->smtp_tls, "starttls") == 0 ? SMTP_TLS_STARTTLS
		 : strcmp(cfg->smtp_tls, "none") == 0   ? SMTP_TLS_NONE
							: SMTP_TLS_AUTO;
	/* The settings are for the whole worker group; each process takes its share. */
	s->concurrency = (int)(cfg->smtp_concurrency / processes);
	if (s->concurrency < 1)
		s->concurrency = 1;
	s->rate = cfg->smtp_rate > 0 ? (double)cfg->smtp_rate / processes : 0;
	st.concurrency = s->concurrency;
	st.rate = s->rate;
	st.timeout_ms = cfg->smtp_timeout * 1000;
	s->pool = smtp_pool_new(&st, err, errlen);
	if (!s->pool) {
		free(s);
		return NULL;
	}
	/* DKIM (issue 16): a configured key that cannot sign stops the worker
	 * rather than letting it send unsigned mail. */
	{
		char kerr[256];
		s->senders = senders_new(cfg, kerr, sizeof(kerr));
		if (!s->senders) {
			snprintf(err, errlen, "DKIM (FLOWSEND_DKIM_*): %s; the worker stops rather "
				 "than send unsigned mail", kerr);
			smtp_pool_free(s->pool);
			free(s);
			return NULL;
		}
	}
	scheme_end = strstr(cfg->smtp_url, "://");
	host = strrchr(cfg->smtp_url, '@');
	if (scheme_end && host && host > scheme_end)
		snprintf(s->shown, sizeof(s->shown), "%.*s%s", (int)(scheme_end + 3 - cfg->smtp_url),
			 cfg->smtp_url, host + 1);
	else
		snprintf(s->shown, sizeof(s->shown), "%s", cfg->smtp_url);
	return s;
}

void delivery_sender_close(struct delivery_sender *s)
{
	if (!s)
		return;
	smtp_pool_free(s->pool);
	senders_free(s->senders);
	free(s);
}

const char *delivery_sender_describe(const struct delivery_sender *s, char *buf, size_t size)
{
	const struct dkim_signer *g = s ? senders_global(s->senders) : NULL;
	char dkim[300];

	if (g)
		snprintf(dkim, sizeof(dkim), "; DKIM: d=%s s=%s for FlowSend's address, tenants' "
			 "verified domains with their own keys", dkim_signer_domain(g),
			 dkim_signer_selector(g));
	else
		snprintf(dkim, sizeof(dkim), "; DKIM: tenants' verified domains only (no "
			 "FLOWSEND_DKIM_KEY_FILE: FlowSend's address goes out unsigned)");
	if (!s)
		snprintf(buf, size, "mock mode (no FLOWSEND_SMTP_URL): sends are recorded, nothing leaves");
	else if (s->rate > 0)
		snprintf(buf, size, "SMTP to %s, %d in flight, at most %.1f messages/s%s", s->shown,
			 s->concurrency, s->rate, dkim);
	else
		snprintf(buf, size, "SMTP to %s, %d in flight%s", s->shown, s->concurrency, dkim);
	return buf;
}

/* The claim with what a real message needs: the pre-rendered payload and
 * the tenant's sender settings. */
static const char claim_smtp_sql[] =
	CLAIM_DUE
	"  cl.payload::text AS payload, cl.attempts,"
	"  k.first_name, k.last_name, k.custom_fields::text AS custom,"
	"  u.from_name, u.from_email, u.reply_to,"
	CLAIM_SKIP
	" LEFT JOIN users u ON u.id = cl.user_id";

/* Hands rows over and records what earlier ones came to, in one commit: the
 * rows it marks 'handing' plus those still in flight never exceed the
 * sender's slots. Rows are handed over only while the batch's claim lives
 * (extended here, so a tidy pass that deletes it either goes first and the
 * hand-over finds nothing, or waits and finds the claim fresh); a row
 * claimed again by another worker has other attempts. A 5xx records sent and bounced, marks the contact bounced
 * and suppresses the address; a 4xx queues the row again after a delay. */
#define STEP_OUTCOMES \
	"WITH extended AS (" \
	"  UPDATE delivery_claims SET locked_until = flowsend_now() + interval '" CLAIM_MINUTES " minutes'" \
	"  WHERE id = $18 RETURNING id)," \
	" handed AS (" \
	"  UPDATE outbox o SET status = 'handing', message_id = x.mid" \
	"  FROM unnest($1::uuid[], $2::int[], $3::text[]) AS x(id, attempts, mid)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'" \
	"   AND EXISTS (SELECT 1 FROM extended) RETURNING o.id)," \
	" sent AS (" \
	"  UPDATE outbox o SET status = 'sent', sent_at = flowsend_now()," \
	"   last_error = NULL" \
	"  FROM unnest($4::uuid[], $5::int[]) AS x(id, attempts)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'handing'" \
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted," \
	"   o.flow_execution_id)," \
	" bounced AS (" \
	"  UPDATE outbox o SET status = 'bounced', last_error = x.why" \
	"  FROM unnest($6::uuid[], $7::int[], $8::text[]) AS x(id, attempts, why)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'handing'" \
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.to_email," \
	"   o.payload IS NULL AS counted, x.why, o.flow_execution_id)," \
	" retried AS (" \
	"  UPDATE outbox o SET status = 'pending', last_error = x.why," \
	"   next_attempt_at = flowsend_now() + make_interval(secs => x.delay)" \
	"  FROM unnest($9::uuid[], $10::int[], $11::text[], $12::int[]) AS x(id, attempts, why, delay)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'handing' RETURNING o.id)," \
	" failed AS (" \
	"  UPDATE outbox o SET status = 'failed', last_error = x.why" \
	"  FROM unnest($13::uuid[], $14::int[], $15::text[]) AS x(id, attempts, why)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status IN ('sending', 'handing')" \
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted, x.why," \
	"   o.flow_execution_id)," \
	" skipped AS (" \
	"  UPDATE outbox o SET status = 'cancelled'," \
	"   last_error = 'unsubscribed, bounced, suppressed or cancelled before sending'" \
	"  FROM unnest($16::uuid[], $17::int[]) AS x(id, attempts)" \
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending' RETURNING o.id)," \

/* Only with bounces: an UPDATE of contacts runs its statement triggers even
 * when it touches no row, which would cost every step. */
#define STEP_BOUNCES \
	" marked AS (" \
	"  UPDATE contacts k SET bounced_at = COALESCE(k.bounced_at, flowsend_now())," \
	"   updated_at = flowsend_now()" \
	"  FROM bounced b WHERE k.id = b.contact_id AND k.user_id = b.user_id RETURNING 1)," \
	" suppressed AS (" \
	"  INSERT INTO suppressions (user_id, email_hash, email, reason)" \
	"  SELECT DISTINCT ON (b.user_id, flowsend_email_hash(b.to_email))" \
	"   b.user_id, flowsend_email_hash(b.to_email), b.to_email, 'bounce'" \
	"   FROM bounced b WHERE b.contact_id IS NOT NULL" \
	"  ON CONFLICT (user_id, email_hash) DO NOTHING RETURNING 1)," \

#define STEP_RECORD \
	" events AS (" \
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id, event_type," \
	"   metadata)" \
	"  SELECT s.user_id, s.campaign_id, " FLOW_OF("s") ", s.contact_id, s.id, 'sent', '{}'::jsonb" \
	"   FROM sent s WHERE s.counted" \
	"  UNION ALL" \
	"  SELECT b.user_id, b.campaign_id, " FLOW_OF("b") ", b.contact_id, b.id, t.kind," \
	"   CASE WHEN t.kind = 'bounced' THEN jsonb_build_object('reply', b.why, 'bounce_type', 'hard')" \
	"   ELSE '{}'::jsonb END" \
	"   FROM bounced b CROSS JOIN (VALUES ('sent'), ('bounced')) AS t(kind) WHERE b.counted" \
	"  UNION ALL" \
	"  SELECT f.user_id, f.campaign_id, " FLOW_OF("f") ", f.contact_id, f.id, 'failed'," \
	"   jsonb_build_object('error', f.why)" \
	"   FROM failed f WHERE f.counted" \
	"  RETURNING 1)," \
	" tally AS (" \
	"  SELECT user_id, campaign_id, 1 AS sent, 0 AS bounced, 0 AS failed FROM sent WHERE counted" \
	"  UNION ALL SELECT user_id, campaign_id, 1, 1, 0 FROM bounced WHERE counted" \
	"  UNION ALL SELECT user_id, campaign_id, 0, 0, 1 FROM failed WHERE counted)," \
	" campaigns_counted AS (" \
	"  UPDATE campaigns c SET sent_count = c.sent_count + t.sent," \
	"   bounce_count = c.bounce_count + t.bounced, failed_count = c.failed_count + t.failed," \
	"   updated_at = flowsend_now()" \
	"  FROM (SELECT campaign_id, sum(sent) AS sent, sum(bounced) AS bounced, sum(failed) AS failed" \
	"        FROM tally WHERE campaign_id IS NOT NULL GROUP BY campaign_id) t" \
	"  WHERE c.id = t.campaign_id RETURNING 1)," \
	" daily AS (" \
	"  INSERT INTO daily_stats AS d (user_id, day, sent, bounced, failed)" \
	"  SELECT user_id, (flowsend_now() AT TIME ZONE 'UTC')::date, sum(sent), sum(bounced), sum(failed)" \
	"   FROM tally GROUP BY user_id" \
	"  ON CONFLICT (user_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent," \
	"   bounced = d.bounced + EXCLUDED.bounced, failed = d.failed + EXCLUDED.failed" \
	"  RETURNING 1)" \

static const char step_sql[] =
	STEP_OUTCOMES STEP_RECORD
	" SELECT (SELECT coalesce(string_agg(id::text, ','), '') FROM handed) AS handed,"
	" (SELECT count(*) FROM sent) AS sent, (SELECT count(*) FROM bounced) AS bounced,"
	" (SELECT count(*) FROM retried) AS retried, (SELECT count(*) FROM failed) AS failed,"
	" (SELECT count(*) FROM skipped) AS skipped, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM campaigns_counted) AS campaigns, (SELECT count(*) FROM daily) AS days";

static const char step_bounce_sql[] =
	STEP_OUTCOMES STEP_BOUNCES STEP_RECORD
	" SELECT (SELECT coalesce(string_agg(id::text, ','), '') FROM handed) AS handed,"
	" (SELECT count(*) FROM sent) AS sent, (SELECT count(*) FROM bounced) AS bounced,"
	" (SELECT count(*) FROM retried) AS retried, (SELECT count(*) FROM failed) AS failed,"
	" (SELECT count(*) FROM skipped) AS skipped, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM campaigns_counted) AS campaigns, (SELECT count(*) FROM daily) AS days,"
	" (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM suppressed) AS suppressed";

/* Rows claimed but never handed over (the pass ran out of time, or the
 * sender could not take them) go back to the queue at once. */
static const char release_sql[] =
	"UPDATE outbox o SET status = 'pending'"
	" FROM unnest($1::uuid[], $2::int[]) AS x(id, attempts)"
	" WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'";

/* Delays before the next try after a 4xx, by attempt: 1, 5, 15 minutes, 1,
 * 4 and 12 hours, then 12 hours. */
static const int retry_delays[] = { 60, 300, 900, 3600, 14400, 43200 };

struct step {
	const char *claim_id; /* the batch's claim, extended by every step */
	struct outcome_arrays hand, sent, bounced, retry, failed, skipped;
	struct strbuf hand_mid, bounced_why, retry_why, retry_delay, failed_why;
};

/* Empty a step's arrays for the next one (release = 0) or free them (release = 1). */
static void step_clear(struct step *s, int release)
{
	struct outcome_arrays *all[] = { &s->hand, &s->sent, &s->bounced, &s->retry, &s->failed,
					 &s->skipped };
	struct strbuf *texts[] = { &s->hand_mid, &s->bounced_why, &s->retry_why, &s->retry_delay,
				   &s->failed_why };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (release) {
			strbuf_free(&all[i]->ids);
			strbuf_free(&all[i]->attempts);
		} else {
			strbuf_reset(&all[i]->ids);
			strbuf_reset(&all[i]->attempts);
		}
		all[i]->n = 0;
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (release)
			strbuf_free(texts[i]);
		else
			strbuf_reset(texts[i]);
	}
}

static void step_free(struct step *s)
{
	step_clear(s, 1);
}

static void step_reset(struct step *s)
{
	step_clear(s, 0);
}

static int step_empty(const struct step *s)
{
	return !s->hand.n && !s->sent.n && !s->bounced.n && !s->retry.n && !s->failed.n && !s->skipped.n;
}

static void step_fail(struct step *s, const char *id, const char *attempts, const char *why)
{
	array_text(&s->failed_why, s->failed.n == 0, why);
	outcome_add(&s->failed, id, attempts);
}

static const char *text_array(struct strbuf *sb, size_t n)
{
	if (n == 0)
		return "{}";
	strbuf_appendc(sb, '}');
	return strbuf_cstr(sb);
}

/* Send one step without waiting for it: the worker keeps collecting what
 * the SMTP slots finish while the server runs it and flushes its commit
 * (a few ms on a durable disk), and the next step carries all of that. 0,
 * or -1 (nothing was sent). */
static int step_send(struct fs_db *db, struct step *s)
{
	const char *p[18];

	p[0] = outcome_array(&s->hand.ids, s->hand.n);
	p[1] = outcome_array(&s->hand.attempts, s->hand.n);
	p[2] = text_array(&s->hand_mid, s->hand.n);
	p[3] = outcome_array(&s->sent.ids, s->sent.n);
	p[4] = outcome_array(&s->sent.attempts, s->sent.n);
	p[5] = outcome_array(&s->bounced.ids, s->bounced.n);
	p[6] = outcome_array(&s->bounced.attempts, s->bounced.n);
	p[7] = text_array(&s->bounced_why, s->bounced.n);
	p[8] = outcome_array(&s->retry.ids, s->retry.n);
	p[9] = outcome_array(&s->retry.attempts, s->retry.n);
	p[10] = text_array(&s->retry_why, s->retry.n);
	p[11] = text_array(&s->retry_delay, s->retry.n);
	p[12] = outcome_array(&s->failed.ids, s->failed.n);
	p[13] = outcome_array(&s->failed.attempts, s->failed.n);
	p[14] = text_array(&s->failed_why, s->failed.n);
	p[15] = outcome_array(&s->skipped.ids, s->skipped.n);
	p[16] = outcome_array(&s->skipped.attempts, s->skipped.n);
	p[17] = s->claim_id;
	for (size_t i = 0; i < 18; i++)
		if (!p[i])
			return -1;
	return db_send_cached(db, s->bounced.n ? step_bounce_sql : step_sql, 18, p);
}

/* The answer of the step sent: the handed ids (comma-separated) into
 * *handed. 0, or -1 (whether it committed is then unknown). */
static int step_finish(struct fs_db *db, struct arena *a, const char **handed,
		       struct delivery_counts *c)
{
	PGresult *r = db_receive(db, a);

	if (!r)
		return -1;
	*handed = db_get(r, 0, "handed");
	c->sent += db_get_ll(r, 0, "sent", 0) + db_get_ll(r, 0, "bounced", 0);
	c->bounced += db_get_ll(r, 0, "bounced", 0);
	c->retried += db_get_ll(r, 0, "retried", 0);
	c->failed += db_get_ll(r, 0, "failed", 0);
	c->skipped += db_get_ll(r, 0, "skipped", 0);
	return 0;
}

/* After a failed step: drop its hand-over and reopen its outcome arrays
 * (step_send closed them with '}'), so the next step records them again.
 * Recording twice is harmless: each outcome names the row's state. */
static void step_reopen(struct step *s)
{
	struct outcome_arrays *all[] = { &s->sent, &s->bounced, &s->retry, &s->failed, &s->skipped };
	struct {
		struct strbuf *sb;
		size_t n;
	} texts[] = { { &s->bounced_why, s->bounced.n }, { &s->retry_why, s->retry.n },
		      { &s->retry_delay, s->retry.n }, { &s->failed_why, s->failed.n } };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (all[i]->n && all[i]->ids.len && all[i]->ids.buf[all[i]->ids.len - 1] == '}')
			all[i]->ids.buf[--all[i]->ids.len] = '\0';
		if (all[i]->n && all[i]->attempts.len &&
		    all[i]->attempts.buf[all[i]->attempts.len - 1] == '}')
			all[i]->attempts.buf[--all[i]->attempts.len] = '\0';
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].n && texts[i].sb->len && texts[i].sb->buf[texts[i].sb->len - 1] == '}')
			texts[i].sb->buf[--texts[i].sb->len] = '\0';
	strbuf_reset(&s->hand.ids);
	strbuf_reset(&s->hand.attempts);
	strbuf_reset(&s->hand_mid);
	s->hand.n = 0;
}

/* How long a finished message may wait for others to be recorded with it.
 * Session 12: 8 ms rather than 3 (durable test cluster, 20,000 messages into
 * smtp-sink): 0.116 commits a message instead of 0.147, the step's database
 * time a message 429 µs instead of 595 (each step has a fixed cost: the
 * claim's extension, the campaign's and the day's counters, the statement
 * triggers, the commit). */
#define GATHER_MS 8.0

enum slot_state { SLOT_FREE, SLOT_PREPARED, SLOT_BUSY, SLOT_DONE };

struct slot {
	struct smtp_job job;
	enum slot_state state;
	int row;
	struct strbuf msg;
	struct strbuf wire; /* DKIM-Signature + msg: what curl sends when signed */
	const struct dkim_signer *signer;
	long long signed_at;
	char message_id[200];
	char envelope_from[256]; /* bounce+<token>@<bounce domain> (VERP), when configured */
};

/* Issue 16: signing costs about 0.4 ms of CPU a message; done by the sender
 * thread (smtp_job.prepare), it overlaps the main loop's database steps.
 * The signer is thread-safe and outlives the batch's slots. */
static int slot_sign(struct smtp_job *job)
{
	struct slot *sl = job->tag;

	strbuf_reset(&sl->wire);
	if (dkim_signer_sign(sl->signer, sl->msg.buf, sl->msg.len, sl->signed_at, &sl->wire) < 0 ||
	    strbuf_append(&sl->wire, sl->msg.buf, sl->msg.len) < 0 || sl->wire.oom) {
		snprintf(job->out.text, sizeof(job->out.text), "DKIM signing failed (out of memory)");
		return -1; /* retried later, never sent unsigned */
	}
	job->data = sl->wire.buf;
	job->len = sl->wire.len;
	return 0;
}

/* Per batch: the claim and what rendering its rows needs. */
struct smtp_batch {
	struct fs_db *db;
	const struct fs_config *cfg;
	struct arena *a;
	PGresult *claim;
	struct campaign_render *cache;
	size_t ncache;
	struct strbuf subject, html, text;
	struct senders *senders;
};

#define ROW_UNREADABLE ((const char *)1)

/* A string member of a payload object (borrowed), or NULL. */
static const char *member_string(json_object *o, const char *key)
{
	json_object *v = o ? json_object_object_get(o, key) : NULL;

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *or_default(const char *v, const char *fallback)
{
	return v && *v ? v : fallback;
}

/* Build row i's message into sl; NULL, ROW_UNREADABLE (its campaign could
 * not be read: leave the row to lapse and be retried), or why it cannot go
 * out (the row fails). */
static const char *prepare_row(struct smtp_batch *b, int i, struct slot *sl)
{
	const PGresult *r = b->claim;
	const char *id = db_get(r, i, "id"), *campaign = db_get(r, i, "campaign_id");
	const char *payload = db_get(r, i, "payload");
	struct mail_message m;
	json_object *pl = NULL;
	char perr[64];
	const char *why = NULL, *domain;
	int account_mail = 0;
	struct sender_choice ch;
	long long now;

	memset(&m, 0, sizeof(m));
	strbuf_reset(&b->subject);
	strbuf_reset(&b->html);
	strbuf_reset(&b->text);
	if (campaign || db_get(r, i, "flow_execution_id")) {
		struct campaign_render *cr =
			campaign ? campaign_for(b->db, b->a, b->cfg, b->cache, &b->ncache, campaign)
				 : flow_step_for(b->db, b->a, b->cfg, b->cache, &b->ncache, r, i);
		struct tpl_values v = { 0 };
		const char *custom = db_get(r, i, "custom");
		char token[LINK_TOKEN_LEN + 1];
		int rc;

		if (cr->unreadable)
			return ROW_UNREADABLE;
		if (cr->problem)
			return cr->problem;
		if (link_token_mint(b->cfg, "u", id, token, sizeof(token)) < 0)
			return "the row's id cannot be signed";
		v.first_name = db_get(r, i, "first_name");
		v.last_name = db_get(r, i, "last_name");
		v.email = db_get(r, i, "to_email");
		v.postal_address = cr->postal_address;
		v.unsubscribe_url = arena_sprintf(b->a, "%s/u/%s", b->cfg->public_url, token);
		v.custom = custom ? fs_json_parse(custom, strlen(custom), perr, sizeof(perr)) : NULL;
		rc = tpl_render(cr->msg.subject, &v, &b->subject) < 0 ||
		     tpl_render(cr->msg.html, &v, &b->html) < 0 || tpl_render(cr->msg.text, &v, &b->text) < 0;
		json_object_put(v.custom);
		if (rc || b->subject.oom || b->html.oom || b->text.oom)
			return "rendering the message failed";
		/* Issue 17: links through /t/c/, an open pixel (SMTP mode only). */
		rc = track_links_apply(&cr->links, b->db, b->a, b->cfg, db_get(r, i, "user_id"),
				       campaign, cr->flow_id, id, &b->html);
		if (rc == -1)
			return ROW_UNREADABLE;
		if (rc < 0)
			return "tracking the message's links failed";
		m.unsubscribe_url = v.unsubscribe_url;
		m.to_name = arena_sprintf(b->a, "%s%s%s", or_default(v.first_name, ""),
					  v.first_name && *v.first_name && v.last_name && *v.last_name ? " " : "",
					  or_default(v.last_name, ""));
	} else if (payload) {
		const char *subject, *html, *text;

		pl = fs_json_parse(payload, strlen(payload), perr, sizeof(perr));
		subject = member_string(pl, "subject");
		html = member_string(pl, "html");
		text = member_string(pl, "text");
		if (!subject || !html) {
			json_object_put(pl);
			return "the queued message is incomplete";
		}
		account_mail = member_string(pl, "account_mail") != NULL;
		strbuf_appends(&b->subject, subject);
		strbuf_appends(&b->html, html);
		strbuf_appends(&b->text, text ? text : "");
		json_object_put(pl);
	} else {
		return "no message to send";
	}
	/* Issue 16: account mail is FlowSend's own (the global choice); the
	 * tenant's keeps its From only on a domain it verified. The choice
	 * gives header From, envelope sender, Message-ID domain and key. */
	if (account_mail ? senders_choose(b->senders, b->db, b->a, NULL, NULL, NULL, NULL, &ch)
			 : senders_choose(b->senders, b->db, b->a, db_get(r, i, "user_id"),
					  db_get(r, i, "from_name"), db_get(r, i, "from_email"),
					  db_get(r, i, "reply_to"), &ch))
		return ROW_UNREADABLE; /* the database did not answer: retried later */
	m.from_name = ch.from_name;
	m.from_email = ch.from_email;
	m.reply_to = ch.reply_to;
	domain = strrchr(m.from_email, '@');
	if (!domain || mail_message_id(id, domain + 1, sl->message_id, sizeof(sl->message_id)) < 0)
		return "the sender address has no usable domain for a Message-ID";
	m.to_email = db_get(r, i, "to_email");
	m.subject = strbuf_cstr(&b->subject);
	m.html = strbuf_cstr(&b->html);
	m.html_len = b->html.len;
	m.text = strbuf_cstr(&b->text);
	m.text_len = b->text.len;
	m.message_id = sl->message_id;
	m.outbox_id = id;
	now = (long long)clock_now();
	m.date = now;
	strbuf_reset(&sl->msg);
	if (mail_message_build(&m, &sl->msg) < 0 || sl->msg.oom)
		why = "the message could not be built (an address or header is not usable)";
	if (why)
		return why;
	memset(&sl->job, 0, sizeof(sl->job));
	sl->job.from = m.from_email;
	/* Issue 18: with a bounce domain, reports of what became of the
	 * message come back to an address that names its row, signed so that
	 * a forged report cannot name another (services/bounces.c). */
	if (*b->cfg->bounce_domain) {
		if (verp_address(b->cfg->link_secret, id, b->cfg->bounce_domain, sl->envelope_from,
				 sizeof(sl->envelope_from)) < 0)
			return "the row's id cannot be signed";
		sl->job.from = sl->envelope_from;
	}
	sl->job.to = m.to_email;
	sl->job.data = sl->msg.buf;
	sl->job.len = sl->msg.len;
	/* Issue 16: the exact bytes built are signed in the sender thread, the
	 * signature first. */
	sl->signer = ch.signer;
	sl->signed_at = now;
	sl->job.prepare = ch.signer ? slot_sign : NULL;
	sl->job.tag = sl;
	sl->row = i;
	return NULL;
}

/* An SMTP outcome into the step. */
static void record_outcome(struct step *s, const struct fs_config *cfg, const PGresult *claim,
			   const struct slot *sl)
{
	const char *id = db_get(claim, sl->row, "id"), *attempts = db_get(claim, sl->row, "attempts");
	const struct smtp_outcome *o = &sl->job.out;
	long tries = strtol(attempts, NULL, 10);
	const char *why = *o->text ? o->text : "no reply";

	switch (o->result) {
	case SMTP_ACCEPTED:
		outcome_add(&s->sent, id, attempts);
		break;
	case SMTP_PERMANENT:
		array_text(&s->bounced_why, s->bounced.n == 0, why);
		outcome_add(&s->bounced, id, attempts);
		break;
	case SMTP_IN_DOUBT:
		step_fail(s, id, attempts, why);
		break;
	case SMTP_TEMPORARY:
		if (tries >= cfg->smtp_max_attempts) {
			char final[300];
			snprintf(final, sizeof(final), "gave up after %ld attempts: %s", tries, why);
			step_fail(s, id, attempts, final);
		} else {
			size_t k = (size_t)(tries < 1 ? 0 : tries - 1);
			if (k >= sizeof(retry_delays) / sizeof(retry_delays[0]))
				k = sizeof(retry_delays) / sizeof(retry_delays[0]) - 1;
			array_text(&s->retry_why, s->retry.n == 0, why);
			strbuf_appendf(&s->retry_delay, "%s%d", s->retry.n ? "," : "{", retry_delays[k]);
			outcome_add(&s->retry, id, attempts);
		}
		break;
	}
}

static int id_listed(const char *list, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && memcmp(p, id, n) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static long run_batch_smtp(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			   struct delivery_sender *snd, double deadline, struct delivery_counts *c)
{
	struct smtp_batch b;
	struct step st;
	struct slot *slots = NULL;
	struct smtp_job **done = NULL;
	struct outcome_arrays release = { STRBUF_INIT, STRBUF_INIT, 0 };
	char limit[16];
	const char *cp[1] = { limit };
	int nslots = snd->concurrency, next = 0, stop_handing = 0, db_failures = 0, generic = 0;
	double first_done = 0; /* when the oldest finished, unrecorded message came back */
	long claimed, ret = -1;
	double started = time_monotonic_ms();

	/* A rate ceiling spreads a batch over time: claim no more than about ten
	 * seconds' worth, so rows do not sit claimed while others wait. */
	if (snd->rate > 0 && batch > snd->rate * 10 + nslots)
		batch = (int)(snd->rate * 10) + nslots;
	/* Near the pass's end, claim what can go before it rather than a full
	 * batch whose rest would only be released again. */
	if (deadline > 0 && snd->pace > 0) {
		double fits = snd->pace * (deadline - started) + nslots;
		if (fits < batch)
			batch = fits > nslots ? (int)fits : nslots;
	}
	snprintf(limit, sizeof(limit), "%d", batch);
	memset(&b, 0, sizeof(b));
	/* Every session runs without JIT (db.c): with 100,000 rows queued the
	 * claim's estimate passed jit_above_cost, and compiling took 54-575 ms. */
	b.claim = db_query_queue(db, a, claim_smtp_sql, 1, cp);
	if (!b.claim)
		return -1;
	claimed = PQntuples(b.claim);
	if (claimed == 0)
		return 0;
	b.db = db;
	b.cfg = cfg;
	b.a = a;
	b.senders = snd->senders;
	memset(&st, 0, sizeof(st));
	st.claim_id = db_get(b.claim, 0, "claim_id");
	b.cache = arena_alloc(a, (size_t)claimed * sizeof(*b.cache));
	slots = calloc((size_t)nslots, sizeof(*slots));
	done = calloc((size_t)nslots, sizeof(*done));
	if (!b.cache || !slots || !done)
		goto out;
	/* The step runs hundreds of times a second. Planned afresh each time
	 * (PostgreSQL keeps choosing custom plans for its arrays) it cost 5-15 ms
	 * of planning alone; its generic plan is as good. Only this loop's
	 * statements (the step, campaign_for by id) run under the setting. */
	if (!db_query(db, a, "SET plan_cache_mode = force_generic_plan", 0, NULL))
		goto out;
	generic = 1;

	for (;;) {
		int want = 0, busy = 0, ndone = 0, finished = 0;
		const char *handed = "";

		if (deadline > 0 && time_monotonic_ms() >= deadline)
			stop_handing = 1;
		/* Finished messages are recorded in the step that hands the next
		 * ones over, so their slots take new rows now: at that commit, rows
		 * in 'handing' are still at most the slots. */
		for (int k = 0; k < nslots; k++) {
			if (slots[k].state == SLOT_DONE) {
				record_outcome(&st, cfg, b.claim, &slots[k]);
				slots[k].state = SLOT_FREE;
				ndone++;
			}
		}
		if (ndone) {
			smtp_pool_release(snd->pool, ndone);
			first_done = 0;
		}
		if (!stop_handing)
			want = smtp_pool_ready(snd->pool);
		for (int prepared = 0; prepared < want && next < claimed;) {
			int i = next++;
			const char *id = db_get(b.claim, i, "id"), *attempts = db_get(b.claim, i, "attempts");
			struct slot *sl = NULL;
			const char *why;

			if (db_get_bool(b.claim, i, "skip")) {
				outcome_add(&st.skipped, id, attempts);
				continue;
			}
			for (int k = 0; k < nslots && !sl; k++)
				if (slots[k].state == SLOT_FREE)
					sl = &slots[k];
			if (!sl) { /* cannot happen: ready counts free slots */
				next--;
				break;
			}
			why = prepare_row(&b, i, sl);
			if (why == ROW_UNREADABLE)
				continue; /* its claim lapses and the mail goes back in the queue */
			if (why) {
				step_fail(&st, id, attempts, why);
				continue;
			}
			array_text(&st.hand_mid, st.hand.n == 0, sl->message_id);
			outcome_add(&st.hand, id, attempts);
			sl->state = SLOT_PREPARED;
			prepared++;
		}
		for (int k = 0; k < nslots; k++)
			busy += slots[k].state == SLOT_BUSY;
		if (!step_empty(&st)) {
			int ok = step_send(db, &st) == 0;

			/* While the server runs the step and flushes its commit, the
			 * slots in flight keep working: what they finish meanwhile goes
			 * into the next step, so a step records as many messages as
			 * finish during one commit instead of a few. Nothing finished
			 * can be recorded before the answer, so the loop sleeps on the
			 * database's socket alone and collects the finished messages
			 * once, when the answer is in (session 11: waking for each
			 * finished message, and every millisecond, cost the worker a
			 * context switch per message). */
			double sent_at = time_monotonic_ms();
			while (ok && !db_answer_ready(db)) {
				struct pollfd pf = { db_socket(db), POLLIN, 0 };
				poll(&pf, 1, 100);
			}
			if (ok && busy > 0) {
				size_t n = smtp_pool_wait(snd->pool, done, (size_t)nslots, 0, 0);
				for (size_t k = 0; k < n; k++)
					((struct slot *)done[k]->tag)->state = SLOT_DONE;
				/* They finished at some moment during the step: count
				 * the gathering from its start. */
				if (n && first_done == 0)
					first_done = sent_at;
				finished += (int)n;
			}
			busy -= finished;
			if (!ok || step_finish(db, a, &handed, c) < 0) {
				/* Whether it committed is unknown: prepared rows are not
				 * handed over (if they were, their claim lapses and they
				 * fail as interrupted), finished ones are recorded again
				 * with the next try. */
				db_failures++;
				stop_handing = 1;
				for (int k = 0; k < nslots; k++)
					if (slots[k].state == SLOT_PREPARED)
						slots[k].state = SLOT_FREE;
				step_reopen(&st);
				if (db_failures >= 3 && busy == 0)
					goto out;
				if (db_failures >= 3)
					goto wait;
				continue;
			}
			for (int k = 0; k < nslots; k++) {
				struct slot *sl = &slots[k];
				if (sl->state == SLOT_PREPARED) {
					if (id_listed(handed, db_get(b.claim, sl->row, "id"))) {
						sl->state = SLOT_BUSY;
						smtp_pool_submit(snd->pool, &sl->job);
						busy++;
					} else {
						sl->state = SLOT_FREE; /* our claim lapsed: not ours to send */
					}
				}
			}
			step_reset(&st);
			/* Record what finished meanwhile at once when the step took
			 * long enough (a durable commit) or gathered enough. */
			if (finished && (finished * 2 >= nslots || busy == 0 ||
					 time_monotonic_ms() >= first_done + GATHER_MS))
				continue;
		}
		if (busy == 0 && (stop_handing || next >= claimed))
			break;
wait:
		{
			/* A step costs about the same for one row as for dozens: once
			 * a message has finished, gather more for up to GATHER_MS
			 * (or until half the slots are done) before the next step.
			 * A step that waited that long for its commit gathered
			 * meanwhile and does not wait again. */
			int got = 0, in_flight = busy;
			for (int k = 0; k < nslots; k++)
				got += slots[k].state == SLOT_DONE;
			for (;;) {
				size_t n;
				if (got > 0 && (in_flight <= 0 || got * 2 >= nslots ||
						time_monotonic_ms() >= first_done + GATHER_MS))
					break;
				n = smtp_pool_wait(snd->pool, done, (size_t)nslots,
						   got == 0 && !stop_handing && next < claimed,
						   got == 0 ? 1000
							    : (long)(first_done + GATHER_MS - time_monotonic_ms()) + 1);
				for (size_t k = 0; k < n; k++)
					((struct slot *)done[k]->tag)->state = SLOT_DONE;
				if (n && first_done == 0)
					first_done = time_monotonic_ms();
				got += (int)n;
				in_flight -= (int)n;
				if (got == 0)
					break; /* a slot is free for more rows, or a second went by */
			}
		}
	}
	ret = claimed;
	if (next >= claimed && claimed >= batch && claimed > nslots) {
		double took = time_monotonic_ms() - started;
		if (took > 0)
			snd->pace = (double)claimed / took;
	}
out:
	/* Nothing may be freed while a sender thread still reads it. */
	if (slots) {
		for (;;) {
			int busy = 0;
			for (int k = 0; k < nslots; k++)
				busy += slots[k].state == SLOT_BUSY;
			if (!busy)
				break;
			size_t n = smtp_pool_wait(snd->pool, done, (size_t)nslots, 0, 1000);
			for (size_t k = 0; k < n; k++)
				((struct slot *)done[k]->tag)->state = SLOT_DONE;
		}
		for (int k = 0; k < nslots; k++)
			if (slots[k].state == SLOT_DONE)
				smtp_pool_release(snd->pool, 1);
	}
	if (generic)
		db_query(db, a, "RESET plan_cache_mode", 0, NULL);
	/* Rows never reached go back to the queue now rather than after their claim lapses. */
	for (long i = next; b.claim && i < claimed; i++)
		if (!db_get_bool(b.claim, (int)i, "skip"))
			outcome_add(&release, db_get(b.claim, (int)i, "id"), db_get(b.claim, (int)i, "attempts"));
	if (release.n) {
		const char *p[2] = { outcome_array(&release.ids, release.n),
				     outcome_array(&release.attempts, release.n) };
		if (!db_query(db, a, release_sql, 2, p))
			ret = -1;
	}
	if (ret >= 0 && claim_end(db, a, b.claim) < 0)
		ret = -1;
	strbuf_free(&release.ids);
	strbuf_free(&release.attempts);
	for (size_t i = 0; i < b.ncache; i++)
		tpl_message_free(&b.cache[i].msg);
	for (int k = 0; slots && k < nslots; k++) {
		strbuf_free(&slots[k].msg);
		strbuf_free(&slots[k].wire);
	}
	/* Issue 16: no slot holds a signed message now; drop keys of domains gone. */
	senders_sweep(snd->senders);
	free(slots);
	free(done);
	strbuf_free(&b.subject);
	strbuf_free(&b.html);
	strbuf_free(&b.text);
	step_free(&st);
	return ret;
}

long delivery_run_batch(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			struct delivery_sender *sender, double deadline_ms,
			struct delivery_counts *c)
{
	if (!sender)
		return run_batch_mock(db, cfg, a, batch, c);
	return run_batch_smtp(db, cfg, a, batch, sender, deadline_ms, c);
}
