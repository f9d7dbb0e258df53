/* The sender choice and the worker's signer cache: (tenant, From domain) ->
 * the verified domain's signer or none, for SENDERS_TTL_SECONDS; signers by
 * domain id, so a refreshed answer naming the same domain keeps its parsed
 * key. Only the cross-tenant role reads sealed keys, here. */
#include "services/senders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "services/domains.h"

#define ID_LEN 36

/* One parsed key, kept while some lookup names it. */
struct key_slot {
	char domain_id[ID_LEN + 1];
	struct dkim_signer *signer;
	int used;                /* named by a live lookup (recomputed by sweeps) */
	struct key_slot *next;
};

/* One (tenant, From domain) answer. */
struct lookup {
	char *user_id;
	char *domain;            /* the From address's domain, lower case */
	struct key_slot *key;    /* NULL: no verified domain covers it */
	double fetched_ms;       /* when the database said so (monotonic) */
	unsigned hash;
	struct lookup *next;     /* bucket chain */
};

#define NBUCKETS 1024

struct senders {
	const struct fs_config *cfg;
	struct dkim_signer *global;
	char global_name[256];
	char global_email[256];
	struct lookup *buckets[NBUCKETS];
	size_t nlookups;
	struct key_slot *keys;
	double ttl_ms;
	long lookups, key_loads;
};

static unsigned hash_of(const char *user_id, const char *domain)
{
	unsigned h = 2166136261u;

	for (const char *p = user_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (const char *p = domain; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static void lookup_free(struct lookup *l)
{
	free(l->user_id);
	free(l->domain);
	free(l);
}

struct senders *senders_new(const struct fs_config *cfg, char *err, size_t errlen)
{
	struct senders *s = calloc(1, sizeof(*s));
	const char *lt, *gt;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->ttl_ms = SENDERS_TTL_SECONDS * 1000.0;
	/* FLOWSEND_MAIL_FROM: "Name <addr>" or a bare address. */
	lt = strrchr(cfg->mail_from, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt) {
		size_t n = (size_t)(lt - cfg->mail_from);
		const char *name = cfg->mail_from;
		while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '"'))
			n--;
		while (n > 0 && *name == '"') {
			name++;
			n--;
		}
		snprintf(s->global_name, sizeof(s->global_name), "%.*s", (int)n, name);
		snprintf(s->global_email, sizeof(s->global_email), "%.*s", (int)(gt - lt - 1), lt + 1);
	} else {
		snprintf(s->global_email, sizeof(s->global_email), "%s", cfg->mail_from);
	}
	if (*cfg->dkim_domain || *cfg->dkim_key_file) {
		if (!*cfg->dkim_domain || !*cfg->dkim_key_file) {
			snprintf(err, errlen,
				 "FLOWSEND_DKIM_DOMAIN and FLOWSEND_DKIM_KEY_FILE go together: set "
				 "both to sign with FlowSend's own key, or neither");
			free(s);
			return NULL;
		}
		s->global = dkim_signer_from_file(cfg->dkim_domain, cfg->dkim_selector,
						  cfg->dkim_key_file, err, errlen);
		if (!s->global) {
			free(s);
			return NULL;
		}
	}
	return s;
}

void senders_free(struct senders *s)
{
	if (!s)
		return;
	for (size_t b = 0; b < NBUCKETS; b++)
		while (s->buckets[b]) {
			struct lookup *l = s->buckets[b];
			s->buckets[b] = l->next;
			lookup_free(l);
		}
	while (s->keys) {
		struct key_slot *k = s->keys;
		s->keys = k->next;
		dkim_signer_free(k->signer);
		free(k);
	}
	dkim_signer_free(s->global);
	free(s);
}

const struct dkim_signer *senders_global(const struct senders *s)
{
	return s->global;
}

void senders_set_ttl(struct senders *s, double seconds)
{
	s->ttl_ms = seconds * 1000.0;
}

void senders_stats(const struct senders *s, long *lookups, long *key_loads)
{
	*lookups = s->lookups;
	*key_loads = s->key_loads;
}

void senders_sweep(struct senders *s)
{
	struct key_slot **kp = &s->keys;

	for (struct key_slot *k = s->keys; k; k = k->next)
		k->used = 0;
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct lookup *l = s->buckets[b]; l; l = l->next)
			if (l->key)
				l->key->used = 1;
	while (*kp) {
		struct key_slot *k = *kp;
		if (k->used) {
			kp = &k->next;
			continue;
		}
		*kp = k->next;
		dkim_signer_free(k->signer);
		free(k);
	}
}

/* Forget the lookups that expired, or every other one when the cache is
 * full (their keys stay until a sweep). */
static void shrink(struct senders *s, double now)
{
	int full = s->nlookups >= SENDERS_CACHE_MAX;
	size_t i = 0;

	for (size_t b = 0; b < NBUCKETS; b++) {
		struct lookup **lp = &s->buckets[b];
		while (*lp) {
			struct lookup *l = *lp;
			if (now - l->fetched_ms >= s->ttl_ms || (full && (i++ & 1) == 0)) {
				*lp = l->next;
				lookup_free(l);
				s->nlookups--;
			} else {
				lp = &l->next;
			}
		}
	}
}

/* The signer for a verified domain row, parsed once per domain id. */
static struct key_slot *key_for(struct senders *s, const char *id, const char *domain,
				const char *selector, const char *sealed)
{
	struct strbuf pem = STRBUF_INIT;
	struct dkim_signer *signer;
	struct key_slot *k;
	char err[256];

	for (k = s->keys; k; k = k->next)
		if (strcmp(k->domain_id, id) == 0)
			return k;
	if (domain_key_open(s->cfg->secret_key, sealed, &pem) < 0) {
		log_error("sender domain %s (%s): its DKIM key does not open with "
			  "FLOWSEND_SECRET_KEY; its mail goes out From the global address",
			  domain, id);
		return NULL;
	}
	signer = dkim_signer_new(domain, selector, pem.buf, pem.len, err, sizeof(err));
	if (pem.buf)
		memset(pem.buf, 0, pem.cap);
	strbuf_free(&pem);
	if (!signer) {
		log_error("sender domain %s (%s): %s", domain, id, err);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		dkim_signer_free(signer);
		return NULL;
	}
	snprintf(k->domain_id, sizeof(k->domain_id), "%s", id);
	k->signer = signer;
	k->next = s->keys;
	s->keys = k;
	s->key_loads++;
	return k;
}

/* The domain part of addr, lower case, into out; 0 or -1 when it is not a
 * DNS name with two labels or more. */
static int from_domain(const char *addr, char *out, size_t size)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	size_t n;

	if (!at)
		return -1;
	n = strlen(at + 1);
	if (n == 0 || n >= size || !dkim_name_ok(at + 1, n, 0) || !memchr(at + 1, '.', n))
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)((at[1 + i] >= 'A' && at[1 + i] <= 'Z') ? at[1 + i] + 32 : at[1 + i]);
	return 0;
}

/* What the database says of (user_id, domain): the verified domain that is
 * domain or its closest parent. 0 with *key (NULL: none), -1 on error. */
static int ask(struct senders *s, struct fs_db *sysdb, struct arena *a, const char *user_id,
	       const char *domain, struct key_slot **key)
{
	static const char sql[] =
		"SELECT id, domain, dkim_selector, dkim_private_key_sealed FROM sender_domains"
		" WHERE user_id = $1 AND verified AND domain = ANY($2::text[])"
		" ORDER BY length(domain) DESC LIMIT 1";
	struct strbuf arr = STRBUF_INIT;
	const char *p[2];
	PGresult *r;

	/* {"a.b.shop.example","b.shop.example","shop.example"}: names are LDH. */
	strbuf_appendc(&arr, '{');
	for (const char *d = domain; d && strchr(d, '.'); d = strchr(d, '.') + 1) {
		if (arr.len > 1)
			strbuf_appendc(&arr, ',');
		strbuf_appendf(&arr, "\"%s\"", d);
	}
	strbuf_appendc(&arr, '}');
	if (arr.oom) {
		strbuf_free(&arr);
		return -1;
	}
	p[0] = user_id;
	p[1] = arr.buf;
	r = db_query_cached(sysdb, a, sql, 2, p);
	strbuf_free(&arr);
	if (!r)
		return -1;
	*key = PQntuples(r) == 1 ? key_for(s, db_get(r, 0, "id"), db_get(r, 0, "domain"),
					   db_get(r, 0, "dkim_selector"),
					   db_get(r, 0, "dkim_private_key_sealed"))
				 : NULL;
	return 0;
}

int senders_choose(struct senders *s, struct fs_db *sysdb, struct arena *a, const char *user_id,
		   const char *from_name, const char *from_email, const char *reply_to,
		   struct sender_choice *out)
{
	char domain[DKIM_DOMAIN_MAX + 1];
	struct lookup *l = NULL;
	double now = time_monotonic_ms();

	if (!from_name || !*from_name)
		from_name = s->global_name;
	if (!from_email || !*from_email)
		from_email = s->global_email;
	if (reply_to && !*reply_to)
		reply_to = NULL;
	memset(out, 0, sizeof(*out));
	s->lookups++;

	if (strcasecmp(from_email, s->global_email) != 0 && user_id &&
	    from_domain(from_email, domain, sizeof(domain)) == 0) {
		unsigned h = hash_of(user_id, domain);
		for (l = s->buckets[h % NBUCKETS]; l; l = l->next)
			if (l->hash == h && strcmp(l->domain, domain) == 0 &&
			    strcmp(l->user_id, user_id) == 0)
				break;
		if (l && now - l->fetched_ms >= s->ttl_ms) {
			/* Asked again below; the key slot survives for the same id. */
			struct key_slot *key;
			if (ask(s, sysdb, a, user_id, domain, &key) < 0)
				return -1;
			l->key = key;
			l->fetched_ms = now;
		} else if (!l) {
			struct key_slot *key;
			if (ask(s, sysdb, a, user_id, domain, &key) < 0)
				return -1;
			if (s->nlookups >= SENDERS_CACHE_MAX)
				shrink(s, now);
			l = calloc(1, sizeof(*l));
			if (l)
				l->user_id = strdup(user_id);
			if (l)
				l->domain = strdup(domain);
			if (!l || !l->user_id || !l->domain) {
				if (l)
					lookup_free(l);
				return -1;
			}
			l->key = key;
			l->hash = h;
			l->fetched_ms = now;
			l->next = s->buckets[h % NBUCKETS];
			s->buckets[h % NBUCKETS] = l;
			s->nlookups++;
		}
	}

	if (l && l->key) {
		out->from_name = from_name;
		out->from_email = from_email;
		out->reply_to = reply_to;
		out->signer = l->key->signer;
		out->own_domain = 1;
		return 0;
	}
	/* FlowSend's own address, the tenant's name; replies reach the tenant. */
	out->from_name = from_name;
	out->from_email = s->global_email;
	if (reply_to)
		out->reply_to = reply_to;
	else if (strcasecmp(from_email, s->global_email) != 0)
		out->reply_to = arena_strdup(a, from_email);
	out->signer = s->global;
	return 0;
}
