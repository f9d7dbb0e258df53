/* One FastCGI request: CGI parameters, query string, headers and a capped body.
 * fs_request_parse is pure (an envp array in, a request out) so it can be fuzzed. */
#ifndef FS_REQUEST_H
#define FS_REQUEST_H

#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"

struct FCGX_Stream;

struct fs_param {
	const char *key;
	const char *value;
	size_t value_len; /* decoded length: a value may hold %00 */
};

#define FS_QUERY_MAX_PARAMS 64

struct fs_request {
	const char *method;
	const char *path;          /* decoded path without the query string */
	const char *query_string;
	const char *content_type;  /* "" when absent */
	long long content_length;  /* -1 when absent */
	const char *request_id;
	const char *remote_addr;
	char **envp;
	struct fs_param *query;
	size_t nquery;
	int bad_query;             /* more than FS_QUERY_MAX_PARAMS parameters */

	struct FCGX_Stream *in;    /* NULL when the body was given directly */
	const char *body;
	size_t body_len;
	int body_read;
};

/* Decode a query string into at most max parameters; returns the count, or -1
 * when there were more. Pure: used by the fuzz target. */
long fs_query_parse(struct arena *a, const char *qs, size_t len, struct fs_param *out,
		    size_t max);
/* Fill r from CGI parameters; 0, or -1 on OOM. */
int fs_request_parse(struct fs_request *r, struct arena *a, char **envp);
/* A CGI parameter by name ("REMOTE_ADDR"), or NULL. */
const char *fs_request_param(const struct fs_request *r, const char *name);
/* An HTTP header by its name ("Authorization"), or NULL. */
const char *fs_request_header(const struct fs_request *r, struct arena *a, const char *name);
/* The first query parameter of that name, or NULL. */
const struct fs_param *fs_request_query(const struct fs_request *r, const char *name);
/* Read the whole body into the arena if it is at most cap bytes: FS_OK,
 * FS_TOO_LARGE (declared or actual size over cap), FS_BAD_REQUEST (short read). */
enum fs_status fs_request_read_body(struct fs_request *r, struct arena *a, size_t cap);
/* Discard whatever of the body was not read, so a kept connection stays in step. */
void fs_request_drain(struct fs_request *r);

#endif
