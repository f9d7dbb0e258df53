/* Responder for /api/v1/webhooks: what sending providers report about mail
 * after it left (Amazon SES through SNS, SendGrid's event webhook). Public
 * routes, each authenticated by its provider's signature over the raw body. */
#include "http/server.h"
#include "json/json.h"
#include "services/billing.h"
#include "services/bounces.h"

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
	{ "POST", "/api/v1/webhooks/stripe", stripe_post, FS_ACCESS_PUBLIC,
	  "Stripe's subscription and invoice events" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "webhooks", routes, sizeof(routes) / sizeof(routes[0]) };
	return fs_server_main(&app, argc, argv);
}
