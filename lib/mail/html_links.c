/* A small tag scanner rather than an HTML parser: mail HTML is often broken,
 * and all we need is the href values of <a> and <area>, each value's exact
 * span, so that everything else is copied untouched. A tag we cannot read to
 * its end (an unclosed quote) is left as it is, and so is the rest. */
#include "mail/html_links.h"

#include <string.h>
#include <strings.h>

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* s[0..len) starts with word (lower case), case-insensitively. */
static int starts_ci(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	if (len < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != word[i])
			return 0;
	return 1;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void put_utf8(struct strbuf *sb, unsigned long cp)
{
	if (cp < 0x80) {
		strbuf_appendc(sb, (char)cp);
	} else if (cp < 0x800) {
		strbuf_appendc(sb, (char)(0xc0 | cp >> 6));
		strbuf_appendc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		strbuf_appendc(sb, (char)(0xe0 | cp >> 12));
		strbuf_appendc(sb, (char)(0x80 | (cp >> 6 & 0x3f)));
		strbuf_appendc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		strbuf_appendc(sb, (char)(0xf0 | cp >> 18));
		strbuf_appendc(sb, (char)(0x80 | (cp >> 12 & 0x3f)));
		strbuf_appendc(sb, (char)(0x80 | (cp >> 6 & 0x3f)));
		strbuf_appendc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

/* An attribute value with the entities a link can carry decoded (&amp; and
 * friends, &#N; and &#xH;); anything else is kept as written. */
static void decode_value(const char *s, size_t len, struct strbuf *out)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
		      { "apos;", '\'' } };

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '&') {
			strbuf_appendc(out, s[i]);
			continue;
		}
		if (i + 2 < len && s[i + 1] == '#') {
			size_t j = i + 2;
			int hex = j < len && (s[j] == 'x' || s[j] == 'X');
			unsigned long cp = 0;
			size_t digits = 0;
			if (hex)
				j++;
			for (; j < len && digits < 8; j++, digits++) {
				int d = hex ? hex_digit(s[j]) : (s[j] >= '0' && s[j] <= '9' ? s[j] - '0' : -1);
				if (d < 0)
					break;
				cp = cp * (hex ? 16 : 10) + (unsigned long)d;
			}
			if (digits && j < len && s[j] == ';' && cp > 0 && cp <= 0x10ffff &&
			    !(cp >= 0xd800 && cp <= 0xdfff)) {
				put_utf8(out, cp);
				i = j;
				continue;
			}
		} else {
			size_t k;
			for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
				size_t n = strlen(named[k].name);
				if (i + 1 + n <= len && memcmp(s + i + 1, named[k].name, n) == 0) {
					strbuf_appendc(out, named[k].c);
					i += n;
					break;
				}
			}
			if (k < sizeof(named) / sizeof(named[0]))
				continue;
		}
		strbuf_appendc(out, '&');
	}
}

static void escape_value(const char *s, size_t len, struct strbuf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '&')
			strbuf_appends(out, "&amp;");
		else if (s[i] == '"')
			strbuf_appends(out, "&quot;");
		else if (s[i] == '<')
			strbuf_appends(out, "&lt;");
		else if (s[i] == '>')
			strbuf_appends(out, "&gt;");
		else
			strbuf_appendc(out, s[i]);
	}
}

/* Where the tag that starts at html[i] == '<' names a link: the length of
 * "<a" or "<area" when followed by a space, '/' or '>', else 0. */
static size_t link_tag(const char *html, size_t len, size_t i)
{
	const char *p = html + i + 1;
	size_t rest = len - i - 1, n;

	if (starts_ci(p, rest, "area"))
		n = 4;
	else if (starts_ci(p, rest, "a"))
		n = 1;
	else
		return 0;
	if (rest == n || !(is_space(p[n]) || p[n] == '/' || p[n] == '>'))
		return 0;
	return n + 1;
}

/* Scan the attributes from html[*pos]; the first href's value span
 * [*vs, *ve) (quotes included) when there is one. Leaves *pos after the tag's
 * '>'. 1 with an href, 0 without, -1 when the tag does not end. */
static int scan_attrs(const char *html, size_t len, size_t *pos, size_t *vs, size_t *ve)
{
	size_t i = *pos;
	int found = 0;

	for (;;) {
		size_t ns, ne, s, e;
		while (i < len && (is_space(html[i]) || html[i] == '/'))
			i++;
		if (i >= len)
			return -1;
		if (html[i] == '>') {
			*pos = i + 1;
			return found;
		}
		ns = i;
		while (i < len && !is_space(html[i]) && html[i] != '=' && html[i] != '>' &&
		       html[i] != '/')
			i++;
		ne = i;
		if (ne == ns) /* a lone '=' */
			ne = ++i;
		while (i < len && is_space(html[i]))
			i++;
		if (i >= len || html[i] != '=')
			continue; /* an attribute without a value */
		i++;
		while (i < len && is_space(html[i]))
			i++;
		if (i >= len)
			return -1;
		s = i;
		if (html[i] == '"' || html[i] == '\'') {
			const char *close = memchr(html + i + 1, html[i], len - i - 1);
			if (!close)
				return -1;
			i = (size_t)(close - html) + 1;
		} else {
			while (i < len && !is_space(html[i]) && html[i] != '>')
				i++;
		}
		e = i;
		if (!found && ne - ns == 4 && starts_ci(html + ns, 4, "href")) {
			*vs = s;
			*ve = e;
			found = 1;
		}
	}
}

long html_links_rewrite(const char *html, size_t len, html_link_fn fn, void *arg,
			struct strbuf *out)
{
	struct strbuf url = STRBUF_INIT, repl = STRBUF_INIT;
	size_t i = 0, copied = 0;
	long replaced = 0;

	while (i < len) {
		const char *lt = memchr(html + i, '<', len - i);
		size_t tag, pos, vs = 0, ve = 0, us, ue;
		int rc;

		if (!lt)
			break;
		i = (size_t)(lt - html);
		tag = link_tag(html, len, i);
		if (!tag) {
			i++;
			continue;
		}
		pos = i + tag;
		rc = scan_attrs(html, len, &pos, &vs, &ve);
		if (rc < 0)
			break; /* an unfinished tag: the rest goes as it is */
		i = pos;
		if (rc == 0)
			continue;
		us = vs;
		ue = ve;
		if (html[us] == '"' || html[us] == '\'') {
			us++;
			ue--;
		}
		strbuf_reset(&url);
		decode_value(html + us, ue - us, &url);
		{
			const char *u = url.buf ? url.buf : "";
			size_t ul = url.len;
			while (ul && is_space(*u)) {
				u++;
				ul--;
			}
			while (ul && is_space(u[ul - 1]))
				ul--;
			strbuf_reset(&repl);
			rc = fn(arg, u, ul, &repl);
		}
		if (rc < 0 || url.oom || repl.oom) {
			replaced = -1;
			goto out;
		}
		if (rc == 0)
			continue;
		strbuf_append(out, html + copied, vs - copied);
		strbuf_appendc(out, '"');
		escape_value(repl.buf ? repl.buf : "", repl.len, out);
		strbuf_appendc(out, '"');
		copied = ve;
		replaced++;
	}
	strbuf_append(out, html + copied, len - copied);
out:
	if (out->oom)
		replaced = -1;
	strbuf_free(&url);
	strbuf_free(&repl);
	return replaced;
}

int html_link_trackable(const char *url, size_t len, const char *skip)
{
	size_t skip_len = skip ? strlen(skip) : 0;

	if (len == 0 || len > HTML_LINK_MAX)
		return 0;
	if (!starts_ci(url, len, "http://") && !starts_ci(url, len, "https://"))
		return 0;
	/* a host must follow the scheme */
	{
		size_t at = starts_ci(url, len, "https://") ? 8 : 7;
		if (at >= len || url[at] == '/' || url[at] == '?' || url[at] == '#')
			return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c == 0x7f)
			return 0;
	}
	if (skip_len && len >= skip_len && strncasecmp(url, skip, skip_len) == 0)
		return 0;
	return 1;
}

int html_links_add_pixel(const char *html, size_t len, const char *src, struct strbuf *out)
{
	size_t at = len;

	for (size_t i = len; i-- > 0;) {
		if (html[i] == '<' && starts_ci(html + i, len - i, "</body")) {
			at = i;
			break;
		}
	}
	strbuf_append(out, html, at);
	strbuf_appends(out, "<img src=\"");
	escape_value(src, strlen(src), out);
	strbuf_appends(out, "\" width=\"1\" height=\"1\" alt=\"\" border=\"0\""
			    " style=\"display:block;width:1px;height:1px;border:0\">");
	strbuf_append(out, html + at, len - at);
	return out->oom ? -1 : 0;
}
