/* Accounts: registration, login, token refresh and logout, the profile,
 * platform provisioning, and the authentication every responder runs. */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include <stddef.h>
#include <time.h>

#include "core/env.h"
#include "core/status.h"
#include "services/tokens.h"

struct auth_tokens {
	char access[TOKEN_MAX_LEN];
	char refresh[128];
};

enum auth_credential { AUTH_NONE, AUTH_BEARER, AUTH_API_KEY, AUTH_MALFORMED };

/* Which credential the two headers carry (either may be NULL); *value points
 * at the token or key inside them. Pure: the fuzz target drives it. */
enum auth_credential auth_parse_credentials(const char *authorization, const char *api_key,
					    const char **value);

/* Who an API key (or a Bearer JWT) belongs to: env->auth and env->user_id
 * filled and FS_OK; FS_UNAUTHORIZED with the original's detail ("Invalid API
 * key", "Invalid or expired token", "User not found or inactive"); FS_ERROR
 * when the lookup failed. Known keys and tokens cost no database round trip. */
enum fs_status auth_principal_from_key(struct fs_env *env, const char *key, struct fs_error *err);
enum fs_status auth_principal_from_jwt(struct fs_env *env, const char *token, struct fs_error *err);

/* The caller's per-minute budget after counting this request. */
struct auth_rate {
	long limit, remaining, reset; /* reset: seconds until the window ends */
};
/* Count this request against env->auth's budget: 1 within it, 0 over it (rate
 * filled either way), -1 when Redis cannot tell (let it through). */
int auth_rate_check(struct fs_env *env, struct auth_rate *rate);

enum fs_status auth_register(struct fs_env *env, const char *email, const char *password,
			     size_t password_len, struct auth_tokens *out, struct fs_error *err);
enum fs_status auth_login(struct fs_env *env, const char *email, const char *password,
			  size_t password_len, struct auth_tokens *out, struct fs_error *err,
			  long *retry_after);
enum fs_status auth_refresh(struct fs_env *env, const char *refresh_token,
			    struct auth_tokens *out, struct fs_error *err);
enum fs_status auth_logout(struct fs_env *env, const char *refresh_token, int all,
			   struct fs_error *err);
/* Change the caller's email and/or password (which needs the current one). */
enum fs_status auth_update_profile(struct fs_env *env, const char *email,
				   const char *current_password, size_t current_len,
				   const char *new_password, size_t new_len, struct fs_error *err);

struct provision_request {
	const char *email;
	const char *password; /* NULL: a random one */
	size_t password_len;
	const char *plan;
	const char *external_platform_id;
	const char *external_store_id; /* may be NULL */
};

#define PLATFORM_SIG_TOLERANCE 300 /* seconds either side of now */

enum platform_signature {
	PLATFORM_SIG_OK,
	PLATFORM_SIG_BAD,        /* missing, malformed or wrong */
	PLATFORM_SIG_STALE,      /* right, but its timestamp is outside the window */
	PLATFORM_SIG_LEGACY_OFF, /* the body-only form while legacy signatures are off */
};

/* Check an X-Platform-Signature header against the raw body (constant-time
 * comparison): "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">" within
 * PLATFORM_SIG_TOLERANCE of now, or, while cfg->platform_legacy_signatures,
 * the original "sha256=<hex HMAC of body>". For a timestamped signature
 * replay_id receives the id to claim with auth_platform_signature_claim
 * (empty for the legacy form). Pure: unit tests and the fuzz target call it. */
enum platform_signature auth_platform_signature_check(const struct fs_config *cfg,
						      const char *body, size_t len,
						      const char *header, time_t now,
						      char replay_id[65]);
/* auth_platform_signature_check(...) == PLATFORM_SIG_OK at the current time. */
int auth_platform_signature_ok(const struct fs_config *cfg, const char *body, size_t len,
			       const char *signature_header);
/* Remember a timestamped signature for its window: FS_OK the first time,
 * FS_UNAUTHORIZED for a replay, FS_UNAVAILABLE when Redis cannot tell. */
enum fs_status auth_platform_signature_claim(struct fs_redis *redis, const char *replay_id,
					     struct fs_error *err);
/* Find (by platform id, then email) or create the user; issue a new admin key.
 * An unverified account found by email is claimed: password, sessions and
 * keys revoked, data and id kept, the address mailed a set-password link. */
enum fs_status auth_provision(struct fs_env *env, const struct provision_request *req,
			      char user_id[37], char *api_key, size_t key_size,
			      struct fs_error *err);

/* POST /auth/verify-email: claim a single-use link for the address it was
 * mailed to. FS_BAD_REQUEST when bad, used or expired. */
enum fs_status auth_verify_email(struct fs_env *env, const char *token, struct fs_error *err);
/* Mail the caller a new verification link; FS_BAD_REQUEST when verified
 * already, FS_RATE_LIMITED (*retry_after seconds) within a minute of the last. */
enum fs_status auth_resend_verification(struct fs_env *env, long *retry_after,
					struct fs_error *err);
/* Mail a reset link when an active account has this address (at most one a
 * minute); FS_OK either way, so the answer tells nothing. */
enum fs_status auth_forgot_password(struct fs_env *env, const char *email, struct fs_error *err);
/* Claim a reset link: new password, address verified, every session ended. */
enum fs_status auth_reset_password(struct fs_env *env, const char *token, const char *password,
				   size_t password_len, struct fs_error *err);

#endif
