/* Bounces and complaints that arrive after delivery (issue 18). The SMTP
 * path records a 5xx in its step (services/delivery.c, STEP_BOUNCES); these
 * statements record the same things for one message, guarded by the
 * mail_feedback row that makes a second report of the same kind a no-op. */
#include "services/bounces.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "db/db.h"
#include "mail/links.h"
#include "mail/provider.h"

/* The row's tenant and state, across tenants (the report names no tenant). */
static const char find_sql[] = "SELECT user_id, status, message_id FROM outbox WHERE id = $1";

/* Claims the report for the message: one row per message and kind. The
 * contact's row lock makes two reports for one contact take turns, so the
 * later one counts the earlier's soft bounce (its next statement reads what
 * the first committed). PostgreSQL runs a non-modifying WITH only when read:
 * the final SELECT reads every one. */
static const char claim_sql[] =
	"WITH o AS ("
	"  SELECT id, user_id, contact_id FROM outbox WHERE id = $1 AND status = 'sent'),"
	" k AS (SELECT k.id FROM contacts k JOIN o ON k.id = o.contact_id AND k.user_id = o.user_id"
	"  FOR UPDATE OF k),"
	" fb AS ("
	"  INSERT INTO mail_feedback (outbox_id, user_id, contact_id, kind, source)"
	"  SELECT id, user_id, contact_id, $2, $3 FROM o ON CONFLICT DO NOTHING RETURNING 1)"
	" SELECT (SELECT count(*) FROM o) AS found, (SELECT count(*) FROM k) AS locked,"
	" (SELECT count(*) FROM fb) AS new";

#define MESSAGE_CTE \
	"WITH o AS (" \
	"  SELECT o.id, o.user_id, o.contact_id, o.campaign_id, o.to_email, fe.flow_id," \
	"   o.payload IS NULL AS counted FROM outbox o" \
	"  LEFT JOIN flow_executions fe ON fe.id = o.flow_execution_id AND fe.user_id = o.user_id" \
	"  WHERE o.id = $1)," \

/* A hard bounce, as the SMTP step records a 5xx (the sent event is already
 * there): the contact marked, the address suppressed, the bounced event and
 * the campaign's and the day's counts for mail the figures count. */
static const char hard_sql[] =
	MESSAGE_CTE
	" marked AS ("
	"  UPDATE contacts k SET bounced_at = COALESCE(k.bounced_at, flowsend_now()),"
	"   updated_at = flowsend_now()"
	"  FROM o WHERE k.id = o.contact_id AND k.user_id = o.user_id RETURNING 1),"
	" suppressed AS ("
	"  INSERT INTO suppressions (user_id, email_hash, email, reason)"
	"  SELECT o.user_id, flowsend_email_hash(o.to_email), o.to_email, 'bounce'"
	"   FROM o WHERE o.contact_id IS NOT NULL"
	"  ON CONFLICT (user_id, email_hash) DO NOTHING RETURNING 1),"
	" events AS ("
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id,"
	"   event_type, metadata)"
	"  SELECT o.user_id, o.campaign_id, o.flow_id, o.contact_id, o.id, 'bounced', $2::jsonb"
	"   FROM o WHERE o.counted RETURNING 1),"
	" counted AS ("
	"  UPDATE campaigns c SET bounce_count = c.bounce_count + 1, updated_at = flowsend_now()"
	"  FROM o WHERE c.id = o.campaign_id AND o.counted RETURNING 1),"
	" daily AS ("
	"  INSERT INTO daily_stats AS d (user_id, day, bounced)"
	"  SELECT o.user_id, (flowsend_now() AT TIME ZONE 'UTC')::date, 1 FROM o WHERE o.counted"
	"  ON CONFLICT (user_id, day) DO UPDATE SET bounced = d.bounced + 1 RETURNING 1)"
	" SELECT (SELECT count(*) FROM marked) AS marked,"
	" (SELECT count(*) FROM suppressed) AS suppressed, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM counted) AS campaigns, (SELECT count(*) FROM daily) AS days";

/* A complaint: the contact unsubscribed (an unsubscribes row whose trigger
 * records the opt-out, as the unsubscribe link does) and its address
 * suppressed, the complained event and the counts. */
static const char complaint_sql[] =
	MESSAGE_CTE
	" c AS ("
	"  UPDATE contacts k SET is_subscribed = false, unsubscribed_at = flowsend_now(),"
	"   updated_at = flowsend_now()"
	"  FROM o WHERE k.id = o.contact_id AND k.user_id = o.user_id AND k.is_subscribed"
	"  RETURNING k.id, k.email),"
	" u AS ("
	"  INSERT INTO unsubscribes (user_id, contact_id, email_hash, campaign_id, flow_id, source)"
	"  SELECT o.user_id, c.id, flowsend_email_hash(c.email), o.campaign_id, o.flow_id,"
	"   'complaint' FROM c CROSS JOIN o RETURNING 1),"
	" suppressed AS ("
	"  INSERT INTO suppressions (user_id, email_hash, email, reason)"
	"  SELECT o.user_id, flowsend_email_hash(o.to_email), o.to_email, 'complaint'"
	"   FROM o WHERE o.contact_id IS NOT NULL"
	"  ON CONFLICT (user_id, email_hash) DO NOTHING RETURNING 1),"
	" events AS ("
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id,"
	"   event_type, metadata)"
	"  SELECT o.user_id, o.campaign_id, o.flow_id, o.contact_id, o.id, 'complained', $2::jsonb"
	"   FROM o WHERE o.counted RETURNING 1),"
	" counted AS ("
	"  UPDATE campaigns k SET complaint_count = k.complaint_count + 1, updated_at = flowsend_now()"
	"  FROM o WHERE k.id = o.campaign_id AND o.counted RETURNING 1),"
	" daily AS ("
	"  INSERT INTO daily_stats AS d (user_id, day, complained)"
	"  SELECT o.user_id, (flowsend_now() AT TIME ZONE 'UTC')::date, 1 FROM o WHERE o.counted"
	"  ON CONFLICT (user_id, day) DO UPDATE SET complained = d.complained + 1 RETURNING 1)"
	" SELECT (SELECT count(*) FROM c) AS marked,"
	" (SELECT count(*) FROM suppressed) AS suppressed, (SELECT count(*) FROM events) AS events,"
	" (SELECT count(*) FROM counted) AS campaigns, (SELECT count(*) FROM daily) AS days";

/* "In a row": the contact's latest messages that were accepted, the newest
 * first; a soft bounce among them counts, one that arrived fine breaks the
 * run (its report, if any comes, counts when it arrives). */
static const char streak_sql[] =
	"SELECT count(f.outbox_id) AS soft,"
	" (SELECT k.bounced_at IS NOT NULL FROM outbox o JOIN contacts k ON k.id = o.contact_id"
	"   AND k.user_id = o.user_id WHERE o.id = $1) AS bounced"
	" FROM (SELECT x.id FROM outbox o JOIN outbox x ON x.contact_id = o.contact_id"
	"        AND x.user_id = o.user_id"
	"       WHERE o.id = $1 AND x.status = 'sent'"
	"       ORDER BY x.sent_at DESC, x.id DESC LIMIT " "3" ") last"
	" LEFT JOIN mail_feedback f ON f.outbox_id = last.id AND f.kind = 'soft'";

_Static_assert(BOUNCE_SOFT_LIMIT == 3, "streak_sql's LIMIT is BOUNCE_SOFT_LIMIT");

static void add(json_object *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_object_add(o, key, json_object_new_string(v));
}

/* The event's metadata: where the news came from and what the report said. */
static const char *metadata(struct arena *a, const char *bounce_type, const char *source,
			    const struct dsn_report *r, long long soft)
{
	json_object *o = json_object_new_object();
	const char *s;

	add(o, "bounce_type", bounce_type);
	add(o, "source", source);
	if (r) {
		add(o, "status", r->status);
		add(o, "action", r->action);
		add(o, "diagnostic", r->diagnostic);
		add(o, "recipient", r->recipient);
		add(o, "feedback_type", r->feedback_type);
	}
	if (soft)
		json_object_object_add(o, "soft_bounces", json_object_new_int64(soft));
	s = arena_strdup(a, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static PGresult *run(struct fs_env *env, const char *sql, const char *id, const char *meta)
{
	const char *p[2] = { id, meta };

	return db_query_cached(env->db, env->arena, sql, meta ? 2 : 1, p);
}

enum fs_status bounce_record(struct fs_env *env, const char *outbox_id, const char *message_id,
			     enum dsn_kind kind, const struct dsn_report *report, const char *source,
			     struct bounce_result *out, struct fs_error *err)
{
	const char *p[3] = { outbox_id, dsn_kind_name(kind), source }, *status, *meta;
	enum fs_status ret = FS_ERROR;
	PGresult *r;

	snprintf(out->outbox_id, sizeof(out->outbox_id), "%s", outbox_id);
	out->outcome = BOUNCE_IGNORED;
	if (kind == DSN_NONE)
		return FS_OK;
	r = db_query_cached(env->sysdb, env->arena, find_sql, 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "finding the message failed");
	if (PQntuples(r) != 1)
		return FS_OK; /* erased with its contact, or never ours */
	/* A provider names the message by Message-ID, whose id part anyone can
	 * write: it must be the one the row was sent with. */
	if (message_id && !(db_get(r, 0, "message_id") &&
			    strcmp(db_get(r, 0, "message_id"), message_id) == 0))
		return FS_OK;
	status = db_get(r, 0, "status");
	snprintf(out->user_id, sizeof(out->user_id), "%s", db_get(r, 0, "user_id"));
	if (strcmp(status, "handing") == 0) {
		out->outcome = BOUNCE_TOO_EARLY; /* accepted, but its outcome is not committed */
		return FS_OK;
	}
	if (strcmp(status, "sent") != 0)
		return FS_OK; /* never accepted by a relay: no report can be about it */
	if (db_begin_tenant(env->db, out->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query_cached(env->db, env->arena, claim_sql, 3, p);
	if (!r) {
		ret = fs_fail(err, FS_ERROR, "recording the report failed");
		goto out;
	}
	if (db_get_ll(r, 0, "found", 0) == 0) {
		ret = FS_OK; /* changed state since the lookup */
		goto out;
	}
	if (db_get_ll(r, 0, "new", 0) == 0) {
		out->outcome = BOUNCE_REPLAYED;
		ret = FS_OK;
		goto out;
	}
	if (kind == DSN_SOFT) {
		r = run(env, streak_sql, outbox_id, NULL);
		if (!r) {
			ret = fs_fail(err, FS_ERROR, "counting soft bounces failed");
			goto out;
		}
		out->soft_in_a_row = db_get_ll(r, 0, "soft", 0);
		/* The third in a row is recorded as the bounce it has become;
		 * a contact already bounced needs nothing more. */
		if (out->soft_in_a_row < BOUNCE_SOFT_LIMIT || db_get_bool(r, 0, "bounced")) {
			out->outcome = BOUNCE_RECORDED;
			goto commit;
		}
	}
	meta = metadata(env->arena, kind == DSN_COMPLAINT ? NULL : dsn_kind_name(kind), source,
			report, kind == DSN_SOFT ? out->soft_in_a_row : 0);
	r = meta ? run(env, kind == DSN_COMPLAINT ? complaint_sql : hard_sql, outbox_id, meta) : NULL;
	if (!r) {
		ret = fs_fail(err, FS_ERROR, "recording the report failed");
		goto out;
	}
	out->suppressed = db_get_ll(r, 0, "suppressed", 0) > 0;
	out->outcome = BOUNCE_RECORDED;
commit:
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "recording the report failed (commit)");
	return FS_OK;
out:
	db_rollback(env->db);
	return ret;
}

enum fs_status bounce_process(struct fs_env *env, const char *recipient, const char *msg,
			      size_t len, struct bounce_result *out, struct fs_error *err)
{
	size_t off, tlen;
	char id[37];

	memset(out, 0, sizeof(*out));
	out->outcome = BOUNCE_FORGED;
	if (!recipient || verp_find_token(recipient, strlen(recipient), &off, &tlen) < 0 ||
	    verp_token_verify(env->cfg->link_secret, recipient + off, tlen, id, sizeof(id)) < 0)
		return FS_OK;
	snprintf(out->outbox_id, sizeof(out->outbox_id), "%s", id);
	out->outcome = BOUNCE_IGNORED;
	if (dsn_parse(msg, len, &out->report) == DSN_NONE)
		return FS_OK;
	/* The token decides which message this is; a returned copy that names
	 * another row is no report of ours (a forwarded or doctored one). */
	if (*out->report.outbox_id && strcasecmp(out->report.outbox_id, id) != 0) {
		log_warn("bounce report for %s returns a copy of %.40s: ignored", id,
			 out->report.outbox_id);
		return FS_OK;
	}
	return bounce_record(env, id, NULL, out->report.kind, &out->report, "dsn", out, err);
}

/* ---- provider webhooks ---- */

#define CERT_MAX (64u << 10)
#define CERT_CACHE 8
#define SENDGRID_EVENTS_MAX 1000

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct strbuf *sb = arg;

	if (sb->len + size * n > CERT_MAX)
		return 0; /* too big for a certificate or a confirmation: abort */
	strbuf_append(sb, data, size * n);
	return size * n;
}

/* GET url (an SNS URL already checked): from FLOWSEND_SNS_BASE_URL with the
 * same path when set, else over https only. 0 when it answered 2xx. */
static int sns_get(const struct fs_config *cfg, const char *url, struct strbuf *out)
{
	char target[1024];
	const char *path = strchr(url + strlen("https://"), '/');
	long code = 0;
	CURL *h;
	CURLcode rc;
	int n;

	if (*cfg->sns_base_url)
		n = snprintf(target, sizeof(target), "%s%s", cfg->sns_base_url, path);
	else
		n = snprintf(target, sizeof(target), "%s", url);
	if (n < 0 || (size_t)n >= sizeof(target) || !(h = curl_easy_init()))
		return -1;
	strbuf_reset(out);
	curl_easy_setopt(h, CURLOPT_URL, target);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, *cfg->sns_base_url ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK || code < 200 || code > 299 || out->oom) {
		log_warn("fetching %s failed: %s (HTTP %ld)", target, curl_easy_strerror(rc), code);
		return -1;
	}
	return 0;
}

/* SNS signs with a few certificates that change rarely: each worker keeps
 * the last ones it fetched, by URL. */
static struct {
	char url[512];
	char *pem;
	size_t len;
} cert_cache[CERT_CACHE];
static unsigned cert_next;

static const char *sns_cert(const struct fs_config *cfg, const char *url, size_t *len)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned slot;

	if (strlen(url) >= sizeof(cert_cache[0].url))
		return NULL;
	for (unsigned i = 0; i < CERT_CACHE; i++)
		if (cert_cache[i].pem && strcmp(cert_cache[i].url, url) == 0) {
			*len = cert_cache[i].len;
			return cert_cache[i].pem;
		}
	if (sns_get(cfg, url, &sb) < 0 || !sb.buf) {
		strbuf_free(&sb);
		return NULL;
	}
	slot = cert_next++ % CERT_CACHE;
	free(cert_cache[slot].pem);
	snprintf(cert_cache[slot].url, sizeof(cert_cache[slot].url), "%s", url);
	cert_cache[slot].pem = sb.buf;
	cert_cache[slot].len = sb.len;
	*len = sb.len;
	return sb.buf;
}

/* One provider event for our message: recorded, or counted as ignored. */
static enum fs_status provider_event(struct fs_env *env, const struct provider_event *ev,
				     const char *source, struct provider_result *out,
				     struct fs_error *err)
{
	char id[37], mid[210];
	struct bounce_result res;
	enum fs_status st;

	out->events++;
	if (ev->report.kind == DSN_NONE || provider_message_outbox(ev->message_id, id) < 0) {
		out->ignored++;
		return FS_OK;
	}
	snprintf(mid, sizeof(mid), "%s%s%s", ev->message_id[0] == '<' ? "" : "<", ev->message_id,
		 ev->message_id[0] == '<' ? "" : ">");
	memset(&res, 0, sizeof(res));
	st = bounce_record(env, id, mid, ev->report.kind, &ev->report, source, &res, err);
	if (st != FS_OK)
		return st;
	if (res.outcome == BOUNCE_TOO_EARLY)
		return fs_fail(err, FS_UNAVAILABLE, "The message's outcome is not recorded yet");
	if (res.outcome == BOUNCE_RECORDED)
		out->recorded++;
	else
		out->ignored++;
	return FS_OK;
}

enum fs_status bounce_ses_notification(struct fs_env *env, const char *body, size_t len,
				       struct provider_result *out, struct fs_error *err)
{
	struct sns_message m;
	struct strbuf text = STRBUF_INIT;
	const char *pem;
	size_t pem_len = 0;
	enum fs_status ret;

	memset(out, 0, sizeof(*out));
	if (sns_parse(body, len, &m) < 0 || !sns_url_ok(m.signing_cert_url, 1) ||
	    sns_string_to_sign(&m, &text) < 0) {
		ret = fs_fail(err, FS_UNAUTHORIZED, "Invalid SNS message signature");
		goto out;
	}
	/* Before any certificate is fetched: a topic of someone else's AWS
	 * account costs no outbound request. */
	if (!sns_topic_allowed(env->cfg->sns_topic_arns, m.topic_arn)) {
		ret = fs_fail(err, FS_FORBIDDEN, "SNS topic not allowed (FLOWSEND_SNS_TOPIC_ARNS)");
		goto out;
	}
	if (!(pem = sns_cert(env->cfg, m.signing_cert_url, &pem_len))) {
		ret = fs_fail(err, FS_UNAVAILABLE, "The SNS signing certificate could not be fetched");
		goto out;
	}
	if (!sns_verify(pem, pem_len, m.signature_version, m.signature, text.buf, text.len)) {
		ret = fs_fail(err, FS_UNAUTHORIZED, "Invalid SNS message signature");
		goto out;
	}
	if (strcmp(m.type, "SubscriptionConfirmation") == 0) {
		/* Signed, so the URL is SNS's; still only ever an SNS host. */
		if (!sns_url_ok(m.subscribe_url, 0) || sns_get(env->cfg, m.subscribe_url, &text) < 0) {
			ret = fs_fail(err, FS_UNAVAILABLE, "The subscription could not be confirmed");
			goto out;
		}
		log_info("SNS subscription to %.200s confirmed", m.topic_arn);
		out->confirmed = 1;
		ret = FS_OK;
	} else if (strcmp(m.type, "Notification") == 0) {
		struct provider_event ev;
		if (ses_event_parse(m.message, strlen(m.message), &ev) < 0) {
			out->events++;
			out->ignored++;
			ret = FS_OK; /* signed, but no SES event: nothing to do */
		} else {
			ret = provider_event(env, &ev, "ses", out, err);
		}
	} else {
		ret = FS_OK; /* UnsubscribeConfirmation: nothing to do */
	}
out:
	strbuf_free(&text);
	sns_free(&m);
	return ret;
}

enum fs_status bounce_sendgrid_events(struct fs_env *env, const char *signature,
				      const char *timestamp, const char *body, size_t len,
				      struct provider_result *out, struct fs_error *err)
{
	struct provider_event *evs;
	size_t n = 0;
	enum fs_status st = FS_OK;

	memset(out, 0, sizeof(*out));
	if (!sendgrid_verify(env->cfg->sendgrid_webhook_key, signature, timestamp, body, len))
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid SendGrid webhook signature");
	if (!(evs = arena_alloc(env->arena, SENDGRID_EVENTS_MAX * sizeof(*evs))))
		return fs_fail(err, FS_ERROR, "out of memory");
	if (sendgrid_events_parse(body, len, evs, SENDGRID_EVENTS_MAX, &n) < 0)
		return fs_fail(err, FS_BAD_REQUEST, "Invalid JSON payload: an array of events expected");
	for (size_t i = 0; i < n && st == FS_OK; i++)
		st = provider_event(env, &evs[i], "sendgrid", out, err);
	return st;
}
