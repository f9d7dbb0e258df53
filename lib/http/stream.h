/* The FastCGI ends of core/io.h: the request body as a source (decoding a
 * multipart upload on the way) and a streamed answer as a writer. */
#ifndef FS_STREAM_H
#define FS_STREAM_H

#include "core/io.h"
#include "http/context.h"

struct fs_body_stream {
	struct fs_ctx *ctx;
	const char *multipart_type; /* the upload's Content-Type, or NULL for raw bytes */
};

/* A source over the request body as it arrives (nothing is held whole); with
 * multipart_type, the bytes of its file part, and the pump fails when the
 * upload held no complete file. state must outlive the source's use. */
void fs_body_source(struct fs_ctx *ctx, const char *multipart_type, struct fs_body_stream *state,
		    struct fs_source *out);

struct fs_answer_stream {
	struct fs_ctx *ctx;
	int code;
	const char *content_type;
	int started;
};

/* A writer whose first write starts the answer (code, content type and the
 * headers added so far); until then the handler can still answer an error. */
void fs_answer_writer(struct fs_ctx *ctx, int code, const char *content_type,
		      struct fs_answer_stream *state, struct fs_writer *out);

#endif
