/* The prefork FastCGI responder every cgi/ main runs: a master that opens the
 * unix socket and keeps N workers alive, each serving one request at a time. */
#ifndef FS_SERVER_H
#define FS_SERVER_H

#include <stddef.h>

#include "core/arena.h"
#include "core/config.h"
#include "db/db.h"
#include "http/context.h"
#include "http/router.h"
#include "queue/redis.h"

struct fs_app {
	const char *name;
	const struct fs_route *routes;
	size_t nroutes;
};

/* What one worker process keeps between requests. */
struct fs_worker {
	struct arena arena;
	struct fs_db db;
	struct fs_db sysdb;
	struct fs_redis redis;
	const struct fs_config *cfg;
};

/* Set by the auth module: returns 1 when ctx may call its route, else writes
 * the 401/403 answer and returns 0. Without it, non-public routes answer 401. */
extern int (*fs_authenticate)(struct fs_ctx *ctx);

void fs_worker_init(struct fs_worker *w, const struct fs_config *cfg);
void fs_worker_free(struct fs_worker *w);
/* Prepare ctx for a request parsed from envp (in may be NULL in tests). */
int fs_ctx_begin(struct fs_ctx *ctx, struct fs_worker *w, char **envp, struct FCGX_Stream *in);
/* Release everything the request held and roll back any open transaction. */
void fs_ctx_end(struct fs_ctx *ctx, struct fs_worker *w);
/* Route ctx->req and run the handler; the answer is left in ctx->res. */
void fs_dispatch(const struct fs_app *app, struct fs_ctx *ctx);
/* Command line: --socket PATH [--workers N] | --routes | --cors-origins (the
 * normalised FLOWSEND_CORS_ORIGINS, one a line, for nginx). Returns the exit code. */
int fs_server_main(const struct fs_app *app, int argc, char **argv);

/* A work function for one more process beside the workers (restarted if it
 * dies), e.g. a flush of buffered work. It returns once stop_fd reads
 * end-of-file, which happens only after every worker has stopped; the master
 * waits up to FS_BACKGROUND_GRACE_S for it. SIGTERM does not stop it. */
typedef void (*fs_background_fn)(struct fs_worker *w, int stop_fd);
#define FS_BACKGROUND_GRACE_S 8
/* fs_server_main with such a process. */
int fs_server_main_with(const struct fs_app *app, fs_background_fn background, int argc,
			char **argv);
/* Before fs_server_main*: close each connection as soon as the answer is
 * written once the request's stdin has been read to its end, instead of
 * libfcgi's lingering close (shut down, then wait for nginx to close first). */
void fs_server_close_at_once(int on);

#endif
