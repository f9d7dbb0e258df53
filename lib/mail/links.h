/* Signed tokens for the links a message carries (unsubscribe now; opens and
 * clicks with tracking). A token names one outbox row and proves FlowSend made
 * it: base64url(row id || first 12 bytes of HMAC-SHA256(secret, purpose || id)). */
#ifndef FS_LINKS_H
#define FS_LINKS_H

#include <stddef.h>

#include "core/config.h"

#define LINK_TOKEN_LEN 38 /* base64url of 16 + 12 bytes */

/* The token for outbox_id (a UUID string) and purpose ("u", "o", "c") into
 * out (at least LINK_TOKEN_LEN + 1 bytes). 0, or -1 for a malformed id. */
int link_token(const char *secret, const char *purpose, const char *outbox_id, char *out,
	       size_t size);
/* The outbox id a token names (into id_out, 37 bytes) when its signature
 * holds for purpose; -1 for a forged, altered or malformed token. */
int link_token_verify(const char *secret, const char *purpose, const char *token, char *id_out,
		      size_t size);

/* Which key signed a token: links are minted with FLOWSEND_LINK_SECRET; those
 * mailed before it existed were signed with the JWT secret. */
enum link_key { LINK_KEY_NONE = 0, LINK_KEY_LINK, LINK_KEY_JWT };

/* link_token with cfg's link secret: what every new mail carries. */
int link_token_mint(const struct fs_config *cfg, const char *purpose, const char *outbox_id,
		    char *out, size_t size);
/* link_token_verify with the link secret, then the JWT secret (a fallback
 * for links already sent; callers may hold those to mail that went out). */
enum link_key link_token_check(const struct fs_config *cfg, const char *purpose,
			       const char *token, char *id_out, size_t size);

/* VERP (issue 18): the envelope sender bounce+<token>@<bounce domain> names
 * the outbox row a bounce or complaint report is about. Lower-case hex of
 * the row id and the MAC (purpose "b"): 56 characters, so "bounce+" and the
 * token fit the 64 octets of a local part, and relays that change the case
 * of a local part cannot break it. */
#define VERP_TOKEN_LEN 56
#define VERP_PREFIX "bounce+"

/* The token for outbox_id into out (at least VERP_TOKEN_LEN + 1 bytes);
 * 0, or -1 for a malformed id. */
int verp_token(const char *secret, const char *outbox_id, char *out, size_t size);
/* The outbox id (into id_out, 37 bytes) a token of len characters names when
 * its MAC holds (hex digits of either case); -1 for anything else. */
int verp_token_verify(const char *secret, const char *token, size_t len, char *id_out,
		      size_t size);
/* The token inside an address "bounce+<token>@domain" (prefix in any case,
 * optional angle brackets): its offset and length, or -1 when addr has no
 * such shape. Nothing is verified. */
int verp_find_token(const char *addr, size_t len, size_t *off, size_t *tlen);
/* The envelope sender for outbox_id at domain into out: 0, or -1 when it
 * does not fit or the id is malformed. */
int verp_address(const char *secret, const char *outbox_id, const char *domain, char *out,
		 size_t size);

#endif
