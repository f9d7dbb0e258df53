/* libFuzzer target: the sender-domain validator (punycode included), the DNS
 * TXT reply reader, and the DKIM signer over arbitrary bytes as a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mail/dkim.h"
#include "mail/dns.h"
#include "services/domains.h"

static struct dkim_signer *signer;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;
	struct strbuf sb = STRBUF_INIT;

	if (domain_normalize((const char *)data, size, out, sizeof(out), &why) == 0) {
		/* What passes is a plain lower-case name the signer would take. */
		size_t n = strlen(out);
		if (n == 0 || n > DOMAIN_NAME_MAX || !dkim_name_ok(out, n, 0))
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				__builtin_trap();
	} else if (!why) {
		__builtin_trap();
	}

	if (dns_parse_txt_reply(data, size, &sb) > 0 && (sb.len == 0 || sb.buf[sb.len - 1] != '\0'))
		__builtin_trap();
	strbuf_reset(&sb);

	if (!signer) {
		struct strbuf priv = STRBUF_INIT, pub = STRBUF_INIT;
		char err[256];
		if (dkim_keygen(1024, &priv, &pub) < 0)
			__builtin_trap();
		signer = dkim_signer_new("fuzz.example", "s1", priv.buf, priv.len, err, sizeof(err));
		strbuf_free(&priv);
		strbuf_free(&pub);
		if (!signer)
			__builtin_trap();
	}
	strbuf_appends(&sb, "kept");
	if (dkim_signer_sign(signer, (const char *)data, size, 0, &sb) == 0) {
		if (sb.len < 4 + 16 || memcmp(sb.buf + 4, "DKIM-Signature: ", 16) != 0 ||
		    memcmp(sb.buf + sb.len - 2, "\r\n", 2) != 0)
			__builtin_trap();
	} else if (sb.len != 4) {
		__builtin_trap(); /* a refusal leaves the buffer as it was */
	}
	strbuf_free(&sb);
	return 0;
}
