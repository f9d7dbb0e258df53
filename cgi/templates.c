/* Responder for /api/v1/templates: the tenant's templates, the system ones,
 * and rendered previews. */
#include <string.h>

#include "gate.h"
#include "http/server.h"
#include "json/json.h"
#include "services/auth.h"
#include "services/templates.h"

/* Bytes, like the renderer's own cap; the JSON body cap (1 MiB) comes first. */
#define MAX_CONTENT_CHARS (512 * 1024)

static int parse_input(struct fs_ctx *ctx, json_object *body, int create,
		       struct template_input *in)
{
	struct fs_validation v;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_name = fs_json_get_string(&v, body, "name", create, 1, 255, &in->name, NULL) == 1;
	in->set_subject =
		fs_json_get_string(&v, body, "subject", create, 1, 500, &in->subject, NULL) == 1;
	in->set_html = fs_json_get_string(&v, body, "html_content", create, 1, MAX_CONTENT_CHARS,
					  &in->html_content, NULL) == 1;
	fs_json_get_nullable_string(&v, body, "text_content", 0, MAX_CONTENT_CHARS, &in->set_text,
				    &in->text_content);
	fs_json_get_nullable_string(&v, body, "thumbnail_url", 0, 2048, &in->set_thumbnail,
				    &in->thumbnail_url);
	if (fs_json_get_string(&v, body, "category", 0, 1, 32, &in->category, NULL) == 1) {
		in->set_category = 1;
		if (!template_category_valid(in->category))
			fs_validation_add(&v, "body", "category",
					  "Input should be one of: " TEMPLATE_CATEGORIES, "enum");
	}
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void templates_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct template_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 1, &in) < 0)
		return;
	fs_respond_outcome(ctx, template_create(&ctx->env, &in, &out, &err), 201, &out, &err);
}

static void templates_index(struct fs_ctx *ctx)
{
	struct template_filter f = { NULL, -1 };
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	int bad;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	f.category = fs_ctx_query_string(ctx, "category", 32, &bad);
	if (bad)
		return;
	if (f.category && !*f.category)
		f.category = NULL;
	if (f.category && !template_category_valid(f.category))
		return fs_respond_invalid(ctx, "query", "category",
					  "Input should be one of: " TEMPLATE_CATEGORIES, "enum");
	if (fs_ctx_query_bool(ctx, "is_system", &f.is_system) < 0)
		return;
	fs_respond_outcome(ctx, template_index(&ctx->env, &f, &page, &out, &err), 200, &out, &err);
}

static void templates_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, template_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out, &err);
}

static void templates_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct template_input in;
	struct fs_error err;

	if (!body || parse_input(ctx, body, 0, &in) < 0)
		return;
	fs_respond_outcome(ctx, template_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &out, &err), 200, &out,
		&err);
}

static void templates_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = template_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

/* contact_id: absent or null for sample data, else a UUID. */
static int parse_contact_id(struct fs_ctx *ctx, json_object *body, const char **out)
{
	struct fs_validation v;
	int present;

	fs_validation_init(&v);
	*out = NULL;
	if (body)
		fs_json_get_nullable_uuid(&v, body, "contact_id", &present, out);
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void templates_preview_saved(struct fs_ctx *ctx)
{
	json_object *body = NULL, *out = NULL;
	const char *contact_id;
	struct fs_error err;

	/* The body is optional here: no body means sample data. */
	if (ctx->req.content_length > 0 && !(body = fs_ctx_json_body(ctx)))
		return;
	if (parse_contact_id(ctx, body, &contact_id) < 0)
		return;
	fs_respond_outcome(ctx,
		template_preview(&ctx->env, fs_ctx_param(ctx, "id"), NULL, contact_id, &out, &err),
		200, &out, &err);
}

static void templates_preview_unsaved(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct template_input in;
	const char *contact_id;
	struct fs_validation v;
	struct fs_error err;

	if (!body)
		return;
	memset(&in, 0, sizeof(in));
	fs_validation_init(&v);
	fs_json_get_string(&v, body, "subject", 1, 0, 500, &in.subject, NULL);
	fs_json_get_string(&v, body, "html_content", 1, 0, MAX_CONTENT_CHARS, &in.html_content,
			   NULL);
	fs_json_get_nullable_string(&v, body, "text_content", 0, MAX_CONTENT_CHARS, &in.set_text,
				    &in.text_content);
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	if (parse_contact_id(ctx, body, &contact_id) < 0)
		return;
	fs_respond_outcome(ctx, template_preview(&ctx->env, NULL, &in, contact_id, &out, &err), 200, &out, &err);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/templates", templates_index, FS_ACCESS_READ,
	  "List the caller's and the system templates" },
	{ "POST", "/api/v1/templates", templates_create, FS_ACCESS_WRITE, "Create a template" },
	{ "POST", "/api/v1/templates/preview", templates_preview_unsaved, FS_ACCESS_WRITE,
	  "Render content that is not saved yet" },
	{ "GET", "/api/v1/templates/:id", templates_get, FS_ACCESS_READ, "Get a template" },
	{ "PATCH", "/api/v1/templates/:id", templates_update, FS_ACCESS_WRITE, "Update a template" },
	{ "DELETE", "/api/v1/templates/:id", templates_delete, FS_ACCESS_WRITE, "Delete a template" },
	{ "POST", "/api/v1/templates/:id/preview", templates_preview_saved, FS_ACCESS_WRITE,
	  "Render a saved template for a contact or sample data" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "templates", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
