/* Building the answer: status, headers and a body, written once at the end of
 * the request (or streamed, for exports). Every error body is {"detail": ...}. */
#ifndef FS_RESPONSE_H
#define FS_RESPONSE_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/status.h"
#include "core/strbuf.h"

struct fs_ctx;
struct FCGX_Stream;

struct fs_response {
	int status;                /* 0 until a handler answers */
	const char *content_type;
	struct strbuf headers;     /* extra "Name: value\r\n" lines */
	struct strbuf body;
	int head_only;             /* HEAD: headers without the body */
	int streamed;              /* headers already sent; the body went out as written */
};

void fs_response_init(struct fs_response *res);
void fs_response_reset(struct fs_response *res);
void fs_response_free(struct fs_response *res);
/* Serialise headers and body in CGI form into out (for FastCGI or tests). */
int fs_response_serialize(const struct fs_response *res, struct strbuf *out);

void fs_header_add(struct fs_ctx *ctx, const char *name, const char *value);
/* The headers of FlowSend's own public HTML pages (unsubscribe, preferences,
 * sign-up confirmation): not cached, no referrer, not indexed, and a policy
 * under which nothing loads from anywhere, the page's one inline style (style,
 * hashed into *csp the first time, a buffer of FS_PAGE_CSP_SIZE) applies,
 * and forms post back to the same origin only. */
#define FS_PAGE_CSP_SIZE 256
void fs_page_headers(struct fs_ctx *ctx, const char *style, size_t style_len, char *csp);
/* Answer with a JSON value; takes over the reference to body. */
void fs_respond_json(struct fs_ctx *ctx, int code, json_object *body);
void fs_respond_raw(struct fs_ctx *ctx, int code, const char *content_type, const char *data,
		    size_t len);
void fs_respond_empty(struct fs_ctx *ctx, int code);
/* {"detail": message} with the status's HTTP code. FS_ERROR logs the message
 * with the request id and sends a generic text instead; when the request lost
 * its database connection it is a 503 that says so. */
void fs_respond_error(struct fs_ctx *ctx, enum fs_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 422 with FastAPI's list of validation errors; takes over errors. */
void fs_respond_validation(struct fs_ctx *ctx, json_object *errors);
/* Stream a large answer: status and headers now, then the body in pieces.
 * Outside FastCGI the pieces collect in res.body. 0, or -1 when the client
 * went away. */
int fs_stream_begin(struct fs_ctx *ctx, int code, const char *content_type);
int fs_stream_write(struct fs_ctx *ctx, const char *data, size_t len);
/* One validation error at (where, field). */
void fs_respond_invalid(struct fs_ctx *ctx, const char *where, const char *field,
			const char *msg, const char *type);

#endif
