/* A small HTML reader for email bodies: not a browser, but it knows what an
 * email's markup means for a reader (blocks, line breaks, cells, links, hidden
 * preheaders) and leaves template variables as they are. */
#include "mail/html_text.h"

#include <string.h>
#include <strings.h>

#define MAX_TAG_NAME 16
#define MAX_HREF 2048

struct emitter {
	struct strbuf *out;
	int pending_space;
	int pending_newlines;
};

static int at_line_start(const struct emitter *e)
{
	return e->out->len == 0 || e->out->buf[e->out->len - 1] == '\n';
}

static void flush(struct emitter *e)
{
	if (e->pending_newlines && e->out->len > 0) {
		while (e->out->len > 0 && e->out->buf[e->out->len - 1] == ' ')
			e->out->buf[--e->out->len] = '\0';
		strbuf_append(e->out, "\n\n", e->pending_newlines > 1 ? 2 : 1);
	} else if (e->pending_space && !at_line_start(e)) {
		strbuf_appendc(e->out, ' ');
	}
	e->pending_space = 0;
	e->pending_newlines = 0;
}

static void emit(struct emitter *e, const char *s, size_t len)
{
	flush(e);
	strbuf_append(e->out, s, len);
}

static void space(struct emitter *e)
{
	e->pending_space = 1;
}

static void newlines(struct emitter *e, int n)
{
	if (n > e->pending_newlines)
		e->pending_newlines = n;
	e->pending_space = 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Offset of needle (case-insensitive) in h[from..len), or len. */
static size_t find_ci(const char *h, size_t len, size_t from, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = from; i + n <= len; i++)
		if (strncasecmp(h + i, needle, n) == 0)
			return i;
	return len;
}

static void put_utf8(struct emitter *e, unsigned long cp)
{
	char b[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp == 0xa0 || cp == '\t' || cp == '\n' || cp == '\r') {
		space(e);
		return;
	}
	/* zero-width characters pad preheaders; a reader never sees them */
	if (cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0x34f || cp == 0xfeff || cp == 0xad)
		return;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	emit(e, b, n);
}

static const struct {
	const char *name;
	unsigned long cp;
} entities[] = {
	{ "amp", '&' },       { "lt", '<' },        { "gt", '>' },        { "quot", '"' },
	{ "apos", '\'' },     { "nbsp", 0xa0 },     { "copy", 0xa9 },     { "reg", 0xae },
	{ "trade", 0x2122 },  { "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
	{ "rsquo", 0x2019 },  { "lsquo", 0x2018 },  { "rdquo", 0x201d }, { "ldquo", 0x201c },
	{ "middot", 0xb7 },   { "bull", 0x2022 },   { "euro", 0x20ac },  { "pound", 0xa3 },
	{ "zwnj", 0x200c },   { "zwj", 0x200d },    { "shy", 0xad },     { "rarr", 0x2192 },
};

/* Decode the entity at h[i] ('&'); the bytes consumed, or 0 when it is none. */
static size_t entity(struct emitter *e, const char *h, size_t len, size_t i)
{
	size_t j = i + 1, end;
	unsigned long cp = 0;

	for (end = j; end < len && end - i < 12 && h[end] != ';'; end++)
		if (!is_alnum(h[end]) && h[end] != '#')
			return 0;
	if (end >= len || h[end] != ';' || end == j)
		return 0;
	if (h[j] == '#') {
		int hex = j + 1 < end && (h[j + 1] == 'x' || h[j + 1] == 'X');
		size_t k = j + 1 + (size_t)hex;
		if (k == end)
			return 0;
		for (; k < end; k++) {
			char c = h[k];
			int d = c >= '0' && c <= '9' ? c - '0'
				: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
							      : -1;
			if (d < 0)
				return 0;
			cp = cp * (hex ? 16 : 10) + (unsigned long)d;
			if (cp > 0x10ffff)
				cp = 0x110000;
		}
		put_utf8(e, cp);
		return end - i + 1;
	}
	for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]); k++)
		if (strlen(entities[k].name) == end - j && memcmp(entities[k].name, h + j, end - j) == 0) {
			put_utf8(e, entities[k].cp);
			return end - i + 1;
		}
	return 0;
}

/* Attribute text (a link, an image's alt) with its entities decoded. */
static void emit_decoded(struct emitter *e, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = s[i] == '&' ? entity(e, s, len, i) : 0;
		if (n == 0)
			emit(e, s + i, 1);
		i += n ? n : 1;
	}
}

struct tag {
	char name[MAX_TAG_NAME + 1];
	int closing;
	int self_closing;
	int hidden;
	const char *href; /* into the source */
	size_t href_len;
	const char *alt;
	size_t alt_len;
	size_t end; /* offset after '>' */
};

/* "display:none" in a style attribute, spaces ignored. */
static int hides(const char *v, size_t len)
{
	char squeezed[256];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < sizeof(squeezed); i++)
		if (!is_space(v[i]))
			squeezed[n++] = v[i];
	squeezed[n] = '\0';
	return find_ci(squeezed, n, 0, "display:none") < n;
}

/* Read the tag at h[i] ('<'); 0 when it is not a tag (a lone '<'). */
static int read_tag(const char *h, size_t len, size_t i, struct tag *t)
{
	size_t j = i + 1, n = 0;

	memset(t, 0, sizeof(*t));
	if (j < len && h[j] == '/') {
		t->closing = 1;
		j++;
	}
	if (j >= len || !((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z')))
		return 0;
	while (j < len && is_alnum(h[j])) {
		if (n < MAX_TAG_NAME)
			t->name[n++] = (char)(h[j] | 0x20);
		j++;
	}
	t->name[n] = '\0';
	while (j < len && h[j] != '>') {
		size_t a0, a1, v0 = 0, v1 = 0;
		if (is_space(h[j]) || h[j] == '/') {
			if (h[j] == '/')
				t->self_closing = 1;
			j++;
			continue;
		}
		t->self_closing = 0;
		a0 = j;
		while (j < len && !is_space(h[j]) && h[j] != '=' && h[j] != '>' && h[j] != '/')
			j++;
		a1 = j;
		while (j < len && is_space(h[j]))
			j++;
		if (j < len && h[j] == '=') {
			j++;
			while (j < len && is_space(h[j]))
				j++;
			if (j < len && (h[j] == '"' || h[j] == '\'')) {
				char q = h[j++];
				v0 = j;
				while (j < len && h[j] != q)
					j++;
				v1 = j;
				if (j < len)
					j++;
			} else {
				v0 = j;
				while (j < len && !is_space(h[j]) && h[j] != '>')
					j++;
				v1 = j;
			}
		}
		if (a1 - a0 == 4 && strncasecmp(h + a0, "href", 4) == 0) {
			t->href = h + v0;
			t->href_len = v1 - v0;
		} else if (a1 - a0 == 3 && strncasecmp(h + a0, "alt", 3) == 0) {
			t->alt = h + v0;
			t->alt_len = v1 - v0;
		} else if (a1 - a0 == 5 && strncasecmp(h + a0, "style", 5) == 0) {
			t->hidden |= hides(h + v0, v1 - v0);
		} else if (a1 - a0 == 6 && strncasecmp(h + a0, "hidden", 6) == 0) {
			t->hidden = 1;
		}
	}
	t->end = j < len ? j + 1 : len;
	return 1;
}

static int named(const struct tag *t, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(t->name, *names) == 0)
			return 1;
	return 0;
}

/* Offset after the element whose start tag ends at from, counting nested
 * elements of the same name. */
static size_t skip_element(const char *h, size_t len, size_t from, const char *name)
{
	int depth = 1;
	size_t i = from;
	struct tag t;

	while (i < len) {
		if (h[i] == '<' && read_tag(h, len, i, &t)) {
			if (strcmp(t.name, name) == 0 && !t.self_closing)
				depth += t.closing ? -1 : 1;
			i = t.end;
			if (depth == 0)
				return i;
			continue;
		}
		i++;
	}
	return len;
}

static const char *const paragraph_tags[] = { "p", "h1", "h2", "h3", "h4", "h5", "h6", "table",
					      "hr", "blockquote", "ul", "ol", NULL };
static const char *const line_tags[] = { "br", "div", "tr", "li", "section", "header", "footer",
					 "article", "center", "address", NULL };
static const char *const void_tags[] = { "br", "hr", "img", "meta", "link", "input", "col",
					 "wbr", "source", "area", "base", NULL };

int html_to_text(const char *h, size_t len, struct strbuf *out)
{
	struct emitter e = { out, 0, 0 };
	const char *href = NULL;
	size_t href_len = 0, link_start = 0, i = 0;

	while (i < len) {
		char c = h[i];
		struct tag t;

		if (c == '{' && i + 1 < len && h[i + 1] == '{') { /* a variable, kept whole */
			size_t end = i + 2;
			while (end + 1 < len && !(h[end] == '}' && h[end + 1] == '}'))
				end++;
			end = end + 1 < len ? end + 2 : len;
			emit(&e, h + i, end - i);
			i = end;
			continue;
		}
		if (c == '&') {
			size_t n = entity(&e, h, len, i);
			if (n) {
				i += n;
				continue;
			}
		}
		if (c != '<') {
			if (is_space(c))
				space(&e);
			else
				emit(&e, &c, 1);
			i++;
			continue;
		}
		if (i + 3 < len && memcmp(h + i, "<!--", 4) == 0) {
			size_t end = find_ci(h, len, i + 4, "-->");
			i = end < len ? end + 3 : len;
			continue;
		}
		if (i + 1 < len && (h[i + 1] == '!' || h[i + 1] == '?')) {
			const char *gt = memchr(h + i, '>', len - i);
			i = gt ? (size_t)(gt - h) + 1 : len;
			continue;
		}
		if (!read_tag(h, len, i, &t)) {
			emit(&e, "<", 1);
			i++;
			continue;
		}
		i = t.end;
		if (!t.closing && (strcmp(t.name, "head") == 0 || strcmp(t.name, "style") == 0 ||
				   strcmp(t.name, "script") == 0 || strcmp(t.name, "title") == 0)) {
			size_t end = find_ci(h, len, i, strcmp(t.name, "head") == 0     ? "</head"
							: strcmp(t.name, "style") == 0  ? "</style"
							: strcmp(t.name, "script") == 0 ? "</script"
											: "</title");
			const char *gt = end < len ? memchr(h + end, '>', len - end) : NULL;
			i = gt ? (size_t)(gt - h) + 1 : len;
			continue;
		}
		if (!t.closing && t.hidden) {
			if (!t.self_closing && !named(&t, void_tags))
				i = skip_element(h, len, i, t.name);
			continue;
		}
		if (strcmp(t.name, "a") == 0) {
			if (!t.closing) {
				flush(&e);
				href = t.href;
				href_len = t.href_len;
				link_start = out->len;
			} else if (href) {
				const char *text = out->buf ? out->buf + link_start : "";
				size_t text_len = out->len - link_start;
				while (text_len > 0 && is_space(*text)) {
					text++;
					text_len--;
				}
				if (href_len > 0 && href_len <= MAX_HREF && href[0] != '#' &&
				    !(text_len == href_len && memcmp(text, href, href_len) == 0)) {
					if (text_len > 0)
						space(&e);
					emit(&e, "(", 1);
					emit_decoded(&e, href, href_len);
					emit(&e, ")", 1);
				}
				href = NULL;
			}
			continue;
		}
		if (strcmp(t.name, "img") == 0 && t.alt_len > 0) {
			space(&e);
			emit_decoded(&e, t.alt, t.alt_len);
			space(&e);
			continue;
		}
		if (strcmp(t.name, "td") == 0 || strcmp(t.name, "th") == 0) {
			space(&e);
			continue;
		}
		if (named(&t, paragraph_tags)) {
			newlines(&e, 2);
		} else if (named(&t, line_tags)) {
			newlines(&e, 1);
			if (!t.closing && strcmp(t.name, "li") == 0) {
				emit(&e, "-", 1);
				space(&e);
			}
		}
	}
	return out->oom ? -1 : 0;
}
