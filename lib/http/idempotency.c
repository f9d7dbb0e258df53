/* Idempotency keys in Redis. One SET NX claims a key and, when it was taken,
 * returns what is there (an in-progress marker or a stored answer), so a new
 * key costs one round trip before the handler and one after. Stored answers are
 * sealed with a key derived from the client's Idempotency-Key, so Redis never
 * holds tenant data or one-time secrets (a new API key) in the clear. */
#include "http/idempotency.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "http/context.h"
#include "queue/redis.h"

#define SEALED_HEADER (1 + 32 + crypto_secretbox_NONCEBYTES)

static int sodium_ready(void)
{
	static int state; /* 0 unknown, 1 ready, -1 failed */

	if (!state)
		state = sodium_init() < 0 ? -1 : 1;
	return state > 0;
}

int fs_idempotency_key_valid(const char *key, size_t len)
{
	if (len < 1 || len > FS_IDEM_KEY_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return 0;
	return 1;
}

void fs_idempotency_derive(const char *secret, const char *scope, const char *key, size_t key_len,
			   char name[FS_IDEM_NAME_SIZE], unsigned char seal[32])
{
	static const char label[] = "flowsend idempotency keys v1";
	unsigned char master[32], out[64];
	crypto_generichash_state st;

	sodium_ready();
	crypto_generichash(master, sizeof(master), (const unsigned char *)secret, strlen(secret),
			   (const unsigned char *)label, sizeof(label) - 1);
	crypto_generichash_init(&st, master, sizeof(master), sizeof(out));
	/* The scope's NUL separates it from the key: "k:a" + "bc" is not "k:ab" + "c". */
	crypto_generichash_update(&st, (const unsigned char *)scope, strlen(scope) + 1);
	crypto_generichash_update(&st, (const unsigned char *)key, key_len);
	crypto_generichash_final(&st, out, sizeof(out));
	memcpy(name, "fs:idem:", 8);
	sodium_bin2hex(name + 8, FS_IDEM_NAME_SIZE - 8, out, 32);
	memcpy(seal, out + 32, 32);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(out, sizeof(out));
}

static void hash_field(crypto_generichash_state *st, const char *s, size_t len)
{
	unsigned char n[8];

	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)((uint64_t)len >> (8 * i));
	crypto_generichash_update(st, n, sizeof(n));
	crypto_generichash_update(st, (const unsigned char *)s, len);
}

void fs_idempotency_fingerprint(const unsigned char seal[32], const char *method, const char *path,
				const char *query, const char *body, size_t body_len,
				unsigned char out[32])
{
	crypto_generichash_state st;

	sodium_ready();
	crypto_generichash_init(&st, seal, 32, 32);
	/* Each field with its length first, so no two requests hash alike. */
	hash_field(&st, method, strlen(method));
	hash_field(&st, path, strlen(path));
	hash_field(&st, query ? query : "", query ? strlen(query) : 0);
	hash_field(&st, body ? body : "", body ? body_len : 0);
	crypto_generichash_final(&st, out, 32);
}

int fs_idempotency_pack(const struct fs_response *res, size_t header_mark, struct strbuf *out)
{
	const char *ct = res->content_type ? res->content_type : "";
	size_t hlen = res->headers.len > header_mark ? res->headers.len - header_mark : 0;

	if (strchr(ct, '\n'))
		return -1;
	strbuf_appendf(out, "%d\n%s\n%zu\n", res->status, ct, hlen);
	if (hlen)
		strbuf_append(out, res->headers.buf + header_mark, hlen);
	if (res->body.len)
		strbuf_append(out, res->body.buf, res->body.len);
	return out->oom ? -1 : 0;
}

/* The next '\n'-terminated line of [*p, end): its start and length; -1 if none. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (!nl)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return 0;
}

static int parse_size(const char *s, size_t len, size_t *out)
{
	size_t n = 0;

	if (len == 0 || len > 12)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (size_t)(s[i] - '0');
	}
	*out = n;
	return 0;
}

int fs_idempotency_unpack(const char *data, size_t len, struct arena *a, struct fs_response *res)
{
	const char *p = data, *end = data + len, *line, *ct;
	size_t n, ct_len, hlen, status;

	if (next_line(&p, end, &line, &n) < 0 || parse_size(line, n, &status) < 0 ||
	    status < 100 || status > 599)
		return -1;
	if (next_line(&p, end, &ct, &ct_len) < 0)
		return -1;
	if (next_line(&p, end, &line, &n) < 0 || parse_size(line, n, &hlen) < 0 ||
	    hlen > (size_t)(end - p))
		return -1;
	res->content_type = NULL;
	if (ct_len && !(res->content_type = arena_strndup(a, ct, ct_len)))
		return -1;
	res->status = (int)status;
	strbuf_append(&res->headers, p, hlen);
	p += hlen;
	strbuf_reset(&res->body);
	strbuf_append(&res->body, p, (size_t)(end - p));
	return res->headers.oom || res->body.oom ? -1 : 0;
}

int fs_idempotency_seal(const unsigned char seal[32], const unsigned char fingerprint[32],
			const char *answer, size_t len, struct strbuf *out)
{
	unsigned char nonce[crypto_secretbox_NONCEBYTES];

	if (!sodium_ready() || strbuf_grow(out, SEALED_HEADER + crypto_secretbox_MACBYTES + len) < 0)
		return -1;
	randombytes_buf(nonce, sizeof(nonce));
	strbuf_appendc(out, 'D');
	strbuf_append(out, (const char *)fingerprint, 32);
	strbuf_append(out, (const char *)nonce, sizeof(nonce));
	crypto_secretbox_easy((unsigned char *)out->buf + out->len, (const unsigned char *)answer,
			      len, nonce, seal);
	out->len += crypto_secretbox_MACBYTES + len;
	out->buf[out->len] = '\0';
	return 0;
}

int fs_idempotency_open(const unsigned char seal[32], const char *data, size_t len,
			struct strbuf *plain)
{
	const unsigned char *nonce = (const unsigned char *)data + 1 + 32;
	size_t clen;

	if (!sodium_ready() || len < SEALED_HEADER + crypto_secretbox_MACBYTES || data[0] != 'D')
		return -1;
	clen = len - SEALED_HEADER;
	if (strbuf_grow(plain, clen) < 0)
		return -1;
	if (crypto_secretbox_open_easy((unsigned char *)plain->buf + plain->len,
				       (const unsigned char *)data + SEALED_HEADER, clen, nonce,
				       seal) != 0)
		return -1;
	plain->len += clen - crypto_secretbox_MACBYTES;
	plain->buf[plain->len] = '\0';
	return 0;
}

/* Bodies that handlers stream (a CSV or multipart import) never sit in
 * memory, so they cannot be fingerprinted before the write they cause. */
static int body_is_streamed(const char *ct)
{
	return strncasecmp(ct, "text/csv", 8) == 0 || strncasecmp(ct, "application/csv", 15) == 0 ||
	       strncasecmp(ct, "multipart/", 10) == 0;
}

/* The key was taken: replay what is stored, or say why not. */
static void answer_taken(struct fs_ctx *ctx, struct fs_idempotency *idem, const char *data,
			 size_t len)
{
	struct strbuf plain = STRBUF_INIT;

	if (len < 33 || (data[0] != 'P' && data[0] != 'D')) {
		fs_respond_error(ctx, FS_ERROR, "idempotency record %s is malformed", idem->name);
		return;
	}
	if (sodium_memcmp(data + 1, idem->fingerprint, 32) != 0) {
		fs_respond_error(ctx, FS_INVALID,
				 "This Idempotency-Key was already used for a different request "
				 "(method, path or body); use a new key for a new request");
		return;
	}
	if (data[0] == 'P') {
		fs_respond_error(ctx, FS_CONFLICT,
				 "A request with this Idempotency-Key is still in progress");
		return;
	}
	if (fs_idempotency_open(idem->seal, data, len, &plain) < 0 ||
	    fs_idempotency_unpack(plain.buf, plain.len, ctx->env.arena, &ctx->res) < 0) {
		fs_respond_error(ctx, FS_ERROR, "stored answer %s does not open", idem->name);
	} else {
		fs_header_add(ctx, "Idempotent-Replayed", "true");
	}
	sodium_memzero(plain.buf, plain.len);
	strbuf_free(&plain);
}

enum fs_idem_step fs_idempotency_begin(struct fs_ctx *ctx, struct fs_idempotency *idem)
{
	const char *key, *scope;
	char marker[33];
	size_t key_len;
	enum fs_status st;
	redisReply *rep;

	idem->tracked = 0;
	/* Public routes (register, login, signed webhooks) have no caller to scope
	 * keys to and guard themselves: the header is ignored there. */
	if (strcmp(ctx->req.method, "POST") != 0 || ctx->match.route->access == FS_ACCESS_PUBLIC ||
	    !ctx->env.auth.user_id)
		return FS_IDEM_RUN;
	key = fs_request_header(&ctx->req, ctx->env.arena, "Idempotency-Key");
	if (!key)
		return FS_IDEM_RUN;
	key_len = strlen(key);
	if (!fs_idempotency_key_valid(key, key_len)) {
		fs_respond_invalid(ctx, "header", "Idempotency-Key",
				   "Idempotency-Key must be 1 to 255 printable ASCII characters",
				   "string_pattern_mismatch");
		return FS_IDEM_ANSWERED;
	}
	if (body_is_streamed(ctx->req.content_type)) {
		fs_respond_error(ctx, FS_INVALID,
				 "Idempotency-Key is not supported for streamed uploads (text/csv or "
				 "multipart); an import skips the contacts already there, so send it "
				 "again without the header");
		return FS_IDEM_ANSWERED;
	}
	st = fs_request_read_body(&ctx->req, ctx->env.arena, FS_IDEM_BODY_MAX);
	if (st == FS_TOO_LARGE)
		return FS_IDEM_RUN; /* over every in-memory cap: the handler answers 413 */
	if (st != FS_OK) {
		fs_respond_error(ctx, st == FS_BAD_REQUEST ? FS_BAD_REQUEST : FS_ERROR,
				 "Request body could not be read");
		return FS_IDEM_ANSWERED;
	}
	scope = ctx->env.auth.via_api_key ? arena_sprintf(ctx->env.arena, "k:%s", ctx->env.auth.key_id)
				      : arena_sprintf(ctx->env.arena, "u:%s", ctx->env.auth.user_id);
	if (!scope) {
		fs_respond_error(ctx, FS_ERROR, "out of memory");
		return FS_IDEM_ANSWERED;
	}
	fs_idempotency_derive(ctx->env.cfg->jwt_secret, scope, key, key_len, idem->name, idem->seal);
	fs_idempotency_fingerprint(idem->seal, ctx->req.method, ctx->req.path,
				   ctx->req.query_string, ctx->req.body, ctx->req.body_len,
				   idem->fingerprint);
	marker[0] = 'P';
	memcpy(marker + 1, idem->fingerprint, 32);
	{
		const char *argv[] = { "SET", idem->name, marker, "NX", "GET", "EX",
				       FS_IDEM_PENDING_TTL };
		size_t lens[] = { 3, strlen(idem->name), sizeof(marker), 2, 3, 2,
				  strlen(FS_IDEM_PENDING_TTL) };
		rep = fs_redis_argv(ctx->env.redis, 7, argv, lens);
	}
	/* Without its store the promise cannot be kept: going ahead could make the
	 * very second write the client meant to prevent. A 503 is what such a
	 * client already retries; one without the header is not held up. */
	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		log_warn("rid=%s idempotency: Redis %s", ctx->req.request_id,
			 rep ? rep->str : "unreachable");
		if (rep)
			freeReplyObject(rep);
		fs_header_add(ctx, "Retry-After", "5");
		fs_respond_error(ctx, FS_UNAVAILABLE,
				 "Idempotency-Key cannot be honoured right now (its store is "
				 "unavailable); retry later, or send the request without the header");
		return FS_IDEM_ANSWERED;
	}
	if (rep->type == REDIS_REPLY_NIL) {
		freeReplyObject(rep);
		idem->tracked = 1;
		idem->header_mark = ctx->res.headers.len;
		return FS_IDEM_RUN;
	}
	if (rep->type == REDIS_REPLY_STRING)
		answer_taken(ctx, idem, rep->str, rep->len);
	else
		fs_respond_error(ctx, FS_ERROR, "idempotency: unexpected Redis reply type %d",
				 rep->type);
	freeReplyObject(rep);
	return FS_IDEM_ANSWERED;
}

void fs_idempotency_end(struct fs_ctx *ctx, struct fs_idempotency *idem)
{
	struct strbuf packed = STRBUF_INIT, sealed = STRBUF_INIT;
	int code = ctx->res.status;
	redisReply *rep;

	if (!idem->tracked)
		return;
	idem->tracked = 0;
	if (ctx->res.streamed || code < 200 || (code >= 300 && code < 400) || code == 429 ||
	    code >= 500 || fs_idempotency_pack(&ctx->res, idem->header_mark, &packed) < 0 ||
	    fs_idempotency_seal(idem->seal, idem->fingerprint, packed.buf, packed.len, &sealed) < 0) {
		/* Nothing kept: a retry runs the request again. */
		const char *argv[] = { "DEL", idem->name };
		rep = fs_redis_argv(ctx->env.redis, 2, argv, NULL);
	} else {
		const char *argv[] = { "SET", idem->name, sealed.buf, "EX", FS_IDEM_ANSWER_TTL };
		size_t lens[] = { 3, strlen(idem->name), sealed.len, 2,
				  strlen(FS_IDEM_ANSWER_TTL) };
		rep = fs_redis_argv(ctx->env.redis, 5, argv, lens);
	}
	if (!rep || rep->type == REDIS_REPLY_ERROR)
		log_error("rid=%s idempotency: the outcome of %s %s could not be kept (%s); "
			  "retries get 409 until the marker expires",
			  ctx->req.request_id, ctx->req.method, ctx->req.path,
			  rep ? rep->str : "Redis unreachable");
	if (rep)
		freeReplyObject(rep);
	if (packed.buf)
		sodium_memzero(packed.buf, packed.len);
	strbuf_free(&packed);
	strbuf_free(&sealed);
}
