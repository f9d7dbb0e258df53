/* The library's one result convention, mapped to HTTP in one place. */
#ifndef FS_STATUS_H
#define FS_STATUS_H

enum fs_status {
	FS_OK = 0,
	FS_BAD_REQUEST,     /* 400: a rule of the domain refused the request */
	FS_UNAUTHORIZED,    /* 401 */
	FS_FORBIDDEN,       /* 403 */
	FS_NOT_FOUND,       /* 404 */
	FS_METHOD_NOT_ALLOWED, /* 405 */
	FS_CONFLICT,        /* 409 */
	FS_TOO_LARGE,       /* 413 */
	FS_UNSUPPORTED_MEDIA, /* 415 */
	FS_INVALID,         /* 422: the input does not validate */
	FS_RATE_LIMITED,    /* 429 */
	FS_ERROR,           /* 500: a bug or a broken dependency, logged, never detailed */
	FS_UNAVAILABLE,     /* 503 */
	FS_BAD_GATEWAY,     /* 502: a service we call (Stripe) failed; the detail says how */
};

/* A refusal's detail, the message the client will read beside the status. */
struct fs_error {
	char detail[256];
};

/* Fill err and return st, so services can `return fs_fail(err, ...)`. */
enum fs_status fs_fail(struct fs_error *err, enum fs_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int fs_status_http(enum fs_status st);
/* The reason phrase for an HTTP status code ("Not Found"). */
const char *fs_http_reason(int code);

#endif
