/* libFuzzer target: the message builder on any subject, display names and
 * bodies (the input split at NUL bytes: subject, from name, to name, text,
 * html). The build must refuse exactly the header text that holds CR, LF or
 * is not UTF-8; whatever it builds must read back (mail/message_read) to the
 * same fields, bodies in canonical CRLF form, with every line CRLF and within
 * 998, header lines within 78, encoded words within 75 and never splitting a
 * character, QP lines within 76, no line starting with "." or "From ", and
 * the boundary in no body. The reader also
 * runs on the raw bytes, which must never crash it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "mail/message.h"
#include "mail/message_read.h"

static int header_ok(const char *s)
{
	size_t len = strlen(s);
	return utf8_valid(s, len) && !memchr(s, '\r', len) && !memchr(s, '\n', len);
}

static int same(const struct strbuf *sb, const char *s, size_t len)
{
	return sb->len == len && (len == 0 || memcmp(sb->buf, s, len) == 0);
}

static void canonical(const char *s, size_t len, struct strbuf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			strbuf_append(out, "\r\n", 2);
		} else {
			strbuf_appendc(out, s[i]);
		}
	}
}

static size_t longest_header_line(const char *msg, size_t len)
{
	long body = mail_read_body_offset(msg, len);
	size_t longest = 0, col = 0;

	for (long i = 0; i < body; i++) {
		if (msg[i] == '\r') {
			longest = col > longest ? col : longest;
			col = 0;
			i++;
		} else {
			col++;
		}
	}
	return longest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *field[5];
	size_t flen[5], at = 0;
	struct mail_message m = { 0 };
	struct strbuf out = STRBUF_INIT, want = STRBUF_INIT;
	struct mail_read_message r;
	struct mail_read_part parts[4];
	size_t nparts = 0;
	const char *why;
	int refused;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Five fields at NUL bytes; the last two (bodies) may hold NULs of
	 * their own when the input runs out of separators. */
	for (int i = 0; i < 5; i++) {
		char *nul = i < 4 ? memchr(copy + at, '\0', size - at) : NULL;
		field[i] = copy + at;
		flen[i] = nul ? (size_t)(nul - field[i]) : size - at;
		at = nul ? at + flen[i] + 1 : size;
	}
	m.subject = field[0];
	m.from_name = field[1];
	m.to_name = field[2];
	m.text = field[3];
	m.text_len = flen[3];
	m.html = field[4];
	m.html_len = flen[4];
	m.from_email = "news@shop.example";
	m.reply_to = size % 2 ? "help@shop.example" : NULL;
	m.to_email = "ann@example.com";
	m.message_id = "<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee@shop.example>";
	m.outbox_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
	m.unsubscribe_url = size % 3 ? "https://mail.shop.example/u/AAAABBBBCCCCDDDD" : NULL;
	m.date = (long long)(size * 7919) % 253402300800LL;

	refused = !header_ok(m.subject) || !header_ok(m.from_name) || !header_ok(m.to_name);
	if (mail_message_build(&m, &out) != (refused ? -1 : 0))
		__builtin_trap();
	if (refused) {
		if (out.len != 0)
			__builtin_trap();
		goto out;
	}
	if (mail_read_message(out.buf, out.len, &r, &why) != 0)
		__builtin_trap();
	if (strcmp(strbuf_cstr(&r.subject), m.subject) != 0 ||
	    strcmp(strbuf_cstr(&r.from_name), m.from_name) != 0 ||
	    strcmp(strbuf_cstr(&r.to_name), m.to_name) != 0 ||
	    strcmp(strbuf_cstr(&r.to_addr), m.to_email) != 0 ||
	    strcmp(strbuf_cstr(&r.from_addr), m.from_email) != 0 ||
	    strcmp(strbuf_cstr(&r.reply_to), m.reply_to ? m.reply_to : "") != 0 ||
	    (m.unsubscribe_url && r.list_unsubscribe_post.len == 0) ||
	    (!m.unsubscribe_url && r.list_unsubscribe.len != 0))
		__builtin_trap();
	canonical(m.text, m.text_len, &want);
	if (!same(&r.text, want.buf, want.len))
		__builtin_trap();
	strbuf_reset(&want);
	canonical(m.html, m.html_len, &want);
	if (!same(&r.html, want.buf, want.len))
		__builtin_trap();
	if (r.words.longest > 75 || r.words.split || longest_header_line(out.buf, out.len) > 78)
		__builtin_trap();
	/* No line starts with "." or "From " (what relays and mbox files misread). */
	if (strstr(out.buf, "\r\n.") || strstr(out.buf, "\r\nFrom "))
		__builtin_trap();
	mail_read_message_free(&r);
out:
	/* The reader on the raw bytes: any answer, no crash, no leak. */
	if (mail_read_message((const char *)data, size, &r, &why) == 0 && r.nparts != 2)
		__builtin_trap();
	mail_read_message_free(&r);
	mail_read_parts((const char *)data, size, parts, 4, &nparts, &want);
	mail_read_parts_free(parts, nparts);
	strbuf_free(&out);
	strbuf_free(&want);
	free(copy);
	return 0;
}
