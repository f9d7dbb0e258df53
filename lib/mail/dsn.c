/* Bounce and complaint reports, read leniently: what a relay writes is not
 * ours to reject, only to understand or ignore. Every scan is linear in the
 * input times the nesting depth (capped), and fields are cut to fixed buffers. */
#include "mail/dsn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/uuid.h"

struct walk {
	struct dsn_report *out;
	enum dsn_kind status_kind; /* the worst recipient of the delivery-status parts */
	int status_seen;           /* a recipient block has filled the status fields */
	int feedback;              /* a feedback report named a complaint */
	int original_seen;         /* the returned message's headers were read */
	int parts;
};

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The line starting at i: its content ends at the returned offset (CR LF or
 * LF excluded), and *next is where the following line starts. */
static size_t line_end(const char *s, size_t len, size_t i, size_t *next)
{
	const char *nl = memchr(s + i, '\n', len - i);
	size_t end = nl ? (size_t)(nl - s) : len;

	*next = nl ? end + 1 : len;
	if (end > i && s[end - 1] == '\r')
		end--;
	return end;
}

/* Where the body starts: after the first empty line; len when there is none
 * (all header); 0 when the text starts with one. */
static size_t header_end(const char *s, size_t len)
{
	size_t i = 0, next;

	while (i < len) {
		size_t end = line_end(s, len, i, &next);
		if (end == i)
			return next;
		i = next;
	}
	return len;
}

/* Append c to out (size bytes, *n used), printable ASCII only; a run of
 * white space (folding's too) becomes one space, none leads. */
static void put(char *out, size_t size, size_t *n, char c)
{
	if (*n + 1 >= size || (c == ' ' && (*n == 0 || out[*n - 1] == ' ')))
		return;
	out[(*n)++] = (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?';
}

static void trim(char *out, size_t *n)
{
	size_t start = 0;

	while (*n > 0 && out[*n - 1] == ' ')
		(*n)--;
	while (start < *n && out[start] == ' ')
		start++;
	memmove(out, out + start, *n - start);
	*n -= start;
	out[*n] = '\0';
}

/* The first field called name (any case) of the header block s[0..len),
 * unfolded, trimmed and cleaned into out. 1 when found, else 0 (out empty). */
static int field(const char *s, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), i = 0, next, n = 0;
	int in = 0, found = 0;

	out[0] = '\0';
	while (i < len) {
		size_t end = line_end(s, len, i, &next);
		if (end == i)
			break;
		if (in && is_wsp(s[i])) {
			put(out, size, &n, ' ');
			for (size_t k = i; k < end; k++)
				put(out, size, &n, is_wsp(s[k]) ? ' ' : s[k]);
		} else if (in) {
			break;
		} else if (!is_wsp(s[i]) && end - i > nlen && strncasecmp(s + i, name, nlen) == 0) {
			size_t k = i + nlen;
			while (k < end && is_wsp(s[k]))
				k++;
			if (k < end && s[k] == ':') {
				in = found = 1;
				for (k++; k < end; k++)
					put(out, size, &n, is_wsp(s[k]) ? ' ' : s[k]);
			}
		}
		i = next;
	}
	trim(out, &n);
	return found;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* The media type of a Content-Type value ("multipart/report"), lower case. */
static void media_type(const char *ct, char *out, size_t size)
{
	size_t n = 0;

	for (; *ct && *ct != ';' && *ct != '(' && n + 1 < size; ct++)
		if (*ct != ' ')
			out[n++] = *ct;
	out[n] = '\0';
	lower(out);
}

/* A parameter of a Content-Type value (token or quoted string) into out;
 * 1 when present. */
static int param(const char *ct, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = strchr(ct, ';');

	out[0] = '\0';
	while (p) {
		size_t n = 0;
		p++;
		while (*p == ' ')
			p++;
		if (strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen;
			while (*v == ' ')
				v++;
			if (*v == '=') {
				v++;
				while (*v == ' ')
					v++;
				if (*v == '"') {
					for (v++; *v && *v != '"'; v++) {
						if (*v == '\\' && v[1])
							v++;
						if (n + 1 < size)
							out[n++] = *v;
					}
				} else {
					for (; *v && *v != ';' && *v != ' '; v++)
						if (n + 1 < size)
							out[n++] = *v;
				}
				out[n] = '\0';
				return 1;
			}
		}
		/* On to the next ';' outside a quoted string. */
		for (int q = 0; *p && (q || *p != ';'); p++) {
			if (*p == '\\' && q && p[1])
				p++;
			else if (*p == '"')
				q = !q;
		}
		p = *p == ';' ? p : NULL;
	}
	return 0;
}

static int b64_value(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
		: c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* A body decoded by its Content-Transfer-Encoding into a new buffer (never
 * longer than the input; freed by the caller), or NULL to read it as is. */
static char *decode(const char *cte, const char *s, size_t len, size_t *out_len)
{
	char *out;
	size_t n = 0;

	if (strcasecmp(cte, "base64") != 0 && strcasecmp(cte, "quoted-printable") != 0)
		return NULL;
	if (!(out = malloc(len + 1)))
		return NULL;
	if (strcasecmp(cte, "base64") == 0) {
		unsigned acc = 0, bits = 0;
		for (size_t i = 0; i < len && s[i] != '='; i++) {
			int v = b64_value(s[i]);
			if (v < 0)
				continue; /* line ends and stray bytes */
			acc = (acc << 6 | (unsigned)v) & 0xffffff;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[n++] = (char)(acc >> bits & 0xff);
			}
		}
	} else {
		for (size_t i = 0; i < len; i++) {
			int hi, lo;
			if (s[i] != '=') {
				out[n++] = s[i];
			} else if (i + 1 < len && s[i + 1] == '\n') {
				i++;
			} else if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
				i += 2;
			} else if (i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
				   (lo = hex_value(s[i + 2])) >= 0) {
				out[n++] = (char)(hi << 4 | lo);
				i += 2;
			} else {
				out[n++] = s[i];
			}
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* "rfc822; <Ann@Example.com>" → "Ann@Example.com". */
static void address_of(const char *v, char *out, size_t size)
{
	const char *semi = strchr(v, ';'), *p = semi ? semi + 1 : v;
	size_t n = 0;

	while (*p == ' ' || *p == '<')
		p++;
	for (; *p && *p != '>' && *p != ' ' && n + 1 < size; p++)
		out[n++] = *p;
	out[n] = '\0';
}

/* "5.1.1 (user unknown)" → "5.1.1"; empty unless class.subject.detail. */
static void status_of(const char *v, char *out, size_t size)
{
	const char *p = v;
	size_t digits;

	out[0] = '\0';
	if (!(*p == '2' || *p == '4' || *p == '5') || p[1] != '.')
		return;
	p += 2;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; p[digits] >= '0' && p[digits] <= '9'; digits++)
			;
		if (digits < 1 || digits > 3)
			return;
		p += digits;
		if (part == 0 && *p++ != '.')
			return;
	}
	if (*p && *p != ' ' && *p != '(')
		return;
	if ((size_t)(p - v) < size) {
		memcpy(out, v, (size_t)(p - v));
		out[p - v] = '\0';
	}
}

static int rank(enum dsn_kind k)
{
	return k == DSN_HARD ? 2 : k == DSN_SOFT ? 1 : 0;
}

/* One group of fields of a delivery-status body: the per-message group, or a
 * recipient's. The worst recipient gives the report its fields. */
static void status_group(struct walk *w, const char *s, size_t len)
{
	char action[64], status_raw[64], status[16];
	enum dsn_kind k = DSN_NONE;
	int has_action = field(s, len, "Action", action, sizeof(action));
	int has_status = field(s, len, "Status", status_raw, sizeof(status_raw));

	if (!has_action && !has_status)
		return; /* the per-message fields, or noise */
	lower(action);
	action[strcspn(action, " ;(")] = '\0';
	status_of(status_raw, status, sizeof(status));
	if (strcmp(action, "failed") == 0)
		k = status[0] == '4' ? DSN_SOFT : DSN_HARD;
	else if (strcmp(action, "delayed") == 0)
		k = DSN_SOFT;
	else if (!*action)
		k = status[0] == '5' ? DSN_HARD : status[0] == '4' ? DSN_SOFT : DSN_NONE;
	if (w->status_seen && rank(k) <= rank(w->status_kind))
		return;
	w->status_seen = 1;
	w->status_kind = k;
	copy(w->out->action, sizeof(w->out->action), action);
	copy(w->out->status, sizeof(w->out->status), status);
	{
		char v[512];
		if (field(s, len, "Final-Recipient", v, sizeof(v)) ||
		    field(s, len, "Original-Recipient", v, sizeof(v)))
			address_of(v, w->out->recipient, sizeof(w->out->recipient));
		field(s, len, "Diagnostic-Code", w->out->diagnostic, sizeof(w->out->diagnostic));
	}
}

static void delivery_status(struct walk *w, const char *s, size_t len)
{
	size_t i = 0;

	/* Groups are separated by empty lines. */
	while (i < len) {
		size_t start, next, end;
		while (i < len && (end = line_end(s, len, i, &next)) == i)
			i = next;
		start = i;
		while (i < len && (end = line_end(s, len, i, &next)) != i)
			i = next;
		if (i > start)
			status_group(w, s + start, i - start);
	}
}

static void feedback_report(struct walk *w, const char *s, size_t len)
{
	char type[64], v[512];

	/* The first complaint speaks for the report (one message, one report). */
	if (w->feedback || !field(s, len, "Feedback-Type", type, sizeof(type)))
		return;
	lower(type);
	type[strcspn(type, " ;(")] = '\0';
	copy(w->out->feedback_type, sizeof(w->out->feedback_type), type);
	/* not-spam and auth-failure (DMARC) reports are no complaint. */
	if (strcmp(type, "abuse") == 0 || strcmp(type, "fraud") == 0 || strcmp(type, "virus") == 0 ||
	    strcmp(type, "other") == 0)
		w->feedback = 1;
	if (!*w->out->recipient && field(s, len, "Original-Rcpt-To", v, sizeof(v)))
		address_of(v, w->out->recipient, sizeof(w->out->recipient));
}

static void original(struct walk *w, const char *s, size_t len)
{
	size_t h = header_end(s, len);
	char v[256];

	if (w->original_seen)
		return;
	w->original_seen = 1;
	if (field(s, h, "X-FlowSend-Outbox", v, sizeof(v)))
		copy(w->out->outbox_id, sizeof(w->out->outbox_id), v);
	if (field(s, h, "Message-ID", v, sizeof(v)))
		copy(w->out->message_id, sizeof(w->out->message_id), v);
}

static void walk(struct walk *w, const char *s, size_t len, int depth);

/* The parts between "--boundary" lines; a missing closing line ends the last
 * part at the end of the text (a truncated report still reads). */
static void multipart(struct walk *w, const char *s, size_t len, const char *boundary, int depth)
{
	size_t blen = strlen(boundary), i = 0, next, part = 0;
	int inside = 0;

	while (i < len) {
		size_t end = line_end(s, len, i, &next);
		int delim = end - i >= blen + 2 && s[i] == '-' && s[i + 1] == '-' &&
			    memcmp(s + i + 2, boundary, blen) == 0;
		if (delim) {
			size_t k = i + 2 + blen;
			int close = end - k >= 2 && s[k] == '-' && s[k + 1] == '-';
			if (close)
				k += 2;
			while (k < end && is_wsp(s[k]))
				k++;
			delim = k == end; /* only white space may follow */
			if (delim) {
				if (inside && w->parts++ < DSN_MAX_PARTS)
					walk(w, s + part, i - part, depth + 1);
				if (close)
					return;
				inside = 1;
				part = next;
			}
		}
		i = next;
	}
	if (inside && part < len && w->parts++ < DSN_MAX_PARTS)
		walk(w, s + part, len - part, depth + 1);
}

static void walk(struct walk *w, const char *s, size_t len, int depth)
{
	size_t h = header_end(s, len), blen = len - h;
	const char *body = s + h;
	char ct[1024], type[128], cte[64];

	if (!field(s, h, "Content-Type", ct, sizeof(ct)))
		copy(ct, sizeof(ct), "text/plain");
	media_type(ct, type, sizeof(type));
	field(s, h, "Content-Transfer-Encoding", cte, sizeof(cte));
	if (strncmp(type, "multipart/", 10) == 0) {
		char boundary[256];
		if (depth < DSN_MAX_DEPTH && param(ct, "boundary", boundary, sizeof(boundary)) &&
		    *boundary)
			multipart(w, body, blen, boundary, depth);
	} else if (strcmp(type, "message/delivery-status") == 0 ||
		   strcmp(type, "message/global-delivery-status") == 0 ||
		   strcmp(type, "message/feedback-report") == 0) {
		size_t dlen;
		char *d = decode(cte, body, blen, &dlen);
		if (type[8] == 'f')
			feedback_report(w, d ? d : body, d ? dlen : blen);
		else
			delivery_status(w, d ? d : body, d ? dlen : blen);
		free(d);
	} else if (strcmp(type, "message/rfc822") == 0 || strcmp(type, "text/rfc822-headers") == 0 ||
		   strcmp(type, "message/global") == 0 ||
		   strcmp(type, "message/global-headers") == 0) {
		original(w, body, blen);
	}
}

enum dsn_kind dsn_parse(const char *msg, size_t len, struct dsn_report *out)
{
	struct walk w;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.out = out;
	walk(&w, msg, len, 0);
	out->kind = w.feedback ? DSN_COMPLAINT : w.status_kind;
	return out->kind;
}

const char *dsn_kind_name(enum dsn_kind k)
{
	return k == DSN_HARD ? "hard" : k == DSN_SOFT ? "soft" : k == DSN_COMPLAINT ? "complaint"
										    : "none";
}
