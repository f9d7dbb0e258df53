/* The template compiler turns source into a flat list of segments (literal
 * text, or a variable with its optional default) over one private copy of the
 * source, so rendering is a loop of appends and a lookup per variable. */
#include "mail/template.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Where an HTML part puts a value: in text, inside a tag (an attribute), in
 * a URL whose scheme a value could still choose (checked as it renders), in
 * CSS (a <style> element, a style attribute), in a JSON string of an ld+json
 * script, where a value always becomes "#" (other script, srcdoc, on*, <meta>,
 * a URL whose scheme the template already made one we do not allow), or
 * where even an empty value writes "#" (the template's text on both sides of
 * it would make a tag's name or end a script). */
enum seg_place {
	PLACE_TEXT,
	PLACE_ATTRIBUTE,
	PLACE_URL,
	PLACE_CSS,
	PLACE_CSS_ATTRIBUTE,
	PLACE_JSON,
	PLACE_BLOCKED,
	PLACE_HASH,
};

/* How much of a URL is read: whether its scheme is still open, known to be
 * http(s), mailto, tel or none (a relative link), or known to be another. */
enum url_verdict { URL_OPEN, URL_SAFE, URL_UNSAFE };
enum url_at { AT_START, AT_SLASH, AT_NAME };

/* The start of a URL, read a character at a time as a browser would: the
 * template's text around a value and the value itself go through it. */
struct url_scan {
	unsigned char verdict; /* enum url_verdict; URL_UNSAFE stays */
	unsigned char at;      /* enum url_at: nothing yet, one slash, a would-be scheme */
	unsigned char list;    /* blanks, ',' and ';' start another URL (srcset, ping) */
	unsigned char len;     /* of the would-be scheme; past 6 it is none we allow */
	char scheme[6];        /* its first characters, lower case */
};

struct seg {
	enum seg_kind kind;
	uint32_t off, len;         /* literal text, or the custom key (NUL-terminated) */
	uint32_t def_off, def_len; /* the default, when has_default */
	int has_default;
	enum seg_place place;
	/* PLACE_URL: the URL as read up to this value when url_first (else the
	 * scan goes on from the value before), and how much of the next
	 * segment's literal still belongs to the URL; url_more when another
	 * value follows in it. */
	struct url_scan url;
	uint32_t url_after;
	unsigned char url_first, url_more;
	/* Right after '=': written as "" when empty, so the next attribute
	 * does not become this one's value. */
	unsigned char quote_empty;
	/* In a tag in a comment, before '-', '!' or '>': a value ending in '-'
	 * or '!' could end the comment where we read a tag, so it is "#". */
	unsigned char comment_edge;
};

struct tpl {
	enum tpl_part part;
	char *text; /* the source, then each custom key with a NUL, then "&lt;" */
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

/* How many bytes at s[i] make a character a header must not hold, or 0: a
 * C0 control or DEL (1), a C1 control such as NEL (2), U+2028 or U+2029
 * (3); utf8_has_controls() without a newline, saying where. */
static size_t control_len(const char *s, size_t i, size_t len)
{
	const unsigned char *p = (const unsigned char *)s + i;

	if (p[0] < 0x20 || p[0] == 0x7f)
		return 1;
	if (p[0] == 0xc2 && i + 1 < len && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	if (p[0] == 0xe2 && i + 2 < len && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
		return 3;
	return 0;
}

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

static int is_html_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* A URL attribute takes http(s), mailto, tel or a relative link; anything
 * else (javascript:, data:, vbscript:) is refused. What counts is what a
 * browser reads: leading controls and spaces are dropped, and tabs and line
 * breaks anywhere, so "\x01 java\tscript:" is javascript:. */
static int scheme_allowed(const struct url_scan *u)
{
	static const char *const schemes[] = { "http", "https", "mailto", "tel" };

	for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++)
		if (u->len == strlen(schemes[k]) && memcmp(u->scheme, schemes[k], u->len) == 0)
			return 1;
	return 0;
}

static void url_feed(struct url_scan *u, const char *s, size_t len)
{
	for (size_t i = 0; i < len && u->verdict != URL_UNSAFE; i++) {
		char c = s[i];

		if (u->list && (is_html_space(c) || c == ',' || c == ';')) {
			u->verdict = URL_OPEN; /* the next URL of the list starts afresh */
			u->at = AT_START;
			u->len = 0;
			continue;
		}
		if (u->verdict == URL_SAFE || c == '\t' || c == '\n' || c == '\r')
			continue;
		switch (u->at) {
		case AT_START:
			if ((unsigned char)c <= 0x20)
				break;
			if (c == '/' || c == '\\') {
				u->at = AT_SLASH;
			} else if (c == '?' || c == '#') {
				u->verdict = URL_SAFE;
			} else if (c == ':' || c == '&') {
				u->verdict = URL_UNSAFE;
			} else {
				u->at = AT_NAME;
				u->scheme[0] = lower(c);
				u->len = 1;
			}
			break;
		case AT_SLASH:
			/* "//host" (or "\\host", "/\host": browsers read '\' as '/')
			 * takes its scheme from wherever the mail is read; a desktop
			 * client may read it as file://host, so it is not relative. */
			u->verdict = c == '/' || c == '\\' ? URL_UNSAFE : URL_SAFE;
			break;
		case AT_NAME:
			if (c == ':') {
				u->verdict = scheme_allowed(u) ? URL_SAFE : URL_UNSAFE;
			} else if (c == '/' || c == '\\' || c == '?' || c == '#') {
				u->verdict = URL_SAFE; /* no scheme: a relative link */
			} else if (c == '&') {
				/* A character reference ("&colon;", "&#106;") in the
				 * template becomes a character before the URL is read;
				 * one in a value stays text but is refused all the same,
				 * should anything decode the link once more. */
				u->verdict = URL_UNSAFE;
			} else if (u->len <= sizeof(u->scheme)) {
				if (u->len < sizeof(u->scheme))
					u->scheme[u->len] = lower(c);
				u->len++;
			}
			break;
		}
	}
}

/* Enough of an HTML tokenizer to know where a variable lands: the states the
 * HTML standard's tokenizer goes through in a tag, so that blanks around '='
 * or a quote inside an unquoted value read as a browser reads them, and in
 * the text of the elements that hold no tags. */
enum html_state {
	IN_TEXT,
	IN_BOGUS,         /* <!x, <?x, </1: a comment that ends at '>' */
	IN_TAG_NAME,
	BEFORE_ATTR_NAME, /* also after a quoted value or a '/' */
	IN_ATTR_NAME,
	AFTER_ATTR_NAME,  /* blanks after a name: '=' or the next name */
	BEFORE_VALUE,     /* after '=': blanks, then a quote or the value */
	IN_UNQUOTED,
	IN_DOUBLE_QUOTED,
	IN_SINGLE_QUOTED,
	IN_RAW,           /* the text of <script>, <style>, <title> or <textarea> */
};

/* Elements whose text is not read as markup. Every browser and mail client
 * reads the first four so in HTML (script and style as raw text, title and
 * textarea as RCDATA: text with character references, no tags). The others
 * depend on the reader: noscript on whether it runs scripts, xmp, iframe,
 * noembed and noframes on whether it knows them; and inside <svg> or <math>
 * even the first four hold tags, unless a tag there leaves the SVG. */
static const char *const raw_names[] = { "script",  "style",	"title",    "textarea", "xmp",
					 "iframe",  "noembed",	"noframes", "noscript" };
enum { RAW_SCRIPT, RAW_STYLE, RAW_TITLE, RAW_TEXTAREA, RAW_SURE };

/* Where in a raw element's text: the standard's states for it, far enough to
 * know where it ends. For script that takes the "escaped" states "<!--"
 * opens, where a "<script>" hides the next "</script>". */
enum raw_at {
	R_DATA,
	R_LT,         /* '<' */
	R_END,        /* "</" and raw_k letters */
	R_BANG,       /* "<!" */
	R_BANG_DASH,  /* "<!-" */
	R_ESC,        /* after "<!--" */
	R_ESC_DASH,
	R_ESC_DASH_DASH,
	R_ESC_LT,
	R_ESC_END,
	R_DESC_START, /* escaped '<' and raw_k letters */
	R_DESC,       /* after "<script" in the escaped text */
	R_DESC_DASH,
	R_DESC_DASH_DASH,
	R_DESC_LT,
	R_DESC_END,
};

/* Where in a comment: the standard's states, to know the '>' it ends at. */
enum comment_at { C_START, C_START_DASH, C_BODY, C_END_DASH, C_END, C_END_BANG };

/* What an attribute's value is to a browser. */
enum attr_kind {
	ATTR_PLAIN, /* text */
	ATTR_URL,
	ATTR_URLS,  /* URLs separated by blanks, ',' or ';' */
	ATTR_CSS,   /* style */
	/* Script (on*) or a document (srcdoc): the browser decodes our escapes
	 * before it runs or parses the value, so no escaping keeps a contact's
	 * value inert there; also any attribute a variable is part of the name
	 * of, as that name could be either, every attribute of <meta>, and the
	 * URL of what runs or frames (see loaders). A value here becomes "#". */
	ATTR_CODE,
};

/* Every attribute we know of that a browser or mail client loads or follows
 * as a URL: HTML's, the ones old browsers and Outlook still read, and SVG's
 * (href, xlink:href, and the to/from/values an <animate> or <set> can write
 * into an href). */
static const struct {
	const char *name;
	enum attr_kind kind;
} attr_kinds[] = {
	{ "href", ATTR_URL },	   { "src", ATTR_URL },		 { "action", ATTR_URL },
	{ "formaction", ATTR_URL }, { "background", ATTR_URL }, { "poster", ATTR_URL },
	{ "cite", ATTR_URL },	   { "data", ATTR_URL },	 { "xlink:href", ATTR_URL },
	{ "longdesc", ATTR_URL },   { "usemap", ATTR_URL },	 { "dynsrc", ATTR_URL },
	{ "lowsrc", ATTR_URL },	   { "codebase", ATTR_URL },	 { "classid", ATTR_URL },
	{ "code", ATTR_URL },	   { "manifest", ATTR_URL },	 { "icon", ATTR_URL },
	{ "profile", ATTR_URL },   { "xml:base", ATTR_URL },	 { "datasrc", ATTR_URL },
	{ "to", ATTR_URL },	   { "from", ATTR_URL },	 { "srcset", ATTR_URLS },
	{ "imagesrcset", ATTR_URLS }, { "ping", ATTR_URLS },	 { "archive", ATTR_URLS },
	{ "values", ATTR_URLS },   { "attributionsrc", ATTR_URLS }, { "srcdoc", ATTR_CODE },
	{ "style", ATTR_CSS },
};

/* Elements whose URL a value must not choose, even an https one: what they
 * load runs as script or style, frames a page or a plugin, or (base) moves
 * every relative link of the message. */
static const char *const loaders[] = { "script", "link",  "base",   "iframe",
				       "frame",	 "embed", "object", "applet" };

struct builder {
	struct tpl *t;
	size_t cap;
	size_t keys_len;    /* bytes of keys appended after the source */
	size_t lt_off;      /* where "&lt;" is in the text */
	enum html_state html;
	char tag[16];       /* the tag's name, lower case (its first bytes) */
	size_t tag_len;     /* its whole length */
	unsigned char tag_end, tag_var, slash; /* an end tag; a variable in the name; "/>" */
	char attr[16];      /* the attribute's name, lower case (its first bytes) */
	size_t attr_len;    /* its whole length */
	int attr_var;       /* a variable is part of the name */
	enum attr_kind kind; /* of the attribute whose value is being read */
	struct url_scan url; /* its literal so far, for a URL attribute */
	size_t url_last;    /* the last PLACE_URL segment in that value, + 1 */
	size_t value_var;   /* a variable right after '=', + 1: the next character tells */
	size_t open_lt;     /* a '<' that the next variable would end, + 1 */
	/* A <script>'s first type attribute: its value, lower case, whether a
	 * variable is in it (or in an attribute's name before it) */
	char type[32];
	size_t type_len;
	unsigned char type_seen, type_on, type_var;
	/* IN_RAW: the element (raw_names), where in its text, the end tag's
	 * letters so far, and for ld+json whether in a JSON string */
	unsigned char raw, raw_at, raw_match, json, json_str, json_esc;
	size_t raw_k;
	/* Open elements of raw_names the readers disagree on (a bit each), and
	 * how many <svg> and <math> are open */
	unsigned amb;
	size_t svg, math;
	/* In a comment ("<!--"), which Outlook reads the tags in; in a CDATA
	 * section of SVG, which HTML reads as a comment that ends at '>' */
	unsigned char comment, comment_at, cdata;
	size_t edge_var;    /* a variable in a comment, in a tag, + 1 (see comment_edge) */
	/* The readers may no longer agree where the markup is: from here on
	 * every value becomes "#". */
	unsigned char lost;
};

static int name_is(const char *buf, size_t len, int var, const char *name)
{
	size_t n = strlen(name);

	return !var && len == n && memcmp(buf, name, n) == 0;
}

static int tag_is(const struct builder *b, const char *name)
{
	return name_is(b->tag, b->tag_len, b->tag_var, name);
}

static int attr_is(const struct builder *b, const char *name)
{
	return name_is(b->attr, b->attr_len, b->attr_var, name);
}

static enum attr_kind attr_kind(const struct builder *b)
{
	enum attr_kind kind = ATTR_PLAIN;

	if (b->attr_var || (b->attr_len >= 2 && b->attr[0] == 'o' && b->attr[1] == 'n'))
		return ATTR_CODE;
	/* <meta http-equiv="refresh" content="0;url=...">, charset and the
	 * like: nothing there is a contact's to write. */
	if (tag_is(b, "meta"))
		return ATTR_CODE;
	for (size_t k = 0; k < sizeof(attr_kinds) / sizeof(attr_kinds[0]); k++)
		if (attr_is(b, attr_kinds[k].name))
			kind = attr_kinds[k].kind;
	if (kind == ATTR_URL || kind == ATTR_URLS)
		for (size_t k = 0; k < sizeof(loaders) / sizeof(loaders[0]); k++)
			if (tag_is(b, loaders[k]))
				return ATTR_CODE;
	return kind;
}

static void name_char(struct builder *b, char c)
{
	if (b->attr_len < sizeof(b->attr))
		b->attr[b->attr_len] = lower(c);
	b->attr_len++;
}

/* An attribute's name is complete: a <script>'s first "type" (whichever
 * comes first counts, as in browsers) says whether it is ld+json. 1 when
 * this one is it. */
static int name_done(struct builder *b)
{
	if (b->type_seen || b->tag_end || !tag_is(b, "script"))
		return 0;
	if (b->attr_var) { /* this name could be "type" */
		b->type_var = 1;
		return 0;
	}
	b->type_seen = attr_is(b, "type");
	return b->type_seen;
}

static void new_name(struct builder *b, char c)
{
	name_done(b);
	b->html = IN_ATTR_NAME;
	b->attr_len = 0;
	b->attr_var = 0;
	name_char(b, c);
}

static void start_tag(struct builder *b, int end)
{
	b->html = IN_TAG_NAME;
	b->tag_len = 0;
	b->tag_end = (unsigned char)end;
	b->tag_var = 0;
	b->slash = 0;
	b->attr_len = 0;
	b->attr_var = 0;
	b->type_seen = b->type_on = b->type_var = 0;
	b->type_len = 0;
}

static void start_value(struct builder *b)
{
	b->type_on = (unsigned char)name_done(b);
	b->type_len = 0;
	b->html = BEFORE_VALUE;
	b->kind = attr_kind(b);
	memset(&b->url, 0, sizeof(b->url));
	b->url.list = b->kind == ATTR_URLS;
	b->url_last = 0;
}

/* A character of an attribute's value (not the quotes around it). */
static void value_char(struct builder *b, char c)
{
	url_feed(&b->url, &c, 1);
	if (b->type_on) {
		if (b->type_len < sizeof(b->type))
			b->type[b->type_len] = lower(c);
		b->type_len++;
	}
}

/* The value ended i bytes into the literal after the last checked value. */
static void end_value(struct builder *b, size_t i)
{
	if (b->url_last)
		b->t->segs[b->url_last - 1].url_after = (uint32_t)i;
	b->url_last = 0;
	b->type_on = 0;
}

/* Whether the <script> being opened is a JSON-LD data block: its first type
 * attribute, blanks around it dropped, is application/ld+json in any case,
 * and no variable could change that. */
static int ld_json(const struct builder *b)
{
	static const char want[] = "application/ld+json";
	size_t from = 0, to = b->type_len;

	if (!b->type_seen || b->type_var || b->type_len > sizeof(b->type))
		return 0;
	while (from < to && is_html_space(b->type[from]))
		from++;
	while (to > from && is_html_space(b->type[to - 1]))
		to--;
	return to - from == sizeof(want) - 1 && memcmp(b->type + from, want, to - from) == 0;
}

/* The tag ends at '>': what follows may be text no tags are read in. */
static void tag_end(struct builder *b)
{
	size_t k;

	b->html = IN_TEXT;
	name_done(b);
	b->type_on = 0;
	if (b->tag_var || b->tag_len > sizeof(b->tag))
		return;
	if (b->tag_end) {
		if (tag_is(b, "svg") && b->svg > 0)
			b->svg--;
		else if (tag_is(b, "math") && b->math > 0)
			b->math--;
		return;
	}
	if (tag_is(b, "svg") || tag_is(b, "math")) {
		if (!b->slash) /* <svg/> holds nothing */
			*(tag_is(b, "svg") ? &b->svg : &b->math) += 1;
		return;
	}
	for (k = 0; k < sizeof(raw_names) / sizeof(raw_names[0]); k++)
		if (tag_is(b, raw_names[k]))
			break;
	if (k == sizeof(raw_names) / sizeof(raw_names[0]))
		return;
	if (k < RAW_SURE && b->svg + b->math == 0) {
		b->html = IN_RAW;
		b->raw = (unsigned char)k;
		b->raw_at = R_DATA;
		b->json = k == RAW_SCRIPT && ld_json(b);
		b->json_str = b->json_esc = 0;
	} else {
		/* Followed as markup (what the readers that see tags there
		 * read), its values all "#" (safe in the text the others see);
		 * where its end tag is not in text for us, the readers part. */
		b->amb |= 1u << k;
	}
}

static int ends_tag_name(char c)
{
	return is_html_space(c) || c == '/' || c == '>';
}

/* One more letter of the name after "</" (or of "<script" in escaped text). */
static void raw_letter(struct builder *b, char c, const char *name)
{
	if (b->raw_k >= strlen(name) || lower(c) != name[b->raw_k])
		b->raw_match = 0;
	b->raw_k++;
}

/* The element's end tag "</name" is complete at c: read on as a tag. */
static void raw_end(struct builder *b, char c)
{
	const char *name = raw_names[b->raw];

	start_tag(b, 1);
	b->tag_len = strlen(name);
	memcpy(b->tag, name, b->tag_len);
	b->json = 0;
	if (c == '>')
		tag_end(b);
	else
		b->html = BEFORE_ATTR_NAME;
}

/* One character of a raw element's text. */
static void raw_char(struct builder *b, char c)
{
	const char *name = raw_names[b->raw];
	int script = b->raw == RAW_SCRIPT;

	if (b->json) {
		if (b->json_esc)
			b->json_esc = 0;
		else if (b->json_str && c == '\\')
			b->json_esc = 1;
		else if (c == '"')
			b->json_str = !b->json_str;
	}
again:
	switch (b->raw_at) {
	case R_DATA:
		if (c == '<')
			b->raw_at = R_LT;
		break;
	case R_LT:
		if (c == '/') {
			b->raw_at = R_END;
			b->raw_k = 0;
			b->raw_match = 1;
		} else if (c == '!' && script) {
			b->raw_at = R_BANG;
		} else {
			b->raw_at = R_DATA;
			goto again;
		}
		break;
	case R_END:
	case R_ESC_END:
		if (is_alpha(c)) {
			raw_letter(b, c, name);
			break;
		}
		if (b->raw_match && b->raw_k == strlen(name) && ends_tag_name(c)) {
			raw_end(b, c);
			break;
		}
		b->raw_at = b->raw_at == R_END ? R_DATA : R_ESC;
		goto again;
	case R_BANG:
	case R_BANG_DASH:
		if (c != '-') {
			b->raw_at = R_DATA;
			goto again;
		}
		b->raw_at = b->raw_at == R_BANG ? R_BANG_DASH : R_ESC_DASH_DASH;
		break;
	case R_ESC:
	case R_ESC_DASH:
	case R_ESC_DASH_DASH:
		if (c == '-')
			b->raw_at = b->raw_at == R_ESC ? R_ESC_DASH : R_ESC_DASH_DASH;
		else if (c == '<')
			b->raw_at = R_ESC_LT;
		else
			b->raw_at = c == '>' && b->raw_at == R_ESC_DASH_DASH ? R_DATA : R_ESC;
		break;
	case R_ESC_LT:
		b->raw_k = 0;
		b->raw_match = 1;
		if (c == '/') {
			b->raw_at = R_ESC_END;
			break;
		}
		b->raw_at = is_alpha(c) ? R_DESC_START : R_ESC;
		goto again;
	case R_DESC_START:
	case R_DESC_END:
		if (is_alpha(c)) {
			raw_letter(b, c, "script");
		} else {
			int hides = ends_tag_name(c) && b->raw_match && b->raw_k == 6;
			int start = b->raw_at == R_DESC_START;

			/* "<script" starts the hiding, "</script" ends it */
			b->raw_at = (start ? hides : !hides) ? R_DESC : R_ESC;
			if (!ends_tag_name(c))
				goto again;
		}
		break;
	case R_DESC:
	case R_DESC_DASH:
	case R_DESC_DASH_DASH:
		if (c == '-')
			b->raw_at = b->raw_at == R_DESC ? R_DESC_DASH : R_DESC_DASH_DASH;
		else if (c == '<')
			b->raw_at = R_DESC_LT;
		else
			b->raw_at = c == '>' && b->raw_at == R_DESC_DASH_DASH ? R_DATA : R_DESC;
		break;
	case R_DESC_LT:
		if (c == '/') {
			b->raw_at = R_DESC_END;
			b->raw_k = 0;
			b->raw_match = 1;
			break;
		}
		b->raw_at = R_DESC;
		goto again;
	}
}

/* Whether s[i..] is "</name" and a character that ends a tag name, any case. */
static int end_tag_at(const char *s, size_t len, size_t i, const char *name)
{
	size_t n = strlen(name);

	if (len - i < n + 3 || s[i] != '<' || s[i + 1] != '/' || !ends_tag_name(s[i + 2 + n]))
		return 0;
	for (size_t j = 0; j < n; j++)
		if (lower(s[i + 2 + j]) != name[j])
			return 0;
	return 1;
}

/* At s[i], '<': the end tag of an element the readers disagree on. Where we
 * read text they agree again; anywhere else (in a tag, in the text of a
 * script) the ones that end the element there and the ones that do not
 * read what follows differently. */
static void amb_lt(struct builder *b, const char *s, size_t len, size_t i)
{
	for (size_t k = 0; k < sizeof(raw_names) / sizeof(raw_names[0]); k++) {
		if (!(b->amb & (1u << k)) || !end_tag_at(s, len, i, raw_names[k]))
			continue;
		if (b->html == IN_TEXT)
			b->amb &= ~(1u << k);
		else
			b->lost = 1;
	}
}

/* One character of a comment, after the markup in it took it: at the '>'
 * that ends the comment we must be reading text too, as a browser is. */
static void comment_char(struct builder *b, char c)
{
	int end = 0;

	switch (b->comment_at) {
	case C_START:
	case C_START_DASH:
		end = c == '>';
		b->comment_at = c != '-' ? C_BODY : b->comment_at == C_START ? C_START_DASH : C_END;
		break;
	case C_BODY:
		if (c == '-')
			b->comment_at = C_END_DASH;
		break;
	case C_END_DASH:
		b->comment_at = c == '-' ? C_END : C_BODY;
		break;
	case C_END:
		end = c == '>';
		b->comment_at = c == '!' ? C_END_BANG : c == '-' ? C_END : C_BODY;
		break;
	case C_END_BANG:
		end = c == '>';
		b->comment_at = c == '-' ? C_END_DASH : C_BODY;
		break;
	}
	if (end) {
		b->comment = 0;
		if (b->html != IN_TEXT)
			b->lost = 1;
	}
}

/* A '<' in text: a tag, a comment that ends at '>', or text. When the literal
 * ends before that is known, the variable after it would decide; open_lt
 * marks the '<' so that it is written as "&lt;" instead. Returns how many
 * more characters it read: the "!--" of a comment. */
static size_t text_lt(struct builder *b, const char *s, size_t len, size_t i)
{
	static const char cdata[] = "[CDATA[";
	size_t rest = len - i - 1;
	const char *n = s + i + 1;

	if (rest == 0) {
		b->open_lt = i + 1;
	} else if (is_alpha(n[0])) {
		start_tag(b, 0);
	} else if (n[0] == '/') {
		if (rest == 1) {
			b->open_lt = i + 1;
		} else if (is_alpha(n[1])) {
			start_tag(b, 1); /* the '/' is passed over */
		} else if (n[1] != '>') {
			b->html = IN_BOGUS;
		}
	} else if (n[0] == '!') {
		size_t m = rest - 1 < sizeof(cdata) - 1 ? rest - 1 : sizeof(cdata) - 1;
		int in_svg = b->svg + b->math > 0 && memcmp(n + 1, cdata, m) == 0;

		/* "<!--" stays text: Outlook reads what an [if mso] comment
		 * holds as HTML, so the tags in comments are followed too. */
		if (rest >= 3 && n[1] == '-' && n[2] == '-') {
			if (b->comment)
				return 0;
			b->comment = 1;
			b->comment_at = C_START;
			return 3;
		}
		/* In SVG "<![CDATA[" opens text that ends at "]]>". */
		if (rest == 1 || (rest == 2 && n[1] == '-') || (in_svg && m < sizeof(cdata) - 1)) {
			b->open_lt = i + 1;
		} else {
			b->html = IN_BOGUS;
			b->cdata = (unsigned char)in_svg;
		}
	} else if (n[0] == '?') {
		b->html = IN_BOGUS;
	}
	return 0;
}

/* Follow the markup of an HTML literal so the next variable's place is known. */
static void follow_html(struct builder *b, const char *s, size_t len)
{
	if (b->value_var && len > 0 && (is_html_space(s[0]) || s[0] == '"' || s[0] == '\''))
		b->t->segs[b->value_var - 1].quote_empty = 1;
	if (b->edge_var && len > 0 && (s[0] == '-' || s[0] == '!' || s[0] == '>'))
		b->t->segs[b->edge_var - 1].comment_edge = 1;
	b->value_var = 0;
	b->edge_var = 0;
	b->open_lt = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		enum html_state was = b->html;

		if (b->amb && c == '<')
			amb_lt(b, s, len, i);
		switch (b->html) {
		case IN_TEXT:
			if (c == '<') {
				size_t more = text_lt(b, s, len, i);
				if (more) {
					i += more;
					continue;
				}
			}
			break;
		case IN_BOGUS:
			if (c != '>')
				break;
			/* "]]>" ends a CDATA section; an earlier '>' ends it
			 * for HTML only */
			if (b->cdata && !(i >= 2 && s[i - 1] == ']' && s[i - 2] == ']'))
				b->lost = 1;
			b->cdata = 0;
			b->html = IN_TEXT;
			break;
		case IN_TAG_NAME:
			if (c == '/' && b->tag_end && b->tag_len == 0 && !b->tag_var)
				break; /* of "</" */
			if (is_html_space(c) || c == '/')
				b->html = BEFORE_ATTR_NAME;
			else if (c == '>')
				tag_end(b);
			else if (b->tag_len < sizeof(b->tag))
				b->tag[b->tag_len++] = lower(c);
			else
				b->tag_len++;
			break;
		case AFTER_ATTR_NAME:
			if (is_html_space(c))
				break;
			if (c == '=') {
				start_value(b);
				break;
			}
			/* fall through */
		case BEFORE_ATTR_NAME:
			if (is_html_space(c) || c == '/')
				b->html = BEFORE_ATTR_NAME;
			else if (c == '>')
				tag_end(b);
			else
				new_name(b, c); /* even '=' or a quote: they start a name here */
			break;
		case IN_ATTR_NAME:
			if (is_html_space(c))
				b->html = AFTER_ATTR_NAME;
			else if (c == '/')
				b->html = BEFORE_ATTR_NAME;
			else if (c == '>')
				tag_end(b);
			else if (c == '=')
				start_value(b);
			else
				name_char(b, c);
			break;
		case BEFORE_VALUE:
			if (is_html_space(c))
				break;
			if (c == '"') {
				b->html = IN_DOUBLE_QUOTED;
			} else if (c == '\'') {
				b->html = IN_SINGLE_QUOTED;
			} else if (c == '>') {
				tag_end(b);
			} else {
				b->html = IN_UNQUOTED;
				value_char(b, c);
			}
			break;
		case IN_UNQUOTED:
			if (is_html_space(c) || c == '>') {
				end_value(b, i);
				if (c == '>')
					tag_end(b);
				else
					b->html = BEFORE_ATTR_NAME;
			} else {
				value_char(b, c);
			}
			break;
		case IN_DOUBLE_QUOTED:
		case IN_SINGLE_QUOTED:
			if (c == (b->html == IN_DOUBLE_QUOTED ? '"' : '\'')) {
				end_value(b, i);
				b->html = BEFORE_ATTR_NAME;
			} else {
				value_char(b, c);
			}
			break;
		case IN_RAW:
			raw_char(b, c);
			break;
		}
		/* "/>" closes an <svg> at once */
		b->slash = c == '/' && was >= IN_TAG_NAME && was <= AFTER_ATTR_NAME;
		if (b->comment)
			comment_char(b, c);
	}
	if (b->url_last) /* the value goes on past this literal */
		b->t->segs[b->url_last - 1].url_after = (uint32_t)len;
}

/* The place of a value in an attribute's value: a URL whose start the
 * template's own text settles needs no check when rendering. */
static enum seg_place value_place(struct builder *b, size_t seg)
{
	struct seg *s = &b->t->segs[seg];

	if (b->kind == ATTR_PLAIN)
		return PLACE_ATTRIBUTE;
	if (b->kind == ATTR_CSS)
		return PLACE_CSS_ATTRIBUTE;
	if (b->kind == ATTR_CODE)
		return PLACE_BLOCKED;
	if (b->url_last) { /* a value before this one is checked when rendering */
		b->t->segs[b->url_last - 1].url_more = 1;
		b->url_last = seg + 1;
		return PLACE_URL;
	}
	if (b->url.verdict == URL_UNSAFE)
		return PLACE_BLOCKED; /* href="sms:{{phone}}", href="javascript:f('{{x}}')" */
	if (b->url.verdict == URL_SAFE && !b->url.list)
		return PLACE_ATTRIBUTE; /* href="https://shop.test/{{path}}" */
	s->url = b->url;
	s->url_first = 1;
	b->url_last = seg + 1;
	return PLACE_URL;
}

/* A value in the text of a script, style, title or textarea. Where the
 * literal before it stopped inside what could be an end tag ("</scr") or a
 * script's "<!--", the value, even empty, would decide: it is "#", always. */
static enum seg_place raw_place(struct builder *b, int blocked)
{
	enum seg_place p = PLACE_BLOCKED;

	if (b->raw_at != R_DATA || b->json_esc) {
		p = PLACE_HASH;
	} else if (!blocked) {
		if (b->raw == RAW_TITLE || b->raw == RAW_TEXTAREA)
			p = PLACE_TEXT; /* escaped, it cannot end the element */
		else if (b->raw == RAW_STYLE)
			p = PLACE_CSS;
		else if (b->json && b->json_str)
			p = PLACE_JSON;
	}
	raw_char(b, '#'); /* what a non-empty value writes; '#' ends no sequence */
	return p;
}

static enum seg_place html_place(struct builder *b, size_t seg)
{
	int blocked;

	b->slash = 0;
	if (b->comment) {
		/* "--{{x}}>" ends the comment only when x is empty: where we
		 * read text either is fine, else we cannot tell. */
		if (b->comment_at != C_BODY && b->html != IN_TEXT)
			b->lost = 1;
		b->comment_at = C_BODY;
		if (b->html != IN_TEXT)
			b->edge_var = seg + 1;
	}
	blocked = b->lost || b->amb;
	switch (b->html) {
	case IN_TEXT:
	case IN_BOGUS:
		return blocked ? PLACE_BLOCKED : PLACE_TEXT;
	case IN_RAW:
		return raw_place(b, blocked);
	case IN_TAG_NAME:
		/* A value cannot choose the element (<s{{x}}> as <script>),
		 * nor, empty, leave the template's halves to make one. */
		b->tag_var = 1;
		return PLACE_HASH;
	case BEFORE_ATTR_NAME:
	case AFTER_ATTR_NAME:
		name_done(b);
		b->attr_len = 0;
		/* fall through */
	case IN_ATTR_NAME:
		b->html = IN_ATTR_NAME;
		b->attr_var = 1;
		return blocked ? PLACE_BLOCKED : PLACE_ATTRIBUTE;
	case BEFORE_VALUE:
		b->html = IN_UNQUOTED;
		b->value_var = seg + 1;
		break;
	case IN_UNQUOTED:
	case IN_DOUBLE_QUOTED:
	case IN_SINGLE_QUOTED:
		break;
	}
	if (b->type_on)
		b->type_var = 1;
	{
		enum seg_place p = value_place(b, seg);
		return blocked ? PLACE_BLOCKED : p;
	}
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

static int push_text(struct builder *b, size_t off, size_t len)
{
	struct seg *s;

	if (!(s = push(b)))
		return -1;
	s->kind = SEG_LITERAL;
	s->off = (uint32_t)off;
	s->len = (uint32_t)len;
	b->t->literal_bytes += len;
	return 0;
}

/* A literal; before_var when a variable follows it. */
static int push_literal(struct builder *b, size_t off, size_t len, int before_var)
{
	size_t lt;

	if (len == 0)
		return 0;
	if (push_text(b, off, len) < 0)
		return -1;
	if (b->t->part != TPL_HTML)
		return 0;
	follow_html(b, b->t->text + off, len);
	if (!before_var || !b->open_lt)
		return 0;
	/* "<{{x}}" would let a contact's "img src=x onerror=..." open a tag:
	 * the '<' is written "&lt;", which shows the same. */
	lt = b->open_lt - 1;
	b->t->nsegs--; /* pushed again around the '<', no piece empty */
	b->t->literal_bytes -= len;
	if ((lt > 0 && push_text(b, off, lt) < 0) || push_text(b, b->lt_off, 4) < 0 ||
	    (lt + 1 < len && push_text(b, off + lt + 1, len - lt - 1) < 0))
		return -1;
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
	b->value_var = 0; /* a variable right after another: no character tells */
	if (b->edge_var) /* nor whether the comment ends */
		b->t->segs[b->edge_var - 1].comment_edge = 1;
	b->edge_var = 0;
	s->place = b->t->part == TPL_HTML ? html_place(b, b->t->nsegs - 1) : PLACE_TEXT;
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
			if (control_len(src, k, len) > 0)
				return fail_at(src, k, err, "a subject is one line without control characters");
	/* Each key is shorter than its tag: the keys fit in len bytes after the
	 * source's NUL, and "&lt;" goes after them. */
	if (!(b.t = calloc(1, sizeof(*b.t))) || !(b.t->text = malloc(2 * len + 2 + 4))) {
		free(b.t);
		return fail_at(src, 0, err, "out of memory");
	}
	b.t->part = part;
	memcpy(b.t->text, src, len);
	b.t->text[len] = '\0';
	b.lt_off = 2 * len + 2;
	memcpy(b.t->text + b.lt_off, "&lt;", 4);
	while (i + 1 < len) {
		size_t end = 0;
		if (src[i] != '{' || src[i + 1] != '{') {
			i++;
			continue;
		}
		if (push_literal(&b, lit, i - lit, 1) < 0 || parse_tag(&b, src, len, i, &end, err) < 0) {
			if (err->what[0] == '\0')
				fail_at(src, i, err, "out of memory");
			tpl_free(b.t);
			return -1;
		}
		i = lit = end;
	}
	if (push_literal(&b, lit, len - lit, 0) < 0) {
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
 * unquoted attribute value (every HTML blank) and start another attribute. */
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
		case '\f': rep = in_tag ? "&#12;" : NULL; break;
		case '\r': rep = in_tag ? "&#13;" : NULL; break;
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

/* A header stays on one line: control characters (C0, DEL, C1 such as NEL,
 * U+2028 and U+2029, which some clients break lines at) become spaces. */
static void append_header(struct strbuf *out, const char *s, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t n;

		if ((c >= 0x20 && c != 0x7f && c != 0xc2 && c != 0xe2) || !(n = control_len(s, i, len)))
			continue;
		strbuf_append(out, s + run, i - run);
		strbuf_appendc(out, ' ');
		i += n - 1;
		run = i + 1;
	}
	strbuf_append(out, s + run, len - run);
}

/* CSS takes a value only as one plain token: a colour, a size, a font's
 * name ("#f43f5e", "12px", "Helvetica Neue, Arial"). Without '(', ':', ';',
 * quotes, backslashes, '/' or braces it can neither load anything (url(),
 * image-set(), @import), add a property or rule, nor end the element or the
 * attribute. */
static int css_token(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != ' ' && c != '#' && c != '.' &&
		    c != ',' && c != '%' && c != '-')
			return 0;
	}
	return 1;
}

/* Escape for a JSON string in a <script type="application/ld+json">: quote
 * and backslash, controls, and '<', '>', '&', '\'' and U+2028/U+2029 as
 * \uXXXX, so that nothing in it can end the script or its string. */
static void append_json(struct strbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = { '\\', 'u', '0', '0', 0, 0, 0 };
		size_t n = 6;

		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&' || c == '\'') {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		} else if (control_len(s, i, len) == 3) {
			memcpy(esc + 2, s[i + 2] == '\xa8' ? "2028" : "2029", 4);
		} else {
			continue;
		}
		strbuf_append(out, s + run, i - run);
		strbuf_append(out, esc, n);
		i += c == 0xe2 ? 2 : 0;
		run = i + 1;
	}
	strbuf_append(out, s + run, len - run);
}

/* Whether a value may go where segment i is, the URL read so far being *url:
 * the value and then the template's text after it, up to where the URL ends
 * (the values after it taken as empty, so their defaults count), must leave
 * the URL's scheme one we allow. *url goes on past what is written. */
static int url_value_allowed(const struct tpl *t, size_t i, struct url_scan *url, const char *s,
			     size_t len)
{
	struct url_scan with = *url, ahead;

	url_feed(&with, s, len);
	ahead = with;
	for (size_t k = i; ahead.verdict == URL_OPEN;) {
		const struct seg *g = &t->segs[k];

		if (g->url_after > 0)
			url_feed(&ahead, t->text + t->segs[k + 1].off, g->url_after);
		if (!g->url_more)
			break;
		k += g->url_after > 0 ? 2 : 1;
		if (t->segs[k].has_default)
			url_feed(&ahead, t->text + t->segs[k].def_off, t->segs[k].def_len);
	}
	if (ahead.verdict == URL_UNSAFE) {
		url_feed(url, "#", 1);
		return 0;
	}
	*url = with;
	return 1;
}

static void append_value(const struct tpl *t, size_t i, struct url_scan *url, struct strbuf *out,
			 const char *s, size_t len)
{
	switch (t->part) {
	case TPL_HTML:
		if (t->segs[i].comment_edge && (s[len - 1] == '-' || s[len - 1] == '!')) {
			if (t->segs[i].place == PLACE_URL)
				url_feed(url, "#", 1);
			strbuf_appendc(out, '#');
			break;
		}
		switch (t->segs[i].place) {
		case PLACE_TEXT: append_html(out, s, len, 0); break;
		case PLACE_ATTRIBUTE: append_html(out, s, len, 1); break;
		case PLACE_URL:
			if (url_value_allowed(t, i, url, s, len))
				append_html(out, s, len, 1);
			else
				strbuf_appendc(out, '#');
			break;
		case PLACE_CSS:
		case PLACE_CSS_ATTRIBUTE:
			if (!css_token(s, len))
				strbuf_appendc(out, '#');
			else if (t->segs[i].place == PLACE_CSS)
				strbuf_append(out, s, len); /* raw text: no references there */
			else
				append_html(out, s, len, 1);
			break;
		case PLACE_JSON: append_json(out, s, len); break;
		case PLACE_BLOCKED:
		case PLACE_HASH: strbuf_appendc(out, '#'); break;
		}
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
	struct url_scan url = { 0 }; /* the URL the PLACE_URL values are in */

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
		if (s->place == PLACE_HASH) {
			strbuf_appendc(out, '#');
			continue;
		}
		if (val && s->kind != SEG_CUSTOM)
			len = strlen(val);
		if (s->place == PLACE_URL) {
			if (s->url_first)
				url = s->url;
			else if (t->segs[i - 1].kind == SEG_LITERAL) /* all of it is in the URL */
				url_feed(&url, t->text + t->segs[i - 1].off, t->segs[i - 1].len);
		}
		if (val && len > 0) {
			append_value(t, i, &url, out, val, len);
		} else if (s->has_default && s->def_len > 0) {
			/* the author's own text, like the literal around it */
			strbuf_append(out, t->text + s->def_off, s->def_len);
			if (s->place == PLACE_URL)
				url_feed(&url, t->text + s->def_off, s->def_len);
		} else if (s->quote_empty) {
			strbuf_append(out, "\"\"", 2);
		}
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
