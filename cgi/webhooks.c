/* Responder for /api/v1/webhooks: what sending providers report about mail
 * after it left (Amazon SES through SNS, SendGrid's event webhook). Public
 * routes, each authenticated by its provider's signature over the raw body. */
#include <string.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "services/billing.h"
#include "services/bounces.h"
#include "services/webhooks.h"

/* Read the raw body (the signature covers its exact bytes). 0, or -1 when
 * an answer was sent. */
static int raw_body(struct fs_ctx *ctx)
{
	enum fs_status st = fs_request_read_body(&ctx->req, ctx->env.arena,
						 ctx->env.cfg->json_body_max);

	if (st == FS_TOO_LARGE) {
		fs_respond_error(ctx, st, "Request body is larger than %zu bytes",
				 ctx->env.cfg->json_body_max);
		return -1;
	}
	if (st != FS_OK) {
		fs_respond_error(ctx, FS_BAD_REQUEST, "Request body could not be read");
		return -1;
	}
	return 0;
}

static void respond(struct fs_ctx *ctx, const struct provider_result *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "confirmed", json_object_new_boolean(r->confirmed));
	json_object_object_add(o, "events", json_object_new_int(r->events));
	json_object_object_add(o, "recorded", json_object_new_int(r->recorded));
	json_object_object_add(o, "ignored", json_object_new_int(r->ignored));
	fs_respond_json(ctx, 200, o);
}

/* SNS posts text/plain JSON; the content type is not checked. */
static void ses_events_post(struct fs_ctx *ctx)
{
	struct provider_result r;
	struct fs_error err;
	enum fs_status st;

	if (raw_body(ctx) < 0)
		return;
	st = bounce_ses_notification(&ctx->env, ctx->req.body, ctx->req.body_len, &r, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond(ctx, &r);
}

static void sendgrid_events_post(struct fs_ctx *ctx)
{
	struct provider_result r;
	struct fs_error err;
	enum fs_status st;

	if (raw_body(ctx) < 0)
		return;
	st = bounce_sendgrid_events(
		&ctx->env,
		fs_request_header(&ctx->req, ctx->env.arena, "X-Twilio-Email-Event-Webhook-Signature"),
		fs_request_header(&ctx->req, ctx->env.arena, "X-Twilio-Email-Event-Webhook-Timestamp"),
		ctx->req.body, ctx->req.body_len, &r, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond(ctx, &r);
}

/* ---- outbound event subscriptions (issue 21) ---- */

/* url, events and description from the body into in; 1 when valid, else the
 * 422 was sent. */
static int endpoint_input(struct fs_ctx *ctx, json_object *body, int create,
			  struct webhook_endpoint_input *in)
{
	const char **names = arena_alloc(ctx->env.arena, sizeof(*names) * WEBHOOK_EVENT_TYPES_N);
	struct fs_validation v;
	json_object *ev = NULL;
	size_t len = 0;
	int present = 0;

	memset(in, 0, sizeof(*in));
	if (!names) {
		fs_respond_error(ctx, FS_ERROR, "Out of memory");
		return 0;
	}
	fs_validation_init(&v);
	in->set_url = fs_json_get_string(&v, body, "url", create, 1, 2048, &in->url, &len) == 1;
	if (json_object_object_get_ex(body, "events", &ev)) {
		in->set_events = 1;
		if (!json_object_is_type(ev, json_type_array) || json_object_array_length(ev) < 1 ||
		    json_object_array_length(ev) > 20) {
			fs_validation_add(&v, "body", "events",
					  "Input should be a non-empty list of event types",
					  "value_error");
		} else {
			for (size_t i = 0; i < json_object_array_length(ev); i++) {
				json_object *e = json_object_array_get_idx(ev, i);
				const char *name = json_object_is_type(e, json_type_string)
							   ? json_object_get_string(e)
							   : NULL;
				int dup = 0;
				if (!name || !webhook_event_type_valid(name) ||
				    strlen(name) != (size_t)json_object_get_string_len(e)) {
					fs_validation_add(
						&v, "body", "events",
						"Unknown event type; choose from contact.created, "
						"contact.unsubscribed, email.bounced, email.complained, "
						"email.opened, email.clicked, campaign.sent",
						"value_error");
					break;
				}
				for (int k = 0; k < in->nevents; k++)
					dup |= strcmp(names[k], name) == 0;
				if (!dup && in->nevents < WEBHOOK_EVENT_TYPES_N)
					names[in->nevents++] = name;
			}
			in->events = names;
		}
	} else if (create) {
		fs_validation_add(&v, "body", "events", "Field required", "missing");
	}
	fs_json_get_nullable_string(&v, body, "description", 0, 1000, &present, &in->description);
	in->set_description = present;
	in->set_active = fs_json_get_bool(&v, body, "is_active", 0, &in->is_active) == 1;
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return 0;
	}
	return 1;
}

static void endpoints_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *o = NULL;
	struct webhook_endpoint_input in;
	struct fs_error err;
	enum fs_status st;

	if (!body || !endpoint_input(ctx, body, 1, &in))
		return;
	st = webhook_endpoint_create(&ctx->env, &in, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 201, o);
}

static void endpoints_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	st = webhook_endpoint_list(&ctx->env, &page, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void endpoints_show(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = webhook_endpoint_get(&ctx->env, fs_ctx_param(ctx, "id"), &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void endpoints_patch(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *o = NULL;
	struct webhook_endpoint_input in;
	struct fs_error err;
	enum fs_status st;

	if (!body || !endpoint_input(ctx, body, 0, &in))
		return;
	st = webhook_endpoint_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void endpoints_remove(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = webhook_endpoint_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void endpoints_deliveries(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	st = webhook_endpoint_deliveries(&ctx->env, fs_ctx_param(ctx, "id"), &page, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void flow_calls_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st;
	int bad = 0;
	const char *execution_id = fs_ctx_query_string(ctx, "execution_id", 64, &bad);

	if (bad || fs_ctx_pagination(ctx, &page) < 0)
		return;
	st = webhook_flow_call_attempts(&ctx->env, execution_id, &page, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

/* Stripe's events: the signature is always checked (mock mode too). */
static void stripe_post(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	if (raw_body(ctx) < 0)
		return;
	fs_respond_outcome(ctx,
			   billing_stripe_event(&ctx->env,
						fs_request_header(&ctx->req, ctx->env.arena, "Stripe-Signature"),
						ctx->req.body, ctx->req.body_len, &out, &err),
			   200, &out, &err);
}

static const struct fs_route routes[] = {
	{ "POST", "/api/v1/webhooks/ses-events", ses_events_post, FS_ACCESS_PUBLIC,
	  "SES bounces and complaints through SNS" },
	{ "POST", "/api/v1/webhooks/sendgrid-events", sendgrid_events_post, FS_ACCESS_PUBLIC,
	  "SendGrid's signed event webhook" },
	{ "POST", "/api/v1/webhooks/endpoints", endpoints_post, FS_ACCESS_WRITE,
	  "Subscribe an endpoint to events" },
	{ "GET", "/api/v1/webhooks/endpoints", endpoints_index, FS_ACCESS_READ,
	  "Event subscription endpoints" },
	{ "GET", "/api/v1/webhooks/endpoints/:id", endpoints_show, FS_ACCESS_READ,
	  "An event subscription endpoint" },
	{ "PATCH", "/api/v1/webhooks/endpoints/:id", endpoints_patch, FS_ACCESS_WRITE,
	  "Change an endpoint (is_active: true turns a disabled one on again)" },
	{ "DELETE", "/api/v1/webhooks/endpoints/:id", endpoints_remove, FS_ACCESS_WRITE,
	  "Remove an endpoint" },
	{ "GET", "/api/v1/webhooks/endpoints/:id/deliveries", endpoints_deliveries, FS_ACCESS_READ,
	  "Every call attempt made to an endpoint, newest first" },
	{ "GET", "/api/v1/webhooks/flow-calls", flow_calls_index, FS_ACCESS_READ,
	  "Every attempt of the flow webhook step's calls, newest first" },
	{ "POST", "/api/v1/webhooks/stripe", stripe_post, FS_ACCESS_PUBLIC,
	  "Stripe's subscription and invoice events" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "webhooks", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
