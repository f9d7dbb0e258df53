/* Responder for /api/v1/billing: the plan table (checkout, portal and the
 * subscription views arrive with the billing capability). */
#include "gate.h"
#include "http/server.h"
#include "models/plan.h"
#include "services/auth.h"

static void billing_plans(struct fs_ctx *ctx)
{
	fs_header_add(ctx, "Cache-Control", "public, max-age=300");
	fs_respond_json(ctx, 200, plans_to_json());
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/billing/plans", billing_plans, FS_ACCESS_PUBLIC, "The plans" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "billing", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
