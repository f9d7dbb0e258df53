/* Bodies of plain HTML forms (application/x-www-form-urlencoded), turned into
 * a JSON object of strings so that one validation path serves a form post and
 * a JSON post alike. Pure: fuzzed by tests/fuzz/fuzz_form.c. */
#ifndef FS_FORM_H
#define FS_FORM_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/arena.h"

/* More fields than a signup form has is a malformed or hostile body. */
#define FS_FORM_MAX_FIELDS 32
/* A field name longer than this is not one of ours. */
#define FS_FORM_MAX_NAME 64

/* Decode len bytes of body into *out, a new object of string members (the
 * caller puts it). -1 with a reason in err (errlen bytes) when a field is
 * repeated, a name is empty or too long, a name or value holds a NUL or
 * another control character (a value may hold line breaks) or invalid UTF-8,
 * or there are more than FS_FORM_MAX_FIELDS fields. */
int fs_form_to_json(struct arena *a, const char *body, size_t len, json_object **out, char *err,
		    size_t errlen);

#endif
