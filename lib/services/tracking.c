/* Recording hits. A hit gets its event id when it arrives; the flush inserts
 * with ON CONFLICT (id) DO NOTHING and counts only rows it really inserted,
 * so a batch written again (a flush killed after its commit, a lock that
 * lapsed) changes nothing. Queue entries leave Redis only after the commit,
 * and only while the flush still holds the lock. Everything runs as the
 * system role: a hit names an outbox row, and the row names its tenant. */
#include "services/tracking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "db/db.h"
#include "queue/redis.h"
#include "queue/shm_ring.h"

#define LOCK_KEY "fs:track:flush"

static struct shm_ring *ring;

void tracking_use_ring(struct shm_ring *r)
{
	ring = r;
}

size_t tracking_keys(const struct fs_config *cfg, struct track_key keys[2])
{
	keys[0].id = 1;
	keys[0].secret = cfg->link_secret;
	return 1;
}

/* Bot: a scanner's agent, a HEAD request, or a hit within
 * SCANNER_WINDOW_SECONDS of the message's sent_at (or before it was even
 * recorded as sent). Unique counts come from tracking_firsts, which takes a
 * (campaign, contact, kind[, link]) once. A flow's mail (issue 20) records
 * its hits with the flow's id, for opened_previous and the flow's links;
 * unique counts are campaigns'. Hits of other mail (test sends, account
 * mail), or of a link of another campaign or flow, are dropped. */
#define FLUSH_SQL(ON_CONFLICT) \
	"WITH hit AS (" \
	"  SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bigint[]," \
	"   $6::boolean[], $7::boolean[], $8::text[])" \
	"   AS h(id, kind, outbox_id, link_id, at_ms, head, agent_bot, agent))," \
	" src AS (" \
	"  SELECT h.id, h.kind, o.user_id, o.campaign_id, fe.flow_id, o.contact_id, o.id AS outbox_id," \
	"   l.id AS link_id, l.url, to_timestamp(h.at_ms / 1000.0) AS at," \
	"   (h.agent_bot OR h.head OR o.sent_at IS NULL" \
	"    OR to_timestamp(h.at_ms / 1000.0) < o.sent_at + interval '2 seconds') AS is_bot," \
	"   jsonb_strip_nulls(jsonb_build_object('user_agent', NULLIF(h.agent, '')," \
	"    'method', CASE WHEN h.head THEN 'HEAD' END," \
	"    'bot', CASE WHEN h.agent_bot THEN 'user_agent' WHEN h.head THEN 'head'" \
	"     WHEN o.sent_at IS NULL OR to_timestamp(h.at_ms / 1000.0) < o.sent_at + interval '2 seconds'" \
	"     THEN 'too_fast' END, 'link_id', l.id)) AS metadata" \
	"  FROM hit h JOIN outbox o ON o.id = h.outbox_id" \
	"  LEFT JOIN flow_executions fe ON fe.id = o.flow_execution_id AND fe.user_id = o.user_id" \
	"  LEFT JOIN campaign_links l ON l.id = h.link_id" \
	"   AND (l.campaign_id = o.campaign_id OR l.flow_id = fe.flow_id) AND l.user_id = o.user_id" \
	"  WHERE (o.campaign_id IS NOT NULL OR fe.flow_id IS NOT NULL) AND h.kind IN ('opened', 'clicked')" \
	"   AND (h.kind = 'opened' OR l.id IS NOT NULL))," \
	" ev AS (" \
	"  INSERT INTO email_events (id, user_id, campaign_id, flow_id, contact_id, outbox_id, event_type," \
	"   metadata, url, is_bot, created_at)" \
	"  SELECT id, user_id, campaign_id, flow_id, contact_id, outbox_id, kind, metadata, url, is_bot, at" \
	/* What the rest needs comes back from the insert itself: joining it \
	 * to src would be planned blind (unnest has no statistics). */ \
	"   FROM src" ON_CONFLICT \
	"   RETURNING user_id, campaign_id, contact_id, event_type AS kind, is_bot, created_at AS at," \
	"    (metadata->>'link_id')::uuid AS link_id)," \
	" human AS (SELECT * FROM ev WHERE NOT is_bot)," \
	" firsts AS (" \
	"  INSERT INTO tracking_firsts (user_id, campaign_id, contact_id, kind, link_id, created_at)" \
	"  SELECT DISTINCT ON (h.campaign_id, h.contact_id, k.kind, k.link)" \
	"   h.user_id, h.campaign_id, h.contact_id, k.kind, k.link, h.at" \
	"   FROM human h CROSS JOIN LATERAL (VALUES" \
	"    (h.kind, '00000000-0000-0000-0000-000000000000'::uuid)," \
	"    (CASE WHEN h.kind = 'clicked' THEN 'link' END, h.link_id)) AS k(kind, link)" \
	"   WHERE k.kind IS NOT NULL AND h.contact_id IS NOT NULL AND h.campaign_id IS NOT NULL" \
	"   ORDER BY h.campaign_id, h.contact_id, k.kind, k.link, h.at" \
	"  ON CONFLICT DO NOTHING RETURNING user_id, campaign_id, kind, link_id, created_at)," \
	" camp AS (" \
	"  UPDATE campaigns c SET open_count = c.open_count + f.opens," \
	"   click_count = c.click_count + f.clicks" \
	"  FROM (SELECT campaign_id, count(*) FILTER (WHERE kind = 'opened') AS opens," \
	"         count(*) FILTER (WHERE kind = 'clicked') AS clicks FROM firsts" \
	"         WHERE kind <> 'link' GROUP BY campaign_id) f" \
	"  WHERE c.id = f.campaign_id RETURNING 1)," \
	" links AS (" \
	"  UPDATE campaign_links l SET total_clicks = l.total_clicks + t.clicks," \
	"   click_count = l.click_count + t.uniques" \
	"  FROM (SELECT link_id, sum(clicks) AS clicks, sum(uniques) AS uniques FROM (" \
	"         SELECT link_id, count(*) AS clicks, 0 AS uniques FROM human" \
	"          WHERE kind = 'clicked' GROUP BY link_id" \
	"         UNION ALL SELECT link_id, 0, count(*) FROM firsts WHERE kind = 'link'" \
	"          GROUP BY link_id) x GROUP BY link_id) t" \
	"  WHERE l.id = t.link_id RETURNING 1)," \
	" daily AS (" \
	"  INSERT INTO daily_stats AS d (user_id, day, opened, clicked)" \
	"  SELECT user_id, (created_at AT TIME ZONE 'UTC')::date," \
	"   count(*) FILTER (WHERE kind = 'opened'), count(*) FILTER (WHERE kind = 'clicked')" \
	"   FROM firsts WHERE kind <> 'link' GROUP BY 1, 2" \
	"  ON CONFLICT (user_id, day) DO UPDATE SET opened = d.opened + EXCLUDED.opened," \
	"   clicked = d.clicked + EXCLUDED.clicked RETURNING 1)" \
	" SELECT (SELECT count(*) FROM ev) AS recorded, (SELECT count(*) FROM firsts) AS firsts," \
	" (SELECT count(*) FROM camp) AS campaigns, (SELECT count(*) FROM links) AS links," \
	" (SELECT count(*) FROM daily) AS days"

/* Hits are new but for a flush written again (one killed after its commit,
 * a lock that lapsed): a plain insert first, which spares PostgreSQL the
 * speculative insertion ON CONFLICT costs on every row; on a duplicate id,
 * the same statement again with ON CONFLICT (id) DO NOTHING. */
static const char flush_sql[] = FLUSH_SQL(" ON CONFLICT (id) DO NOTHING");
static const char flush_new_sql[] = FLUSH_SQL("");

struct hit_arrays {
	struct strbuf id, kind, outbox, link, at, head, bot, agent;
	size_t n;
};

static void arrays_free(struct hit_arrays *h)
{
	struct strbuf *all[] = { &h->id, &h->kind, &h->outbox, &h->link,
				 &h->at, &h->head, &h->bot, &h->agent };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_free(all[i]);
	h->n = 0;
}

static void arrays_add(struct hit_arrays *a, const struct track_hit *h)
{
	char sep = a->n ? ',' : '{', num[24];
	size_t k = sizeof(num);
	unsigned long long at = h->at_ms > 0 ? (unsigned long long)h->at_ms : 0;
	const char *p, *run;

	/* Appended piece by piece (no printf): this runs for every hit. */
	strbuf_appendc(&a->id, sep);
	strbuf_appends(&a->id, h->id);
	strbuf_appendc(&a->kind, sep);
	strbuf_appends(&a->kind, h->kind == 'c' ? "clicked" : "opened");
	strbuf_appendc(&a->outbox, sep);
	strbuf_appends(&a->outbox, h->outbox_id);
	strbuf_appendc(&a->link, sep);
	strbuf_appends(&a->link, h->kind == 'c' ? h->link_id : "NULL");
	do {
		num[--k] = (char)('0' + at % 10);
		at /= 10;
	} while (at && k > 0);
	strbuf_appendc(&a->at, sep);
	strbuf_append(&a->at, num + k, sizeof(num) - k);
	strbuf_appendc(&a->head, sep);
	strbuf_appendc(&a->head, h->head ? 't' : 'f');
	strbuf_appendc(&a->bot, sep);
	strbuf_appendc(&a->bot, h->agent_bot ? 't' : 'f');
	strbuf_appendc(&a->agent, sep);
	strbuf_appendc(&a->agent, '"');
	for (p = run = h->agent; *p; p++) {
		if (*p == '"' || *p == '\\') {
			strbuf_append(&a->agent, run, (size_t)(p - run));
			strbuf_appendc(&a->agent, '\\');
			run = p;
		}
	}
	strbuf_append(&a->agent, run, (size_t)(p - run));
	strbuf_appendc(&a->agent, '"');
	a->n++;
}

/* The hits into PostgreSQL in one statement: the events recorded, or -1. */
static long write_hits(struct fs_env *env, const struct track_hit *hits, size_t n)
{
	struct hit_arrays a;
	struct strbuf *all[] = { &a.id, &a.kind, &a.outbox, &a.link, &a.at, &a.head, &a.bot, &a.agent };
	const char *p[8];
	long ret = -1;
	PGresult *r;

	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < n; i++)
		arrays_add(&a, &hits[i]);
	for (size_t i = 0; i < 8; i++) {
		if (n == 0)
			strbuf_appendc(all[i], '{');
		strbuf_appendc(all[i], '}');
		if (all[i]->oom)
			goto out;
		p[i] = strbuf_cstr(all[i]);
	}
	r = db_query_cached(env->sysdb, env->arena, flush_new_sql, 8, p);
	if (!r && strcmp(db_last_sqlstate(env->sysdb), "23505") == 0)
		r = db_query_cached(env->sysdb, env->arena, flush_sql, 8, p);
	if (r)
		ret = (long)db_get_ll(r, 0, "recorded", 0);
out:
	arrays_free(&a);
	return ret;
}

enum fs_status tracking_record(struct fs_env *env, const struct track_hit *hit,
			       struct fs_error *err)
{
	char line[TRACK_HIT_MAX];
	int n;
	const char *argv[3] = { "RPUSH", TRACKING_QUEUE, line };
	size_t lens[3] = { 5, sizeof(TRACKING_QUEUE) - 1, 0 };
	redisReply *r;

	/* The ring takes the struct as it is (the flush checks what it reads
	 * back); only the Redis list needs the line. */
	if (ring && shm_ring_put(ring, hit) == 0)
		return FS_OK;
	if ((n = track_hit_encode(hit, line, sizeof(line))) < 0)
		return fs_fail(err, FS_ERROR, "the hit could not be encoded");
	lens[2] = (size_t)n;
	r = fs_redis_argv(env->redis, 3, argv, lens);
	if (r && r->type == REDIS_REPLY_INTEGER) {
		freeReplyObject(r);
		return FS_OK;
	}
	if (r)
		freeReplyObject(r);
	/* Redis cannot take it: slower, but never lost. Should the push have
	 * happened after all, the flush finds the event's id taken. */
	if (write_hits(env, hit, 1) < 0)
		return fs_fail(err, FS_ERROR, "recording the hit failed");
	return FS_OK;
}

/* ---- the redirect's cache ---- */

#define LINK_SLOTS 4096

static struct {
	char id[37];
	char *url;
} link_cache[LINK_SLOTS];

static size_t slot_of(const char *id)
{
	unsigned long h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % LINK_SLOTS;
}

enum fs_status tracking_link_url(struct fs_env *env, const char *link_id, const char **url,
				 struct fs_error *err)
{
	size_t k = slot_of(link_id);
	const char *p[1] = { link_id };
	PGresult *r;
	char *copy;

	if (link_cache[k].url && strcmp(link_cache[k].id, link_id) == 0) {
		*url = link_cache[k].url;
		return FS_OK;
	}
	r = db_query_cached(env->sysdb, env->arena, "SELECT url FROM campaign_links WHERE id = $1", 1,
			    p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the link failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Link not found");
	copy = strdup(db_get(r, 0, "url"));
	if (!copy)
		return fs_fail(err, FS_ERROR, "out of memory");
	free(link_cache[k].url);
	link_cache[k].url = copy;
	snprintf(link_cache[k].id, sizeof(link_cache[k].id), "%s", link_id);
	*url = copy;
	return FS_OK;
}

/* ---- the flush ---- */

static redisReply *redis_cmd(struct fs_env *env, int argc, const char **argv)
{
	size_t lens[8];

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return fs_redis_argv(env->redis, argc, argv, lens);
}

/* Trims only while the lock is still ours: a flush that lost it (it took
 * longer than the lock lives) leaves its hits to the one that took over. */
static const char trim_lua[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then"
	" redis.call('ltrim', KEYS[2], ARGV[2], -1) return 1 end return 0";
static const char unlock_lua[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/* A data error in one hit must not hold every other back: written one by
 * one, a hit PostgreSQL refuses on its own is dropped (and logged). */
static long write_each(struct fs_env *env, const struct track_hit *hits, size_t n)
{
	long recorded = 0;

	for (size_t i = 0; i < n; i++) {
		long r = write_hits(env, &hits[i], 1);
		if (r < 0) {
			const char *state = db_last_sqlstate(env->sysdb);
			if (state[0] == '0' && state[1] == '8')
				return -1;
			log_error("tracking: dropped hit %s (SQLSTATE %s)", hits[i].id, state);
			continue;
		}
		recorded += r;
	}
	return recorded;
}

/* The ring's oldest hits: released only once written, so a flush killed on
 * the way leaves them to the next one (which finds those it wrote taken). */
static long ring_flush(struct fs_env *env, long max)
{
	struct track_hit *hits;
	size_t n, valid = 0;
	long recorded;

	if (!ring || max <= 0 || shm_ring_count(ring) == 0)
		return 0;
	hits = malloc((size_t)max * sizeof(*hits));
	if (!hits)
		return -1;
	n = shm_ring_peek(ring, hits, (size_t)max);
	/* Every process of the responder can write the ring: what it holds is
	 * checked before a byte of it is read as a string. */
	for (size_t i = 0; i < n; i++) {
		if (track_hit_settle(&hits[i]) == 0)
			hits[valid++] = hits[i];
		else
			log_error("tracking: dropped a malformed hit from the shared ring");
	}
	recorded = write_hits(env, hits, valid);
	if (recorded < 0) {
		const char *state = db_last_sqlstate(env->sysdb);
		if (state[0] == '2' && (state[1] == '2' || state[1] == '3'))
			recorded = write_each(env, hits, valid);
	}
	free(hits);
	if (recorded < 0)
		return -1;
	shm_ring_release(ring, n);
	return (long)n;
}

long tracking_flush(struct fs_env *env, long max)
{
	char me[64], count[24];
	char ttl[24];
	const char *lock[] = { "SET", LOCK_KEY, me, "NX", "PX", ttl };
	redisReply *r, *items = NULL;
	struct track_hit *hits = NULL;
	size_t nhits = 0, taken = 0;
	long ret = -1, recorded, queued;

	if ((ret = ring_flush(env, max)) != 0)
		return ret;
	ret = -1;

	/* Idle, one round trip: nothing to lock for. */
	if ((queued = tracking_queued(env)) <= 0)
		return queued < 0 ? -1 : 0;
	snprintf(me, sizeof(me), "%d-%ld", (int)getpid(), (long)random());
	snprintf(ttl, sizeof(ttl), "%d", TRACKING_LOCK_MS);
	r = redis_cmd(env, 6, lock);
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STATUS) { /* nil: another flush holds it */
		freeReplyObject(r);
		return TRACKING_BUSY;
	}
	freeReplyObject(r);
	snprintf(count, sizeof(count), "%ld", max > 0 ? max - 1 : 0);
	{
		const char *argv[] = { "LRANGE", TRACKING_QUEUE, "0", count };
		items = redis_cmd(env, 4, argv);
	}
	if (!items || items->type != REDIS_REPLY_ARRAY)
		goto out;
	taken = items->elements;
	if (taken == 0) {
		ret = 0;
		goto out;
	}
	hits = calloc(taken, sizeof(*hits));
	if (!hits)
		goto out;
	for (size_t i = 0; i < taken; i++) {
		redisReply *e = items->element[i];
		if (e->type == REDIS_REPLY_STRING && track_hit_decode(e->str, e->len, &hits[nhits]) == 0)
			nhits++;
		else
			log_error("tracking: dropped a malformed queue entry");
	}
	recorded = write_hits(env, hits, nhits);
	if (recorded < 0) {
		const char *state = db_last_sqlstate(env->sysdb);
		if (state[0] == '2' && (state[1] == '2' || state[1] == '3'))
			recorded = write_each(env, hits, nhits);
		if (recorded < 0)
			goto out;
	}
	{
		char from[24];
		const char *argv[] = { "EVAL", trim_lua, "2", LOCK_KEY, TRACKING_QUEUE, me, from };
		snprintf(from, sizeof(from), "%zu", taken);
		r = redis_cmd(env, 7, argv);
		if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
			log_warn("tracking: the flush lock lapsed; the next flush takes these hits again"
				 " (recorded once all the same)");
			if (r)
				freeReplyObject(r);
			goto out;
		}
		freeReplyObject(r);
	}
	ret = (long)taken;
out:
	if (items)
		freeReplyObject(items);
	free(hits);
	{
		const char *argv[] = { "EVAL", unlock_lua, "1", LOCK_KEY, me };
		r = redis_cmd(env, 5, argv);
		if (r)
			freeReplyObject(r);
	}
	return ret;
}

long tracking_queued(struct fs_env *env)
{
	const char *argv[] = { "LLEN", TRACKING_QUEUE };
	redisReply *r = redis_cmd(env, 2, argv);
	long n = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;

	if (r)
		freeReplyObject(r);
	return n;
}
