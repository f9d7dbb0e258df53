/* The template compiler turns source into a flat list of segments (literal
 * text, or a variable with its optional default) over one private copy of the
 * source, so rendering is a loop of appends and a lookup per variable. */
#include "mail/template.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "mail/html_text.h"

#define MAX_NAME 64
#define MAX_DEFAULT 500

enum seg_kind {
	SEG_LITERAL,
	SEG_FIRST_NAME,
	SEG_LAST_NAME,
	SEG_EMAIL,
	SEG_UNSUBSCRIBE_URL,
	SEG_POSTAL_ADDRESS,
	SEG_CUSTOM,
};

/* Where an HTML part puts a value: in text, inside a tag (an attribute), or
 * in an attribute that holds a URL. */
enum seg_place { PLACE_TEXT, PLACE_ATTRIBUTE, PLACE_URL };

struct seg {
	enum seg_kind kind;
	uint32_t off, len;         /* literal text, or the custom key (NUL-terminated) */
	uint32_t def_off, def_len; /* the default, when has_default */
	int has_default;
	enum seg_place place;
};

struct tpl {
	enum tpl_part part;
	char *text; /* the source, then each custom key with a NUL */
	struct seg *segs;
	size_t nsegs;
	size_t literal_bytes;
};

static const struct {
	const char *name;
	enum seg_kind kind;
} known_names[] = {
	{ "first_name", SEG_FIRST_NAME },
	{ "last_name", SEG_LAST_NAME },
	{ "email", SEG_EMAIL },
	{ "unsubscribe_url", SEG_UNSUBSCRIBE_URL },
	{ "postal_address", SEG_POSTAL_ADDRESS },
};

/* Line and column (in characters) of byte offset at in src. */
static void locate(const char *src, size_t at, struct tpl_error *err)
{
	size_t line = 1, column = 1;

	for (size_t i = 0; i < at; i++) {
		if (src[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)src[i] & 0xc0) != 0x80) {
			column++;
		}
	}
	err->line = line > INT32_MAX ? INT32_MAX : (int)line;
	err->column = column > INT32_MAX ? INT32_MAX : (int)column;
}

static int fail_at(const char *src, size_t at, struct tpl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_at(const char *src, size_t at, struct tpl_error *err, const char *fmt, ...)
{
	va_list ap;

	locate(src, at, err);
	va_start(ap, fmt);
	vsnprintf(err->what, sizeof(err->what), fmt, ap);
	va_end(ap);
	return -1;
}

/* A character as the message shows it: itself when printable ASCII. */
static const char *shown(char c, char *buf, size_t size)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else if (c == ' ')
		snprintf(buf, size, "a space");
	else if (c == '\n' || c == '\r')
		snprintf(buf, size, "a line break");
	else
		snprintf(buf, size, "byte 0x%02x", (unsigned char)c);
	return buf;
}

static int is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static int is_key_char(char c)
{
	return is_name_char(c) || c == '-';
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Enough of an HTML tokenizer to know where a variable lands. */
enum html_state { IN_TEXT, IN_TAG, IN_DOUBLE_QUOTED, IN_SINGLE_QUOTED };

struct builder {
	struct tpl *t;
	size_t cap;
	size_t keys_len; /* bytes of keys appended after the source */
	enum html_state html;
	char attr[16];   /* the attribute being read or last assigned, lower case */
	size_t attr_len;
	int in_value;    /* after attr= */
	int name_done;   /* a space ended the name: the next letter starts another */
};

static const char *const url_attributes[] = { "href", "src", "action", "formaction",
					       "background", "poster", "cite", NULL };

/* Follow the markup of an HTML literal so the next variable's place is known. */
static void follow_html(struct builder *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (b->html == IN_TEXT) {
			if (c == '<' && i + 1 < len && (is_name_start(s[i + 1]) || s[i + 1] == '/')) {
				b->html = IN_TAG;
				b->attr_len = 0;
				b->in_value = b->name_done = 0;
			}
		} else if (b->html != IN_TAG) { /* a quoted value */
			if (c == (b->html == IN_DOUBLE_QUOTED ? '"' : '\'')) {
				b->html = IN_TAG;
				b->attr_len = 0;
				b->in_value = b->name_done = 0;
			}
		} else if (c == '>') {
			b->html = IN_TEXT;
		} else if (c == '"' || c == '\'') {
			b->html = c == '"' ? IN_DOUBLE_QUOTED : IN_SINGLE_QUOTED;
		} else if (c == '=') {
			b->in_value = 1;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/') {
			if (b->in_value) { /* an unquoted value ended */
				b->attr_len = 0;
				b->in_value = 0;
			}
			b->name_done = 1;
		} else if (!b->in_value) { /* a name: the tag's, then each attribute's */
			if (b->name_done)
				b->attr_len = 0;
			b->name_done = 0;
			if (b->attr_len < sizeof(b->attr) - 1)
				b->attr[b->attr_len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
	}
}

static enum seg_place html_place(const struct builder *b)
{
	if (b->html == IN_TEXT)
		return PLACE_TEXT;
	if (b->in_value || b->html != IN_TAG)
		for (const char *const *u = url_attributes; *u; u++)
			if (b->attr_len == strlen(*u) && strncmp(b->attr, *u, b->attr_len) == 0)
				return PLACE_URL;
	return PLACE_ATTRIBUTE;
}

static struct seg *push(struct builder *b)
{
	if (b->t->nsegs == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct seg *s = realloc(b->t->segs, cap * sizeof(*s));
		if (!s)
			return NULL;
		b->t->segs = s;
		b->cap = cap;
	}
	memset(&b->t->segs[b->t->nsegs], 0, sizeof(struct seg));
	return &b->t->segs[b->t->nsegs++];
}

static int push_literal(struct builder *b, size_t off, size_t len)
{
	struct seg *s;

	if (len == 0)
		return 0;
	if (!(s = push(b)))
		return -1;
	s->kind = SEG_LITERAL;
	s->off = (uint32_t)off;
	s->len = (uint32_t)len;
	b->t->literal_bytes += len;
	if (b->t->part == TPL_HTML)
		follow_html(b, b->t->text + off, len);
	return 0;
}

/* Parse the tag whose "{{" starts at src[at]; *end gets the offset after its
 * "}}". Custom keys are copied after the source (the text buffer has room for
 * them: every key is shorter than its tag). */
static int parse_tag(struct builder *b, const char *src, size_t len, size_t at, size_t *end,
		     struct tpl_error *err)
{
	char what[32];
	size_t i = at + 2, name_at, name_len, key_at = 0, key_len = 0;
	struct seg *s;
	enum seg_kind kind = SEG_CUSTOM;

	while (i < len && is_blank(src[i]))
		i++;
	if (i >= len)
		return fail_at(src, at, err, "'{{' is never closed with '}}'");
	if (!is_name_start(src[i])) {
		if (src[i] == '}' && i + 1 < len && src[i + 1] == '}')
			return fail_at(src, i, err, "expected a variable name between '{{' and '}}'");
		return fail_at(src, i, err, "expected a variable name, found %s",
			       shown(src[i], what, sizeof(what)));
	}
	name_at = i;
	while (i < len && is_name_char(src[i]))
		i++;
	name_len = i - name_at;
	if (i < len && src[i] == '.') {
		if (name_len != 6 || memcmp(src + name_at, "custom", 6) != 0)
			return fail_at(src, i, err, "only custom.KEY may contain a dot");
		key_at = ++i;
		while (i < len && is_key_char(src[i]))
			i++;
		key_len = i - key_at;
		if (key_len == 0)
			return fail_at(src, key_at, err, "expected a field name after 'custom.'");
	} else {
		for (size_t k = 0; k < sizeof(known_names) / sizeof(known_names[0]); k++)
			if (strlen(known_names[k].name) == name_len &&
			    memcmp(known_names[k].name, src + name_at, name_len) == 0)
				kind = known_names[k].kind;
		if (kind == SEG_CUSTOM) { /* {{company}} reads custom field "company" */
			key_at = name_at;
			key_len = name_len;
		}
	}
	if (name_len > MAX_NAME || key_len > MAX_NAME)
		return fail_at(src, name_at, err, "a variable name is limited to 64 characters");
	while (i < len && is_blank(src[i]))
		i++;
	if (!(s = push(b)))
		return fail_at(src, at, err, "out of memory");
	s->kind = kind;
	s->place = b->t->part == TPL_HTML ? html_place(b) : PLACE_TEXT;
	if (kind == SEG_CUSTOM) {
		char *keys = b->t->text + len + 1 + b->keys_len;
		memcpy(keys, src + key_at, key_len);
		keys[key_len] = '\0';
		s->off = (uint32_t)(len + 1 + b->keys_len);
		s->len = (uint32_t)key_len;
		b->keys_len += key_len + 1;
	}
	if (i < len && src[i] == '|') {
		size_t def_at = ++i;
		while (i + 1 < len && !(src[i] == '}' && src[i + 1] == '}')) {
			if (src[i] == '{' && src[i + 1] == '{')
				return fail_at(src, i, err, "'{{' inside a variable's default");
			if (src[i] == '\n' || src[i] == '\r')
				return fail_at(src, i, err, "a variable's default must fit on one line");
			i++;
		}
		if (i + 1 >= len)
			return fail_at(src, at, err, "'{{' is never closed with '}}'");
		if (i - def_at > MAX_DEFAULT)
			return fail_at(src, def_at, err, "a default is limited to 500 bytes");
		s->has_default = 1;
		s->def_off = (uint32_t)def_at;
		s->def_len = (uint32_t)(i - def_at);
		while (s->def_len > 0 && is_blank(src[s->def_off + s->def_len - 1]))
			s->def_len--;
	} else if (!(i + 1 < len && src[i] == '}' && src[i + 1] == '}')) {
		if (i >= len || src[i] == '}')
			return fail_at(src, at, err, "'{{' is never closed with '}}'");
		return fail_at(src, i, err, "expected '}}' or '|default', found %s",
			       shown(src[i], what, sizeof(what)));
	}
	*end = i + 2;
	return 0;
}

int tpl_compile(const char *src, size_t len, enum tpl_part part, struct tpl **out,
		struct tpl_error *err)
{
	struct builder b = { 0 };
	size_t i = 0, lit = 0, valid;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (len > TPL_MAX_SOURCE)
		return fail_at(src, 0, err, "a template is limited to 1 MiB");
	valid = utf8_valid_prefix(src, len);
	if (valid < len)
		return fail_at(src, valid, err,
			       src[valid] == '\0' ? "NUL characters are not allowed"
						  : "the text is not valid UTF-8");
	if (part == TPL_HEADER)
		for (size_t k = 0; k < len; k++)
			if ((unsigned char)src[k] < 0x20 || src[k] == 0x7f)
				return fail_at(src, k, err, "a subject is one line without control characters");
	if (!(b.t = calloc(1, sizeof(*b.t))) || !(b.t->text = malloc(2 * len + 2))) {
		free(b.t);
		return fail_at(src, 0, err, "out of memory");
	}
	b.t->part = part;
	memcpy(b.t->text, src, len);
	b.t->text[len] = '\0';
	while (i + 1 < len) {
		size_t end = 0;
		if (src[i] != '{' || src[i + 1] != '{') {
			i++;
			continue;
		}
		if (push_literal(&b, lit, i - lit) < 0 || parse_tag(&b, src, len, i, &end, err) < 0) {
			if (err->what[0] == '\0')
				fail_at(src, i, err, "out of memory");
			tpl_free(b.t);
			return -1;
		}
		i = lit = end;
	}
	if (push_literal(&b, lit, len - lit) < 0) {
		tpl_free(b.t);
		return fail_at(src, len, err, "out of memory");
	}
	*out = b.t;
	return 0;
}

void tpl_free(struct tpl *t)
{
	if (!t)
		return;
	free(t->segs);
	free(t->text);
	free(t);
}

size_t tpl_literal_size(const struct tpl *t)
{
	return t->literal_bytes;
}

/* Escape for HTML text; inside a tag also the characters that could end an
 * unquoted attribute value and start another attribute. */
static void append_html(struct strbuf *out, const char *s, size_t len, int in_tag)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case ' ': rep = in_tag ? "&#32;" : NULL; break;
		case '\t': rep = in_tag ? "&#9;" : NULL; break;
		case '\n': rep = in_tag ? "&#10;" : NULL; break;
		case '=': rep = in_tag ? "&#61;" : NULL; break;
		case '`': rep = in_tag ? "&#96;" : NULL; break;
		default: continue;
		}
		if (!rep)
			continue;
		strbuf_append(out, s + run, i - run);
		strbuf_appends(out, rep);
		run = i + 1;
	}
	strbuf_append(out, s + run, len - run);
}

/* A header stays on one line: control characters become spaces. */
static void append_header(struct strbuf *out, const char *s, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f)
			continue;
		strbuf_append(out, s + run, i - run);
		strbuf_appendc(out, ' ');
		run = i + 1;
	}
	strbuf_append(out, s + run, len - run);
}

/* A URL attribute takes http(s), mailto, tel or a relative link; anything
 * else (javascript:, data:) from a contact's data becomes "#". */
static int url_allowed(const char *s, size_t len)
{
	static const char *const schemes[] = { "http", "https", "mailto", "tel" };
	size_t i = 0, start;

	while (i < len && (unsigned char)s[i] <= 0x20)
		i++;
	start = i;
	for (; i < len; i++) {
		if (s[i] == ':')
			break;
		if (s[i] == '/' || s[i] == '?' || s[i] == '#')
			return 1; /* no scheme: a relative link */
	}
	if (i == len)
		return 1;
	for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++)
		if (i - start == strlen(schemes[k]) && strncasecmp(s + start, schemes[k], i - start) == 0)
			return 1;
	return 0;
}

static void append_value(const struct tpl *t, enum seg_place place, struct strbuf *out,
			 const char *s, size_t len)
{
	switch (t->part) {
	case TPL_HTML:
		if (place == PLACE_URL && !url_allowed(s, len))
			strbuf_appendc(out, '#');
		else
			append_html(out, s, len, place != PLACE_TEXT);
		break;
	case TPL_HEADER: append_header(out, s, len); break;
	case TPL_TEXT: strbuf_append(out, s, len); break;
	}
}

static const char *custom_value(json_object *custom, const char *key, size_t *len)
{
	json_object *v;

	if (!custom || !json_object_object_get_ex(custom, key, &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_string)) {
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	}
	/* numbers and booleans as JSON writes them; objects and arrays as JSON */
	{
		const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		*len = strlen(s);
		return s;
	}
}

int tpl_render(const struct tpl *t, const struct tpl_values *v, struct strbuf *out)
{
	if (strbuf_grow(out, t->literal_bytes + 64 * t->nsegs) < 0)
		return -1;
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		const char *val = NULL;
		size_t len = 0;

		switch (s->kind) {
		case SEG_LITERAL:
			strbuf_append(out, t->text + s->off, s->len);
			continue;
		case SEG_FIRST_NAME: val = v->first_name; break;
		case SEG_LAST_NAME: val = v->last_name; break;
		case SEG_EMAIL: val = v->email; break;
		case SEG_UNSUBSCRIBE_URL: val = v->unsubscribe_url; break;
		case SEG_POSTAL_ADDRESS: val = v->postal_address; break;
		case SEG_CUSTOM: val = custom_value(v->custom, t->text + s->off, &len); break;
		}
		if (val && s->kind != SEG_CUSTOM)
			len = strlen(val);
		if (val && len > 0)
			append_value(t, s->place, out, val, len);
		else if (s->has_default) /* the author's own text, like the literal around it */
			strbuf_append(out, t->text + s->def_off, s->def_len);
	}
	return out->oom ? -1 : 0;
}

static int compile_part(const char *src, size_t len, enum tpl_part part, const char *name,
			struct tpl **out, struct tpl_error *err)
{
	if (tpl_compile(src, len, part, out, err) == 0)
		return 0;
	{
		size_t n = strlen(err->what);
		snprintf(err->what + n, sizeof(err->what) - n, " (in %s)", name);
	}
	return -1;
}

int tpl_message_compile(struct tpl_message *m, const char *subject, size_t subject_len,
			const char *html, size_t html_len, const char *text, size_t text_len,
			struct tpl_error *err)
{
	memset(m, 0, sizeof(*m));
	if (compile_part(subject, subject_len, TPL_HEADER, "subject", &m->subject, err) < 0 ||
	    compile_part(html, html_len, TPL_HTML, "html_content", &m->html, err) < 0)
		goto fail;
	if (text) {
		if (compile_part(text, text_len, TPL_TEXT, "text_content", &m->text, err) < 0)
			goto fail;
	} else {
		struct strbuf derived = STRBUF_INIT;
		int rc = html_to_text(html, html_len, &derived);
		/* The HTML compiled, so its text (tags removed, tags' variables kept) does too. */
		rc = rc < 0 ? -1
			    : compile_part(derived.buf ? derived.buf : "", derived.len, TPL_TEXT,
					   "the text derived from html_content", &m->text, err);
		strbuf_free(&derived);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	if (err->what[0] == '\0')
		snprintf(err->what, sizeof(err->what), "out of memory");
	tpl_message_free(m);
	return -1;
}

void tpl_message_free(struct tpl_message *m)
{
	tpl_free(m->subject);
	tpl_free(m->html);
	tpl_free(m->text);
	memset(m, 0, sizeof(*m));
}

void tpl_error_detail(const struct tpl_error *e, char *buf, size_t size)
{
	snprintf(buf, size, "Template error at line %d, column %d: %s", e->line, e->column, e->what);
}
