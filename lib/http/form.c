/* Form-encoded bodies into JSON objects. The decoding itself is the query
 * string's (fs_query_parse: '+' is a space, %XX a byte); this adds what a
 * body must pass before its values are looked at. */
#include "http/form.h"

#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "http/request.h"

static int refuse(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

int fs_form_to_json(struct arena *a, const char *body, size_t len, json_object **out, char *err,
		    size_t errlen)
{
	struct fs_param *f = arena_alloc(a, (FS_FORM_MAX_FIELDS + 1) * sizeof(*f));
	json_object *o;
	long n;

	*out = NULL;
	if (!f)
		return refuse(err, errlen, "out of memory");
	/* A NUL in a name would cut it short ("email%00x" reading as "email"):
	 * no field of ours needs one, so the body is refused outright. */
	for (size_t i = 0; body && i + 2 < len; i++)
		if (body[i] == '%' && body[i + 1] == '0' && body[i + 2] == '0')
			return refuse(err, errlen, "A form field holds a NUL byte");
	n = fs_query_parse(a, body ? body : "", body ? len : 0, f, FS_FORM_MAX_FIELDS);
	if (n < 0)
		return refuse(err, errlen, "Too many form fields");
	for (long i = 0; i < n; i++) {
		size_t klen = strlen(f[i].key);

		if (klen == 0 || klen > FS_FORM_MAX_NAME || !utf8_valid(f[i].key, klen) ||
		    utf8_has_controls(f[i].key, klen, 0))
			return refuse(err, errlen, "A form field has an invalid name");
		if (strlen(f[i].value) != f[i].value_len)
			return refuse(err, errlen, "A form field holds a NUL byte");
		if (!utf8_valid(f[i].value, f[i].value_len) ||
		    utf8_has_controls(f[i].value, f[i].value_len, 1))
			return refuse(err, errlen, "A form field is not valid UTF-8 text");
		for (long j = 0; j < i; j++)
			if (strcmp(f[j].key, f[i].key) == 0)
				return refuse(err, errlen, "A form field is given twice");
	}
	o = json_object_new_object();
	if (!o)
		return refuse(err, errlen, "out of memory");
	for (long i = 0; i < n; i++)
		json_object_object_add(o, f[i].key,
				       json_object_new_string_len(f[i].value, (int)f[i].value_len));
	*out = o;
	return 0;
}
