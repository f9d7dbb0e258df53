/* Responder for /api/v1/openapi.json: the OpenAPI 3.1 document of docs/,
 * compiled into the binary so the served contract matches the build. */
#include "http/server.h"

extern const unsigned char openapi_json[];
extern const unsigned long openapi_json_len;

static void openapi_get(struct fs_ctx *ctx)
{
	fs_header_add(ctx, "Cache-Control", "public, max-age=300");
	fs_respond_raw(ctx, 200, "application/json; charset=utf-8", (const char *)openapi_json,
		       openapi_json_len);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/openapi.json", openapi_get, FS_ACCESS_PUBLIC,
	  "This OpenAPI document" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "openapi", routes, sizeof(routes) / sizeof(routes[0]) };
	return fs_server_main(&app, argc, argv);
}
