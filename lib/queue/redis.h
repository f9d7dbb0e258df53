/* Redis through hiredis: a lazily opened connection per worker, reconnecting
 * once on failure, behind a circuit breaker. URLs: redis://host:port/db or
 * unix:///path/to/socket. */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <hiredis.h>
#include <stddef.h>

#define FS_REDIS_TIMEOUT_MS 250   /* connect and command timeout (FLOWSEND_REDIS_TIMEOUT_MS) */
#define FS_REDIS_COOLDOWN_MS 5000 /* after a failure, calls fail at once this long */

struct fs_redis {
	const char *url;
	redisContext *c;
	int timeout_ms;
	int cooldown_ms;
	double retry_at;       /* monotonic ms: calls before it fail at once; 0 when closed */
	double down_since;     /* monotonic ms the current outage began; 0 when none */
	double warned_at;      /* the last warning about this outage */
	unsigned long skipped; /* calls failed at once during this outage */
};

void fs_redis_init(struct fs_redis *r, const char *url);
void fs_redis_close(struct fs_redis *r);
/* Run a command given as argv (binary safe). The caller frees the reply with
 * freeReplyObject. NULL on connection or protocol failure, and at once without
 * trying while the breaker is open (a failure opens it for cooldown_ms; then
 * one call tries again). The breaker logs the outage, rate-limited; an error
 * reply is returned as REDIS_REPLY_ERROR. */
redisReply *fs_redis_argv(struct fs_redis *r, int argc, const char **argv, const size_t *lens);
/* 0 when the server answers PING with PONG. A probe: it tries even while the
 * breaker is open, and closes it on success, so health checks tell the truth. */
int fs_redis_ping(struct fs_redis *r);

#endif
