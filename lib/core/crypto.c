/* Thin wrappers over OpenSSL so callers never handle digests as raw bytes. */
#include "core/crypto.h"

/* The SHA-256 state as a struct (see hmac_sha256_keyed). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

#include "core/uuid.h"

/* SHA-256 fetched from the provider once per process (session 13): with
 * EVP_sha256() or HMAC(), OpenSSL 3 looks the implementation up again on
 * every call (EVP_Q_mac fetches HMAC and SHA-256 by name), 8-21 k
 * instructions a digest, more than hashing a link token or a seed costs. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}

static void sha256_raw(const void *data, size_t len, unsigned char md[32])
{
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, sha256(), NULL);
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[32];

	sha256_raw(data, len, md);
	hex_encode(md, 32, out);
}

void sha256_base64(const void *data, size_t len, char out[45])
{
	unsigned char md[32];

	sha256_raw(data, len, md);
	EVP_EncodeBlock((unsigned char *)out, md, 32);
}

/* HMAC-SHA256 as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || data)),
 * K hashed first when longer than the 64-byte block: the same bytes as
 * HMAC(EVP_sha256(), ...) without its per-call algorithm lookup. The keyed
 * (padded) states can be kept between calls (hmac_sha256_keyed). OpenSSL's
 * SHA-256 uses the CPU's SHA instructions where there are some, through its
 * low-level API, whose state is a plain struct copied by value: EVP would
 * allocate a context on every copy. OpenSSL 3 deprecates that API but ships
 * it; it is used here alone. */
static void keyed_state(const void *secret, size_t n, SHA256_CTX *inner, SHA256_CTX *outer)
{
	unsigned char block[SHA256_CBLOCK], pad[SHA256_CBLOCK];

	memset(block, 0, sizeof(block));
	if (n > SHA256_CBLOCK)
		SHA256((const unsigned char *)secret, n, block);
	else if (n)
		memcpy(block, secret, n);
	for (size_t i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	SHA256_Init(inner);
	SHA256_Update(inner, pad, sizeof(pad));
	for (size_t i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	SHA256_Init(outer);
	SHA256_Update(outer, pad, sizeof(pad));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
}

/* The MAC of data from the keyed states (consumed). */
static void keyed_finish(SHA256_CTX *inner, SHA256_CTX *outer, const void *data, size_t len,
			 unsigned char out[32])
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	SHA256_Update(inner, data, len);
	SHA256_Final(digest, inner);
	SHA256_Update(outer, digest, sizeof(digest));
	SHA256_Final(out, outer);
	OPENSSL_cleanse(inner, sizeof(*inner));
	OPENSSL_cleanse(outer, sizeof(*outer));
	OPENSSL_cleanse(digest, sizeof(digest));
}

void hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		     char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[32];
	SHA256_CTX inner, outer;

	keyed_state(key, key_len, &inner, &outer);
	keyed_finish(&inner, &outer, data, len, md);
	hex_encode(md, 32, out);
}

/* Two keys per thread: the worker mints link tokens and tracking tokens
 * under two secrets, message after message. */
#define KEYED_SLOTS 2

void hmac_sha256_keyed(const char *secret, size_t secret_len, const void *data, size_t len,
		       unsigned char out[32])
{
	static _Thread_local struct {
		unsigned char key[256];
		size_t key_len;
		int have;
		SHA256_CTX inner, outer;
	} slots[KEYED_SLOTS];
	static _Thread_local unsigned next;
	SHA256_CTX inner, outer;
	int k;

	for (k = 0; k < KEYED_SLOTS; k++)
		if (slots[k].have && slots[k].key_len == secret_len &&
		    memcmp(slots[k].key, secret, secret_len) == 0)
			break;
	if (k < KEYED_SLOTS) {
		inner = slots[k].inner;
		outer = slots[k].outer;
	} else {
		keyed_state(secret, secret_len, &inner, &outer);
		if (secret_len <= sizeof(slots[0].key)) {
			k = (int)(next++ % KEYED_SLOTS);
			memcpy(slots[k].key, secret, secret_len);
			slots[k].key_len = secret_len;
			slots[k].inner = inner;
			slots[k].outer = outer;
			slots[k].have = 1;
		}
	}
	keyed_finish(&inner, &outer, data, len, out);
}

int secure_equals(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

size_t base64url_encode(const unsigned char *in, size_t len, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;

	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
		out[o++] = tbl[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int base64url_value(char c)
{
	return c >= 'A' && c <= 'Z'   ? c - 'A'
	       : c >= 'a' && c <= 'z' ? c - 'a' + 26
	       : c >= '0' && c <= '9' ? c - '0' + 52
	       : c == '-'             ? 62
	       : c == '_'             ? 63
				      : -1;
}

long base64url_decode(const char *in, size_t len, unsigned char *out, size_t size)
{
	size_t n = 0;
	unsigned bits = 0, acc = 0;

	for (size_t i = 0; i < len; i++) {
		int v = base64url_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= size)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc != 0 || bits >= 6 ? -1 : (long)n;
}

int random_token(const char *prefix, size_t nbytes, char *out, size_t size)
{
	unsigned char buf[64];
	size_t plen = strlen(prefix);

	if (nbytes > sizeof(buf) || plen + nbytes * 4 / 3 + 4 > size)
		return -1;
	if (random_bytes(buf, nbytes) < 0)
		return -1;
	memcpy(out, prefix, plen);
	base64url_encode(buf, nbytes, out + plen);
	return 0;
}

int token_shape_ok(const char *token, size_t len, const char *prefix, size_t max_len)
{
	size_t plen = strlen(prefix);

	if (len <= plen || len > max_len || strncmp(token, prefix, plen) != 0)
		return 0;
	for (size_t i = plen; i < len; i++) {
		char c = token[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}
