/* libFuzzer target: the credential path short of the database. Input:
 * the Authorization header, a NUL byte, then the X-API-Key header. The
 * second string also goes through the platform signature parser as the
 * X-Platform-Signature header, with the first as the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "services/apikeys.h"
#include "services/auth.h"
#include "services/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fs_config cfg;
	static int ready;
	char *copy = malloc(size + 2), user[37], hash[65];
	long epoch;
	const char *authz, *key, *value;

	if (!ready) {
		char err[64];
		fs_config_load(&cfg, err, sizeof(err));
		ready = 1;
	}
	memcpy(copy, data, size);
	copy[size] = '\0';
	copy[size + 1] = '\0';
	authz = copy;
	key = copy + strlen(copy) + 1 <= copy + size ? copy + strlen(copy) + 1 : NULL;
	switch (auth_parse_credentials(authz, key, &value)) {
	case AUTH_BEARER:
		if (token_verify_access(&cfg, value, user, &epoch) == FS_OK && strlen(user) != 36)
			__builtin_trap();
		break;
	case AUTH_API_KEY:
		if (apikey_shape_ok(value, strlen(value)))
			sha256_hex(value, strlen(value), hash);
		break;
	default:
		break;
	}
	if (key) {
		char replay[65];
		enum platform_signature sig =
			auth_platform_signature_check(&cfg, authz, strlen(authz), key, 1700000000, replay);
		if (sig == PLATFORM_SIG_OK && replay[0] && strlen(replay) != 64)
			__builtin_trap();
	}
	free(copy);
	return 0;
}
