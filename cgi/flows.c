/* Responder for /api/v1/flows (definitions, lifecycle, executions, stats,
 * versions), /api/v1/events (custom triggers) and the platform's signed
 * /api/v1/webhooks/platform-events. */
#include <string.h>
#include <time.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "models/flow_steps.h"
#include "services/auth.h"
#include "services/flows.h"

static int parse_input(struct fs_ctx *ctx, json_object *body, int create, struct flow_input *in)
{
	struct fs_validation v;
	json_object *o;
	int present = 0;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_name = fs_json_get_string(&v, body, "name", create, 1, 255, &in->name, NULL) == 1;
	fs_json_get_nullable_string(&v, body, "description", 0, 2000, &present, &in->description);
	in->set_description = present;
	in->set_trigger_type = fs_json_get_string(&v, body, "trigger_type", create, 1, 64,
						  &in->trigger_type, NULL) == 1;
	if (json_object_object_get_ex(body, "trigger_config", &o)) {
		if (o && !json_object_is_type(o, json_type_object))
			fs_validation_add(&v, "body", "trigger_config", "Input should be a valid dictionary",
					  "dict_type");
		in->set_trigger_config = 1;
		in->trigger_config = o;
	}
	if (json_object_object_get_ex(body, "steps", &o)) {
		char why[256];
		int bad;
		if (o && flow_steps_check_draft(o, why, sizeof(why), &bad) < 0)
			fs_validation_add(&v, "body", "steps", why, "value_error");
		in->set_steps = 1;
		in->steps = o;
	}
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	/* null means "the default" for the two JSON members */
	if (in->set_trigger_config && !in->trigger_config)
		in->trigger_config = NULL;
	if (in->set_trigger_type && !flow_trigger_valid(in->trigger_type)) {
		fs_respond_error(ctx, FS_BAD_REQUEST, "Invalid trigger_type. Must be one of: " FLOW_TRIGGERS);
		return -1;
	}
	return 0;
}

static void flows_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct flow_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 1, &in) < 0)
		return;
	fs_respond_outcome(ctx, flow_create(&ctx->env, &in, &out, &err), 201, &out, &err);
}

static void flows_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	const char *status;
	int bad;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	status = fs_ctx_query_string(ctx, "status", 32, &bad);
	if (bad)
		return;
	if (status && !*status)
		status = NULL;
	if (status && !flow_status_valid(status))
		return fs_respond_invalid(ctx, "query", "status", "Input should be one of: " FLOW_STATUSES,
					  "enum");
	fs_respond_outcome(ctx, flow_index(&ctx->env, status, &page, &out, &err), 200, &out, &err);
}

static void flows_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, flow_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out,
			   &err);
}

static void flows_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct flow_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 0, &in) < 0)
		return;
	fs_respond_outcome(ctx, flow_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &out, &err), 200,
			   &out, &err);
}

static void flows_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = flow_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void flows_activate(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, flow_activate(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200,
			   &out, &err);
}

static void flows_pause(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, flow_pause(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out,
			   &err);
}

static void flows_executions(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	const char *status;
	int bad;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	status = fs_ctx_query_string(ctx, "status", 32, &bad);
	if (bad)
		return;
	if (status && !*status)
		status = NULL;
	if (status && !flow_execution_status_valid(status))
		return fs_respond_invalid(ctx, "query", "status",
					  "Input should be one of: " FLOW_EXECUTION_STATUSES, "enum");
	fs_respond_outcome(ctx,
			   flow_executions(&ctx->env, fs_ctx_param(ctx, "id"), status, &page, &out, &err),
			   200, &out, &err);
}

static void flows_stats(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, flow_stats(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out,
			   &err);
}

static void flows_versions(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	fs_respond_outcome(ctx, flow_versions(&ctx->env, fs_ctx_param(ctx, "id"), &page, &out, &err),
			   200, &out, &err);
}

static void events_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL, *data = NULL;
	struct fs_validation v;
	const char *event = NULL, *email = NULL;
	struct fs_error err;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "event", 1, 1, 255, &event, NULL);
	fs_json_check_one_line(&v, "event", event);
	fs_json_get_email(&v, body, "email", 1, &email);
	if (json_object_object_get_ex(body, "data", &data) && data &&
	    !json_object_is_type(data, json_type_object))
		fs_validation_add(&v, "body", "data", "Input should be a valid dictionary", "dict_type");
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	fs_respond_outcome(ctx, flow_event(&ctx->env, event, email, data, &out, &err), 202, &out, &err);
}

/* Signed by the platform over the raw body, like /auth/provision. */
static void platform_events_post(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;
	char replay_id[65];
	enum fs_status st;

	st = fs_request_read_body(&ctx->req, ctx->env.arena, ctx->env.cfg->json_body_max);
	if (st == FS_TOO_LARGE)
		return fs_respond_error(ctx, st, "Request body is larger than %zu bytes",
					ctx->env.cfg->json_body_max);
	if (st != FS_OK)
		return fs_respond_error(ctx, FS_BAD_REQUEST, "Request body could not be read");
	switch (auth_platform_signature_check(
		ctx->env.cfg, ctx->req.body, ctx->req.body_len,
		fs_request_header(&ctx->req, ctx->env.arena, "X-Platform-Signature"), time(NULL),
		replay_id)) {
	case PLATFORM_SIG_OK:
		break;
	case PLATFORM_SIG_STALE:
		return fs_respond_error(ctx, FS_UNAUTHORIZED,
					"Platform signature timestamp is outside the 5-minute window");
	case PLATFORM_SIG_LEGACY_OFF:
		return fs_respond_error(ctx, FS_UNAUTHORIZED,
					"Invalid platform signature: sign with t=<unix time>,v1=<hex>");
	default:
		return fs_respond_error(ctx, FS_UNAUTHORIZED, "Invalid platform signature");
	}
	if ((st = auth_platform_signature_claim(ctx->env.redis, replay_id, &err)) != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_outcome(ctx,
			   flow_platform_event(&ctx->env, ctx->req.body, ctx->req.body_len, &out, &err),
			   200, &out, &err);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/flows", flows_index, FS_ACCESS_READ, "List flows" },
	{ "POST", "/api/v1/flows", flows_create, FS_ACCESS_WRITE, "Create a flow (draft)" },
	{ "GET", "/api/v1/flows/:id", flows_get, FS_ACCESS_READ, "Get a flow" },
	{ "PATCH", "/api/v1/flows/:id", flows_update, FS_ACCESS_WRITE,
	  "Update a draft or paused flow" },
	{ "DELETE", "/api/v1/flows/:id", flows_delete, FS_ACCESS_WRITE,
	  "Delete a flow (its executions stop)" },
	{ "POST", "/api/v1/flows/:id/activate", flows_activate, FS_ACCESS_WRITE,
	  "Validate the steps, snapshot a version and activate" },
	{ "POST", "/api/v1/flows/:id/pause", flows_pause, FS_ACCESS_WRITE, "Pause an active flow" },
	{ "GET", "/api/v1/flows/:id/executions", flows_executions, FS_ACCESS_READ,
	  "A flow's executions" },
	{ "GET", "/api/v1/flows/:id/stats", flows_stats, FS_ACCESS_READ, "A flow's figures" },
	{ "GET", "/api/v1/flows/:id/versions", flows_versions, FS_ACCESS_READ,
	  "A flow's step versions" },
	{ "POST", "/api/v1/events", events_post, FS_ACCESS_WRITE,
	  "Record a custom event for a contact (custom triggers)" },
	{ "POST", "/api/v1/webhooks/platform-events", platform_events_post, FS_ACCESS_PUBLIC,
	  "The e-commerce platform's signed events" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "flows", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	/* Every route reads a small body to its end, so each FastCGI connection
	 * is closed as soon as the answer is written, without libfcgi's
	 * lingering wait for nginx (README, "Session 12: the tails"). */
	fs_server_close_at_once(1);
	return fs_server_main(&app, argc, argv);
}
