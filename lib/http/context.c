/* Helpers every handler uses: path parameters, the JSON body, pagination. */
#include "http/context.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "db/db.h"
#include "json/json.h"

const char *fs_ctx_param(struct fs_ctx *ctx, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < ctx->match.nparams; i++)
		if (ctx->match.name_lens[i] == n && memcmp(ctx->match.names[i], name, n) == 0)
			return arena_strndup(ctx->env.arena, ctx->match.values[i],
					     ctx->match.value_lens[i]);
	return NULL;
}

json_object *fs_ctx_json_body(struct fs_ctx *ctx)
{
	char err[160];
	enum fs_status st = fs_request_read_body(&ctx->req, ctx->env.arena, ctx->env.cfg->json_body_max);
	json_object *obj;

	if (st == FS_TOO_LARGE) {
		fs_respond_error(ctx, FS_TOO_LARGE, "Request body is larger than %zu bytes",
				 ctx->env.cfg->json_body_max);
		return NULL;
	}
	if (st != FS_OK) {
		fs_respond_error(ctx, FS_BAD_REQUEST, "Request body could not be read");
		return NULL;
	}
	if (ctx->req.body_len == 0) {
		fs_respond_invalid(ctx, "body", NULL, "Field required", "missing");
		return NULL;
	}
	obj = fs_json_parse(ctx->req.body, ctx->req.body_len, err, sizeof(err));
	if (!obj) {
		fs_respond_error(ctx, FS_INVALID, "%s", err);
		return NULL;
	}
	arena_add_cleanup(ctx->env.arena, fs_json_release, obj);
	if (!json_object_is_type(obj, json_type_object)) {
		fs_respond_invalid(ctx, "body", NULL, "Input should be a valid dictionary",
				   "dict_type");
		return NULL;
	}
	return obj;
}

static int query_int(struct fs_ctx *ctx, const char *name, int64_t def, int64_t min,
		     int64_t max, int64_t *out)
{
	const struct fs_param *p = fs_request_query(&ctx->req, name);
	char *end, msg[96];
	long long n;

	if (!p) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtoll(p->value, &end, 10);
	if (p->value_len == 0 || errno || *end || end != p->value + p->value_len) {
		fs_respond_invalid(ctx, "query", name,
				   "Input should be a valid integer, unable to parse string as an "
				   "integer",
				   "int_parsing");
		return -1;
	}
	if (n < min) {
		snprintf(msg, sizeof(msg), "Input should be greater than or equal to %lld",
			 (long long)min);
		fs_respond_invalid(ctx, "query", name, msg, "greater_than_equal");
		return -1;
	}
	if (n > max) {
		snprintf(msg, sizeof(msg), "Input should be less than or equal to %lld",
			 (long long)max);
		fs_respond_invalid(ctx, "query", name, msg, "less_than_equal");
		return -1;
	}
	*out = n;
	return 0;
}

int fs_ctx_pagination(struct fs_ctx *ctx, struct fs_page *p)
{
	if (query_int(ctx, "page", 1, 1, 1000000000, &p->page) < 0)
		return -1;
	if (query_int(ctx, "page_size", 50, 1, 100, &p->page_size) < 0)
		return -1;
	p->offset = (p->page - 1) * p->page_size;
	return 0;
}

const char *fs_ctx_query_string(struct fs_ctx *ctx, const char *name, size_t max_chars,
				int *bad)
{
	const struct fs_param *p = fs_request_query(&ctx->req, name);
	char msg[96];

	*bad = 0;
	if (!p)
		return NULL;
	if (!utf8_valid(p->value, p->value_len)) {
		fs_respond_invalid(ctx, "query", name, "Input should be valid UTF-8 text",
				   "string_type");
		*bad = 1;
		return NULL;
	}
	if (utf8_length(p->value, p->value_len) > max_chars) {
		snprintf(msg, sizeof(msg), "String should have at most %zu characters", max_chars);
		fs_respond_invalid(ctx, "query", name, msg, "string_too_long");
		*bad = 1;
		return NULL;
	}
	return p->value;
}

void fs_respond_failure(struct fs_ctx *ctx, enum fs_status st, const struct fs_error *err)
{
	fs_respond_error(ctx, st, "%s", err->detail);
}

int fs_ctx_query_bool(struct fs_ctx *ctx, const char *name, int *out)
{
	const struct fs_param *q = fs_request_query(&ctx->req, name);

	if (!q || !*q->value)
		return 0;
	if (strcmp(q->value, "true") == 0 || strcmp(q->value, "1") == 0) {
		*out = 1;
	} else if (strcmp(q->value, "false") == 0 || strcmp(q->value, "0") == 0) {
		*out = 0;
	} else {
		fs_respond_invalid(ctx, "query", name, "Input should be a valid boolean", "bool_parsing");
		return -1;
	}
	return 0;
}

void fs_respond_outcome(struct fs_ctx *ctx, enum fs_status st, int code, json_object *const *out,
			const struct fs_error *err)
{
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, err);
	fs_respond_json(ctx, code, *out);
}
