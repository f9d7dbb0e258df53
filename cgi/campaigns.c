/* Responder for /api/v1/campaigns: the lifecycle, sends, test sends,
 * analytics and the event log. */
#include <string.h>

#include "gate.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "json/json.h"
#include "services/auth.h"
#include "services/campaigns.h"

static int parse_input(struct fs_ctx *ctx, json_object *body, int create,
		       struct campaign_input *in)
{
	struct fs_validation v;
	const char *when = NULL;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_name = fs_json_get_string(&v, body, "name", create, 1, 255, &in->name, NULL) == 1;
	in->set_subject =
		fs_json_get_string(&v, body, "subject", create, 1, 500, &in->subject, NULL) == 1;
	/* The subject becomes a header. */
	fs_json_check_one_line(&v, "subject", in->subject);
	fs_json_get_nullable_uuid(&v, body, "template_id", &in->set_template, &in->template_id);
	fs_json_get_nullable_uuid(&v, body, "list_id", &in->set_list, &in->list_id);
	fs_json_get_nullable_string(&v, body, "scheduled_at", 1, 64, &in->set_scheduled, &when);
	if (when) {
		char *canonical = arena_alloc(ctx->env.arena, 32);
		if (canonical && time_parse_iso(when, canonical, 32) == 0)
			in->scheduled_at = canonical;
		else
			fs_validation_add(&v, "body", "scheduled_at",
					  "Input should be a valid datetime (ISO 8601)", "datetime_parsing");
	}
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void campaigns_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct campaign_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 1, &in) < 0)
		return;
	fs_respond_outcome(ctx, campaign_create(&ctx->env, &in, &out, &err), 201, &out, &err);
}

static void campaigns_index(struct fs_ctx *ctx)
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
	if (status && !campaign_status_valid(status))
		return fs_respond_invalid(ctx, "query", "status",
					  "Input should be one of: " CAMPAIGN_STATUSES, "enum");
	fs_respond_outcome(ctx, campaign_index(&ctx->env, status, &page, &out, &err), 200, &out, &err);
}

static void campaigns_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, campaign_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out, &err);
}

static void campaigns_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct campaign_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 0, &in) < 0)
		return;
	fs_respond_outcome(ctx, campaign_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &out, &err), 200, &out,
		&err);
}

static void campaigns_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = campaign_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void campaigns_send(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, campaign_send(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 202, &out, &err);
}

static void campaigns_test(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out;
	struct fs_validation v;
	const char *email = NULL;
	struct fs_error err;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &email);
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	st = campaign_test(&ctx->env, fs_ctx_param(ctx, "id"), email, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	out = json_object_new_object();
	json_object_object_add(out, "status", json_object_new_string("queued"));
	json_object_object_add(out, "email", json_object_new_string(email));
	fs_respond_json(ctx, 202, out);
}

static void campaigns_cancel(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, campaign_cancel(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out, &err);
}

static void campaigns_analytics(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, campaign_analytics(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out, &err);
}

static void campaigns_events(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	const char *type;
	int bad;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	type = fs_ctx_query_string(ctx, "event_type", 32, &bad);
	if (bad)
		return;
	if (type && !*type)
		type = NULL;
	if (type && !campaign_event_type_valid(type))
		return fs_respond_invalid(ctx, "query", "event_type",
					  "Input should be one of: " EVENT_TYPES, "enum");
	fs_respond_outcome(ctx, campaign_events(&ctx->env, fs_ctx_param(ctx, "id"), type, &page, &out, &err), 200,
		&out, &err);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/campaigns", campaigns_index, FS_ACCESS_READ, "List campaigns" },
	{ "POST", "/api/v1/campaigns", campaigns_create, FS_ACCESS_WRITE, "Create a campaign" },
	{ "GET", "/api/v1/campaigns/:id", campaigns_get, FS_ACCESS_READ, "Get a campaign" },
	{ "PATCH", "/api/v1/campaigns/:id", campaigns_update, FS_ACCESS_WRITE, "Update a campaign" },
	{ "DELETE", "/api/v1/campaigns/:id", campaigns_delete, FS_ACCESS_WRITE, "Delete a campaign" },
	{ "POST", "/api/v1/campaigns/:id/send", campaigns_send, FS_ACCESS_WRITE,
	  "Send: freeze the recipients and queue the mail" },
	{ "POST", "/api/v1/campaigns/:id/test", campaigns_test, FS_ACCESS_WRITE,
	  "Send one rendered copy to an address" },
	{ "POST", "/api/v1/campaigns/:id/cancel", campaigns_cancel, FS_ACCESS_WRITE,
	  "Cancel a scheduled or sending campaign" },
	{ "GET", "/api/v1/campaigns/:id/analytics", campaigns_analytics, FS_ACCESS_READ,
	  "A campaign's figures and rates" },
	{ "GET", "/api/v1/campaigns/:id/events", campaigns_events, FS_ACCESS_READ,
	  "A campaign's events" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "campaigns", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
