/* Responder for /t/, outside /api/v1: the open pixel (GET /t/o/{token}.gif)
 * and the click redirect (GET /t/c/{token}, 302 to the link's URL). The token
 * is checked before anything else (a forged one costs an HMAC and records
 * nothing); a hit is queued in memory shared with this responder's
 * background process (or in Redis), which writes the queue to PostgreSQL, so
 * neither answer waits on another process. */
#include <poll.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/server.h"
#include "mail/html_links.h"
#include "mail/scanners.h"
#include "queue/shm_ring.h"
#include "services/tracking.h"

/* A transparent 1x1 GIF. */
static const unsigned char pixel[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00,
	0x3b,
};

#define FLUSH_BATCH 2000
/* About 7 MB shared: a few seconds of hits at full speed should PostgreSQL
 * stall; beyond, hits go to Redis. */
#define RING_SLOTS 16384
#define FLUSH_IDLE_MS 200 /* well within the 2 s in which a hit must be visible */

static void not_found(struct fs_ctx *ctx)
{
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_error(ctx, FS_NOT_FOUND, "Not Found");
}

/* The token of kind at the end of the path, checked; 0 with *ref, or -1. */
static int check_token(struct fs_ctx *ctx, char kind, const char *suffix, struct track_ref *ref)
{
	const char *token = fs_ctx_param(ctx, "token");
	size_t len = token ? strlen(token) : 0, slen = strlen(suffix);
	struct track_key keys[2];
	size_t nkeys = tracking_keys(ctx->env.cfg, keys);

	if (len < slen || len > TRACK_TOKEN_MAX + slen || memcmp(token + len - slen, suffix, slen) != 0)
		return -1;
	return track_token_parse(keys, nkeys, kind, token, len - slen, ref);
}

/* Queue the hit; a hit that cannot be recorded is logged, and the person
 * still gets their image or their page. */
static void record(struct fs_ctx *ctx, const struct track_ref *ref)
{
	struct track_hit h;
	struct fs_error err;
	const char *ua = fs_request_header(&ctx->req, ctx->env.arena, "User-Agent");

	memset(&h, 0, sizeof(h));
	h.at_ms = (long long)clock_now_ms();
	if (track_hit_id(h.at_ms, h.id) < 0) {
		log_error("tracking: no randomness for a hit id; hit not recorded");
		return;
	}
	h.kind = ref->kind;
	memcpy(h.outbox_id, ref->outbox_id, sizeof(h.outbox_id));
	memcpy(h.link_id, ref->link_id, sizeof(h.link_id));
	h.head = strcmp(ctx->req.method, "HEAD") == 0;
	h.agent_bot = scanner_agent(ua);
	track_hit_set_agent(&h, ua);
	if (tracking_record(&ctx->env, &h, &err) != FS_OK)
		log_error("tracking: hit %s not recorded: %s", h.id, err.detail);
}

static void track_open(struct fs_ctx *ctx)
{
	struct track_ref ref;

	if (check_token(ctx, TRACK_OPEN, ".gif", &ref) < 0)
		return not_found(ctx);
	record(ctx, &ref);
	fs_header_add(ctx, "Cache-Control", "no-store, no-cache, must-revalidate, private");
	fs_header_add(ctx, "Pragma", "no-cache");
	fs_header_add(ctx, "X-Content-Type-Options", "nosniff");
	fs_respond_raw(ctx, 200, "image/gif", (const char *)pixel, sizeof(pixel));
}

static void track_click(struct fs_ctx *ctx)
{
	struct track_ref ref;
	struct fs_error err;
	const char *url = NULL;
	enum fs_status st;

	if (check_token(ctx, TRACK_CLICK, "", &ref) < 0)
		return not_found(ctx);
	st = tracking_link_url(&ctx->env, ref.link_id, &url, &err);
	if (st == FS_NOT_FOUND)
		return not_found(ctx);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	/* Only http(s), never a header break: whatever the row holds. */
	if (!html_link_trackable(url, strlen(url), NULL)) {
		log_warn("tracking: link %s has a URL that is not redirected to", ref.link_id);
		return not_found(ctx);
	}
	record(ctx, &ref);
	fs_header_add(ctx, "Location", url);
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_header_add(ctx, "Referrer-Policy", "no-referrer");
	fs_respond_empty(ctx, 302);
}

/* The background process: flush what the workers queue, at once while there
 * is more, every FLUSH_IDLE_MS otherwise; when every worker has stopped
 * (stop_fd at end-of-file), everything left, then stop. */
static void flusher(struct fs_worker *w, int stop_fd)
{
	struct fs_env env;
	int stopping = 0, failures = 0;

	memset(&env, 0, sizeof(env));
	env.arena = &w->arena;
	env.cfg = w->cfg;
	env.db = &w->db;
	env.sysdb = &w->sysdb;
	env.redis = &w->redis;
	env.request_id = "flush";
	env.client_addr = "";
	for (;;) {
		long n = tracking_flush(&env, FLUSH_BATCH);
		struct pollfd pf = { stop_fd, POLLIN, 0 };

		db_end_request(&w->sysdb);
		arena_reset(&w->arena);
		failures = n == -1 ? failures + 1 : 0;
		if (stopping) {
			/* Drain: wait out a lock a killed flush left (it lapses), and
			 * give up only after PostgreSQL or Redis failed for a while
			 * (the hits stay queued for the next start). */
			if (n == 0 || failures > 20)
				break;
			if (n < 0)
				poll(NULL, 0, n == TRACKING_BUSY ? 100 : 250);
			continue;
		}
		if (n >= FLUSH_BATCH)
			continue;
		if (poll(&pf, 1, n == -1 ? 1000 : FLUSH_IDLE_MS) > 0) {
			stopping = 1;
			log_info("tracking: workers stopped; writing the hits still queued");
		}
	}
	if (failures)
		log_error("tracking: stopped with hits still queued (Redis or PostgreSQL failing);"
			  " the next start writes them");
}

static const struct fs_route routes[] = {
	{ "GET", "/t/o/*token", track_open, FS_ACCESS_PUBLIC,
	  "Open pixel: a 1x1 GIF; records an open (HEAD too, as a scanner's)" },
	{ "GET", "/t/c/*token", track_click, FS_ACCESS_PUBLIC,
	  "Click: 302 to the link's URL; records a click (HEAD too, as a scanner's)" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "track", routes, sizeof(routes) / sizeof(routes[0]) };
	struct shm_ring *ring = NULL;
	int rc;

	/* Made here, in the master, so that the workers and the flusher it forks share it. */
	if (argc > 1 && strcmp(argv[1], "--socket") == 0) {
		ring = shm_ring_new(RING_SLOTS, sizeof(struct track_hit));
		if (!ring)
			log_warn("tracking: no shared ring; hits go through Redis");
		tracking_use_ring(ring);
	}
	/* Every route is a GET without a body: nothing can follow the answer. */
	fs_server_close_at_once(1);
	rc = fs_server_main_with(&app, flusher, argc, argv);
	shm_ring_free(ring);
	return rc;
}
