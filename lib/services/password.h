/* Password hashing with Argon2id (libsodium crypto_pwhash_str). */
#ifndef FS_PASSWORD_H
#define FS_PASSWORD_H

#include <stddef.h>

#define PASSWORD_HASH_MAX 128
#define PASSWORD_MIN_CHARS 8
#define PASSWORD_MAX_CHARS 128

/* 0 and the encoded hash in out, or -1 (out of memory). */
int password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX]);
/* 1 when password matches hash. A NULL hash costs the same time and fails,
 * so unknown accounts cannot be told apart by timing. */
int password_verify(const char *hash, const char *password, size_t len);

#endif
