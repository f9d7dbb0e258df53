/* libFuzzer target: strict JSON parsing and the typed field getters. */
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160];
	json_object *o = fs_json_parse((const char *)data, size, err, sizeof(err));
	struct fs_validation v;
	const char *s;
	int64_t n;
	int b;

	if (!o)
		return 0;
	if (json_object_is_type(o, json_type_object)) {
		fs_validation_init(&v);
		fs_json_get_string(&v, o, "email", 1, 1, 255, &s, NULL);
		fs_json_get_string(&v, o, "name", 0, 0, 10, &s, NULL);
		fs_json_get_int(&v, o, "page", 0, 1, 100, &n);
		fs_json_get_bool(&v, o, "all", 0, &b);
		json_object_put(fs_validation_take(&v));
	}
	size_t len;
	(void)fs_json_string(o, &len);
	json_object_put(o);
	return 0;
}
