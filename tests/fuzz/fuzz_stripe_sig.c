/* libFuzzer target: the Stripe-Signature parser and check on any bytes.
 * Parsing never reads past the input; whatever parses keeps its v1 pointers
 * inside it; a header made by stripe_sig_sign for the input as a body
 * verifies, and the fuzzed header against it never crashes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/stripe_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct stripe_sig sig;
	char header[128];

	if (stripe_sig_parse(s, size, &sig) == 0) {
		if (sig.nv1 < 1 || sig.nv1 > STRIPE_SIG_MAX_V1 || sig.t < 0)
			abort();
		for (int i = 0; i < sig.nv1; i++)
			if (sig.v1[i] < s || sig.v1[i] + sig.v1_len[i] > s + size || sig.v1_len[i] == 0)
				abort();
	}
	(void)stripe_sig_verify(s, size, s, size, "whsec_fuzz", 1700000000, STRIPE_SIG_TOLERANCE);
	if (stripe_sig_sign(s, size, "whsec_fuzz", 1700000000, header, sizeof(header)) != 0 ||
	    stripe_sig_verify(header, strlen(header), s, size, "whsec_fuzz", 1700000000,
			      STRIPE_SIG_TOLERANCE) != STRIPE_SIG_OK)
		abort();
	return 0;
}
