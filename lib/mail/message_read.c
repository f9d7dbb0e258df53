/* Reading mail back, strictly: whatever mail_message_build writes must read
 * back to its inputs, and anything it should never write is an error here. */
#include "mail/message_read.h"

#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "core/uuid.h"

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int b64_value(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
		: c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

static const char *find(const char *s, size_t len, const char *what, size_t wlen)
{
	for (size_t i = 0; i + wlen <= len; i++)
		if (s[i] == what[0] && memcmp(s + i, what, wlen) == 0)
			return s + i;
	return NULL;
}

int mail_read_lines_ok(const char *msg, size_t len, size_t max)
{
	size_t col = 0;

	if (len && msg[len - 1] != '\n')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\0')
			return 0;
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
		} else if (msg[i] == '\n') {
			return 0;
		} else if (++col > max) {
			return 0;
		}
	}
	return 1;
}

long mail_read_body_offset(const char *msg, size_t len)
{
	const char *end;

	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 2;
	end = find(msg, len, "\r\n\r\n", 4);
	return end ? (long)(end - msg) + 4 : -1;
}

int mail_read_header(const char *msg, size_t len, const char *name, struct strbuf *out)
{
	long body = mail_read_body_offset(msg, len);
	size_t nlen = strlen(name), i = 0, end;
	int found = 0, in_match = 0;

	if (body < 0)
		return -1;
	end = (size_t)body - 2; /* the header block, each line with its CRLF */
	strbuf_reset(out);
	while (i < end) {
		const char *eol = find(msg + i, end - i, "\r\n", 2), *colon;
		size_t llen;

		if (!eol)
			return -1;
		llen = (size_t)(eol - (msg + i));
		if (is_wsp(msg[i])) {
			if (i == 0)
				return -1;
			if (in_match)
				strbuf_append(out, msg + i, llen);
		} else {
			colon = memchr(msg + i, ':', llen);
			if (!colon || colon == msg + i)
				return -1;
			for (const char *p = msg + i; p < colon; p++)
				if (*p <= 0x20 || *p >= 0x7f)
					return -1;
			in_match = 0;
			if ((size_t)(colon - (msg + i)) == nlen && strncasecmp(msg + i, name, nlen) == 0) {
				if (found++ == 0) {
					in_match = 1;
					strbuf_append(out, colon + 1, llen - (size_t)(colon - (msg + i)) - 1);
				}
			}
		}
		i += llen + 2;
	}
	if (found && out->buf) {
		size_t a = 0, b = out->len;
		while (a < b && is_wsp(out->buf[a]))
			a++;
		while (b > a && is_wsp(out->buf[b - 1]))
			b--;
		memmove(out->buf, out->buf + a, b - a);
		out->len = b - a;
		out->buf[out->len] = '\0';
	}
	return out->oom ? -1 : found;
}

/* One encoded word at s[0..len): its length (at most len) with the decoded
 * bytes appended to out, 0 when s does not start with "=?", -1 when it is
 * malformed. */
static long read_word(const char *s, size_t len, struct strbuf *out, struct mail_words_info *info)
{
	const char *q1, *q2, *q3, *text;
	size_t tlen, start = out->len;

	if (len < 2 || s[0] != '=' || s[1] != '?')
		return 0;
	q1 = memchr(s + 2, '?', len - 2);
	if (!q1 || (size_t)(q1 - s) + 3 > len || q1[2] != '?')
		return -1;
	q2 = q1 + 2;
	text = q2 + 1;
	q3 = find(text, len - (size_t)(text - s), "?=", 2);
	if (!q3)
		return -1;
	tlen = (size_t)(q3 - text);
	if (q1 - s - 2 != 5 || strncasecmp(s + 2, "UTF-8", 5) != 0)
		return -1;
	for (size_t i = 0; i < tlen; i++)
		if (text[i] <= 0x20 || text[i] >= 0x7f || text[i] == '?')
			return -1;
	if (q1[1] == 'Q' || q1[1] == 'q') {
		for (size_t i = 0; i < tlen; i++) {
			if (text[i] == '_') {
				strbuf_appendc(out, ' ');
			} else if (text[i] == '=') {
				if (i + 2 >= tlen || hex_value(text[i + 1]) < 0 ||
				    hex_value(text[i + 2]) < 0)
					return -1;
				strbuf_appendc(out, (char)(hex_value(text[i + 1]) << 4 |
							   hex_value(text[i + 2])));
				i += 2;
			} else {
				strbuf_appendc(out, text[i]);
			}
		}
	} else if (q1[1] == 'B' || q1[1] == 'b') {
		if (tlen == 0 || mail_read_base64(text, tlen, out) < 0)
			return -1;
	} else {
		return -1;
	}
	if (info) {
		size_t wlen = (size_t)(q3 + 2 - s);
		info->words++;
		if (wlen > info->longest)
			info->longest = wlen;
		if (!utf8_valid(out->buf + start, out->len - start))
			info->split = 1;
	}
	return (long)(q3 + 2 - s);
}

int mail_read_words(const char *s, size_t len, struct strbuf *out, struct mail_words_info *info)
{
	int after_word = 0;
	size_t i = 0;

	while (i < len) {
		if (is_wsp(s[i])) {
			size_t j = i;
			while (j < len && is_wsp(s[j]))
				j++;
			/* Space between two encoded words is not text. */
			if (!(after_word && j + 1 < len && s[j] == '=' && s[j + 1] == '?'))
				strbuf_append(out, s + i, j - i);
			i = j;
			continue;
		}
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?') {
			long n = read_word(s + i, len - i, out, info);
			if (n <= 0)
				return -1;
			i += (size_t)n;
			after_word = 1;
			continue;
		}
		strbuf_appendc(out, s[i++]);
		after_word = 0;
	}
	return out->oom ? -1 : 0;
}

int mail_read_address(const char *s, size_t len, struct strbuf *name, struct strbuf *addr,
		      struct mail_words_info *info)
{
	size_t i = 0;
	int prev = 0; /* 0: nothing yet, 1: text, 2: an encoded word */
	const char *lt, *gt;

	strbuf_reset(name);
	strbuf_reset(addr);
	while (len && is_wsp(s[len - 1]))
		len--;
	while (i < len && is_wsp(s[i]))
		i++;
	if (i == len)
		return -1;
	if (s[len - 1] != '>') {
		for (size_t k = i; k < len; k++)
			if (s[k] <= 0x20 || s[k] == '<' || s[k] == '>' || s[k] == '"')
				return -1;
		strbuf_append(addr, s + i, len - i);
		return addr->oom ? -1 : 0;
	}
	/* The phrase: quoted strings, atoms and encoded words up to the '<'. */
	for (;;) {
		size_t ws = 0;
		while (i < len && is_wsp(s[i])) {
			i++;
			ws++;
		}
		if (i >= len)
			return -1;
		if (s[i] == '<')
			break;
		if (s[i] == '"') {
			if (prev && ws)
				strbuf_appendc(name, ' ');
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				strbuf_appendc(name, s[i]);
			}
			if (i >= len)
				return -1;
			i++;
			prev = 1;
		} else {
			size_t j = i;
			int word;
			while (j < len && !is_wsp(s[j]) && s[j] != '"' && s[j] != '<')
				j++;
			word = j - i >= 4 && s[i] == '=' && s[i + 1] == '?' && s[j - 2] == '?' &&
			       s[j - 1] == '=';
			if (prev && ws && !(word && prev == 2))
				strbuf_appendc(name, ' ');
			if (word) {
				if (mail_read_words(s + i, j - i, name, info) < 0)
					return -1;
			} else {
				strbuf_append(name, s + i, j - i);
			}
			prev = word ? 2 : 1;
			i = j;
		}
	}
	lt = s + i;
	gt = s + len - 1;
	if (gt <= lt + 1 || memchr(lt + 1, '<', (size_t)(gt - lt - 1)) ||
	    memchr(lt + 1, '>', (size_t)(gt - lt - 1)))
		return -1;
	strbuf_append(addr, lt + 1, (size_t)(gt - lt - 1));
	return name->oom || addr->oom ? -1 : 0;
}

int mail_read_qp(const char *s, size_t len, struct strbuf *out)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n' || (i && is_wsp(s[i - 1])))
				return -1; /* bare CR, or whitespace a relay could strip */
			strbuf_append(out, "\r\n", 2);
			i++;
			col = 0;
			continue;
		}
		if (++col > 76)
			return -1;
		if (c == '=') {
			if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
				i += 2;
				col = 0;
				continue;
			}
			if (i + 2 >= len || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
				return -1;
			strbuf_appendc(out, (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2])));
			i += 2;
			col += 2;
			if (col > 76)
				return -1;
		} else if (c == '\t' || (c >= 0x20 && c <= 0x7e)) {
			strbuf_appendc(out, c);
		} else {
			return -1;
		}
	}
	if (len && is_wsp(s[len - 1]))
		return -1;
	return out->oom ? -1 : 0;
}

int mail_read_base64(const char *s, size_t len, struct strbuf *out)
{
	unsigned acc = 0;
	size_t n = 0, pad = 0, col = 0;

	for (size_t i = 0; i < len; i++) {
		int v;
		if (s[i] == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n')
				return -1;
			i++;
			col = 0;
			continue;
		}
		if (++col > 76)
			return -1;
		if (s[i] == '=') {
			if (n % 4 < 2)
				return -1; /* padding stands for the last one or two */
			pad++;
			v = 0;
		} else if (pad || (v = b64_value(s[i])) < 0) {
			return -1; /* data after padding, or not base64 */
		}
		acc = acc << 6 | (unsigned)v;
		n++;
		if (n % 4 == 0) {
			char b[3] = { (char)(acc >> 16), (char)(acc >> 8), (char)acc };
			strbuf_append(out, b, 3 - pad);
			acc = 0;
		}
	}
	if (n % 4 != 0)
		return -1;
	return out->oom ? -1 : 0;
}

static int boundary_of(const char *ct, size_t len, struct strbuf *b)
{
	for (size_t i = 0; i + 9 <= len; i++) {
		if (strncasecmp(ct + i, "boundary=", 9) != 0 ||
		    (i && ct[i - 1] != ';' && !is_wsp(ct[i - 1])))
			continue;
		i += 9;
		if (i < len && ct[i] == '"') {
			const char *q = memchr(ct + i + 1, '"', len - i - 1);
			if (!q)
				return -1;
			strbuf_append(b, ct + i + 1, (size_t)(q - ct - i - 1));
		} else {
			size_t j = i;
			while (j < len && ct[j] != ';' && !is_wsp(ct[j]))
				j++;
			strbuf_append(b, ct + i, j - i);
		}
		return b->len > 0 && b->len <= 70 ? 0 : -1;
	}
	return -1;
}

static int read_part(const char *p, size_t len, struct mail_read_part *part)
{
	long body = mail_read_body_offset(p, len);
	const char *raw;
	size_t raw_len;

	if (body < 0)
		return -1;
	if (mail_read_header(p, len, "Content-Type", &part->content_type) < 0 ||
	    mail_read_header(p, len, "Content-Transfer-Encoding", &part->encoding) < 0)
		return -1;
	if (part->encoding.len == 0)
		strbuf_appends(&part->encoding, "7bit");
	for (size_t i = 0; i < part->encoding.len; i++)
		if (part->encoding.buf[i] >= 'A' && part->encoding.buf[i] <= 'Z')
			part->encoding.buf[i] = (char)(part->encoding.buf[i] + 32);
	raw = p + body;
	raw_len = len - (size_t)body;
	part->raw = raw;
	part->raw_len = raw_len;
	if (strcmp(strbuf_cstr(&part->encoding), "quoted-printable") == 0)
		return mail_read_qp(raw, raw_len, &part->body);
	if (strcmp(strbuf_cstr(&part->encoding), "base64") == 0)
		return mail_read_base64(raw, raw_len, &part->body);
	if (strcmp(strbuf_cstr(&part->encoding), "7bit") == 0 ||
	    strcmp(strbuf_cstr(&part->encoding), "8bit") == 0)
		return strbuf_append(&part->body, raw, raw_len);
	return -1;
}

int mail_read_parts(const char *msg, size_t len, struct mail_read_part *parts, size_t max,
		    size_t *n, struct strbuf *boundary)
{
	struct strbuf ct = STRBUF_INIT, delim = STRBUF_INIT;
	long body = mail_read_body_offset(msg, len);
	const char *p, *end = msg + len;
	int ret = -1;

	*n = 0;
	strbuf_reset(boundary);
	if (body < 0 || mail_read_header(msg, len, "Content-Type", &ct) != 1 ||
	    boundary_of(strbuf_cstr(&ct), ct.len, boundary) < 0)
		goto out;
	/* A delimiter is CRLF "--" boundary; the first may open the body. */
	strbuf_appends(&delim, "\r\n--");
	strbuf_append(&delim, boundary->buf, boundary->len);
	p = msg + body;
	if ((size_t)(end - p) >= delim.len - 2 && memcmp(p, delim.buf + 2, delim.len - 2) == 0) {
		p += delim.len - 2;
	} else {
		const char *d = find(p, (size_t)(end - p), delim.buf, delim.len);
		if (!d)
			goto out;
		p = d + delim.len;
	}
	for (;;) {
		const char *next;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			ret = 0; /* the closing delimiter; an epilogue may follow */
			break;
		}
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			goto out;
		p += 2;
		next = find(p, (size_t)(end - p), delim.buf, delim.len);
		if (!next || *n == max)
			goto out;
		memset(&parts[*n], 0, sizeof(parts[*n]));
		(*n)++;
		if (read_part(p, (size_t)(next - p), &parts[*n - 1]) < 0)
			goto out;
		p = next + delim.len;
	}
out:
	strbuf_free(&ct);
	strbuf_free(&delim);
	return ret;
}

void mail_read_parts_free(struct mail_read_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strbuf_free(&parts[i].content_type);
		strbuf_free(&parts[i].encoding);
		strbuf_free(&parts[i].body);
	}
}

/* Exactly one header called name, into out; -1 when absent or repeated
 * (optional ones may be absent: 0). */
static int one_header(const char *msg, size_t len, const char *name, struct strbuf *out,
		      int optional)
{
	int n = mail_read_header(msg, len, name, out);
	return n == 1 || (optional && n == 0) ? n : -1;
}

int mail_read_message(const char *msg, size_t len, struct mail_read_message *m,
		      const char **why)
{
	struct strbuf v = STRBUF_INIT;
	const char *bad = NULL;
	int ret = -1;

	memset(m, 0, sizeof(*m));
	if (!mail_read_lines_ok(msg, len, 998)) {
		bad = "a line is not CRLF-terminated, holds a NUL or is over 998 octets";
		goto out;
	}
	if (one_header(msg, len, "Date", &m->date, 0) < 0 ||
	    one_header(msg, len, "Message-ID", &m->message_id, 0) < 0 ||
	    one_header(msg, len, "X-FlowSend-Outbox", &m->outbox_id, 0) < 0 ||
	    one_header(msg, len, "Reply-To", &m->reply_to, 1) < 0 ||
	    one_header(msg, len, "List-Unsubscribe", &m->list_unsubscribe, 1) < 0 ||
	    one_header(msg, len, "List-Unsubscribe-Post", &m->list_unsubscribe_post, 1) < 0) {
		bad = "a header is missing or repeated";
		goto out;
	}
	if (one_header(msg, len, "MIME-Version", &v, 0) < 0 || strcmp(strbuf_cstr(&v), "1.0") != 0) {
		bad = "MIME-Version is not 1.0";
		goto out;
	}
	if (one_header(msg, len, "From", &v, 0) < 0 ||
	    mail_read_address(strbuf_cstr(&v), v.len, &m->from_name, &m->from_addr, &m->words) < 0 ||
	    one_header(msg, len, "To", &v, 0) < 0 ||
	    mail_read_address(strbuf_cstr(&v), v.len, &m->to_name, &m->to_addr, &m->words) < 0) {
		bad = "From or To is missing, repeated or malformed";
		goto out;
	}
	if (one_header(msg, len, "Subject", &v, 0) < 0 ||
	    mail_read_words(strbuf_cstr(&v), v.len, &m->subject, &m->words) < 0) {
		bad = "Subject is missing, repeated or malformed";
		goto out;
	}
	if (one_header(msg, len, "Content-Type", &v, 0) < 0 ||
	    strncasecmp(strbuf_cstr(&v), "multipart/alternative;", 22) != 0 ||
	    mail_read_parts(msg, len, m->parts, 2, &m->nparts, &m->boundary) < 0 ||
	    m->nparts != 2) {
		bad = "the body is not a multipart/alternative of two parts";
		goto out;
	}
	if (strcasecmp(strbuf_cstr(&m->parts[0].content_type), "text/plain; charset=UTF-8") != 0 ||
	    strcasecmp(strbuf_cstr(&m->parts[1].content_type), "text/html; charset=UTF-8") != 0) {
		bad = "the parts are not text/plain then text/html in UTF-8";
		goto out;
	}
	for (size_t i = 0; i < 2; i++)
		if (find(m->parts[i].raw, m->parts[i].raw_len, strbuf_cstr(&m->boundary),
			 m->boundary.len)) {
			bad = "the boundary occurs in a body";
			goto out;
		}
	strbuf_append(&m->text, m->parts[0].body.buf ? m->parts[0].body.buf : "",
		      m->parts[0].body.len);
	strbuf_append(&m->html, m->parts[1].body.buf ? m->parts[1].body.buf : "",
		      m->parts[1].body.len);
	ret = m->text.oom || m->html.oom ? -1 : 0;
out:
	strbuf_free(&v);
	if (why)
		*why = bad ? bad : ret ? "out of memory" : NULL;
	return ret;
}

void mail_read_message_free(struct mail_read_message *m)
{
	struct strbuf *all[] = { &m->date, &m->from_name, &m->from_addr, &m->reply_to,
				 &m->to_name, &m->to_addr, &m->subject, &m->message_id,
				 &m->outbox_id, &m->list_unsubscribe, &m->list_unsubscribe_post,
				 &m->text, &m->html, &m->boundary };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_free(all[i]);
	mail_read_parts_free(m->parts, m->nparts);
	m->nparts = 0;
}
