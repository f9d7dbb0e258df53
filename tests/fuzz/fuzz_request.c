/* libFuzzer target: a whole request through parsing, routing and a handler
 * that reads a JSON body. Input: CGI parameters one per line, a blank line,
 * then the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "json/json.h"

static void echo_body(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct fs_validation v;
	const char *s;
	struct fs_page p;

	if (!body)
		return;
	if (fs_ctx_pagination(ctx, &p) < 0)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "name", 1, 1, 100, &s, NULL);
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return;
	}
	fs_respond_json(ctx, 201, json_object_new_string(s));
}

static void show_id(struct fs_ctx *ctx)
{
	const char *id = fs_ctx_param(ctx, "id");
	fs_respond_raw(ctx, 200, "text/plain", id, strlen(id));
}

static void show_token(struct fs_ctx *ctx)
{
	const char *t = fs_ctx_param(ctx, "token");
	fs_respond_raw(ctx, 200, "text/plain", t, strlen(t));
}

static const struct fs_route routes[] = {
	{ "POST", "/api/v1/things", echo_body, FS_ACCESS_PUBLIC, "" },
	{ "GET", "/api/v1/things/:id", show_id, FS_ACCESS_PUBLIC, "" },
	{ "GET", "/t/*token", show_token, FS_ACCESS_PUBLIC, "" },
	{ "DELETE", "/api/v1/things/:id", show_id, FS_ACCESS_READ, "" },
};
static const struct fs_app app = { "fuzz", routes, sizeof(routes) / sizeof(routes[0]) };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fs_config cfg;
	static struct fs_worker worker;
	static int ready;
	char *copy = malloc(size + 1), *env[33], *p, *body;
	size_t n = 0;
	struct fs_ctx ctx;
	struct strbuf out = STRBUF_INIT;

	if (!ready) {
		char err[64];
		fs_config_load(&cfg, err, sizeof(err));
		fs_worker_init(&worker, &cfg);
		ready = 1;
	}
	memcpy(copy, data, size);
	copy[size] = '\0';
	body = strstr(copy, "\n\n");
	if (body) {
		*body = '\0';
		body += 2;
	}
	for (p = copy; p && *p && n < 32;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		env[n++] = p;
		p = nl ? nl + 1 : NULL;
	}
	env[n] = NULL;
	if (fs_ctx_begin(&ctx, &worker, env, NULL) == 0) {
		if (body) {
			ctx.req.body = body;
			ctx.req.body_len = strlen(body);
			ctx.req.body_read = 1;
		}
		fs_dispatch(&app, &ctx);
		fs_response_serialize(&ctx.res, &out);
	}
	fs_ctx_end(&ctx, &worker);
	strbuf_free(&out);
	free(copy);
	return 0;
}
