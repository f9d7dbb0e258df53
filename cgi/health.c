/* Responder for /api/v1/health: 200 "ok", or 503 "degraded" naming the
 * dependency that failed. */
#include "core/timeutil.h"
#include "http/server.h"
#include "json/json.h"
#include "services/health.h"

static void health_get(struct fs_ctx *ctx)
{
	struct health_report rep;
	char now[32];
	json_object *o = json_object_new_object();
	int ok;

	health_check(ctx->env.db, ctx->env.redis, &rep);
	ok = rep.database_ok && rep.redis_ok;
	time_now_iso(now, sizeof(now));
	json_object_object_add(o, "service", json_object_new_string("flowsend"));
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "degraded"));
	json_object_object_add(o, "timestamp", json_object_new_string(now));
	json_object_object_add(o, "database",
			       json_object_new_string(rep.database_ok ? "ok" : "error"));
	json_object_object_add(o, "redis", json_object_new_string(rep.redis_ok ? "ok" : "error"));
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_json(ctx, ok ? 200 : 503, o);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/health", health_get, FS_ACCESS_PUBLIC, "Service health" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "health", routes, sizeof(routes) / sizeof(routes[0]) };
	return fs_server_main(&app, argc, argv);
}
