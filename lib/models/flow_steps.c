/* Flow steps: the one validator of a steps array, shared by the API (on
 * activation) and the engine (on the version it runs). */
#include "models/flow_steps.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/uuid.h"

static const char *const type_names[] = { "email", "delay", "condition", "split", "webhook" };

const char *flow_step_type_name(enum flow_step_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

static int bad(char *err, size_t errlen, int *bad_index, int i, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int bad(char *err, size_t errlen, int *bad_index, int i, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (bad_index)
		*bad_index = i;
	if (err && errlen) {
		if (i >= 0)
			snprintf(err, errlen, "Invalid step %d: %s", i, why);
		else
			snprintf(err, errlen, "Invalid steps: %s", why);
	}
	return -1;
}

/* A string field: 1 present and valid (copied into *out), 0 absent or null,
 * -1 invalid (wrong type, bad UTF-8, NUL, controls, length). */
static int get_text(struct arena *a, json_object *o, const char *key, size_t max_chars,
		    int one_line, const char **out)
{
	json_object *v;
	const char *s;
	size_t len;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (!utf8_valid(s, len) || len == 0 || utf8_length(s, len) > max_chars)
		return -1;
	if (one_line && utf8_has_controls(s, len, 0))
		return -1;
	*out = a ? arena_strndup(a, s, len) : s;
	return *out ? 1 : -1;
}

/* An integer field in [lo, hi]: 1, 0 absent or null, -1 wrong. Booleans and
 * doubles with a fraction are refused; 5.0 is 5. */
static int get_int(json_object *o, const char *key, long lo, long hi, long *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		int64_t x;
		errno = 0;
		x = json_object_get_int64(v);
		if (errno == ERANGE)
			return -1;
		if (x < lo || x > hi)
			return -1;
		*out = (long)x;
		return 1;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
			return -1;
		*out = (long)d;
		return 1;
	}
	return -1;
}

static int has(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && v != NULL;
}

static int parse_jump(json_object *o, const char *key, int n, int *out, char *err, size_t errlen,
		      int *bad_index, int i)
{
	long v;
	int r = get_int(o, key, -1000000000L, 1000000000L, &v);

	if (r == 0)
		return bad(err, errlen, bad_index, i, "%s is required", key);
	if (r < 0)
		return bad(err, errlen, bad_index, i, "%s must be an integer", key);
	if (v < 0 || v > n)
		return bad(err, errlen, bad_index, i, "%s %ld is out of range (0..%d)", key, v, n);
	*out = (int)v;
	return 0;
}

static int parse_email(struct arena *a, json_object *o, struct flow_step *s, char *err,
		       size_t errlen, int *bi, int i)
{
	const char *tid;
	int r = get_text(NULL, o, "template_id", 36, 1, &tid);

	if (r == 0)
		return bad(err, errlen, bi, i, "an email step needs a template_id");
	if (r < 0 || !uuid_valid(tid, strlen(tid)))
		return bad(err, errlen, bi, i, "template_id must be a UUID");
	for (size_t k = 0; k < 36; k++)
		s->template_id[k] = (tid[k] >= 'A' && tid[k] <= 'F') ? (char)(tid[k] + 32) : tid[k];
	s->template_id[36] = '\0';
	if (get_text(a, o, "subject", FLOW_SUBJECT_MAX, 1, &s->subject) < 0)
		return bad(err, errlen, bi, i,
			   "subject must be 1 to %d characters on one line", FLOW_SUBJECT_MAX);
	return 0;
}

static int parse_delay(json_object *o, struct flow_step *s, char *err, size_t errlen, int *bi,
		       int i)
{
	long v;
	int h = has(o, "delay_hours"), m = has(o, "delay_minutes");

	if (h && m)
		return bad(err, errlen, bi, i, "give delay_hours or delay_minutes, not both");
	if (!h && !m)
		return bad(err, errlen, bi, i, "a delay step needs delay_hours or delay_minutes");
	if (h) {
		if (get_int(o, "delay_hours", 1, FLOW_DELAY_HOURS_MAX, &v) != 1)
			return bad(err, errlen, bi, i, "delay_hours must be an integer from 1 to %d",
				   FLOW_DELAY_HOURS_MAX);
		s->delay_seconds = v * 3600;
	} else {
		if (get_int(o, "delay_minutes", 1, FLOW_DELAY_MINUTES_MAX, &v) != 1)
			return bad(err, errlen, bi, i, "delay_minutes must be an integer from 1 to %d",
				   FLOW_DELAY_MINUTES_MAX);
		s->delay_seconds = v * 60;
	}
	return 0;
}

/* A finite number from a JSON number or a numeric string. */
static int get_number(struct arena *a, json_object *o, const char *key, double *num,
		      const char **text)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		char buf[64];
		*num = json_object_get_double(v);
		if (json_object_is_type(v, json_type_int))
			*num = (double)json_object_get_int64(v);
		if (!isfinite(*num))
			return -1;
		snprintf(buf, sizeof(buf), "%.17g", *num);
		*text = a ? arena_strdup(a, buf) : "";
		return 1;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		char *end;
		if (len == 0 || len > 64 || strlen(s) != len)
			return -1;
		errno = 0;
		*num = strtod(s, &end);
		if (*end || errno == ERANGE || !isfinite(*num) || s[0] == ' ' || s[0] == '\t' ||
		    s[0] == '\n')
			return -1;
		for (size_t k = 0; k < len; k++)
			if (!((s[k] >= '0' && s[k] <= '9') || s[k] == '-' || s[k] == '+' || s[k] == '.' ||
			      s[k] == 'e' || s[k] == 'E'))
				return -1;
		*text = a ? arena_strndup(a, s, len) : "";
		return 1;
	}
	return -1;
}

static int parse_condition(struct arena *a, json_object *o, struct flow_step *s, int n,
			   char *err, size_t errlen, int *bi, int i)
{
	const char *ct;
	int r = get_text(NULL, o, "condition_type", 32, 1, &ct);

	if (r == 0)
		return bad(err, errlen, bi, i, "a condition step needs a condition_type");
	if (r > 0 && strcmp(ct, "tag_equals") == 0) {
		s->condition = FLOW_COND_TAG_EQUALS;
		if (get_text(a, o, "value", 64, 1, &s->value) != 1 || strchr(s->value, ';'))
			return bad(err, errlen, bi, i,
				   "tag_equals needs a value: a tag of 1 to 64 characters");
	} else if (r > 0 && strcmp(ct, "field_gt") == 0) {
		const char *f;
		s->condition = FLOW_COND_FIELD_GT;
		if (get_text(a, o, "field", FLOW_VALUE_MAX, 1, &f) != 1 ||
		    strncmp(f, "custom_fields.", 14) != 0 || f[14] == '\0')
			return bad(err, errlen, bi, i,
				   "field_gt needs a field of the form custom_fields.<key>");
		s->field = f + 14;
		if (get_number(a, o, "value", &s->number, &s->value) != 1)
			return bad(err, errlen, bi, i, "field_gt needs a numeric value");
	} else if (r > 0 && strcmp(ct, "opened_previous") == 0) {
		s->condition = FLOW_COND_OPENED_PREVIOUS;
	} else {
		return bad(err, errlen, bi, i,
			   "condition_type must be one of: tag_equals, field_gt, opened_previous");
	}
	if (parse_jump(o, "then_step", n, &s->then_step, err, errlen, bi, i) < 0 ||
	    parse_jump(o, "else_step", n, &s->else_step, err, errlen, bi, i) < 0)
		return -1;
	return 0;
}

static int parse_split(json_object *o, struct flow_step *s, int n, char *err, size_t errlen,
		       int *bi, int i)
{
	json_object *br, *w = NULL;
	size_t nb;

	if (!json_object_object_get_ex(o, "branches", &br) || !br ||
	    !json_object_is_type(br, json_type_array))
		return bad(err, errlen, bi, i, "a split step needs branches: an array of step indices");
	nb = json_object_array_length(br);
	if (nb < 2 || nb > FLOW_SPLIT_MAX)
		return bad(err, errlen, bi, i, "a split needs 2 to %d branches", FLOW_SPLIT_MAX);
	if (json_object_object_get_ex(o, "weights", &w) && w) {
		if (!json_object_is_type(w, json_type_array))
			return bad(err, errlen, bi, i, "weights must be an array of positive integers");
		if (json_object_array_length(w) != nb)
			return bad(err, errlen, bi, i, "weights must give one weight per branch");
	} else {
		w = NULL;
	}
	s->nbranches = (int)nb;
	for (size_t k = 0; k < nb; k++) {
		json_object *wrap = json_object_new_object();
		long v;
		int r;
		json_object_object_add(wrap, "x", json_object_get(json_object_array_get_idx(br, k)));
		r = get_int(wrap, "x", -1000000000L, 1000000000L, &v);
		if (r == 1 && (v < 0 || v > n)) {
			json_object_put(wrap);
			return bad(err, errlen, bi, i, "branch %zu goes to %ld, out of range (0..%d)", k, v,
				   n);
		}
		if (r != 1) {
			json_object_put(wrap);
			return bad(err, errlen, bi, i, "branches must be step indices (integers)");
		}
		s->branches[k] = (int)v;
		s->weights[k] = 1;
		if (w) {
			json_object_object_add(wrap, "x",
					       json_object_get(json_object_array_get_idx(w, k)));
			if (get_int(wrap, "x", 1, FLOW_SPLIT_WEIGHT_MAX, &v) != 1) {
				json_object_put(wrap);
				return bad(err, errlen, bi, i, "weights must be integers from 1 to %d",
					   FLOW_SPLIT_WEIGHT_MAX);
			}
			s->weights[k] = (int)v;
		}
		json_object_put(wrap);
	}
	return 0;
}

static int parse_webhook(struct arena *a, json_object *o, struct flow_step *s, char *err,
			 size_t errlen, int *bi, int i)
{
	const char *url;
	size_t len;

	if (get_text(a, o, "url", FLOW_URL_MAX, 1, &url) != 1)
		return bad(err, errlen, bi, i, "a webhook step needs a url");
	len = strlen(url);
	if (len > FLOW_URL_MAX ||
	    !((strncmp(url, "https://", 8) == 0 && len > 8) ||
	      (strncmp(url, "http://", 7) == 0 && len > 7)))
		return bad(err, errlen, bi, i, "url must be an http or https URL");
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)url[k] <= ' ')
			return bad(err, errlen, bi, i, "url must not contain spaces");
	s->url = url;
	return 0;
}

/* The steps a step may go to next (n = the end). */
static int successors(const struct flow_step *s, int i, int out[FLOW_SPLIT_MAX])
{
	switch (s->type) {
	case FLOW_STEP_CONDITION:
		out[0] = s->then_step;
		out[1] = s->else_step;
		return 2;
	case FLOW_STEP_SPLIT:
		for (int k = 0; k < s->nbranches; k++)
			out[k] = s->branches[k];
		return s->nbranches;
	default:
		out[0] = i + 1;
		return 1;
	}
}

/* The lowest step on a cycle that passes no delay (so would spin without
 * waiting), or -1. Delays are cut out of the graph; from each step, a walk
 * over the rest tells whether it comes back to itself. n <= FLOW_STEPS_MAX. */
static int loop_without_delay(const struct flow_steps *st)
{
	int n = (int)st->n;
	unsigned char seen[FLOW_STEPS_MAX + 1];
	int stack[FLOW_STEPS_MAX + 1];

	for (int start = 0; start < n; start++) {
		int top = 0, succ[FLOW_SPLIT_MAX];
		if (st->steps[start].type == FLOW_STEP_DELAY)
			continue;
		memset(seen, 0, sizeof(seen));
		stack[top++] = start;
		while (top > 0) {
			int at = stack[--top], ns = successors(&st->steps[at], at, succ);
			for (int k = 0; k < ns; k++) {
				int to = succ[k];
				if (to == start)
					return start;
				if (to >= n || seen[to] || st->steps[to].type == FLOW_STEP_DELAY)
					continue;
				seen[to] = 1;
				stack[top++] = to;
			}
		}
	}
	return -1;
}

int flow_steps_check_draft(json_object *arr, char *err, size_t errlen, int *bad_index)
{
	size_t n;

	if (bad_index)
		*bad_index = -1;
	if (!arr || !json_object_is_type(arr, json_type_array))
		return bad(err, errlen, bad_index, -1, "steps must be an array");
	n = json_object_array_length(arr);
	if (n > FLOW_STEPS_MAX)
		return bad(err, errlen, bad_index, -1, "a flow has at most %d steps", FLOW_STEPS_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (!o || !json_object_is_type(o, json_type_object))
			return bad(err, errlen, bad_index, (int)i, "a step must be an object");
		if (has(o, "delay_hours") && has(o, "delay_minutes"))
			return bad(err, errlen, bad_index, (int)i,
				   "give delay_hours or delay_minutes, not both");
	}
	return 0;
}

int flow_steps_from_json(struct arena *a, json_object *arr, struct flow_steps *out, char *err,
			 size_t errlen, int *bad_index)
{
	int n, loop;

	memset(out, 0, sizeof(*out));
	if (flow_steps_check_draft(arr, err, errlen, bad_index) < 0)
		return -1;
	n = (int)json_object_array_length(arr);
	if (n == 0)
		return bad(err, errlen, bad_index, -1, "a flow needs at least one step");
	out->steps = arena_alloc(a, sizeof(struct flow_step) * (size_t)n);
	if (!out->steps)
		return bad(err, errlen, bad_index, -1, "out of memory");
	memset(out->steps, 0, sizeof(struct flow_step) * (size_t)n);
	for (int i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, (size_t)i);
		struct flow_step *s = &out->steps[i];
		const char *type;
		int r = get_text(NULL, o, "type", 32, 1, &type), rc;

		if (r == 0)
			return bad(err, errlen, bad_index, i, "type is required");
		if (r < 0)
			return bad(err, errlen, bad_index, i,
				   "unknown type; must be one of: email, delay, condition, split, webhook");
		if (strcmp(type, "email") == 0) {
			s->type = FLOW_STEP_EMAIL;
			rc = parse_email(a, o, s, err, errlen, bad_index, i);
		} else if (strcmp(type, "delay") == 0) {
			s->type = FLOW_STEP_DELAY;
			rc = parse_delay(o, s, err, errlen, bad_index, i);
		} else if (strcmp(type, "condition") == 0) {
			s->type = FLOW_STEP_CONDITION;
			rc = parse_condition(a, o, s, n, err, errlen, bad_index, i);
		} else if (strcmp(type, "split") == 0) {
			s->type = FLOW_STEP_SPLIT;
			rc = parse_split(o, s, n, err, errlen, bad_index, i);
		} else if (strcmp(type, "webhook") == 0) {
			s->type = FLOW_STEP_WEBHOOK;
			rc = parse_webhook(a, o, s, err, errlen, bad_index, i);
		} else {
			return bad(err, errlen, bad_index, i,
				   "unknown type '%s'; must be one of: email, delay, condition, split,"
				   " webhook", type);
		}
		if (rc < 0)
			return -1;
	}
	out->n = (size_t)n;
	if ((loop = loop_without_delay(out)) >= 0) {
		out->n = 0;
		return bad(err, errlen, bad_index, loop, "a loop back to this step has no delay");
	}
	return 0;
}

int flow_steps_parse(struct arena *a, const char *json, size_t len, struct flow_steps *out,
		     char *err, size_t errlen, int *bad_index)
{
	struct json_tokener *tok;
	json_object *arr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (bad_index)
		*bad_index = -1;
	if (len > (size_t)0x7fffffff)
		return bad(err, errlen, bad_index, -1, "steps are too large");
	tok = json_tokener_new();
	if (!tok)
		return bad(err, errlen, bad_index, -1, "out of memory");
	arr = json_tokener_parse_ex(tok, json, (int)len);
	if (!arr || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_tokener_free(tok);
		json_object_put(arr);
		return bad(err, errlen, bad_index, -1, "steps are not valid JSON");
	}
	json_tokener_free(tok);
	rc = flow_steps_from_json(a, arr, out, err, errlen, bad_index);
	json_object_put(arr);
	return rc;
}
