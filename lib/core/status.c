/* Status to HTTP mapping: the only place that knows the numbers. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

int fs_status_http(enum fs_status st)
{
	switch (st) {
	case FS_OK: return 200;
	case FS_BAD_REQUEST: return 400;
	case FS_UNAUTHORIZED: return 401;
	case FS_FORBIDDEN: return 403;
	case FS_NOT_FOUND: return 404;
	case FS_METHOD_NOT_ALLOWED: return 405;
	case FS_CONFLICT: return 409;
	case FS_TOO_LARGE: return 413;
	case FS_UNSUPPORTED_MEDIA: return 415;
	case FS_INVALID: return 422;
	case FS_RATE_LIMITED: return 429;
	case FS_UNAVAILABLE: return 503;
	case FS_BAD_GATEWAY: return 502;
	case FS_ERROR: break;
	}
	return 500;
}

const char *fs_http_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 302: return "Found";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

enum fs_status fs_fail(struct fs_error *err, enum fs_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return st;
}
