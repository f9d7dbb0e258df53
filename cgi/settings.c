/* Responder for /api/v1/settings: sender settings and sender domains (the
 * webhook secret joins it with flows). */
#include <string.h>

#include "gate.h"
#include "core/utf8.h"
#include "http/server.h"
#include "json/json.h"
#include "services/auth.h"
#include "services/domains.h"
#include "services/settings.h"
#include "services/webhooks.h"

static void sender_show(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = sender_get(&ctx->env, &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void sender_patch(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *o = NULL;
	struct fs_validation v;
	struct sender_update u = { 0 };
	struct fs_error err;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_nullable_string(&v, body, "from_name", 0, 255, &u.set_from_name, &u.from_name);
	fs_json_get_nullable_string(&v, body, "postal_address", 1, 1000, &u.set_postal_address,
				    &u.postal_address);
	/* A name may reach From: and no header may ever be built from a line
	 * break; the postal address is footer text and may span lines. */
	fs_json_check_one_line(&v, "from_name", u.from_name);
	if (u.postal_address && utf8_has_controls(u.postal_address, strlen(u.postal_address), 1))
		fs_validation_add(&v, "body", "postal_address",
				  "Value cannot contain control characters other than line breaks",
				  "value_error");
	u.set_from_email = json_object_object_get_ex(body, "from_email", NULL);
	if (u.set_from_email && json_object_object_get(body, "from_email"))
		fs_json_get_email(&v, body, "from_email", 1, &u.from_email);
	u.set_reply_to = json_object_object_get_ex(body, "reply_to", NULL);
	if (u.set_reply_to && json_object_object_get(body, "reply_to"))
		fs_json_get_email(&v, body, "reply_to", 1, &u.reply_to);
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	st = sender_update(&ctx->env, &u, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void domains_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *o = NULL;
	struct fs_validation v;
	struct fs_error err;
	const char *domain = NULL, *why = NULL;
	char norm[DOMAIN_NAME_MAX + 1];
	size_t len = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	if (fs_json_get_string(&v, body, "domain", 1, 1, 255, &domain, &len) == 1 &&
	    domain_normalize(domain, len, norm, sizeof(norm), &why) < 0)
		fs_validation_add(&v, "body", "domain", why, "value_error");
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	st = domains_create(&ctx->env, norm, &o, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 201, o);
}

static void domains_index(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = domains_list(&ctx->env, &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void domains_show(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = domains_get(&ctx->env, fs_ctx_param(ctx, "id"), &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void domains_check(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = domains_verify(&ctx->env, fs_ctx_param(ctx, "id"), &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void domains_remove(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = domains_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void secret_show(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = webhook_secret_get(&ctx->env, &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static void secret_rotate(struct fs_ctx *ctx)
{
	json_object *o = NULL;
	struct fs_error err;
	enum fs_status st = webhook_secret_rotate(&ctx->env, &o, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, o);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/settings/sender", sender_show, FS_ACCESS_READ, "Sender settings" },
	{ "PATCH", "/api/v1/settings/sender", sender_patch, FS_ACCESS_WRITE,
	  "Change sender settings" },
	{ "POST", "/api/v1/settings/domains", domains_post, FS_ACCESS_WRITE,
	  "Add a sender domain (a DKIM key pair and the DNS records to publish)" },
	{ "GET", "/api/v1/settings/domains", domains_index, FS_ACCESS_READ, "Sender domains" },
	{ "GET", "/api/v1/settings/domains/:id", domains_show, FS_ACCESS_READ, "A sender domain" },
	{ "POST", "/api/v1/settings/domains/:id/verify", domains_check, FS_ACCESS_WRITE,
	  "Check a sender domain's DKIM record in DNS" },
	{ "DELETE", "/api/v1/settings/domains/:id", domains_remove, FS_ACCESS_WRITE,
	  "Remove a sender domain" },
	{ "GET", "/api/v1/settings/webhook-secret", secret_show, FS_ACCESS_READ,
	  "The secret that signs outbound webhooks" },
	{ "POST", "/api/v1/settings/webhook-secret", secret_rotate, FS_ACCESS_WRITE,
	  "Rotate the webhook secret (the old one keeps signing beside it for 24 hours)" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "settings", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
