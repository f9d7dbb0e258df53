/* Argon2id at libsodium's interactive limits: about 0.1 s and 64 MiB a hash. */
#include "services/password.h"

#include <sodium.h>
#include <string.h>

static int password_ready(void)
{
	static int state; /* 0 unknown, 1 ready, -1 failed */

	if (!state)
		state = sodium_init() < 0 ? -1 : 1;
	return state == 1;
}

int password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX])
{
	if (!password_ready())
		return -1;
	return crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
				 crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
		       ? 0
		       : -1;
}

int password_verify(const char *hash, const char *password, size_t len)
{
	static char dummy[PASSWORD_HASH_MAX];

	if (!password_ready())
		return 0;
	if (!hash) {
		if (!dummy[0] && password_hash("not-a-real-password", 19, dummy) < 0)
			return 0;
		/* Spend the time of a real check; the answer is no whatever it says. */
		if (crypto_pwhash_str_verify(dummy, password, len) == 0)
			return 0;
		return 0;
	}
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}
