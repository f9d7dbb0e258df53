/* Signed tokens of the tracking links (/t/o/{token}.gif, /t/c/{token}): an
 * open names one outbox row, a click the row and one campaign_links row, so
 * the redirect needs no database read to know which link it was. */
#ifndef FS_TRACK_TOKEN_H
#define FS_TRACK_TOKEN_H

#include <stddef.h>

/* base64url (no padding) of key id (1 byte) || outbox id (16) || [link id
 * (16), clicks only] || the first 12 bytes of HMAC-SHA256(secret, "t" ||
 * kind || key id || ids). */
#define TRACK_OPEN_TOKEN_LEN 39  /* 29 bytes */
#define TRACK_CLICK_TOKEN_LEN 60 /* 45 bytes */
#define TRACK_TOKEN_MAX 60

#define TRACK_OPEN 'o'
#define TRACK_CLICK 'c'

/* A signing key and the id tokens carry for it: FLOWSEND_LINK_SECRET is 1; a
 * rotated secret takes a new id, so tokens already mailed name theirs. */
struct track_key {
	unsigned char id;
	const char *secret;
};

/* What a token names, ids as lower-case UUID text; link_id "" for an open. */
struct track_ref {
	char kind;
	unsigned char key_id;
	char outbox_id[37];
	char link_id[37];
};

/* The token for kind (TRACK_OPEN: link_id NULL) into out (TRACK_TOKEN_MAX + 1
 * bytes). 0, or -1 for a malformed id, a missing link or a small out. */
int track_token_mint(const struct track_key *key, char kind, const char *outbox_id,
		     const char *link_id, char *out, size_t size);
/* Check token[0..len) as a kind token against the key its id names among
 * keys. 0 with *ref filled, or -1 for anything forged, altered, truncated,
 * padded, of the other kind or signed by no key given. Never reads past len. */
int track_token_parse(const struct track_key *keys, size_t nkeys, char kind, const char *token,
		      size_t len, struct track_ref *ref);

#endif
