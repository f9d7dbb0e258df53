/* Link tokens: short enough for a URL, checked without a database read. */
#include "mail/links.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/uuid.h"

#define ID_BYTES 16
#define MAC_BYTES 12

static int uuid_bytes(const char *id, unsigned char out[ID_BYTES])
{
	size_t n = 0;

	for (const char *p = id; *p; p++) {
		int hi, lo;
		if (*p == '-')
			continue;
		if (n == ID_BYTES || (hi = hex_value(p[0])) < 0 || !p[1] || (lo = hex_value(p[1])) < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		p++;
	}
	return n == ID_BYTES ? 0 : -1;
}

static void mac(const char *secret, const char *purpose, const unsigned char id[ID_BYTES],
		unsigned char out[MAC_BYTES])
{
	unsigned char msg[8 + ID_BYTES], digest[32];
	size_t plen = strlen(purpose) < 8 ? strlen(purpose) : 8;

	memcpy(msg, purpose, plen);
	memcpy(msg + plen, id, ID_BYTES);
	/* Session 13: the secret's keyed state is kept (a token a message). */
	hmac_sha256_keyed(secret, strlen(secret), msg, plen + ID_BYTES, digest);
	memcpy(out, digest, MAC_BYTES);
}

int link_token(const char *secret, const char *purpose, const char *outbox_id, char *out,
	       size_t size)
{
	unsigned char raw[ID_BYTES + MAC_BYTES];

	if (size < LINK_TOKEN_LEN + 1 || uuid_bytes(outbox_id, raw) < 0)
		return -1;
	mac(secret, purpose, raw, raw + ID_BYTES);
	base64url_encode(raw, sizeof(raw), out);
	return 0;
}

int link_token_verify(const char *secret, const char *purpose, const char *token, char *id_out,
		      size_t size)
{
	unsigned char raw[ID_BYTES + MAC_BYTES], want[MAC_BYTES];

	if (strlen(token) != LINK_TOKEN_LEN || size < 37 ||
	    base64url_decode(token, LINK_TOKEN_LEN, raw, sizeof(raw)) != ID_BYTES + MAC_BYTES)
		return -1;
	mac(secret, purpose, raw, want);
	if (!secure_equals((const char *)want, MAC_BYTES, (const char *)raw + ID_BYTES, MAC_BYTES))
		return -1;
	snprintf(id_out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", raw[0],
		 raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10],
		 raw[11], raw[12], raw[13], raw[14], raw[15]);
	return 0;
}

int link_token_mint(const struct fs_config *cfg, const char *purpose, const char *outbox_id,
		    char *out, size_t size)
{
	return link_token(cfg->link_secret, purpose, outbox_id, out, size);
}

enum link_key link_token_check(const struct fs_config *cfg, const char *purpose,
			       const char *token, char *id_out, size_t size)
{
	if (link_token_verify(cfg->link_secret, purpose, token, id_out, size) == 0)
		return LINK_KEY_LINK;
	if (link_token_verify(cfg->jwt_secret, purpose, token, id_out, size) == 0)
		return LINK_KEY_JWT;
	return LINK_KEY_NONE;
}

int verp_token(const char *secret, const char *outbox_id, char *out, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[ID_BYTES + MAC_BYTES];

	if (size < VERP_TOKEN_LEN + 1 || uuid_bytes(outbox_id, raw) < 0)
		return -1;
	mac(secret, "b", raw, raw + ID_BYTES);
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[VERP_TOKEN_LEN] = '\0';
	return 0;
}

int verp_token_verify(const char *secret, const char *token, size_t len, char *id_out,
		      size_t size)
{
	unsigned char raw[ID_BYTES + MAC_BYTES], want[MAC_BYTES];

	if (len != VERP_TOKEN_LEN || size < 37)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	mac(secret, "b", raw, want);
	if (!secure_equals((const char *)want, MAC_BYTES, (const char *)raw + ID_BYTES, MAC_BYTES))
		return -1;
	snprintf(id_out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", raw[0],
		 raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10],
		 raw[11], raw[12], raw[13], raw[14], raw[15]);
	return 0;
}

int verp_find_token(const char *addr, size_t len, size_t *off, size_t *tlen)
{
	size_t plen = sizeof(VERP_PREFIX) - 1, i = 0, end;

	while (i < len && (addr[i] == ' ' || addr[i] == '\t' || addr[i] == '<'))
		i++;
	if (len - i < plen || strncasecmp(addr + i, VERP_PREFIX, plen) != 0)
		return -1;
	i += plen;
	for (end = i; end < len && addr[end] != '@'; end++)
		;
	if (end == len || end == i)
		return -1;
	*off = i;
	*tlen = end - i;
	return 0;
}

int verp_address(const char *secret, const char *outbox_id, const char *domain, char *out,
		 size_t size)
{
	char token[VERP_TOKEN_LEN + 1];
	int n;

	if (!domain || !*domain || verp_token(secret, outbox_id, token, sizeof(token)) < 0)
		return -1;
	n = snprintf(out, size, VERP_PREFIX "%s@%s", token, domain);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
