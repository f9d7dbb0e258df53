/* Responder for /api/v1/billing, /api/v1/usage and /api/v1/analytics: the
 * plan table, checkout, portal, the subscription views, the period's usage
 * and the dashboard figures. One responder for the three small prefixes
 * keeps the process count down on small hosts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "models/plan.h"
#include "services/analytics.h"
#include "services/auth.h"
#include "services/billing.h"

static void billing_plans(struct fs_ctx *ctx)
{
	fs_header_add(ctx, "Cache-Control", "public, max-age=300");
	fs_respond_json(ctx, 200, plans_to_json());
}

static void billing_checkout_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct fs_validation v;
	const char *tier = NULL;
	struct fs_error err;

	if (!body)
		return;
	fs_validation_init(&v);
	if (fs_json_get_string(&v, body, "plan", 1, 1, 32, &tier, NULL) == 1 && !plan_find(tier))
		fs_validation_add(&v, "body", "plan", "Input should be 'free', 'pro' or 'enterprise'",
				  "enum");
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	fs_respond_outcome(ctx, billing_checkout(&ctx->env, tier, &out, &err), 201, &out, &err);
}

static void billing_portal_post(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, billing_portal(&ctx->env, &out, &err), 200, &out, &err);
}

static void billing_current_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, billing_current(&ctx->env, &out, &err), 200, &out, &err);
}

static void billing_overview_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, billing_overview(&ctx->env, &out, &err), 200, &out, &err);
}

static void usage_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, billing_usage(&ctx->env, &out, &err), 200, &out, &err);
}

static void analytics_get(struct fs_ctx *ctx)
{
	struct strbuf out = STRBUF_INIT;
	struct fs_error err;
	enum fs_status st;
	const char *text;
	long days = ANALYTICS_DAYS_DEFAULT;
	int bad;

	text = fs_ctx_query_string(ctx, "days", 16, &bad);
	if (bad)
		return;
	if (text) {
		char *end;
		errno = 0;
		days = strtol(text, &end, 10);
		if (!*text || *end || errno || days < 1 || days > ANALYTICS_DAYS_MAX)
			return fs_respond_invalid(ctx, "query", "days",
						  "Input should be an integer from 1 to 365",
						  "less_than_equal");
	}
	/* Written as text by the service (no json-c tree for 365 days). */
	st = analytics_overview(&ctx->env, (int)days, &out, &err);
	if (st != FS_OK)
		fs_respond_failure(ctx, st, &err);
	else
		fs_respond_raw(ctx, 200, "application/json; charset=utf-8", out.buf, out.len);
	strbuf_free(&out);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/billing/plans", billing_plans, FS_ACCESS_PUBLIC, "The plans" },
	{ "POST", "/api/v1/billing/checkout", billing_checkout_post, FS_ACCESS_WRITE,
	  "Start a subscription (mock mode: active at once for 30 days)" },
	{ "POST", "/api/v1/billing/portal", billing_portal_post, FS_ACCESS_WRITE,
	  "The billing portal's address" },
	{ "GET", "/api/v1/billing/current", billing_current_get, FS_ACCESS_READ,
	  "The live subscription, or null" },
	{ "GET", "/api/v1/billing/overview", billing_overview_get, FS_ACCESS_READ,
	  "Plan, subscription and this month's usage" },
	{ "GET", "/api/v1/usage", usage_get, FS_ACCESS_READ,
	  "This UTC month's usage against the plan's limits" },
	{ "GET", "/api/v1/analytics", analytics_get, FS_ACCESS_READ,
	  "Account-wide figures and the daily series" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "billing", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
