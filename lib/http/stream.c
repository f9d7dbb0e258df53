/* Request bodies in, long answers out, a piece at a time. */
#include "http/stream.h"

#include <fcgiapp.h>

#include "http/multipart.h"

static int body_pump(void *state, fs_sink_fn sink, void *ud)
{
	struct fs_body_stream *s = state;
	struct fs_ctx *ctx = s->ctx;
	char chunk[65536];
	struct multipart mp;
	int n, ok = 0;

	if (s->multipart_type && multipart_init(&mp, s->multipart_type, sink, ud) < 0) {
		multipart_free(&mp);
		return -1;
	}
	while (ctx->req.in && (n = FCGX_GetStr(chunk, sizeof(chunk), ctx->req.in)) > 0) {
		if (s->multipart_type ? multipart_feed(&mp, chunk, (size_t)n) < 0
				      : sink(ud, chunk, (size_t)n) < 0)
			break;
	}
	ctx->req.body_read = 0; /* whatever is left is drained after the answer */
	if (s->multipart_type) {
		ok = multipart_file_complete(&mp) ? 0 : -1;
		multipart_free(&mp);
	}
	return ok;
}

void fs_body_source(struct fs_ctx *ctx, const char *multipart_type, struct fs_body_stream *state,
		    struct fs_source *out)
{
	state->ctx = ctx;
	state->multipart_type = multipart_type;
	out->pump = body_pump;
	out->state = state;
}

static int answer_write(void *state, const char *data, size_t len)
{
	struct fs_answer_stream *s = state;

	if (!s->started) {
		if (fs_stream_begin(s->ctx, s->code, s->content_type) < 0)
			return -1;
		s->started = 1;
	}
	return fs_stream_write(s->ctx, data, len);
}

void fs_answer_writer(struct fs_ctx *ctx, int code, const char *content_type,
		      struct fs_answer_stream *state, struct fs_writer *out)
{
	state->ctx = ctx;
	state->code = code;
	state->content_type = content_type;
	state->started = 0;
	out->write = answer_write;
	out->state = state;
}
