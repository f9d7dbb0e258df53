/* Authentication at the edge: the headers in, the 401/403/429 answers and
 * RateLimit-* headers out. Who a key or token belongs to is the auth
 * service's business (lib/services/auth.c). */
#include "gate.h"

#include <stdio.h>

#include "http/server.h"
#include "services/auth.h"
#include "services/billing.h"

void auth_install(void)
{
	fs_authenticate = gate_authenticate;
}

static int deny(struct fs_ctx *ctx, enum fs_status st, const char *detail)
{
	if (st == FS_UNAUTHORIZED)
		fs_header_add(ctx, "WWW-Authenticate", "Bearer");
	fs_respond_error(ctx, st, "%s", detail);
	return 0;
}

static int within_rate_limit(struct fs_ctx *ctx)
{
	struct auth_rate rate;
	char buf[24];
	int ok = auth_rate_check(&ctx->env, &rate);

	if (ok < 0)
		return 1; /* Redis cannot tell: let it through (logged by the service) */
	snprintf(buf, sizeof(buf), "%ld", rate.limit);
	fs_header_add(ctx, "RateLimit-Limit", buf);
	snprintf(buf, sizeof(buf), "%ld", rate.remaining);
	fs_header_add(ctx, "RateLimit-Remaining", buf);
	snprintf(buf, sizeof(buf), "%ld", rate.reset);
	fs_header_add(ctx, "RateLimit-Reset", buf);
	if (ok)
		return 1;
	fs_header_add(ctx, "Retry-After", buf);
	fs_respond_error(ctx, FS_RATE_LIMITED,
			 "Rate limit of %ld requests per minute exceeded. Try again in %ld seconds.",
			 rate.limit, rate.reset);
	return 0;
}

int gate_authenticate(struct fs_ctx *ctx)
{
	struct fs_error err;
	const char *value;
	unsigned need = 0;
	enum fs_status st;

	switch (auth_parse_credentials(fs_request_header(&ctx->req, ctx->env.arena, "Authorization"),
				       fs_request_header(&ctx->req, ctx->env.arena, "X-API-Key"),
				       &value)) {
	case AUTH_API_KEY:
		st = auth_principal_from_key(&ctx->env, value, &err);
		break;
	case AUTH_BEARER:
		st = auth_principal_from_jwt(&ctx->env, value, &err);
		break;
	case AUTH_MALFORMED:
		return deny(ctx, FS_UNAUTHORIZED, "Invalid or expired token");
	default:
		return deny(ctx, FS_UNAUTHORIZED, "Not authenticated");
	}
	if (st != FS_OK)
		return deny(ctx, st, err.detail);
	/* After authentication, before the scope (API.md's order). */
	if (!billing_api_access(&ctx->env))
		return deny(ctx, FS_FORBIDDEN, "API access requires the Pro or Enterprise plan");
	switch (ctx->match.route->access) {
	case FS_ACCESS_PUBLIC: need = 0; break;
	case FS_ACCESS_READ: need = FS_SCOPE_READ; break;
	case FS_ACCESS_WRITE: need = FS_SCOPE_WRITE; break;
	case FS_ACCESS_ADMIN: need = FS_SCOPE_ADMIN; break;
	}
	if ((ctx->env.auth.scopes & need) != need)
		return deny(ctx, FS_FORBIDDEN, "Insufficient scope");
	if (ctx->env.cfg->rate_limits && !within_rate_limit(ctx))
		return 0;
	return 1;
}
