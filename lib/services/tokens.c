/* Tokens. Debian's libjwt 1.10 verifies the signature but validates no claims,
 * so algorithm, expiry and type are checked here, explicitly. */
#include "services/tokens.h"

#include <errno.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/uuid.h"

int token_issue_access(const struct fs_config *cfg, const char *user_id, long session_epoch,
		       char *out, size_t size)
{
	jwt_t *jwt = NULL;
	char jti[17];
	unsigned char rnd[8];
	char *enc = NULL;
	time_t now = clock_now();
	int ret = -1;

	if (random_bytes(rnd, sizeof(rnd)) < 0 || jwt_new(&jwt) != 0)
		return -1;
	hex_encode(rnd, sizeof(rnd), jti);
	if (jwt_add_grant(jwt, "sub", user_id) || jwt_add_grant(jwt, "type", "access") ||
	    jwt_add_grant(jwt, "jti", jti) || jwt_add_grant_int(jwt, "iat", (long)now) ||
	    jwt_add_grant_int(jwt, "exp", (long)now + cfg->access_token_ttl) ||
	    jwt_add_grant_int(jwt, "sep", session_epoch) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg->jwt_secret,
			(int)strlen(cfg->jwt_secret)))
		goto out;
	enc = jwt_encode_str(jwt);
	if (!enc || strlen(enc) >= size)
		goto out;
	memcpy(out, enc, strlen(enc) + 1);
	ret = 0;
out:
	free(enc);
	jwt_free(jwt);
	return ret;
}

enum fs_status token_verify_access(const struct fs_config *cfg, const char *token,
				   char user_id[37], long *session_epoch)
{
	jwt_t *jwt = NULL;
	const char *sub, *type;
	long exp;
	enum fs_status ret = FS_UNAUTHORIZED;
	size_t len = strlen(token);

	/* Three base64url parts, bounded: refuse anything else before parsing. */
	if (len == 0 || len > TOKEN_MAX_LEN)
		return FS_UNAUTHORIZED;
	for (size_t i = 0; i < len; i++) {
		char c = token[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return FS_UNAUTHORIZED;
	}
	if (jwt_decode(&jwt, token, (const unsigned char *)cfg->jwt_secret,
		       (int)strlen(cfg->jwt_secret)) != 0)
		return FS_UNAUTHORIZED;
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
		goto out;
	type = jwt_get_grant(jwt, "type");
	if (!type || strcmp(type, "access") != 0)
		goto out;
	exp = jwt_get_grant_int(jwt, "exp");
	if (exp <= 0 || exp <= (long)clock_now())
		goto out;
	sub = jwt_get_grant(jwt, "sub");
	if (!sub || !uuid_valid(sub, strlen(sub)))
		goto out;
	memcpy(user_id, sub, 36);
	user_id[36] = '\0';
	/* Tokens issued before epochs existed carry none: epoch 0, as every
	 * account started. libjwt answers -1 with errno ENOENT when absent. */
	errno = 0;
	*session_epoch = jwt_get_grant_int(jwt, "sep");
	if (errno == ENOENT)
		*session_epoch = 0;
	else if (errno || *session_epoch < 0)
		goto out;
	ret = FS_OK;
out:
	jwt_free(jwt);
	return ret;
}

int token_new_refresh(char *token, size_t size, char hash[65])
{
	if (random_token(REFRESH_TOKEN_PREFIX, 32, token, size) < 0)
		return -1;
	sha256_hex(token, strlen(token), hash);
	return 0;
}
