/* JSON in and out. Bodies are untrusted: parse strictly, validate each field
 * with a FastAPI-compatible error entry so clients of the original keep working. */
#include "json/json.h"

#include "core/email.h"
#include "core/strbuf.h"
#include "core/utf8.h"
#include "core/uuid.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FS_JSON_MAX_DEPTH 32

/* json-c accepts NaN and Infinity even in strict mode; RFC 8259 does not. */
static int json_all_finite(json_object *o, int depth)
{
	if (depth > FS_JSON_MAX_DEPTH)
		return 0;
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!json_all_finite(json_object_array_get_idx(o, i), depth + 1))
				return 0;
		return 1;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if (!json_all_finite(val, depth + 1))
				return 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

/* json-c turns an integer literal below INT64_MIN or above UINT64_MAX into
 * that bound, silently: the offset of the first such literal (outside
 * strings), or -1. Such a number is refused rather than changed; a fraction
 * or an exponent makes it a double, which is JSON's usual precision. The
 * text has already parsed, so its strings are closed and its numbers
 * well formed (no leading zeros). */
static long long unrepresentable_integer(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (p[i] == '"') {
			for (i++; i < len && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			i++;
		} else if (p[i] == '-' || (p[i] >= '0' && p[i] <= '9')) {
			size_t at = i, start = i + (p[i] == '-'), digits;
			int negative = p[i] == '-';

			for (i = start; i < len && p[i] >= '0' && p[i] <= '9'; i++)
				;
			digits = i - start;
			if (i < len && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')) {
				while (i < len && strchr("0123456789.eE+-", p[i]))
					i++;
				continue;
			}
			if (negative ? digits > 19 || (digits == 19 &&
							memcmp(p + start, "9223372036854775808", 19) > 0)
				     : digits > 20 || (digits == 20 &&
							memcmp(p + start, "18446744073709551615", 20) > 0))
				return (long long)at;
		} else {
			i++;
		}
	}
	return -1;
}

json_object *fs_json_parse(const char *data, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	json_object *obj = NULL;
	enum json_tokener_error jerr;

	if (len > INT32_MAX) {
		snprintf(err, errlen, "JSON body too large");
		return NULL;
	}
	tok = json_tokener_new_ex(FS_JSON_MAX_DEPTH);
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, data, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(obj);
		obj = NULL;
		snprintf(err, errlen, "JSON decode error: unexpected end of input");
	} else if (jerr != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		snprintf(err, errlen, "JSON decode error: %s at offset %zu",
			 json_tokener_error_desc(jerr), json_tokener_get_parse_end(tok));
	} else {
		size_t end = json_tokener_get_parse_end(tok);
		for (; end < len; end++) {
			char c = data[end];
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				json_object_put(obj);
				obj = NULL;
				snprintf(err, errlen,
					 "JSON decode error: unexpected data after the value at "
					 "offset %zu",
					 end);
				break;
			}
		}
	}
	if (obj && !json_all_finite(obj, 0)) {
		json_object_put(obj);
		obj = NULL;
		snprintf(err, errlen, "JSON decode error: NaN and Infinity are not JSON numbers");
	}
	if (obj) {
		long long at = unrepresentable_integer(data, len);
		if (at >= 0) {
			json_object_put(obj);
			obj = NULL;
			snprintf(err, errlen,
				 "JSON decode error: the integer at offset %lld does not fit in 64 bits",
				 at);
		}
	}
	json_tokener_free(tok);
	return obj;
}

void fs_validation_init(struct fs_validation *v)
{
	v->errors = NULL;
}

void fs_validation_free(struct fs_validation *v)
{
	json_object_put(v->errors);
	v->errors = NULL;
}

int fs_validation_failed(const struct fs_validation *v)
{
	return v->errors != NULL && json_object_array_length(v->errors) > 0;
}

void fs_validation_add(struct fs_validation *v, const char *where, const char *field,
		       const char *msg, const char *type)
{
	json_object *e, *loc;

	if (!v->errors)
		v->errors = json_object_new_array();
	e = json_object_new_object();
	loc = json_object_new_array();
	json_object_array_add(loc, json_object_new_string(where));
	if (field)
		json_object_array_add(loc, json_object_new_string(field));
	json_object_object_add(e, "loc", loc);
	json_object_object_add(e, "msg", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_array_add(v->errors, e);
}

json_object *fs_validation_take(struct fs_validation *v)
{
	json_object *e = v->errors ? v->errors : json_object_new_array();
	v->errors = NULL;
	return e;
}

static json_object *field_lookup(struct fs_validation *v, json_object *obj, const char *key,
				 int required, int *status)
{
	json_object *val = NULL;

	if (!json_object_object_get_ex(obj, key, &val)) {
		if (required)
			fs_validation_add(v, "body", key, "Field required", "missing");
		*status = 0;
		return NULL;
	}
	if (val == NULL) { /* explicit null counts as absent for optional fields */
		if (required)
			fs_validation_add(v, "body", key, "Field required", "missing");
		*status = 0;
		return NULL;
	}
	*status = 1;
	return val;
}

int fs_json_get_string(struct fs_validation *v, json_object *obj, const char *key, int required,
		       size_t min_chars, size_t max_chars, const char **out, size_t *out_len)
{
	int st;
	json_object *val = field_lookup(v, obj, key, required, &st);
	const char *s;
	size_t len, chars;
	char msg[128];

	if (!val)
		return st;
	if (!json_object_is_type(val, json_type_string)) {
		fs_validation_add(v, "body", key, "Input should be a valid string", "string_type");
		return -1;
	}
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (memchr(s, '\0', len) || !utf8_valid(s, len)) {
		fs_validation_add(v, "body", key,
				  "String should not contain NUL or invalid UTF-8", "string_type");
		return -1;
	}
	chars = utf8_length(s, len);
	if (chars < min_chars) {
		snprintf(msg, sizeof(msg), "String should have at least %zu character%s",
			 min_chars, min_chars == 1 ? "" : "s");
		fs_validation_add(v, "body", key, msg, "string_too_short");
		return -1;
	}
	if (max_chars && chars > max_chars) {
		snprintf(msg, sizeof(msg), "String should have at most %zu characters", max_chars);
		fs_validation_add(v, "body", key, msg, "string_too_long");
		return -1;
	}
	*out = s;
	if (out_len)
		*out_len = len;
	return 1;
}

int fs_json_get_nullable_string(struct fs_validation *v, json_object *obj, const char *key,
				size_t min_chars, size_t max_chars, int *present,
				const char **out)
{
	json_object *val = NULL;

	*present = json_object_object_get_ex(obj, key, &val);
	*out = NULL;
	if (!*present || val == NULL)
		return *present;
	return fs_json_get_string(v, obj, key, 0, min_chars, max_chars, out, NULL);
}

int fs_json_get_nullable_uuid(struct fs_validation *v, json_object *obj, const char *key,
			      int *present, const char **out)
{
	int r = fs_json_get_nullable_string(v, obj, key, 1, 64, present, out);

	if (r == 1 && *out && !uuid_valid(*out, strlen(*out))) {
		fs_validation_add(v, "body", key, "Input should be a valid UUID", "uuid_parsing");
		*out = NULL;
		return -1;
	}
	return r;
}

int fs_json_get_email(struct fs_validation *v, json_object *obj, const char *key, int required,
		      const char **out)
{
	size_t len;
	int r = fs_json_get_string(v, obj, key, required, 1, 254, out, &len);
	const char *why;

	if (r != 1)
		return r;
	why = email_invalid_reason(*out, len);
	if (why) {
		fs_validation_add(v, "body", key, why, "value_error");
		return -1;
	}
	return 1;
}

int fs_json_get_bool(struct fs_validation *v, json_object *obj, const char *key, int required,
		     int *out)
{
	int st;
	json_object *val = field_lookup(v, obj, key, required, &st);

	if (!val)
		return st;
	if (!json_object_is_type(val, json_type_boolean)) {
		fs_validation_add(v, "body", key, "Input should be a valid boolean", "bool_type");
		return -1;
	}
	*out = json_object_get_boolean(val);
	return 1;
}

int fs_json_get_int(struct fs_validation *v, json_object *obj, const char *key, int required,
		    int64_t min, int64_t max, int64_t *out)
{
	int st;
	json_object *val = field_lookup(v, obj, key, required, &st);
	int64_t n;
	char msg[96];

	if (!val)
		return st;
	if (!json_object_is_type(val, json_type_int)) {
		fs_validation_add(v, "body", key, "Input should be a valid integer", "int_type");
		return -1;
	}
	n = json_object_get_int64(val);
	if (n < min) {
		snprintf(msg, sizeof(msg), "Input should be greater than or equal to %lld",
			 (long long)min);
		fs_validation_add(v, "body", key, msg, "greater_than_equal");
		return -1;
	}
	if (n > max) {
		snprintf(msg, sizeof(msg), "Input should be less than or equal to %lld",
			 (long long)max);
		fs_validation_add(v, "body", key, msg, "less_than_equal");
		return -1;
	}
	*out = n;
	return 1;
}

void fs_json_append_string(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	strbuf_appendc(sb, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *esc = NULL;
		char u[7];

		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		if (esc) {
			strbuf_append(sb, run, (size_t)(s - run));
			strbuf_appends(sb, esc);
			run = s + 1;
		}
	}
	strbuf_append(sb, run, (size_t)(s - run));
	strbuf_appendc(sb, '"');
}

const char *fs_json_string(json_object *obj, size_t *len)
{
	return json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

json_object *fs_json_str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

void fs_json_release(void *obj)
{
	json_object_put(obj);
}

void fs_json_check_one_line(struct fs_validation *v, const char *key, const char *s)
{
	if (s && utf8_has_controls(s, strlen(s), 0))
		fs_validation_add(v, "body", key,
				  "Value cannot contain line breaks or control characters",
				  "value_error");
}
