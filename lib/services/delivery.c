/* Delivery. A claim is its own statement (committed at once, so other
 * workers skip those rows); the outcome of a whole batch is one statement
 * too: outbox rows, events, the campaigns' counts and the daily rollup move
 * together or not at all. Each outcome names the claim (row id and attempt
 * number), so a worker whose claim lapsed cannot record over another's. */
#include "services/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "json/json.h"
#include "mail/links.h"
#include "mail/template.h"
#include "models/plan.h"
#include "services/campaigns.h"

#define CLAIM_MINUTES "10"

/* A campaign's compiled message and sender data, shared by its rows in a batch. */
struct campaign_render {
	const char *id;
	const char *postal_address;
	struct tpl_message msg;
	const char *problem; /* why its rows fail, or NULL */
	int unreadable;      /* a database error: leave its rows to be retried */
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
	"  UPDATE outbox o SET status = 'sent', sent_at = flowsend_now(), locked_until = NULL,"
	"   message_id = '<' || o.id || '@mock.flowsend>'"
	"  FROM unnest($1::uuid[], $2::int[]) AS x(id, attempts)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted),"
	" failed AS ("
	"  UPDATE outbox o SET status = 'failed', locked_until = NULL, last_error = x.why"
	"  FROM unnest($3::uuid[], $4::int[], $5::text[]) AS x(id, attempts, why)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending'"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.payload IS NULL AS counted, x.why),"
	" skipped AS ("
	"  UPDATE outbox o SET status = 'cancelled', locked_until = NULL,"
	"   last_error = 'unsubscribed, bounced, suppressed or cancelled before sending'"
	"  FROM unnest($6::uuid[], $7::int[]) AS x(id, attempts)"
	"  WHERE o.id = x.id AND o.attempts = x.attempts AND o.status = 'sending' RETURNING o.id),"
	" events AS ("
	"  INSERT INTO email_events (user_id, campaign_id, contact_id, outbox_id, event_type, metadata)"
	"  SELECT s.user_id, s.campaign_id, s.contact_id, s.id, t.kind, '{}'::jsonb"
	"   FROM sent s CROSS JOIN (VALUES ('sent'), ('delivered')) AS t(kind)"
	"   WHERE s.counted AND (t.kind = 'sent' OR $8::boolean)"
	"  UNION ALL"
	"  SELECT f.user_id, f.campaign_id, f.contact_id, f.id, 'failed', jsonb_build_object('error', f.why)"
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
	"  RETURNING 1)"
	" SELECT (SELECT count(*) FROM sent) AS sent, (SELECT count(*) FROM failed) AS failed,"
	" (SELECT count(*) FROM skipped) AS skipped, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM campaigns_counted) AS campaigns, (SELECT count(*) FROM daily) AS days";

static const char claim_sql[] =
	"WITH due AS ("
	"  SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= flowsend_now()"
	"  ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE SKIP LOCKED),"
	" claimed AS ("
	"  UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,"
	"   locked_until = flowsend_now() + interval '" CLAIM_MINUTES " minutes'"
	"  FROM due WHERE o.id = due.id"
	"  RETURNING o.id, o.user_id, o.campaign_id, o.contact_id, o.to_email, o.payload, o.attempts)"
	" SELECT cl.id, cl.user_id, cl.campaign_id, cl.contact_id, cl.to_email,"
	"  cl.payload IS NOT NULL AS prerendered, cl.attempts,"
	"  k.first_name, k.last_name, k.custom_fields::text AS custom,"
	"  ((cl.contact_id IS NOT NULL AND (k.id IS NULL OR NOT k.is_subscribed"
	"    OR k.bounced_at IS NOT NULL))"
	"   OR EXISTS (SELECT 1 FROM suppressions x WHERE x.user_id = cl.user_id"
	"    AND x.email_hash = flowsend_email_hash(cl.to_email))"
	"   OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = cl.campaign_id"
	"    AND c.status = 'cancelled')) AS skip"
	" FROM claimed cl LEFT JOIN contacts k ON k.id = cl.contact_id AND k.user_id = cl.user_id";

long delivery_run_batch(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			struct delivery_counts *c)
{
	char limit[16];
	const char *cp[1] = { limit };
	struct batch_outcome out;
	struct campaign_render *cache;
	struct strbuf scratch = STRBUF_INIT;
	size_t ncache = 0;
	long claimed;
	PGresult *r;

	snprintf(limit, sizeof(limit), "%d", batch);
	r = db_query(db, a, claim_sql, 1, cp);
	if (!r)
		return -1;
	claimed = PQntuples(r);
	if (claimed == 0)
		return 0;
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
		if (campaign) {
			struct campaign_render *cr = campaign_for(db, a, cfg, cache, &ncache, campaign);
			if (cr->unreadable)
				continue; /* its claim lapses and the mail goes back in the queue */
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
		const char *p[8];
		p[0] = outcome_array(&out.sent.ids, out.sent.n);
		p[1] = outcome_array(&out.sent.attempts, out.sent.n);
		p[2] = outcome_array(&out.failed.ids, out.failed.n);
		p[3] = outcome_array(&out.failed.attempts, out.failed.n);
		p[4] = out.failed.n ? (strbuf_appendc(&out.why, '}'), strbuf_cstr(&out.why)) : "{}";
		p[5] = outcome_array(&out.skipped.ids, out.skipped.n);
		p[6] = outcome_array(&out.skipped.attempts, out.skipped.n);
		p[7] = "t"; /* mock mode: accepted counts as delivered */
		r = db_query(db, a, record_sql, 8, p);
	}
	outcome_free(&out);
	if (!r)
		return -1;
	c->sent += db_get_ll(r, 0, "sent", 0);
	c->failed += db_get_ll(r, 0, "failed", 0);
	c->skipped += db_get_ll(r, 0, "skipped", 0);
	return claimed;
}

int delivery_tidy(struct fs_db *db, struct arena *a, struct delivery_counts *c)
{
	PGresult *r;

	/* A worker that died mid-batch left its claim; after the lock lapses the
	 * mail goes back in the queue. */
	if (!db_query(db, a,
		      "UPDATE outbox SET status = 'pending', locked_until = NULL"
		      " WHERE status = 'sending' AND locked_until < flowsend_now()",
		      0, NULL))
		return -1;
	r = db_query(db, a,
		     "UPDATE campaigns c SET status = 'sent', sent_at = flowsend_now(), updated_at = flowsend_now()"
		     " WHERE c.status = 'sending' AND NOT EXISTS (SELECT 1 FROM outbox o"
		     "  WHERE o.campaign_id = c.id AND o.status IN ('pending', 'sending'))"
		     " RETURNING c.id",
		     0, NULL);
	if (!r)
		return -1;
	c->campaigns_finished += PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
		log_info("campaign %s sent", PQgetvalue(r, i, 0));
	return 0;
}
