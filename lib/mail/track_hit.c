/* "1\t<id>\t<o|c>\t<outbox id>\t<link id or ->\t<ms>\t<flags>\t<agent>":
 * fixed-shape fields first, the only free text last and tab-free. */
#include "mail/track_hit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"

/* Random bits for hit ids, drawn from the kernel a pool at a time (one
 * system call per 100 hits, not one per hit). A forked child forgets what
 * its parent drew, so no two processes hand out the same bits. */
#define POOL_BYTES 1000
static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local size_t pool_left;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
	pool_left = 0;
}

static void pool_register(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static int pool_take(unsigned char *out, size_t n)
{
	pthread_once(&pool_once, pool_register);
	if (pool_left < n) {
		if (random_bytes(pool, sizeof(pool)) < 0)
			return -1;
		pool_left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - pool_left, n);
	memset(pool + sizeof(pool) - pool_left, 0, n);
	pool_left -= n;
	return 0;
}

int track_hit_id(long long at_ms, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	if (pool_take(b + 6, 10) < 0)
		return -1;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)((unsigned long long)at_ms >> (40 - 8 * i));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
	return 0;
}

void track_hit_set_agent(struct track_hit *h, const char *ua)
{
	size_t n = 0;

	for (; ua && ua[n] && n < TRACK_HIT_AGENT_MAX; n++) {
		unsigned char c = (unsigned char)ua[n];
		h->agent[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	h->agent[n] = '\0';
}

static int agent_ok(const char *s, size_t len)
{
	if (len > TRACK_HIT_AGENT_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

int track_hit_encode(const struct track_hit *h, char *out, size_t size)
{
	int n;
	size_t alen = strlen(h->agent);

	if (!uuid_valid(h->id, strlen(h->id)) || !uuid_valid(h->outbox_id, strlen(h->outbox_id)) ||
	    (h->kind != 'o' && h->kind != 'c') ||
	    (h->kind == 'c' ? !uuid_valid(h->link_id, strlen(h->link_id)) : h->link_id[0] != '\0') ||
	    h->at_ms < 0 || !agent_ok(h->agent, alen))
		return -1;
	n = snprintf(out, size, "1\t%s\t%c\t%s\t%s\t%lld\t%c%c\t%s", h->id, h->kind, h->outbox_id,
		     h->kind == 'c' ? h->link_id : "-", h->at_ms, h->head ? 'H' : '-',
		     h->agent_bot ? 'A' : '-', h->agent);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The next tab-separated field of s[*pos..len) (the last one runs to len). */
static int field(const char *s, size_t len, size_t *pos, const char **f, size_t *flen, int last)
{
	const char *tab;

	if (*pos > len)
		return -1;
	*f = s + *pos;
	if (last) {
		*flen = len - *pos;
		*pos = len + 1;
		return memchr(*f, '\t', *flen) ? -1 : 0;
	}
	tab = memchr(*f, '\t', len - *pos);
	if (!tab)
		return -1;
	*flen = (size_t)(tab - *f);
	*pos += *flen + 1;
	return 0;
}

static int copy_uuid(const char *f, size_t n, char out[37])
{
	if (!uuid_valid(f, n))
		return -1;
	memcpy(out, f, 36);
	out[36] = '\0';
	return 0;
}

int track_hit_decode(const char *s, size_t len, struct track_hit *h)
{
	const char *f[8];
	size_t n[8], pos = 0;
	long long ms = 0;

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < 8; i++)
		if (field(s, len, &pos, &f[i], &n[i], i == 7) < 0)
			return -1;
	if (n[0] != 1 || f[0][0] != '1' || n[2] != 1 || (f[2][0] != 'o' && f[2][0] != 'c'))
		return -1;
	h->kind = f[2][0];
	if (copy_uuid(f[1], n[1], h->id) < 0 || copy_uuid(f[3], n[3], h->outbox_id) < 0)
		return -1;
	if (h->kind == 'c' ? copy_uuid(f[4], n[4], h->link_id) < 0 : (n[4] != 1 || f[4][0] != '-'))
		return -1;
	if (n[5] == 0 || n[5] > 15 || (n[5] > 1 && f[5][0] == '0')) /* one spelling */
		return -1;
	for (size_t i = 0; i < n[5]; i++) {
		if (f[5][i] < '0' || f[5][i] > '9')
			return -1;
		ms = ms * 10 + (f[5][i] - '0');
	}
	h->at_ms = ms;
	if (n[6] != 2 || (f[6][0] != 'H' && f[6][0] != '-') || (f[6][1] != 'A' && f[6][1] != '-'))
		return -1;
	h->head = f[6][0] == 'H';
	h->agent_bot = f[6][1] == 'A';
	if (!agent_ok(f[7], n[7]))
		return -1;
	memcpy(h->agent, f[7], n[7]);
	h->agent[n[7]] = '\0';
	return 0;
}

int track_hit_settle(struct track_hit *h)
{
	char line[TRACK_HIT_MAX];

	h->id[sizeof(h->id) - 1] = '\0';
	h->outbox_id[sizeof(h->outbox_id) - 1] = '\0';
	h->link_id[sizeof(h->link_id) - 1] = '\0';
	h->agent[sizeof(h->agent) - 1] = '\0';
	return track_hit_encode(h, line, sizeof(line)) < 0 ? -1 : 0;
}
