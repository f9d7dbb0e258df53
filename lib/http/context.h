/* What a handler sees: the request, the answer it builds, the worker's
 * connections and the per-request arena. */
#ifndef FS_CONTEXT_H
#define FS_CONTEXT_H

#include <json-c/json.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/env.h"
#include "core/status.h"
#include "json/page.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

/* A request's context: what its services run with (env), the request, the
 * answer being built and the route that matched. */
struct fs_ctx {
	struct fs_env env;
	struct fs_request req;
	struct fs_response res;
	struct fs_route_match match;
	struct FCGX_Stream *out; /* NULL outside FastCGI (tests) */
};

/* Answer with {"detail": err->detail} and st's HTTP code. */
void fs_respond_failure(struct fs_ctx *ctx, enum fs_status st, const struct fs_error *err);
/* A service's outcome: *out with code when st is FS_OK, else the failure.
 * out is a pointer so it is read after the service that fills it has run. */
void fs_respond_outcome(struct fs_ctx *ctx, enum fs_status st, int code, json_object *const *out,
			const struct fs_error *err);

/* A path parameter by name (":id" → "id") copied into the arena, or NULL. */
const char *fs_ctx_param(struct fs_ctx *ctx, const char *name);
/* Read and parse the JSON body (capped by FLOWSEND_JSON_BODY_MAX). On failure
 * the error answer (413, 422) is already written and NULL returned. The object
 * is released with the arena; it must be a JSON object. */
json_object *fs_ctx_json_body(struct fs_ctx *ctx);

/* page (>=1, default 1) and page_size (1..100, default 50) from the query;
 * on failure a 422 is written and -1 returned. */
int fs_ctx_pagination(struct fs_ctx *ctx, struct fs_page *p);

/* Validate a string query parameter (UTF-8, max code points); NULL when absent.
 * On failure a 422 is written and *bad set. */
const char *fs_ctx_query_string(struct fs_ctx *ctx, const char *name, size_t max_chars,
				int *bad);
/* A boolean query parameter (true/false/1/0): *out is 1 or 0, or left as it
 * is when absent. On a bad value a 422 is written and -1 returned. */
int fs_ctx_query_bool(struct fs_ctx *ctx, const char *name, int *out);

#endif
