/* The Stripe-Signature parser and check. Lengths are explicit throughout: the
 * header comes from a client and the body may hold NULs. */
#include "core/stripe_sig.h"

#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/strbuf.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

int stripe_sig_parse(const char *header, size_t len, struct stripe_sig *out)
{
	size_t i = 0;
	int have_t = 0;

	memset(out, 0, sizeof(*out));
	if (!header || len == 0 || len > STRIPE_SIG_HEADER_MAX)
		return -1;
	while (i < len) {
		size_t start = i, end, eq, klen, vlen;
		const char *k, *v;

		while (i < len && header[i] != ',')
			i++;
		end = i;
		if (i < len)
			i++; /* past the comma */
		while (start < end && is_space(header[start]))
			start++;
		while (end > start && is_space(header[end - 1]))
			end--;
		if (start == end)
			continue; /* an empty element ("a,,b") says nothing */
		for (eq = start; eq < end && header[eq] != '='; eq++)
			;
		if (eq == end)
			return -1; /* an element without '=' */
		k = header + start;
		klen = eq - start;
		v = header + eq + 1;
		vlen = end - eq - 1;
		if (klen == 1 && k[0] == 't') {
			long long t = 0;
			if (have_t || vlen == 0 || vlen > 12)
				return -1;
			for (size_t j = 0; j < vlen; j++) {
				if (v[j] < '0' || v[j] > '9')
					return -1;
				t = t * 10 + (v[j] - '0');
			}
			out->t = t;
			have_t = 1;
		} else if (klen == 2 && k[0] == 'v' && k[1] == '1') {
			if (vlen == 0)
				return -1;
			if (out->nv1 < STRIPE_SIG_MAX_V1) {
				out->v1[out->nv1] = v;
				out->v1_len[out->nv1] = vlen;
				out->nv1++;
			}
		}
	}
	return have_t && out->nv1 > 0 ? 0 : -1;
}

/* 1 when hex[0..len) spells want (lower-case hex), in time independent of
 * where they differ. Upper-case hex digits are read as lower case. */
static int digest_equals(const char *hex, size_t len, const char want[SHA256_HEX_LEN + 1])
{
	char norm[SHA256_HEX_LEN];

	if (len != SHA256_HEX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		norm[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] + 32) : hex[i];
	return secure_equals(norm, SHA256_HEX_LEN, want, SHA256_HEX_LEN);
}

static int signed_hex(const char *body, size_t blen, const char *secret, long long t,
		      char want[SHA256_HEX_LEN + 1])
{
	struct strbuf payload = STRBUF_INIT;
	int ok;

	strbuf_appendf(&payload, "%lld.", t);
	strbuf_append(&payload, body, blen);
	ok = !payload.oom;
	if (ok)
		hmac_sha256_hex(secret, strlen(secret), payload.buf, payload.len, want);
	strbuf_free(&payload);
	return ok ? 0 : -1;
}

enum stripe_sig_result stripe_sig_verify(const char *header, size_t hlen, const char *body,
					 size_t blen, const char *secret, time_t now,
					 long tolerance)
{
	struct stripe_sig sig;
	char want[SHA256_HEX_LEN + 1];
	int match = 0;

	if (stripe_sig_parse(header, hlen, &sig) < 0)
		return STRIPE_SIG_MALFORMED;
	if (!secret || !*secret || signed_hex(body ? body : "", body ? blen : 0, secret, sig.t, want) < 0)
		return STRIPE_SIG_MISMATCH;
	/* Every value is compared, so the time taken does not tell which matched. */
	for (int i = 0; i < sig.nv1; i++)
		match |= digest_equals(sig.v1[i], sig.v1_len[i], want);
	if (!match)
		return STRIPE_SIG_MISMATCH;
	if (sig.t < (long long)now - tolerance || sig.t > (long long)now + tolerance)
		return STRIPE_SIG_STALE;
	return STRIPE_SIG_OK;
}

int stripe_sig_sign(const char *body, size_t blen, const char *secret, long long t, char *out,
		    size_t size)
{
	char hex[SHA256_HEX_LEN + 1];
	int n;

	if (signed_hex(body, blen, secret, t, hex) < 0)
		return -1;
	n = snprintf(out, size, "t=%lld,v1=%s", t, hex);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
