/* Redis through hiredis: a lazily opened connection per worker, reconnecting
 * once on failure. URLs: redis://host:port/db or unix:///path/to/socket. */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <hiredis.h>
#include <stddef.h>

struct fs_redis {
	const char *url;
	redisContext *c;
	int timeout_ms;
};

void fs_redis_init(struct fs_redis *r, const char *url);
void fs_redis_close(struct fs_redis *r);
/* Run a command given as argv (binary safe). The caller frees the reply with
 * freeReplyObject. NULL (logged) on connection or protocol failure; an error
 * reply is returned as REDIS_REPLY_ERROR. */
redisReply *fs_redis_argv(struct fs_redis *r, int argc, const char **argv, const size_t *lens);
/* 0 when the server answers PING with PONG. */
int fs_redis_ping(struct fs_redis *r);

#endif
