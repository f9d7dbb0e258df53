/* Access tokens (JWT HS256 via libjwt) and opaque refresh tokens. */
#ifndef FS_TOKENS_H
#define FS_TOKENS_H

#include <stddef.h>

#include "core/config.h"
#include "core/status.h"

#define TOKEN_MAX_LEN 4096
#define REFRESH_TOKEN_PREFIX "fsr_"

/* A signed access token for user_id into out (size bytes), stamped with the
 * user's session epoch (users.session_epoch); 0 or -1. */
int token_issue_access(const struct fs_config *cfg, const char *user_id, long session_epoch,
		       char *out, size_t size);
/* Verify signature, algorithm (HS256 only), type "access" and expiry; on
 * success copy the subject into user_id[37] and the session epoch the token
 * was issued under into *session_epoch. FS_OK or FS_UNAUTHORIZED. */
enum fs_status token_verify_access(const struct fs_config *cfg, const char *token,
				   char user_id[37], long *session_epoch);
/* A new random refresh token (shown once) and the hash we store. */
int token_new_refresh(char *token, size_t size, char hash[65]);

#endif
