/* Responder for /api/v1/api-keys: create (the key is shown once), list, revoke.
 * With an API key, every route here needs the admin scope. */
#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "services/apikeys.h"
#include "services/auth.h"

/* JSON ["read", "write"] -> "{read,write}", validated; NULL (422 written) on error. */
static const char *scopes_param(struct fs_ctx *ctx, json_object *body)
{
	json_object *arr;
	int seen[3] = { 0, 0, 0 };
	static const char *names[] = { "read", "write", "admin" };
	char buf[32];
	size_t n, o = 0;

	if (!json_object_object_get_ex(body, "scopes", &arr) || arr == NULL)
		return "{read}";
	if (!json_object_is_type(arr, json_type_array) || (n = json_object_array_length(arr)) == 0 ||
	    n > 3) {
		fs_respond_invalid(ctx, "body", "scopes",
				   "Input should be a non-empty list of read, write, admin",
				   "list_type");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(arr, i);
		size_t k;
		for (k = 0; k < 3; k++)
			if (s && json_object_is_type(s, json_type_string) &&
			    strcmp(json_object_get_string(s), names[k]) == 0)
				break;
		if (k == 3 || seen[k]) {
			fs_respond_invalid(ctx, "body", "scopes",
					   "Each scope must be one of read, write, admin, once",
					   "enum");
			return NULL;
		}
		seen[k] = 1;
	}
	buf[o++] = '{';
	for (size_t k = 0; k < 3; k++)
		if (seen[k])
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o > 1 ? "," : "",
					      names[k]);
	snprintf(buf + o, sizeof(buf) - o, "}");
	return arena_strdup(ctx->env.arena, buf);
}

static void apikeys_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *row = NULL;
	struct fs_validation v;
	struct fs_error err;
	const char *name = NULL, *scopes;
	char key[128];
	enum fs_status st;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "name", 1, 1, 255, &name, NULL);
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	scopes = scopes_param(ctx, body);
	if (!scopes)
		return;
	st = apikey_issue(&ctx->env, ctx->env.db, ctx->env.user_id, name, scopes, 0, key, sizeof(key), &row, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	json_object_object_add(row, "key", json_object_new_string(key));
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_json(ctx, 201, row);
}

static void apikeys_list(struct fs_ctx *ctx)
{
	json_object *items = NULL;
	struct fs_error err;
	enum fs_status st = apikey_list(&ctx->env, &items, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, items);
}

static void apikeys_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = apikey_revoke(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static const struct fs_route routes[] = {
	{ "POST", "/api/v1/api-keys", apikeys_create, FS_ACCESS_ADMIN, "Create an API key" },
	{ "GET", "/api/v1/api-keys", apikeys_list, FS_ACCESS_ADMIN, "List API keys" },
	{ "DELETE", "/api/v1/api-keys/:id", apikeys_delete, FS_ACCESS_ADMIN, "Revoke an API key" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "api-keys", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
