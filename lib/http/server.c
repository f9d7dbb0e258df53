/* Prefork FastCGI server. libfcgi serves one connection at a time per process,
 * so concurrency comes from worker processes sharing one listening socket. */
#include "http/server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "http/cors.h"
#include "http/idempotency.h"

#define FS_MAX_WORKERS 256

int (*fs_authenticate)(struct fs_ctx *ctx) = NULL;

static int close_at_once;

void fs_server_close_at_once(int on)
{
	close_at_once = on;
}

void fs_worker_init(struct fs_worker *w, const struct fs_config *cfg)
{
	arena_init(&w->arena, 0);
	db_init(&w->db, cfg->database_url);
	db_init(&w->sysdb, cfg->database_system_url);
	fs_redis_init(&w->redis, cfg->redis_url);
	if (cfg->redis_timeout_ms > 0)
		w->redis.timeout_ms = (int)cfg->redis_timeout_ms;
	w->cfg = cfg;
}

void fs_worker_free(struct fs_worker *w)
{
	arena_destroy(&w->arena);
	db_close(&w->db);
	db_close(&w->sysdb);
	fs_redis_close(&w->redis);
}

int fs_ctx_begin(struct fs_ctx *ctx, struct fs_worker *w, char **envp, struct FCGX_Stream *in)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->env.arena = &w->arena;
	ctx->env.cfg = w->cfg;
	ctx->env.db = &w->db;
	ctx->env.sysdb = &w->sysdb;
	ctx->env.redis = &w->redis;
	ctx->env.request_id = "-";
	ctx->env.client_addr = "";
	fs_response_init(&ctx->res);
	if (fs_request_parse(&ctx->req, ctx->env.arena, envp) < 0)
		return -1;
	ctx->req.in = in;
	/* Services name their log lines and throttle by these, not the request. */
	ctx->env.request_id = ctx->req.request_id;
	ctx->env.client_addr = ctx->req.remote_addr ? ctx->req.remote_addr : "";
	return 0;
}

void fs_ctx_end(struct fs_ctx *ctx, struct fs_worker *w)
{
	db_end_request(&w->db);
	db_end_request(&w->sysdb);
	fs_response_free(&ctx->res);
	arena_reset(&w->arena);
}

void fs_dispatch(const struct fs_app *app, struct fs_ctx *ctx)
{
	enum fs_route_result rr;
	const char *cors_origin;

	if (strcmp(ctx->req.method, "HEAD") == 0)
		ctx->res.head_only = 1;
	/* First, so that even a streamed answer carries them. */
	if (ctx->req.request_id[0] != '-')
		fs_header_add(ctx, "X-Request-Id", ctx->req.request_id);
	cors_origin = fs_cors_begin(ctx);
	rr = fs_route_match(app->routes, app->nroutes, ctx->req.method, ctx->req.path,
			    &ctx->match);
	if (rr != FS_ROUTE_FOUND && strcmp(ctx->req.method, "OPTIONS") == 0) {
		/* Preflights carry no credentials: answered before authentication. */
		fs_cors_options(ctx, rr, cors_origin);
	} else if (rr == FS_ROUTE_NOT_FOUND) {
		fs_respond_error(ctx, FS_NOT_FOUND, "Not Found");
	} else if (rr == FS_ROUTE_METHOD_NOT_ALLOWED) {
		fs_header_add(ctx, "Allow", ctx->match.allow);
		fs_respond_error(ctx, FS_METHOD_NOT_ALLOWED, "Method Not Allowed");
	} else if (ctx->req.bad_query) {
		fs_respond_error(ctx, FS_BAD_REQUEST, "Too many query parameters (at most %d)",
				 FS_QUERY_MAX_PARAMS);
	} else if (ctx->match.route->access != FS_ACCESS_PUBLIC &&
		   (!fs_authenticate || !fs_authenticate(ctx))) {
		if (!ctx->res.status)
			fs_respond_error(ctx, FS_UNAUTHORIZED, "Not authenticated");
	} else {
		struct fs_idempotency idem;

		if (fs_idempotency_begin(ctx, &idem) == FS_IDEM_ANSWERED)
			return;
		ctx->match.route->handler(ctx);
		if (!ctx->res.status)
			fs_respond_error(ctx, FS_ERROR, "handler for %s %s wrote no answer",
					 ctx->req.method, ctx->match.route->pattern);
		fs_idempotency_end(ctx, &idem);
	}
}

/* ---- worker ---- */

static volatile sig_atomic_t worker_busy;
static volatile sig_atomic_t worker_stop;

static void worker_on_term(int sig)
{
	(void)sig;
	if (!worker_busy) {
		log_flush();
		_exit(0);
	}
	worker_stop = 1;
}

static void worker_loop(const struct fs_app *app, int listen_fd)
{
	struct fs_worker w;
	FCGX_Request fr;
	struct strbuf out = STRBUF_INIT;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	fs_worker_init(&w, fs_config());
	log_buffer_access_lines();
	FCGX_InitRequest(&fr, listen_fd, 0);
	while (!worker_stop) {
		struct fs_ctx ctx;
		double t0;

		if (FCGX_Accept_r(&fr) < 0)
			break;
		worker_busy = 1;
		t0 = time_monotonic_ms();
		if (fs_ctx_begin(&ctx, &w, fr.envp, fr.in) == 0) {
			ctx.out = fr.out;
			fs_dispatch(app, &ctx);
		} else {
			fs_respond_error(&ctx, FS_ERROR, "out of memory parsing the request");
		}
		fs_request_drain(&ctx.req);
		strbuf_reset(&out);
		if (!ctx.res.streamed && fs_response_serialize(&ctx.res, &out) == 0)
			FCGX_PutStr(out.buf, (int)out.len, fr.out);
		log_request(ctx.req.request_id, ctx.req.method, ctx.req.path,
			    ctx.res.status ? ctx.res.status : 500, time_monotonic_ms() - t0);
		fs_ctx_end(&ctx, &w);
		/* libfcgi closes by shutting its side down and waiting until
		 * nginx has closed (lingering, so that nothing nginx still sends
		 * meets a reset): a wake-up and three system calls more per
		 * request. With stdin read to its end there is nothing left to
		 * come (no kept connections), and a detached request is closed
		 * at once. A body read by its length (a POST's JSON) stops
		 * before the empty record that ends stdin, which nginx sends
		 * right after it: one more read takes it (from libfcgi's buffer,
		 * where it came with the body) and sees the end. */
		if (close_at_once && fr.in &&
		    (FCGX_HasSeenEOF(fr.in) == EOF || FCGX_GetChar(fr.in) == EOF))
			FCGX_Detach(&fr);
		FCGX_Finish_r(&fr);
		if (log_pending()) {
			/* Write the batch now unless another request is already waiting. */
			struct pollfd pending = { listen_fd, POLLIN, 0 };
			if (poll(&pending, 1, 0) == 0)
				log_flush();
		}
		worker_busy = 0;
	}
	strbuf_free(&out);
	fs_worker_free(&w);
	log_flush();
	_exit(0);
}

/* ---- master ---- */

static volatile sig_atomic_t master_stop;

static void master_on_term(int sig)
{
	(void)sig;
	master_stop = 1;
}

static pid_t spawn_worker(const struct fs_app *app, int listen_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		log_after_fork();
		signal(SIGCHLD, SIG_DFL);
		worker_loop(app, listen_fd);
	}
	if (pid < 0)
		log_error("fork failed: %s", strerror(errno));
	return pid;
}

/* The background process: it keeps the read end of a pipe whose write end
 * the master and every worker hold (inherited), so end-of-file means they
 * have all gone, and whatever they did is done. */
static pid_t spawn_background(const struct fs_app *app, fs_background_fn fn, int listen_fd,
			      const int pipe_fd[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		struct fs_worker w;
		char name[16];

		log_after_fork();
		signal(SIGCHLD, SIG_DFL);
		/* Stopped by the pipe, after the workers: not by the group's SIGTERM. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		close(pipe_fd[1]);
		close(listen_fd);
		snprintf(name, sizeof(name), "fs-%s-bg", app->name);
		prctl(PR_SET_NAME, name, 0, 0, 0);
		fs_worker_init(&w, fs_config());
		fn(&w, pipe_fd[0]);
		fs_worker_free(&w);
		log_flush();
		_exit(0);
	}
	if (pid < 0)
		log_error("fork failed: %s", strerror(errno));
	return pid;
}

static int open_socket(const char *path)
{
	const char *group = getenv("FLOWSEND_SOCKET_GROUP");
	int fd;

	unlink(path);
	fd = FCGX_OpenSocket(path, 1024);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", path, strerror(errno));
		return -1;
	}
	/* Only the owner and the web server's group may talk to a responder. */
	if (group && *group) {
		struct group *g = getgrnam(group);
		if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0)
			log_warn("cannot give %s to group %s", path, group);
	}
	chmod(path, 0660);
	return fd;
}

static void print_routes(const struct fs_app *app)
{
	static const char *access_names[] = { "public", "read", "write", "admin" };

	for (size_t i = 0; i < app->nroutes; i++)
		printf("%s %s %s\n", app->routes[i].method, app->routes[i].pattern,
		       access_names[app->routes[i].access]);
}

/* For scripts/stack.sh, which gives nginx's own error pages the same CORS
 * headers: the origins as the responders read them, one a line. */
static int print_cors_origins(void)
{
	char err[256];
	const struct fs_config *c;

	if (fs_config_load_global(err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	c = fs_config();
	if (c->cors_any)
		printf("*\n");
	for (size_t i = 0; i < c->cors_norigins; i++)
		printf("%s\n", c->cors_origins[i]);
	return 0;
}

int fs_server_main(const struct fs_app *app, int argc, char **argv)
{
	return fs_server_main_with(app, NULL, argc, argv);
}

int fs_server_main_with(const struct fs_app *app, fs_background_fn bg_fn, int argc, char **argv)
{
	const char *socket_path = NULL;
	/* Workers mostly wait on PostgreSQL: more than the cores keep them busy
	 * (scripts/stack.sh also caps this by the server's max_connections). */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long nworkers = cores > 0 ? 2 * cores + 2 : 4;
	pid_t workers[FS_MAX_WORKERS];
	time_t started[FS_MAX_WORKERS];
	char err[256];
	struct sigaction sa;
	int listen_fd;
	const char *env_workers = getenv("FLOWSEND_WORKERS");
	pid_t background = 0;
	time_t bg_started = 0;
	int bg_pipe[2] = { -1, -1 };

	if (nworkers > FS_MAX_WORKERS)
		nworkers = FS_MAX_WORKERS;
	if (env_workers && *env_workers)
		nworkers = strtol(env_workers, NULL, 10);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--routes") == 0) {
			print_routes(app);
			return 0;
		} else if (strcmp(argv[i], "--cors-origins") == 0) {
			return print_cors_origins();
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			socket_path = argv[++i];
		} else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			nworkers = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr,
				"usage: %s --socket PATH [--workers N] | --routes | --cors-origins\n",
				argv[0]);
			return 2;
		}
	}
	if (!socket_path || nworkers < 1 || nworkers > FS_MAX_WORKERS) {
		fprintf(stderr, "usage: %s --socket PATH [--workers 1..%d] | --routes\n", argv[0],
			FS_MAX_WORKERS);
		return 2;
	}
	log_setup(app->name, LOG_INFO);
	if (fs_config_load_global(err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (strcmp(fs_config()->log_level, "debug") == 0)
		log_setup(app->name, LOG_DEBUG);
	else if (strcmp(fs_config()->log_level, "warn") == 0)
		log_setup(app->name, LOG_WARN);
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 1;
	}
	listen_fd = open_socket(socket_path);
	if (listen_fd < 0)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_on_term; /* no SA_RESTART: wait() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (bg_fn) {
		if (pipe(bg_pipe) < 0) {
			log_error("pipe failed: %s", strerror(errno));
			return 1;
		}
		background = spawn_background(app, bg_fn, listen_fd, bg_pipe);
		bg_started = time(NULL);
	}
	for (long i = 0; i < nworkers; i++) {
		workers[i] = spawn_worker(app, listen_fd);
		started[i] = time(NULL);
	}
	log_info("listening on %s with %ld workers", socket_path, nworkers);

	while (!master_stop) {
		int status;
		pid_t pid = wait(&status);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			sleep(1);
			continue;
		}
		if (background > 0 && pid == background && !master_stop) {
			log_warn("background process %d exited (status %d); restarting", (int)pid, status);
			if (time(NULL) - bg_started < 1)
				sleep(1);
			background = spawn_background(app, bg_fn, listen_fd, bg_pipe);
			bg_started = time(NULL);
			continue;
		}
		for (long i = 0; i < nworkers; i++) {
			if (workers[i] != pid)
				continue;
			if (master_stop)
				break;
			log_warn("worker %d exited (status %d); restarting", (int)pid, status);
			if (time(NULL) - started[i] < 1)
				sleep(1); /* a crash loop must not spin the CPU */
			workers[i] = spawn_worker(app, listen_fd);
			started[i] = time(NULL);
		}
	}

	for (long i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			kill(workers[i], SIGTERM);
	for (int waited = 0; waited < 50; waited++) {
		int left = 0;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		for (long i = 0; i < nworkers; i++)
			if (workers[i] > 0 && kill(workers[i], 0) == 0)
				left++;
		if (!left)
			break;
		usleep(100000);
	}
	for (long i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			kill(workers[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (background > 0) {
		/* Every worker is gone: the background process finishes its work now. */
		close(bg_pipe[1]);
		for (int waited = 0; waited < FS_BACKGROUND_GRACE_S * 10; waited++) {
			pid_t done = waitpid(background, NULL, WNOHANG);
			if (done == background || (done < 0 && errno == ECHILD)) {
				background = 0;
				break;
			}
			usleep(100000);
		}
		if (background > 0) {
			log_warn("background process %d did not finish in %d s", (int)background,
				 FS_BACKGROUND_GRACE_S);
			kill(background, SIGKILL);
			waitpid(background, NULL, 0);
		}
	}
	close(listen_fd);
	unlink(socket_path);
	log_info("stopped");
	return 0;
}
