/* Tracking tokens: fixed-length base64url, one spelling per token (leftover
 * bits must be zero), the tag compared in constant time. */
#include "mail/track_token.h"

#include <string.h>

#include "core/crypto.h"
#include "core/uuid.h"

#define ID_BYTES 16
#define MAC_BYTES 12
#define RAW_MAX (1 + 2 * ID_BYTES + MAC_BYTES)

static int uuid_bytes(const char *id, unsigned char out[ID_BYTES])
{
	size_t n = 0;

	if (!id || !uuid_valid(id, strlen(id)))
		return -1;
	for (const char *p = id; *p && n < ID_BYTES; p++) {
		if (*p == '-')
			continue;
		out[n++] = (unsigned char)(hex_value(p[0]) << 4 | hex_value(p[1]));
		p++;
	}
	return n == ID_BYTES ? 0 : -1;
}

static void uuid_text(const unsigned char b[ID_BYTES], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < ID_BYTES; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* The tag over kind and the bytes before it (key id and ids). */
static void tag(const char *secret, char kind, const unsigned char *raw, size_t len,
		unsigned char out[MAC_BYTES])
{
	unsigned char msg[2 + RAW_MAX];
	unsigned char mac[32];

	msg[0] = 't';
	msg[1] = (unsigned char)kind;
	memcpy(msg + 2, raw, len);
	hmac_sha256_keyed(secret, strlen(secret), msg, 2 + len, mac);
	memcpy(out, mac, MAC_BYTES);
}

static size_t body_len(char kind)
{
	return kind == TRACK_CLICK ? 1 + 2 * ID_BYTES : 1 + ID_BYTES;
}

int track_token_mint(const struct track_key *key, char kind, const char *outbox_id,
		     const char *link_id, char *out, size_t size)
{
	unsigned char raw[RAW_MAX];
	size_t n;

	if ((kind != TRACK_OPEN && kind != TRACK_CLICK) || !key || !key->secret || !*key->secret ||
	    size < TRACK_TOKEN_MAX + 1)
		return -1;
	n = body_len(kind);
	raw[0] = key->id;
	if (uuid_bytes(outbox_id, raw + 1) < 0 ||
	    (kind == TRACK_CLICK && uuid_bytes(link_id, raw + 1 + ID_BYTES) < 0))
		return -1;
	tag(key->secret, kind, raw, n, raw + n);
	out[base64url_encode(raw, n + MAC_BYTES, out)] = '\0';
	return 0;
}

int track_token_parse(const struct track_key *keys, size_t nkeys, char kind, const char *token,
		      size_t len, struct track_ref *ref)
{
	unsigned char raw[RAW_MAX + 2], want[MAC_BYTES];
	size_t body;
	const struct track_key *key = NULL;

	if (kind != TRACK_OPEN && kind != TRACK_CLICK)
		return -1;
	if (len != (kind == TRACK_CLICK ? TRACK_CLICK_TOKEN_LEN : TRACK_OPEN_TOKEN_LEN))
		return -1;
	body = body_len(kind);
	if (base64url_decode(token, len, raw, sizeof(raw)) != (long)(body + MAC_BYTES))
		return -1;
	for (size_t k = 0; k < nkeys && !key; k++)
		if (keys[k].id == raw[0] && keys[k].secret && *keys[k].secret)
			key = &keys[k];
	if (!key)
		return -1;
	tag(key->secret, kind, raw, body, want);
	if (!secure_equals((const char *)want, MAC_BYTES, (const char *)raw + body, MAC_BYTES))
		return -1;
	memset(ref, 0, sizeof(*ref));
	ref->kind = kind;
	ref->key_id = raw[0];
	uuid_text(raw + 1, ref->outbox_id);
	if (kind == TRACK_CLICK)
		uuid_text(raw + 1 + ID_BYTES, ref->link_id);
	return 0;
}
