/* Segment-by-segment matching over a small const table: linear, allocation-free,
 * and fast enough for the few dozen routes a responder serves (kore route.c). */
#include "http/router.h"

#include <string.h>

#include "core/uuid.h"

static size_t seg_len(const char *s)
{
	const char *slash = strchr(s, '/');
	return slash ? (size_t)(slash - s) : strlen(s);
}

/* 1 when path matches pattern; captures parameters into m. */
static int path_matches(const char *pattern, const char *path, size_t path_len,
			struct fs_route_match *m)
{
	const char *p = pattern, *s = path, *end = path + path_len;

	m->nparams = 0;
	while (*p && s < end) {
		size_t pl, sl;

		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pl = seg_len(p);
		sl = 0;
		while (s + sl < end && s[sl] != '/')
			sl++;
		if (*p == ':' || *p == '*') {
			if (sl == 0 || m->nparams == FS_ROUTE_MAX_PARAMS)
				return 0;
			if (*p == ':' && !uuid_valid(s, sl))
				return -1; /* right shape, malformed id: still a 404 */
			m->names[m->nparams] = p + 1;
			m->name_lens[m->nparams] = pl - 1;
			m->values[m->nparams] = s;
			m->value_lens[m->nparams] = sl;
			m->nparams++;
		} else if (pl != sl || memcmp(p, s, sl) != 0) {
			return 0;
		}
		p += pl;
		s += sl;
	}
	return *p == '\0' && s == end;
}

enum fs_route_result fs_route_match(const struct fs_route *routes, size_t nroutes,
				    const char *method, const char *path,
				    struct fs_route_match *m)
{
	size_t path_len = strlen(path);
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int path_seen = 0;
	size_t alen = 0;

	memset(m, 0, sizeof(*m));
	if (path_len > 1 && path[path_len - 1] == '/')
		path_len--;
	for (size_t i = 0; i < nroutes; i++) {
		struct fs_route_match tmp;
		int r = path_matches(routes[i].pattern, path, path_len, &tmp);

		if (r <= 0)
			continue;
		path_seen = 1;
		if (strcmp(routes[i].method, want) == 0) {
			char allow_kept[sizeof(m->allow)];
			memcpy(allow_kept, m->allow, sizeof(allow_kept));
			*m = tmp;
			memcpy(m->allow, allow_kept, sizeof(allow_kept));
			m->route = &routes[i];
			return FS_ROUTE_FOUND;
		}
		size_t ml = strlen(routes[i].method);
		if (alen + ml + 3 < sizeof(m->allow) && !strstr(m->allow, routes[i].method)) {
			if (alen) {
				memcpy(m->allow + alen, ", ", 2);
				alen += 2;
			}
			memcpy(m->allow + alen, routes[i].method, ml);
			alen += ml;
			m->allow[alen] = '\0';
		}
	}
	return path_seen ? FS_ROUTE_METHOD_NOT_ALLOWED : FS_ROUTE_NOT_FOUND;
}
