/* Accounts: registration, login, token refresh and logout, the profile,
 * platform provisioning, and the authentication every responder runs. */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include <stddef.h>

#include "http/context.h"
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

/* Install auth_authenticate as the server's authentication hook. */
void auth_install(void);
/* API key or Bearer JWT, then user state, then scope; fills ctx->auth. On
 * refusal the 401/403 answer is written and 0 returned. */
int auth_authenticate(struct fs_ctx *ctx);

enum fs_status auth_register(struct fs_ctx *ctx, const char *email, const char *password,
			     size_t password_len, struct auth_tokens *out, struct fs_error *err);
enum fs_status auth_login(struct fs_ctx *ctx, const char *email, const char *password,
			  size_t password_len, struct auth_tokens *out, struct fs_error *err,
			  long *retry_after);
enum fs_status auth_refresh(struct fs_ctx *ctx, const char *refresh_token,
			    struct auth_tokens *out, struct fs_error *err);
enum fs_status auth_logout(struct fs_ctx *ctx, const char *refresh_token, int all,
			   struct fs_error *err);
/* Change the caller's email and/or password (which needs the current one). */
enum fs_status auth_update_profile(struct fs_ctx *ctx, const char *email,
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

/* 1 when signature_header is "sha256=<hex HMAC-SHA256 of body>" under the
 * platform secret (compared in constant time). */
int auth_platform_signature_ok(const struct fs_config *cfg, const char *body, size_t len,
			       const char *signature_header);
/* Find (by platform id, then email) or create the user; issue a new admin key. */
enum fs_status auth_provision(struct fs_ctx *ctx, const struct provision_request *req,
			      char user_id[37], char *api_key, size_t key_size,
			      struct fs_error *err);

#endif
