/* Redis client. Every call has a short timeout, and a circuit breaker stops
 * calling a Redis that just failed: a stalled Redis costs a worker one timeout
 * every few seconds instead of one (or two) on every request. */
#include "queue/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "core/log.h"
#include "core/timeutil.h"

#define WARN_EVERY_MS 60000.0

void fs_redis_init(struct fs_redis *r, const char *url)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->timeout_ms = FS_REDIS_TIMEOUT_MS;
	r->cooldown_ms = FS_REDIS_COOLDOWN_MS;
}

void fs_redis_close(struct fs_redis *r)
{
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
}

/* A connection with both timeouts set, or NULL with the reason in why. */
static redisContext *redis_connect(const char *url, int timeout_ms, char *why, size_t size)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = NULL;
	int db = 0;

	if (strncmp(url, "unix://", 7) == 0) {
		c = redisConnectUnixWithTimeout(url + 7, tv);
	} else if (strncmp(url, "redis://", 8) == 0) {
		char host[256] = "127.0.0.1";
		const char *p = url + 8, *colon, *slash;
		int port = 6379;
		size_t hl;

		if (strchr(p, '@')) /* credentials are not supported; keep the host part */
			p = strchr(p, '@') + 1;
		slash = strchr(p, '/');
		colon = strchr(p, ':');
		if (colon && slash && colon > slash)
			colon = NULL;
		hl = colon ? (size_t)(colon - p) : (slash ? (size_t)(slash - p) : strlen(p));
		if (hl > 0 && hl < sizeof(host)) {
			memcpy(host, p, hl);
			host[hl] = '\0';
		}
		if (colon)
			port = atoi(colon + 1);
		if (slash)
			db = atoi(slash + 1);
		c = redisConnectWithTimeout(host, port, tv);
	} else {
		snprintf(why, size, "unsupported FLOWSEND_REDIS_URL (want redis:// or unix://)");
		return NULL;
	}
	if (!c || c->err) {
		snprintf(why, size, "connection failed: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (db > 0) {
		redisReply *rep = redisCommand(c, "SELECT %d", db);
		int ok = rep && rep->type == REDIS_REPLY_STATUS;
		if (rep)
			freeReplyObject(rep);
		if (!ok) {
			snprintf(why, size, "SELECT %d failed", db);
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

/* A failure opens the breaker for cooldown_ms. The outage is logged when it
 * begins and then once a minute, however many calls it fails. */
static void breaker_open(struct fs_redis *r, const char *why)
{
	double now = time_monotonic_ms();

	r->retry_at = now + r->cooldown_ms;
	if (!r->down_since) {
		r->down_since = r->warned_at = now;
		r->skipped = 0;
		log_warn("redis unavailable (%s): calls fail at once for %d ms, then one tries"
			 " again",
			 why, r->cooldown_ms);
	} else if (now - r->warned_at >= WARN_EVERY_MS) {
		r->warned_at = now;
		log_warn("redis still unavailable after %.0f s (%s): %lu calls failed at once",
			 (now - r->down_since) / 1000, why, r->skipped);
	}
}

static void breaker_close(struct fs_redis *r)
{
	if (r->down_since)
		log_info("redis answers again after %.1f s (%lu calls failed at once meanwhile)",
			 (time_monotonic_ms() - r->down_since) / 1000, r->skipped);
	r->retry_at = r->down_since = 0;
	r->skipped = 0;
}

static redisReply *redis_call(struct fs_redis *r, int argc, const char **argv, const size_t *lens,
			      int probe)
{
	char why[192] = "no reply";
	redisReply *rep;

	if (!probe && r->retry_at && time_monotonic_ms() < r->retry_at) {
		r->skipped++;
		return NULL;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		double t0 = time_monotonic_ms();

		if (!r->c)
			r->c = redis_connect(r->url, r->timeout_ms, why, sizeof(why));
		if (!r->c)
			break;
		rep = redisCommandArgv(r->c, argc, argv, lens);
		if (rep) {
			breaker_close(r);
			return rep;
		}
		snprintf(why, sizeof(why), "command failed: %s",
			 r->c->errstr[0] ? r->c->errstr : "no reply");
		fs_redis_close(r);
		/* A connection the server closed while we were idle fails at once
		 * and earns one more try on a new one; a timeout is not paid twice. */
		if (time_monotonic_ms() - t0 >= r->timeout_ms / 2.0)
			break;
	}
	breaker_open(r, why);
	return NULL;
}

redisReply *fs_redis_argv(struct fs_redis *r, int argc, const char **argv, const size_t *lens)
{
	return redis_call(r, argc, argv, lens, 0);
}

int fs_redis_ping(struct fs_redis *r)
{
	const char *argv[] = { "PING" };
	redisReply *rep = redis_call(r, 1, argv, NULL, 1);
	int ok = rep && rep->type == REDIS_REPLY_STATUS && strcasecmp(rep->str, "PONG") == 0;

	if (rep)
		freeReplyObject(rep);
	return ok ? 0 : -1;
}
