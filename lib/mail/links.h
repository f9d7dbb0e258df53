/* Signed tokens for the links a message carries (unsubscribe now; opens and
 * clicks with tracking). A token names one outbox row and proves FlowSend made
 * it: base64url(row id || first 12 bytes of HMAC-SHA256(secret, purpose || id)). */
#ifndef FS_LINKS_H
#define FS_LINKS_H

#include <stddef.h>

#define LINK_TOKEN_LEN 38 /* base64url of 16 + 12 bytes */

/* The token for outbox_id (a UUID string) and purpose ("u", "o", "c") into
 * out (at least LINK_TOKEN_LEN + 1 bytes). 0, or -1 for a malformed id. */
int link_token(const char *secret, const char *purpose, const char *outbox_id, char *out,
	       size_t size);
/* The outbox id a token names (into id_out, 37 bytes) when its signature
 * holds for purpose; -1 for a forged, altered or malformed token. */
int link_token_verify(const char *secret, const char *purpose, const char *token, char *id_out,
		      size_t size);

#endif
