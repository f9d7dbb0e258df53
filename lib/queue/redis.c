/* Redis client. Every call has a timeout so a stalled Redis slows a request
 * down by at most that much instead of hanging a responder worker. */
#include "queue/redis.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "core/log.h"

void fs_redis_init(struct fs_redis *r, const char *url)
{
	r->url = url;
	r->c = NULL;
	r->timeout_ms = 1000;
}

void fs_redis_close(struct fs_redis *r)
{
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
}

static redisContext *redis_connect(const char *url, int timeout_ms)
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
		log_error("unsupported FLOWSEND_REDIS_URL (want redis:// or unix://)");
		return NULL;
	}
	if (!c || c->err) {
		log_error("redis connection failed: %s", c ? c->errstr : "out of memory");
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
			log_error("redis SELECT %d failed", db);
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

redisReply *fs_redis_argv(struct fs_redis *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *rep;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!r->c)
			r->c = redis_connect(r->url, r->timeout_ms);
		if (!r->c)
			return NULL;
		rep = redisCommandArgv(r->c, argc, argv, lens);
		if (rep)
			return rep;
		log_warn("redis command failed: %s", r->c->errstr);
		fs_redis_close(r);
	}
	return NULL;
}

int fs_redis_ping(struct fs_redis *r)
{
	const char *argv[] = { "PING" };
	redisReply *rep = fs_redis_argv(r, 1, argv, NULL);
	int ok = rep && rep->type == REDIS_REPLY_STATUS && strcasecmp(rep->str, "PONG") == 0;

	if (rep)
		freeReplyObject(rep);
	return ok ? 0 : -1;
}
