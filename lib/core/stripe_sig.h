/* Stripe-Signature headers: "t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]", the
 * v1 values HMAC-SHA256 of "<t>.<raw body>" keyed by the endpoint secret. */
#ifndef FS_STRIPE_SIG_H
#define FS_STRIPE_SIG_H

#include <stddef.h>
#include <time.h>

#define STRIPE_SIG_TOLERANCE 300  /* seconds: older (or further ahead) is refused */
#define STRIPE_SIG_HEADER_MAX 4096
#define STRIPE_SIG_MAX_V1 8       /* Stripe sends two while a secret is rolled */

struct stripe_sig {
	long long t;                       /* the signed timestamp */
	int nv1;                           /* v1 values kept, pointers into the header */
	const char *v1[STRIPE_SIG_MAX_V1];
	size_t v1_len[STRIPE_SIG_MAX_V1];
};

enum stripe_sig_result {
	STRIPE_SIG_OK,
	STRIPE_SIG_MALFORMED, /* missing, too long, no or a bad t, no v1 */
	STRIPE_SIG_MISMATCH,  /* no v1 is the HMAC of this body with this secret */
	STRIPE_SIG_STALE,     /* right, but t is outside the tolerance */
};

/* Parse len bytes (no NUL needed). Elements are comma-separated key=value
 * pairs, spaces around them tolerated; unknown keys (v0, future schemes) are
 * skipped; exactly one t of 1 to 12 digits; at least one v1 (beyond
 * STRIPE_SIG_MAX_V1 they are ignored). 0, or -1 when malformed. Pure. */
int stripe_sig_parse(const char *header, size_t len, struct stripe_sig *out);
/* Verify header against the raw body at time now: the HMAC is computed once
 * and compared with every v1 in constant time. Pure: no clock, no I/O. */
enum stripe_sig_result stripe_sig_verify(const char *header, size_t hlen, const char *body,
					 size_t blen, const char *secret, time_t now,
					 long tolerance);
/* The header for body at t with secret into out (at least 80 bytes): what
 * Stripe would send. For tests and the local stand-in. */
int stripe_sig_sign(const char *body, size_t blen, const char *secret, long long t, char *out,
		    size_t size);

#endif
