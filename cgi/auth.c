/* Responder for /api/v1/auth: register, login, refresh, logout, the profile,
 * and platform provisioning. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "models/plan.h"
#include "models/user.h"
#include "services/auth.h"
#include "services/password.h"

static void respond_tokens(struct fs_ctx *ctx, int code, const struct auth_tokens *t)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "access_token", json_object_new_string(t->access));
	json_object_object_add(o, "refresh_token", json_object_new_string(t->refresh));
	json_object_object_add(o, "token_type", json_object_new_string("bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(ctx->env.cfg->access_token_ttl));
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_json(ctx, code, o);
}

/* Ends the handler with a 422 when validation collected errors. */
static int invalid(struct fs_ctx *ctx, struct fs_validation *v)
{
	if (!fs_validation_failed(v))
		return 0;
	fs_respond_validation(ctx, fs_validation_take(v));
	return 1;
}

static void auth_register_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct auth_tokens t;
	struct fs_error err;
	const char *email = NULL, *password = NULL;
	size_t plen = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &email);
	fs_json_get_string(&v, body, "password", 1, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
			   &password, &plen);
	if (invalid(ctx, &v))
		return;
	st = auth_register(&ctx->env, email, password, plen, &t, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_tokens(ctx, 201, &t);
}

static void auth_login_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct auth_tokens t;
	struct fs_error err;
	const char *email = NULL, *password = NULL;
	size_t plen = 0;
	long retry = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "email", 1, 1, 254, &email, NULL);
	fs_json_get_string(&v, body, "password", 1, 1, PASSWORD_MAX_CHARS, &password, &plen);
	if (invalid(ctx, &v))
		return;
	st = auth_login(&ctx->env, email, password, plen, &t, &err, &retry);
	if (st == FS_RATE_LIMITED) {
		char secs[24];
		snprintf(secs, sizeof(secs), "%ld", retry);
		fs_header_add(ctx, "Retry-After", secs);
	}
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_tokens(ctx, 200, &t);
}

static void auth_refresh_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct auth_tokens t;
	struct fs_error err;
	const char *token = NULL;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "refresh_token", 1, 1, TOKEN_MAX_LEN, &token, NULL);
	if (invalid(ctx, &v))
		return;
	st = auth_refresh(&ctx->env, token, &t, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_tokens(ctx, 200, &t);
}

static void auth_logout_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct fs_error err;
	const char *token = NULL;
	int all = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_bool(&v, body, "all", 0, &all);
	fs_json_get_string(&v, body, "refresh_token", !all, 1, TOKEN_MAX_LEN, &token, NULL);
	if (invalid(ctx, &v))
		return;
	st = auth_logout(&ctx->env, token, all, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void auth_me_get(struct fs_ctx *ctx)
{
	fs_respond_json(ctx, 200, user_profile_json(&ctx->env.auth));
}

static void auth_me_patch(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct fs_error err;
	const char *email = NULL, *current = NULL, *next = NULL;
	size_t clen = 0, nlen = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 0, &email);
	fs_json_get_string(&v, body, "current_password", 0, 1, PASSWORD_MAX_CHARS, &current, &clen);
	fs_json_get_string(&v, body, "new_password", 0, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
			   &next, &nlen);
	if (invalid(ctx, &v))
		return;
	if (next && !current)
		return fs_respond_error(ctx, FS_BAD_REQUEST,
					"current_password is required to set a new password");
	st = auth_update_profile(&ctx->env, email, current, clen, next, nlen, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, user_profile_json(&ctx->env.auth));
}

static void auth_provision_post(struct fs_ctx *ctx)
{
	struct fs_validation v;
	struct fs_error err;
	struct provision_request req = { 0 };
	char user_id[37], key[128], replay_id[65];
	json_object *body, *o;
	enum fs_status st;

	st = fs_request_read_body(&ctx->req, ctx->env.arena, ctx->env.cfg->json_body_max);
	if (st == FS_TOO_LARGE)
		return fs_respond_error(ctx, st, "Request body is larger than %zu bytes",
					ctx->env.cfg->json_body_max);
	if (st != FS_OK)
		return fs_respond_error(ctx, FS_BAD_REQUEST, "Request body could not be read");
	/* The signature covers the raw bytes: check it before trusting any of them. */
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
	/* A captured request cannot be sent again to mint more keys. */
	if ((st = auth_platform_signature_claim(ctx->env.redis, replay_id, &err)) != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	body = fs_ctx_json_body(ctx);
	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &req.email);
	fs_json_get_string(&v, body, "password", 0, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
			   &req.password, &req.password_len);
	req.plan = "free";
	fs_json_get_string(&v, body, "plan", 0, 1, 32, &req.plan, NULL);
	if (req.plan && !plan_find(req.plan))
		fs_validation_add(&v, "body", "plan", "Input should be 'free', 'pro' or 'enterprise'",
				  "enum");
	fs_json_get_string(&v, body, "external_platform_id", 1, 1, 255, &req.external_platform_id,
			   NULL);
	fs_json_get_string(&v, body, "external_store_id", 0, 1, 255, &req.external_store_id, NULL);
	if (invalid(ctx, &v))
		return;
	st = auth_provision(&ctx->env, &req, user_id, key, sizeof(key), &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "api_key", json_object_new_string(key));
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_json(ctx, 201, o);
}

static json_object *message_json(const char *message)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "message", json_object_new_string(message));
	return o;
}

static void auth_verify_email_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *o;
	struct fs_validation v;
	struct fs_error err;
	const char *token = NULL;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "token", 1, 1, 256, &token, NULL);
	if (invalid(ctx, &v))
		return;
	st = auth_verify_email(&ctx->env, token, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	o = json_object_new_object();
	json_object_object_add(o, "email_verified", json_object_new_boolean(1));
	fs_respond_json(ctx, 200, o);
}

static void auth_resend_verification_post(struct fs_ctx *ctx)
{
	struct fs_error err;
	long retry = 0;
	enum fs_status st = auth_resend_verification(&ctx->env, &retry, &err);

	if (st == FS_RATE_LIMITED) {
		char secs[24];
		snprintf(secs, sizeof(secs), "%ld", retry);
		fs_header_add(ctx, "Retry-After", secs);
	}
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 202, message_json("Verification email sent"));
}

static void auth_forgot_password_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct fs_error err;
	const char *email = NULL;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &email);
	if (invalid(ctx, &v))
		return;
	st = auth_forgot_password(&ctx->env, email, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200,
			message_json("If an account exists for this address, a reset link is on its"
				     " way"));
}

static void auth_reset_password_post(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	struct fs_error err;
	const char *token = NULL, *password = NULL;
	size_t plen = 0;
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "token", 1, 1, 256, &token, NULL);
	fs_json_get_string(&v, body, "new_password", 1, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
			   &password, &plen);
	if (invalid(ctx, &v))
		return;
	st = auth_reset_password(&ctx->env, token, password, plen, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, message_json("Password updated; sign in with the new password"));
}

static const struct fs_route routes[] = {
	{ "POST", "/api/v1/auth/register", auth_register_post, FS_ACCESS_PUBLIC, "Register" },
	{ "POST", "/api/v1/auth/login", auth_login_post, FS_ACCESS_PUBLIC, "Log in" },
	{ "POST", "/api/v1/auth/refresh", auth_refresh_post, FS_ACCESS_PUBLIC, "Refresh tokens" },
	{ "POST", "/api/v1/auth/logout", auth_logout_post, FS_ACCESS_WRITE, "Log out" },
	{ "GET", "/api/v1/auth/me", auth_me_get, FS_ACCESS_READ, "The caller's profile" },
	{ "PATCH", "/api/v1/auth/me", auth_me_patch, FS_ACCESS_ADMIN, "Change email or password" },
	{ "POST", "/api/v1/auth/provision", auth_provision_post, FS_ACCESS_PUBLIC,
	  "Platform provisioning (signed)" },
	{ "POST", "/api/v1/auth/verify-email", auth_verify_email_post, FS_ACCESS_PUBLIC,
	  "Confirm the account's address with the mailed token" },
	{ "POST", "/api/v1/auth/resend-verification", auth_resend_verification_post,
	  FS_ACCESS_ADMIN, "Mail a new verification link" },
	{ "POST", "/api/v1/auth/forgot-password", auth_forgot_password_post, FS_ACCESS_PUBLIC,
	  "Mail a password reset link" },
	{ "POST", "/api/v1/auth/reset-password", auth_reset_password_post, FS_ACCESS_PUBLIC,
	  "Set a new password with the mailed token" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "auth", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
