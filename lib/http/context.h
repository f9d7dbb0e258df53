/* What a handler sees: the request, the answer it builds, the worker's
 * connections and the per-request arena. */
#ifndef FS_CONTEXT_H
#define FS_CONTEXT_H

#include <json-c/json.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/config.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

struct fs_db;
struct fs_redis;

/* API key scopes: read (GET) within write (mutations) within admin (keys). */
#define FS_SCOPE_READ 1u
#define FS_SCOPE_WRITE 2u
#define FS_SCOPE_ADMIN 4u

/* Who is calling, filled by authentication (strings live in the arena). */
struct fs_principal {
	const char *user_id;
	const char *email;
	const char *plan;
	const char *created_at;  /* ISO 8601 UTC */
	int is_active;
	int via_api_key;
	const char *key_id;
	unsigned scopes;         /* all scopes for a dashboard JWT */
	int key_is_platform;     /* issued by /auth/provision */
	int email_verified;
};

struct fs_ctx {
	struct arena *arena;
	struct fs_request req;
	struct fs_response res;
	struct fs_route_match match;
	const struct fs_config *cfg;
	struct fs_db *db;        /* tenant role: row-level security applies */
	struct fs_db *sysdb;     /* narrow cross-tenant role */
	struct fs_redis *redis;
	const char *user_id;     /* the authenticated tenant, once auth has run */
	struct fs_principal auth;
	struct FCGX_Stream *out; /* NULL outside FastCGI (tests) */
};

/* A service's refusal: the status and the detail the client will read. */
struct fs_error {
	char detail[256];
};

/* Fill err and return st, so services can `return fs_fail(err, ...)`. */
enum fs_status fs_fail(struct fs_error *err, enum fs_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answer with {"detail": err->detail} and st's HTTP code. */
void fs_respond_failure(struct fs_ctx *ctx, enum fs_status st, const struct fs_error *err);
/* A service's outcome: *out with code when st is FS_OK, else the failure.
 * out is a pointer so it is read after the service that fills it has run. */
void fs_respond_outcome(struct fs_ctx *ctx, enum fs_status st, int code, json_object *const *out,
			const struct fs_error *err);
/* Roll back the tenant transaction and return st (for `return fs_rollback_with(...)`). */
enum fs_status fs_rollback_with(struct fs_ctx *ctx, enum fs_status st);
struct pg_result;
/* Run sql in the tenant's open transaction and expect a row: the result, or
 * NULL with the transaction rolled back and *st set, FS_ERROR ("<doing>
 * failed") or FS_NOT_FOUND (missing). */
struct pg_result *fs_query_row(struct fs_ctx *ctx, const char *sql, int nparams,
			       const char *const *params, const char *doing, const char *missing,
			       enum fs_status *st, struct fs_error *err);

/* A path parameter by name (":id" → "id") copied into the arena, or NULL. */
const char *fs_ctx_param(struct fs_ctx *ctx, const char *name);
/* Read and parse the JSON body (capped by FLOWSEND_JSON_BODY_MAX). On failure
 * the error answer (413, 422) is already written and NULL returned. The object
 * is released with the arena; it must be a JSON object. */
json_object *fs_ctx_json_body(struct fs_ctx *ctx);

struct fs_page {
	int64_t page;
	int64_t page_size;
	int64_t offset;
};

/* page (>=1, default 1) and page_size (1..100, default 50) from the query;
 * on failure a 422 is written and -1 returned. */
int fs_ctx_pagination(struct fs_ctx *ctx, struct fs_page *p);
/* The page's LIMIT and OFFSET as text parameters. */
void fs_page_limits(const struct fs_page *p, char limit[24], char offset[24]);
/* {items, total, page, page_size}; takes over items. */
json_object *fs_page_json(const struct fs_page *p, json_object *items, int64_t total);

/* Validate a string query parameter (UTF-8, max code points); NULL when absent.
 * On failure a 422 is written and *bad set. */
const char *fs_ctx_query_string(struct fs_ctx *ctx, const char *name, size_t max_chars,
				int *bad);
/* A boolean query parameter (true/false/1/0): *out is 1 or 0, or left as it
 * is when absent. On a bad value a 422 is written and -1 returned. */
int fs_ctx_query_bool(struct fs_ctx *ctx, const char *name, int *out);

#endif
