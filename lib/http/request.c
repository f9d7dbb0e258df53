/* Request parsing. nginx has already normalised the path; we decode the query
 * string ourselves and never trust CONTENT_LENGTH beyond checking it fully. */
#include "http/request.h"

#include <ctype.h>
#include <errno.h>
#include <fcgiapp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"

/* Percent-decode (and '+' to space); malformed escapes stay as they are. */
static char *url_decode(struct arena *a, const char *s, size_t len, size_t *out_len)
{
	char *out = arena_alloc(a, len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
			   hex_value(s[i + 2]) >= 0) {
			out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

long fs_query_parse(struct arena *a, const char *qs, size_t len, struct fs_param *out,
		    size_t max)
{
	size_t n = 0, i = 0;

	while (i < len) {
		size_t start = i, eq = SIZE_MAX, klen, vlen;
		const char *k;

		while (i < len && qs[i] != '&') {
			if (qs[i] == '=' && eq == SIZE_MAX)
				eq = i;
			i++;
		}
		if (i > start) {
			size_t key_end = eq == SIZE_MAX ? i : eq;
			if (n == max)
				return -1;
			k = url_decode(a, qs + start, key_end - start, &klen);
			if (!k)
				return -1;
			out[n].key = k;
			if (eq == SIZE_MAX)
				out[n].value = url_decode(a, "", 0, &vlen);
			else
				out[n].value = url_decode(a, qs + eq + 1, i - eq - 1, &vlen);
			if (!out[n].value)
				return -1;
			out[n].value_len = vlen;
			n++;
		}
		i++; /* skip '&' */
	}
	return (long)n;
}

const char *fs_request_param(const struct fs_request *r, const char *name)
{
	size_t nlen = strlen(name);

	if (!r->envp)
		return NULL;
	for (char **e = r->envp; *e; e++)
		if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=')
			return *e + nlen + 1;
	return NULL;
}

const char *fs_request_header(const struct fs_request *r, struct arena *a, const char *name)
{
	size_t n = strlen(name);
	char *cgi = arena_alloc(a, n + 6);

	if (!cgi)
		return NULL;
	memcpy(cgi, "HTTP_", 5);
	for (size_t i = 0; i < n; i++)
		cgi[5 + i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	cgi[5 + n] = '\0';
	return fs_request_param(r, cgi);
}

const struct fs_param *fs_request_query(const struct fs_request *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, name) == 0)
			return &r->query[i];
	return NULL;
}

static long long parse_content_length(const char *s)
{
	char *end;
	long long n;

	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -2;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno == ERANGE || *end)
		return -2;
	return n;
}

int fs_request_parse(struct fs_request *r, struct arena *a, char **envp)
{
	const char *v;
	long n;

	memset(r, 0, sizeof(*r));
	r->envp = envp;
	v = fs_request_param(r, "REQUEST_METHOD");
	r->method = v ? v : "GET";
	v = fs_request_param(r, "DOCUMENT_URI");
	if (!v)
		v = fs_request_param(r, "SCRIPT_NAME");
	r->path = v ? v : "/";
	v = fs_request_param(r, "QUERY_STRING");
	r->query_string = v ? v : "";
	v = fs_request_param(r, "CONTENT_TYPE");
	r->content_type = v ? v : "";
	r->content_length = parse_content_length(fs_request_param(r, "CONTENT_LENGTH"));
	v = fs_request_param(r, "REQUEST_ID");
	r->request_id = (v && *v) ? v : "-";
	v = fs_request_param(r, "REMOTE_ADDR");
	r->remote_addr = v ? v : "";

	r->query = arena_alloc(a, sizeof(struct fs_param) * FS_QUERY_MAX_PARAMS);
	if (!r->query)
		return -1;
	n = fs_query_parse(a, r->query_string, strlen(r->query_string), r->query,
			   FS_QUERY_MAX_PARAMS);
	if (n < 0) {
		r->bad_query = 1;
		r->nquery = 0;
	} else {
		r->nquery = (size_t)n;
	}
	return 0;
}

enum fs_status fs_request_read_body(struct fs_request *r, struct arena *a, size_t cap)
{
	char *buf;
	size_t got = 0;

	if (r->body_read)
		return r->body_len > cap ? FS_TOO_LARGE : FS_OK;
	if (r->content_length == -2)
		return FS_BAD_REQUEST;
	if (r->content_length > 0 && (unsigned long long)r->content_length > cap)
		return FS_TOO_LARGE;
	if (!r->in || r->content_length <= 0) {
		r->body = "";
		r->body_len = 0;
		r->body_read = 1;
		return FS_OK;
	}
	buf = arena_alloc(a, (size_t)r->content_length + 1);
	if (!buf)
		return FS_ERROR;
	while (got < (size_t)r->content_length) {
		size_t want = (size_t)r->content_length - got;
		int chunk = want > (1 << 20) ? (1 << 20) : (int)want;
		int n = FCGX_GetStr(buf + got, chunk, r->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	r->body_read = 1;
	if (got != (size_t)r->content_length)
		return FS_BAD_REQUEST;
	buf[got] = '\0';
	r->body = buf;
	r->body_len = got;
	return FS_OK;
}

void fs_request_drain(struct fs_request *r)
{
	char sink[8192];

	if (!r->in || r->body_read)
		return;
	while (FCGX_GetStr(sink, sizeof(sink), r->in) > 0)
		;
	r->body_read = 1;
}
