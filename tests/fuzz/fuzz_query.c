/* libFuzzer target: the query-string decoder. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct fs_param p[FS_QUERY_MAX_PARAMS];
	long n;

	arena_init(&a, 0);
	n = fs_query_parse(&a, (const char *)data, size, p, FS_QUERY_MAX_PARAMS);
	for (long i = 0; i < n; i++) {
		/* Decoding never grows a value, and every value is NUL-terminated. */
		if (p[i].value_len > size || p[i].value[p[i].value_len] != '\0')
			__builtin_trap();
		(void)strlen(p[i].key);
	}
	arena_destroy(&a);
	return 0;
}
