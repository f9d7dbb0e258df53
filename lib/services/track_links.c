/* The link map is a small chained hash in the arena: a batch meets the same
 * few URLs hundreds of times, and personalised ones (a URL per contact) once
 * each, so lookups must stay cheap at any count. */
#include "services/track_links.h"

#include <stdio.h>
#include <string.h>

#include "mail/html_links.h"
#include "mail/track_token.h"
#include "services/tracking.h"

#define BUCKETS 256

struct link_entry {
	struct link_entry *next;
	const char *url;
	size_t len;
	char id[37];
};

struct track_links {
	struct link_entry *bucket[BUCKETS];
};

struct rewrite {
	struct track_links *links;
	struct fs_db *db;
	struct arena *a;
	const struct fs_config *cfg;
	const char *user_id, *campaign_id, *flow_id, *outbox_id;
	const char *skip;
	struct track_key key;
	int tracked; /* links of this message through /t/c/ so far */
	int failed; /* -1 database, -2 other */
};

static size_t hash(const char *s, size_t len)
{
	unsigned long h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h % BUCKETS;
}

/* The id of the campaign's link to url; the upsert locks and returns the row
 * whether this call or another (a worker racing) made it. */
static const char *link_id(struct rewrite *w, const char *url, size_t len)
{
	size_t h = hash(url, len);
	struct link_entry *e;
	const char *p[3];
	PGresult *r;

	for (e = w->links->bucket[h]; e; e = e->next)
		if (e->len == len && memcmp(e->url, url, len) == 0)
			return e->id;
	p[0] = w->user_id;
	p[1] = w->campaign_id ? w->campaign_id : w->flow_id;
	p[2] = arena_strndup(w->a, url, len);
	e = arena_alloc(w->a, sizeof(*e));
	if (!p[2] || !e) {
		w->failed = -2;
		return NULL;
	}
	r = w->campaign_id
		    ? db_query_cached(w->db, w->a,
				      "INSERT INTO campaign_links (user_id, campaign_id, url) VALUES ($1, $2, $3)"
				      " ON CONFLICT (campaign_id, md5(url)) WHERE campaign_id IS NOT NULL"
				      " DO UPDATE SET url = campaign_links.url RETURNING id",
				      3, p)
		    : db_query_cached(w->db, w->a,
				      "INSERT INTO campaign_links (user_id, flow_id, url) VALUES ($1, $2, $3)"
				      " ON CONFLICT (flow_id, md5(url)) WHERE flow_id IS NOT NULL"
				      " DO UPDATE SET url = campaign_links.url RETURNING id",
				      3, p);
	if (!r || PQntuples(r) != 1) {
		w->failed = -1;
		return NULL;
	}
	e->url = p[2];
	e->len = len;
	snprintf(e->id, sizeof(e->id), "%s", db_get(r, 0, "id"));
	e->next = w->links->bucket[h];
	w->links->bucket[h] = e;
	return e->id;
}

static int on_link(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	struct rewrite *w = arg;
	char token[TRACK_TOKEN_MAX + 1];
	const char *id;

	if (!html_link_trackable(url, len, w->skip) || w->tracked >= TRACK_LINKS_PER_MESSAGE)
		return 0;
	id = link_id(w, url, len);
	if (!id)
		return -1;
	if (track_token_mint(&w->key, TRACK_CLICK, w->outbox_id, id, token, sizeof(token)) < 0) {
		w->failed = -2;
		return -1;
	}
	strbuf_appendf(repl, "%s/t/c/%s", w->cfg->public_url, token);
	w->tracked++;
	return 1;
}

int track_links_apply(struct track_links **links, struct fs_db *db, struct arena *a,
		      const struct fs_config *cfg, const char *user_id, const char *campaign_id,
		      const char *flow_id, const char *outbox_id, struct strbuf *html)
{
	struct track_key keys[2];
	struct rewrite w;
	struct strbuf out = STRBUF_INIT, pixeled = STRBUF_INIT;
	char token[TRACK_TOKEN_MAX + 1];
	struct strbuf tmp;
	int ret = -2;

	if (!*links) {
		*links = arena_alloc(a, sizeof(**links));
		if (!*links)
			return -2;
		memset(*links, 0, sizeof(**links));
	}
	tracking_keys(cfg, keys);
	memset(&w, 0, sizeof(w));
	w.links = *links;
	w.db = db;
	w.a = a;
	w.cfg = cfg;
	w.user_id = user_id;
	w.campaign_id = campaign_id;
	w.flow_id = flow_id;
	w.outbox_id = outbox_id;
	w.key = keys[0];
	/* The unsubscribe link goes as it is: it is the contact's, not a click. */
	w.skip = arena_sprintf(a, "%s/u/", cfg->public_url);
	if (!w.skip)
		goto out;
	if (html_links_rewrite(html->buf ? html->buf : "", html->len, on_link, &w, &out) < 0) {
		ret = w.failed ? w.failed : -2;
		goto out;
	}
	if (track_token_mint(&w.key, TRACK_OPEN, outbox_id, NULL, token, sizeof(token)) < 0)
		goto out;
	{
		char *src = arena_sprintf(a, "%s/t/o/%s.gif", cfg->public_url, token);
		if (!src || html_links_add_pixel(out.buf ? out.buf : "", out.len, src, &pixeled) < 0)
			goto out;
	}
	/* The tracked copy takes the place of the rendered one. */
	tmp = *html;
	*html = pixeled;
	pixeled = tmp;
	ret = 0;
out:
	strbuf_free(&out);
	strbuf_free(&pixeled);
	return ret;
}
