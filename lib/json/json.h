/* json-c helpers: strict parsing of untrusted bodies, typed field getters that
 * collect FastAPI-shaped 422 details, and serialisation.
 * Ownership: fs_json_parse returns one reference the caller puts; getters borrow. */
#ifndef FS_JSON_H
#define FS_JSON_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/* Parse len bytes strictly (RFC 8259, valid UTF-8, one value, nothing after).
 * NULL with a human message in err on failure. */
json_object *fs_json_parse(const char *data, size_t len, char *err, size_t errlen);
/* json_object_put as an arena cleanup (arena_add_cleanup(a, fs_json_release, obj)). */
void fs_json_release(void *obj);

/* FastAPI's validation error list: [{"loc": [...], "msg": ..., "type": ...}]. */
struct fs_validation {
	json_object *errors; /* array, created on the first error */
};

void fs_validation_init(struct fs_validation *v);
void fs_validation_free(struct fs_validation *v);
int fs_validation_failed(const struct fs_validation *v);
/* Add an error at loc (where, field), e.g. ("body", "email"); field may be NULL. */
void fs_validation_add(struct fs_validation *v, const char *where, const char *field,
		       const char *msg, const char *type);
/* Hand the error list over (the caller owns it); v is empty afterwards. */
json_object *fs_validation_take(struct fs_validation *v);

/* Typed getters on a body object. Each returns 1 when the field is present and
 * valid, 0 when absent (an error is added if required), -1 when invalid (error
 * added). Strings are checked for UTF-8, NUL and length in code points. */
int fs_json_get_string(struct fs_validation *v, json_object *obj, const char *key, int required,
		       size_t min_chars, size_t max_chars, const char **out, size_t *out_len);
/* Like fs_json_get_string for a field that may be null: *present tells whether
 * the key was sent at all; *out is NULL for an explicit null. */
int fs_json_get_nullable_string(struct fs_validation *v, json_object *obj, const char *key,
				size_t min_chars, size_t max_chars, int *present,
				const char **out);
/* Like fs_json_get_nullable_string for a UUID (422 "Input should be a valid UUID"). */
int fs_json_get_nullable_uuid(struct fs_validation *v, json_object *obj, const char *key,
			      int *present, const char **out);
/* An email field: a string that passes email_invalid_reason (422 otherwise). */
/* A 422 entry for key when s (may be NULL) holds a line break or another
 * control character: for every value that can end up in a mail header. */
void fs_json_check_one_line(struct fs_validation *v, const char *key, const char *s);
int fs_json_get_email(struct fs_validation *v, json_object *obj, const char *key, int required,
		      const char **out);
int fs_json_get_bool(struct fs_validation *v, json_object *obj, const char *key, int required,
		     int *out);
int fs_json_get_int(struct fs_validation *v, json_object *obj, const char *key, int required,
		    int64_t min, int64_t max, int64_t *out);

/* Append s as a JSON string literal (quotes and escapes included). s must be
 * valid UTF-8, as everything PostgreSQL hands back is. */
struct strbuf;
void fs_json_append_string(struct strbuf *sb, const char *s);

/* Serialise compactly (no slash escaping); the string lives as long as obj. */
const char *fs_json_string(json_object *obj, size_t *len);
/* A new JSON string from a possibly NULL C string (NULL gives JSON null). */
json_object *fs_json_str_or_null(const char *s);

#endif
