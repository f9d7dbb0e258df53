/* CORS (FLOWSEND_CORS_ORIGINS): which browser origins may read the API's
 * answers, and the answer to preflights. String compares only, no allocation. */
#ifndef FS_CORS_H
#define FS_CORS_H

#include "core/config.h"
#include "http/router.h"

struct fs_ctx;

/* Request headers a preflight may ask for (beyond the CORS-safelisted ones). */
#define FS_CORS_ALLOW_HEADERS \
	"Authorization, Content-Type, Idempotency-Key, X-API-Key, X-Request-Id"
/* Methods a preflight for a path no route knows is told; a known path gets its own. */
#define FS_CORS_ALLOW_METHODS "GET, POST, PATCH, DELETE"
/* Answer headers scripts on an allowed origin may read. */
#define FS_CORS_EXPOSE_HEADERS                                                               \
	"Content-Disposition, Idempotent-Replayed, Location, RateLimit-Limit, "             \
	"RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id"
/* Seconds a browser may cache a preflight (Chromium caps it at 7200). */
#define FS_CORS_MAX_AGE "7200"

/* The Access-Control-Allow-Origin value for a request from origin: the origin
 * itself when it is listed (exact match), "*" when any origin is allowed, else
 * NULL (origin NULL, not listed, or CORS off). */
const char *fs_cors_allow_origin(const struct fs_config *cfg, const char *origin);
/* Add the CORS headers of an answer to ctx's request: Vary: Origin whenever CORS
 * is on, the Access-Control-* ones when the origin is allowed. Returns the
 * allowed origin, or NULL. Costs nothing while FLOWSEND_CORS_ORIGINS is empty. */
const char *fs_cors_begin(struct fs_ctx *ctx);
/* Answer an OPTIONS request no route handles (rr and allow from the router).
 * A preflight (Origin and Access-Control-Request-Method) from an allowed
 * origin gets 204 with the methods and headers; from another origin 403 with no
 * CORS headers. A plain OPTIONS gets 204 with Allow, or 404 for an unknown path. */
void fs_cors_options(struct fs_ctx *ctx, enum fs_route_result rr, const char *allowed_origin);

#endif
