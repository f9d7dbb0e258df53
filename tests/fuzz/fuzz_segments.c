/* libFuzzer target: the dynamic-list rules compiler. Whatever the input, the
 * result is an error or SQL in which every parameter is referenced and no
 * quote opens a literal other than the compiler's own two. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/segments.h"

static const char *const own_literals[] = { "'^-?[0-9]{1,30}(\\.[0-9]{1,30})?$'", "''",
					     "'number'" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct segment seg;
	char err[256];

	arena_init(&a, 0);
	if (segment_compile_text(&a, (const char *)data, size, 1, &seg, err, sizeof(err)) == 0) {
		char *sql = strdup(strbuf_cstr(&seg.where)), last[16];

		if (seg.nparams > 0) {
			snprintf(last, sizeof(last), "$%d", seg.nparams);
			if (!strstr(sql, last))
				__builtin_trap();
		}
		for (size_t i = 0; i < sizeof(own_literals) / sizeof(own_literals[0]); i++) {
			char *p;
			size_t n = strlen(own_literals[i]);
			while ((p = strstr(sql, own_literals[i])))
				memset(p, ' ', n);
		}
		if (strchr(sql, '\'') || strchr(sql, ';'))
			__builtin_trap();
		free(sql);
		strbuf_free(&seg.where);
	}
	arena_destroy(&a);
	return 0;
}
