/* CORS at the responders, so every answer (errors, streamed exports, 401s
 * from authentication) carries the same headers; nginx adds them to its own
 * error pages from the same list (scripts/stack.sh). No credentials with "*". */
#include "http/cors.h"

#include <stdio.h>
#include <string.h>

#include "http/context.h"

const char *fs_cors_allow_origin(const struct fs_config *cfg, const char *origin)
{
	if (!origin || !*origin)
		return NULL;
	if (cfg->cors_any)
		return "*";
	for (size_t i = 0; i < cfg->cors_norigins; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return cfg->cors_origins[i];
	return NULL;
}

const char *fs_cors_begin(struct fs_ctx *ctx)
{
	const struct fs_config *c = ctx->env.cfg;
	const char *allowed;

	if (!c->cors_any && !c->cors_norigins)
		return NULL;
	/* The answer depends on Origin whether or not this one is allowed. */
	fs_header_add(ctx, "Vary", "Origin");
	allowed = fs_cors_allow_origin(c, fs_request_header(&ctx->req, ctx->env.arena, "Origin"));
	if (!allowed)
		return NULL;
	fs_header_add(ctx, "Access-Control-Allow-Origin", allowed);
	if (!c->cors_any)
		fs_header_add(ctx, "Access-Control-Allow-Credentials", "true");
	fs_header_add(ctx, "Access-Control-Expose-Headers", FS_CORS_EXPOSE_HEADERS);
	return allowed;
}

void fs_cors_options(struct fs_ctx *ctx, enum fs_route_result rr, const char *allowed_origin)
{
	const char *origin = fs_request_header(&ctx->req, ctx->env.arena, "Origin");
	const char *method = fs_request_header(&ctx->req, ctx->env.arena, "Access-Control-Request-Method");

	if (origin && method) {
		/* A preflight: no credentials come with it, so none are asked for. */
		if (!allowed_origin)
			return fs_respond_error(ctx, FS_FORBIDDEN,
						"Origin %.200s may not call this API from a browser "
						"(it is not in FLOWSEND_CORS_ORIGINS)",
						origin);
		fs_header_add(ctx, "Access-Control-Allow-Methods",
			      rr == FS_ROUTE_METHOD_NOT_ALLOWED ? ctx->match.allow
								 : FS_CORS_ALLOW_METHODS);
		fs_header_add(ctx, "Access-Control-Allow-Headers", FS_CORS_ALLOW_HEADERS);
		fs_header_add(ctx, "Access-Control-Max-Age", FS_CORS_MAX_AGE);
		return fs_respond_empty(ctx, 204);
	}
	if (rr != FS_ROUTE_METHOD_NOT_ALLOWED)
		return fs_respond_error(ctx, FS_NOT_FOUND, "Not Found");
	{
		char allow[sizeof(ctx->match.allow) + 16];
		snprintf(allow, sizeof(allow), "%s, OPTIONS", ctx->match.allow);
		fs_header_add(ctx, "Allow", allow);
	}
	fs_respond_empty(ctx, 204);
}
