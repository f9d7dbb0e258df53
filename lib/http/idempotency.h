/* Idempotency-Key on authenticated POSTs (the header Stripe uses): a retry
 * with the same key and the same request within 24 hours gets the first answer
 * again instead of making a second write. Kept in Redis, sealed. */
#ifndef FS_IDEMPOTENCY_H
#define FS_IDEMPOTENCY_H

#include <stddef.h>

#include "core/arena.h"
#include "core/strbuf.h"
#include "http/response.h"

struct fs_ctx;

#define FS_IDEM_KEY_MAX 255
/* The largest body a handler holds in memory (a JSON import); anything
 * bigger is refused with 413 by every handler that reads it whole. */
#define FS_IDEM_BODY_MAX ((size_t)10 << 20)
#define FS_IDEM_ANSWER_TTL "86400" /* seconds a stored answer is replayed */
/* Seconds the in-progress marker lives should its worker die mid-request:
 * nginx's longest read timeout, after which nobody waits for that answer. */
#define FS_IDEM_PENDING_TTL "900"
#define FS_IDEM_NAME_SIZE 80

struct fs_idempotency {
	int tracked;                  /* a marker is held: _end stores or drops it */
	char name[FS_IDEM_NAME_SIZE]; /* the Redis key */
	unsigned char seal[32];       /* key of the stored answer's secretbox */
	unsigned char fingerprint[32];
	size_t header_mark;           /* ctx->res.headers.len when the handler began */
};

/* 1 when key[0..len) is 1 to 255 printable ASCII characters (space to '~'). */
int fs_idempotency_key_valid(const char *key, size_t len);
/* From the server secret, the caller's scope ("k:<key id>" or "u:<user id>")
 * and the client's key: the Redis key name and the key that seals the answer.
 * Neither can be recomputed from what Redis holds. */
void fs_idempotency_derive(const char *secret, const char *scope, const char *key, size_t key_len,
			   char name[FS_IDEM_NAME_SIZE], unsigned char seal[32]);
/* Fingerprint of a request under seal: method, path, query string and body. */
void fs_idempotency_fingerprint(const unsigned char seal[32], const char *method, const char *path,
				const char *query, const char *body, size_t body_len,
				unsigned char out[32]);
/* An answer in stored form (status, content type, the headers from
 * header_mark on, body) and back; unpack sets res's status, content type (in
 * a), body, and appends the headers. 0, or -1 when data is malformed or OOM. */
int fs_idempotency_pack(const struct fs_response *res, size_t header_mark, struct strbuf *out);
int fs_idempotency_unpack(const char *data, size_t len, struct arena *a, struct fs_response *res);
/* The Redis value of a finished request: 'D', fingerprint, nonce, then the
 * packed answer encrypted and authenticated under seal. 0 or -1. */
int fs_idempotency_seal(const unsigned char seal[32], const unsigned char fingerprint[32],
			const char *answer, size_t len, struct strbuf *out);
/* The packed answer out of a sealed value (into plain); -1 when it was altered. */
int fs_idempotency_open(const unsigned char seal[32], const char *data, size_t len,
			struct strbuf *plain);

enum fs_idem_step { FS_IDEM_RUN, FS_IDEM_ANSWERED };

/* Before the handler of an authenticated POST with an Idempotency-Key: reads
 * the body, then claims the key (FS_IDEM_RUN, tracked), or writes the answer
 * (FS_IDEM_ANSWERED): the stored one, 409 while the first request runs, 422
 * for another request under the same key or a malformed key, 503 when Redis is
 * unreachable. Any other request: FS_IDEM_RUN, untracked, no Redis call. */
enum fs_idem_step fs_idempotency_begin(struct fs_ctx *ctx, struct fs_idempotency *idem);
/* After the handler: keep a 2xx or 4xx answer for 24 hours; release the key
 * after a 5xx, a 429 or a streamed answer, so that a retry runs again. */
void fs_idempotency_end(struct fs_ctx *ctx, struct fs_idempotency *idem);

#endif
