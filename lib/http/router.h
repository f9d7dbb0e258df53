/* Const route tables: {method, pattern, handler}. ":name" matches a UUID segment
 * (anything else is a 404), "*name" any non-empty segment. Tells 404 from 405. */
#ifndef FS_ROUTER_H
#define FS_ROUTER_H

#include <stddef.h>

struct fs_ctx;
typedef void (*fs_handler_fn)(struct fs_ctx *ctx);

/* Who may call a route; authentication and scopes arrive with the accounts issue. */
enum fs_access {
	FS_ACCESS_PUBLIC = 0,
	FS_ACCESS_READ,
	FS_ACCESS_WRITE,
	FS_ACCESS_ADMIN,
};

struct fs_route {
	const char *method;
	const char *pattern; /* full path, e.g. "/api/v1/contacts/:id" */
	fs_handler_fn handler;
	enum fs_access access;
	const char *summary; /* one line, for --routes and the OpenAPI check */
};

#define FS_ROUTE_MAX_PARAMS 4

enum fs_route_result { FS_ROUTE_FOUND, FS_ROUTE_NOT_FOUND, FS_ROUTE_METHOD_NOT_ALLOWED };

struct fs_route_match {
	const struct fs_route *route;
	const char *names[FS_ROUTE_MAX_PARAMS];  /* pointers into the pattern */
	size_t name_lens[FS_ROUTE_MAX_PARAMS];
	const char *values[FS_ROUTE_MAX_PARAMS]; /* pointers into the path */
	size_t value_lens[FS_ROUTE_MAX_PARAMS];
	size_t nparams;
	char allow[64];                          /* for 405: "GET, POST" */
};

/* Match method and path against the table. HEAD is served by GET routes;
 * one trailing slash is ignored. */
enum fs_route_result fs_route_match(const struct fs_route *routes, size_t nroutes,
				    const char *method, const char *path,
				    struct fs_route_match *m);

#endif
