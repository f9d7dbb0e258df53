/* libFuzzer target: the form-encoded body parser of the public sign-up. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"
#include "http/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	json_object *o = NULL;
	char err[96];

	arena_init(&a, 0);
	if (fs_form_to_json(&a, (const char *)data, size, &o, err, sizeof(err)) == 0) {
		/* Whatever is accepted is valid UTF-8 without NUL, at most the cap of fields. */
		if (!o || json_object_object_length(o) > FS_FORM_MAX_FIELDS)
			__builtin_trap();
		json_object_object_foreach(o, key, val) {
			const char *s = json_object_get_string(val);
			size_t n = (size_t)json_object_get_string_len(val);
			if (!utf8_valid(key, strlen(key)) || strlen(s) != n || !utf8_valid(s, n))
				__builtin_trap();
		}
		json_object_put(o);
	} else if (o || !err[0]) {
		__builtin_trap();
	}
	arena_destroy(&a);
	return 0;
}
