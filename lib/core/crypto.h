/* Hashes, HMACs, constant-time comparison and random tokens (OpenSSL). The one
 * part of core/ that needs a library beyond libc: every layer above uses it. */
#ifndef FS_CRYPTO_H
#define FS_CRYPTO_H

#include <stddef.h>

#define SHA256_HEX_LEN 64

/* Lower-case hex SHA-256 of data into out[65]. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
/* Base64 (standard alphabet, padded) SHA-256 of data into out[45], the form
 * a Content-Security-Policy hash source takes. */
void sha256_base64(const void *data, size_t len, char out[45]);
/* Lower-case hex HMAC-SHA256 into out[65]. */
void hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		     char out[SHA256_HEX_LEN + 1]);
/* HMAC-SHA256 into out[32] for secrets used again and again (link and
 * tracking tokens): each thread keeps the keyed state of its last two. */
void hmac_sha256_keyed(const char *secret, size_t secret_len, const void *data, size_t len,
		       unsigned char out[32]);
/* 1 when a[0..alen) equals b[0..blen), in time independent of the contents. */
int secure_equals(const char *a, size_t alen, const char *b, size_t blen);
/* base64url without padding of len bytes into out (at least 4 * len / 3 + 4). */
size_t base64url_encode(const unsigned char *in, size_t len, char *out);
/* The strict inverse, for signed tokens: len characters of the alphabet, no
 * padding, leftover bits zero (one spelling per token), at most size bytes
 * into out. The number of bytes, or -1. */
long base64url_decode(const char *in, size_t len, unsigned char *out, size_t size);
/* prefix followed by base64url of nbytes random bytes, into out (size bytes). 0 or -1. */
int random_token(const char *prefix, size_t nbytes, char *out, size_t size);
/* 1 when token[0..len) could be one random_token made with prefix: the prefix,
 * then 1 to max_len - strlen(prefix) base64url characters. Checked before any
 * hashing or lookup of what a client sent. */
int token_shape_ok(const char *token, size_t len, const char *prefix, size_t max_len);

#endif
