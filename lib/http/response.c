/* Responses are buffered whole (they are small) so a handler that fails half-way
 * can still replace its answer with a clean error. */
#include "http/response.h"

#include <fcgiapp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "db/db.h"
#include "http/context.h"
#include "json/json.h"

void fs_response_init(struct fs_response *res)
{
	res->status = 0;
	res->content_type = NULL;
	res->head_only = 0;
	strbuf_init(&res->headers);
	strbuf_init(&res->body);
}

void fs_response_reset(struct fs_response *res)
{
	res->status = 0;
	res->content_type = NULL;
	res->head_only = 0;
	strbuf_reset(&res->headers);
	strbuf_reset(&res->body);
}

void fs_response_free(struct fs_response *res)
{
	strbuf_free(&res->headers);
	strbuf_free(&res->body);
}

int fs_response_serialize(const struct fs_response *res, struct strbuf *out)
{
	int code = res->status ? res->status : 500;
	char num[8] = { 0 };

	/* Appended piece by piece: a printf per header was a measured share of a
	 * small answer's cost (bench/tracking.sh, callgrind of fs-track). */
	if (code < 100 || code > 999)
		code = 500;
	num[0] = (char)('0' + code / 100);
	num[1] = (char)('0' + code / 10 % 10);
	num[2] = (char)('0' + code % 10);
	strbuf_append(out, "Status: ", 8);
	strbuf_append(out, num, 3);
	strbuf_appendc(out, ' ');
	strbuf_appends(out, fs_http_reason(code));
	strbuf_append(out, "\r\n", 2);
	if (res->content_type) {
		strbuf_append(out, "Content-Type: ", 14);
		strbuf_appends(out, res->content_type);
		strbuf_append(out, "\r\n", 2);
	}
	/* The length of a whole answer: nginx then passes it on as it is instead
	 * of chunking it, and a body over postpone_output (1,460 bytes) no longer
	 * costs it a second write for the last chunk (GET /analytics). Not for a
	 * stream (its length is not known), HEAD, or an answer without a body. */
	if (!res->streamed && !res->head_only && code >= 200 && code != 204 && code != 304) {
		char len[24];
		int n = snprintf(len, sizeof(len), "%zu", res->body.len);

		strbuf_append(out, "Content-Length: ", 16);
		strbuf_append(out, len, (size_t)n);
		strbuf_append(out, "\r\n", 2);
	}
	strbuf_append(out, res->headers.buf ? res->headers.buf : "", res->headers.len);
	strbuf_append(out, "\r\n", 2);
	if (!res->head_only)
		strbuf_append(out, res->body.buf ? res->body.buf : "", res->body.len);
	return out->oom ? -1 : 0;
}

void fs_header_add(struct fs_ctx *ctx, const char *name, const char *value)
{
	/* Header values come from our code, but never let one split the header block. */
	size_t nlen = strcspn(name, "\r\n:"), vlen = strcspn(value, "\r\n");
	struct strbuf *h = &ctx->res.headers;
	char *p;

	if (name[nlen] || value[vlen])
		return;
	/* One growth check, then the bytes in place (four appends were 8% of a
	 * tracking hit's instructions in fs-track, callgrind). */
	if (strbuf_grow(h, nlen + vlen + 4) < 0)
		return;
	p = h->buf + h->len;
	memcpy(p, name, nlen);
	p += nlen;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, value, vlen);
	p += vlen;
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	h->len += nlen + vlen + 4;
}

void fs_respond_raw(struct fs_ctx *ctx, int code, const char *content_type, const char *data,
		    size_t len)
{
	ctx->res.status = code;
	ctx->res.content_type = content_type;
	strbuf_reset(&ctx->res.body);
	strbuf_append(&ctx->res.body, data, len);
}

void fs_respond_json(struct fs_ctx *ctx, int code, json_object *body)
{
	size_t len;
	const char *s = fs_json_string(body, &len);

	fs_respond_raw(ctx, code, "application/json; charset=utf-8", s, len);
	json_object_put(body);
}

void fs_respond_empty(struct fs_ctx *ctx, int code)
{
	ctx->res.status = code;
	ctx->res.content_type = NULL;
	strbuf_reset(&ctx->res.body);
}

/* The worst database connection loss of this request (services report it as
 * FS_ERROR, which would otherwise be a 500). */
static enum db_loss request_loss(const struct fs_ctx *ctx)
{
	enum db_loss a = ctx->env.db ? db_lost(ctx->env.db) : DB_LOSS_NONE;
	enum db_loss b = ctx->env.sysdb ? db_lost(ctx->env.sysdb) : DB_LOSS_NONE;

	return a > b ? a : b;
}

void fs_respond_error(struct fs_ctx *ctx, enum fs_status st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_object *o;
	enum db_loss loss = st == FS_ERROR ? request_loss(ctx) : DB_LOSS_NONE;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (loss != DB_LOSS_NONE) {
		/* Not a bug to hide but an outage to tell: the client may retry. */
		log_warn("rid=%s %s %s: %s (the database connection was lost)", ctx->req.request_id,
			 ctx->req.method, ctx->req.path, msg);
		st = FS_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "%s",
			 loss == DB_LOSS_UNKNOWN
				 ? "The database connection was lost while saving; whether the change"
				   " was saved is unknown. Check before retrying."
				 : "The database connection was lost; the request was not completed."
				   " Retry it.");
	} else if (fs_status_http(st) >= 500 && st != FS_UNAVAILABLE &&
		   st != FS_BAD_GATEWAY) {
		log_error("rid=%s %s %s: %s", ctx->req.request_id, ctx->req.method, ctx->req.path,
			  msg);
		snprintf(msg, sizeof(msg), "Internal server error (request id %s)",
			 ctx->req.request_id);
	}
	o = json_object_new_object();
	json_object_object_add(o, "detail", json_object_new_string(msg));
	fs_respond_json(ctx, fs_status_http(st), o);
}

void fs_respond_validation(struct fs_ctx *ctx, json_object *errors)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "detail", errors);
	fs_respond_json(ctx, 422, o);
}

int fs_stream_begin(struct fs_ctx *ctx, int code, const char *content_type)
{
	struct strbuf head = STRBUF_INIT;
	int ret = 0;

	ctx->res.status = code;
	ctx->res.content_type = content_type;
	if (!ctx->out)
		return 0;
	ctx->res.streamed = 1;
	strbuf_reset(&ctx->res.body);
	fs_response_serialize(&ctx->res, &head);
	if (FCGX_PutStr(head.buf, (int)head.len, ctx->out) < 0)
		ret = -1;
	strbuf_free(&head);
	return ret;
}

int fs_stream_write(struct fs_ctx *ctx, const char *data, size_t len)
{
	if (!ctx->res.streamed)
		return strbuf_append(&ctx->res.body, data, len);
	if (ctx->res.head_only)
		return 0;
	return FCGX_PutStr(data, (int)len, ctx->out) < 0 ? -1 : 0;
}

void fs_respond_invalid(struct fs_ctx *ctx, const char *where, const char *field,
			const char *msg, const char *type)
{
	struct fs_validation v;

	fs_validation_init(&v);
	fs_validation_add(&v, where, field, msg, type);
	fs_respond_validation(ctx, fs_validation_take(&v));
}

void fs_page_headers(struct fs_ctx *ctx, const char *style, size_t style_len, char *csp)
{
	if (!csp[0]) {
		char hash[45];
		sha256_base64(style, style_len, hash);
		snprintf(csp, FS_PAGE_CSP_SIZE,
			 "default-src 'none'; style-src 'sha256-%s'; form-action 'self';"
			 " frame-ancestors 'none'; base-uri 'none'",
			 hash);
	}
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_header_add(ctx, "Referrer-Policy", "no-referrer");
	fs_header_add(ctx, "X-Content-Type-Options", "nosniff");
	fs_header_add(ctx, "X-Robots-Tag", "noindex");
	fs_header_add(ctx, "Content-Security-Policy", csp);
}
