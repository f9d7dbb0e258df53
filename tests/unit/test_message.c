/* The message builder, checked by reading its output back (mail/message_read):
 * headers, RFC 2047 words, quoted-printable and base64 decode to the inputs,
 * lines stay within their limits, and hostile inputs never make a header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "mail/message.h"
#include "mail/message_read.h"
#include "unit.h"

#define OUTBOX "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
#define MSGID "<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee@shop.example>"

static struct mail_message base(void)
{
	struct mail_message m = { 0 };

	m.from_name = "Shop";
	m.from_email = "news@shop.example";
	m.reply_to = "help@shop.example";
	m.to_name = "Ann";
	m.to_email = "ann@example.com";
	m.subject = "Hello";
	m.html = "<p>Hello</p>";
	m.html_len = strlen(m.html);
	m.text = "Hello";
	m.text_len = strlen(m.text);
	m.message_id = MSGID;
	m.outbox_id = OUTBOX;
	m.unsubscribe_url = "https://mail.shop.example/u/AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIII00";
	m.date = 1764599230; /* 2025-12-01T14:27:10Z */
	return m;
}

/* Every line break as CRLF: what a text part is in canonical form. */
static void canonical(const char *s, size_t len, struct strbuf *out)
{
	strbuf_init(out);
	strbuf_grow(out, 0);
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

/* The longest line of the header block. */
static size_t longest_header_line(const char *msg, size_t len)
{
	long body = mail_read_body_offset(msg, len);
	size_t longest = 0, col = 0;

	ck_assert_int_gt(body, 0);
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

/* Build m, read it back and check it says what m says. */
static void round_trip(const struct mail_message *m, struct strbuf *out, struct mail_read_message *r)
{
	struct strbuf want;
	const char *why = NULL;

	strbuf_init(out);
	ck_assert_int_eq(mail_message_build(m, out), 0);
	ck_assert_msg(mail_read_message(out->buf, out->len, r, &why) == 0, "%s:\n%s", why,
		      out->buf);
	ck_assert_str_eq(strbuf_cstr(&r->from_name), m->from_name ? m->from_name : "");
	ck_assert_str_eq(strbuf_cstr(&r->from_addr), m->from_email);
	ck_assert_str_eq(strbuf_cstr(&r->to_name), m->to_name ? m->to_name : "");
	ck_assert_str_eq(strbuf_cstr(&r->to_addr), m->to_email);
	ck_assert_str_eq(strbuf_cstr(&r->reply_to), m->reply_to ? m->reply_to : "");
	ck_assert_str_eq(strbuf_cstr(&r->subject), m->subject);
	ck_assert_str_eq(strbuf_cstr(&r->message_id), m->message_id);
	ck_assert_str_eq(strbuf_cstr(&r->outbox_id), m->outbox_id);
	canonical(m->text ? m->text : "", m->text_len, &want);
	ck_assert_uint_eq(r->text.len, want.len);
	ck_assert(memcmp(strbuf_cstr(&r->text), strbuf_cstr(&want), want.len) == 0);
	strbuf_free(&want);
	canonical(m->html ? m->html : "", m->html_len, &want);
	ck_assert_uint_eq(r->html.len, want.len);
	ck_assert(memcmp(strbuf_cstr(&r->html), strbuf_cstr(&want), want.len) == 0);
	strbuf_free(&want);
	ck_assert_uint_le(r->words.longest, 75);
	ck_assert_int_eq(r->words.split, 0);
	ck_assert_uint_le(longest_header_line(out->buf, out->len), 78);
	/* No line a relay or an mbox could take for something else. */
	ck_assert_msg(!strstr(out->buf, "\r\n.") && !strstr(out->buf, "\r\nFrom "), "%s", out->buf);
}

static void expect_round_trip(const struct mail_message *m)
{
	struct strbuf out;
	struct mail_read_message r;

	round_trip(m, &out, &r);
	mail_read_message_free(&r);
	strbuf_free(&out);
}

static int contains(const struct strbuf *sb, const char *what)
{
	return strstr(strbuf_cstr(sb), what) != NULL;
}

START_TEST(plain_message_has_every_header)
{
	struct mail_message m = base();
	struct strbuf out;
	struct mail_read_message r;

	round_trip(&m, &out, &r);
	ck_assert_str_eq(strbuf_cstr(&r.date), "Mon, 01 Dec 2025 14:27:10 +0000");
	ck_assert_str_eq(strbuf_cstr(&r.list_unsubscribe), "<" "https://mail.shop.example/u/"
							   "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIII00>");
	ck_assert_str_eq(strbuf_cstr(&r.list_unsubscribe_post), "List-Unsubscribe=One-Click");
	/* Short ASCII goes as it is. */
	ck_assert(contains(&out, "\r\nFrom: Shop <news@shop.example>\r\n"));
	ck_assert(contains(&out, "\r\nTo: Ann <ann@example.com>\r\n"));
	ck_assert(contains(&out, "\r\nSubject: Hello\r\n"));
	ck_assert(contains(&out, "\r\nReply-To: help@shop.example\r\n"));
	ck_assert(contains(&out, "\r\nX-FlowSend-Outbox: " OUTBOX "\r\n"));
	ck_assert(contains(&out, "\r\nMessage-ID: " MSGID "\r\n"));
	ck_assert_str_eq(strbuf_cstr(&r.parts[0].encoding), "7bit");
	ck_assert_str_eq(strbuf_cstr(&r.parts[1].encoding), "7bit");
	ck_assert_uint_le(r.boundary.len, 70);
	ck_assert_int_eq(strncmp(out.buf, "Date: ", 6), 0);
	mail_read_message_free(&r);
	strbuf_free(&out);
}
END_TEST

START_TEST(same_input_gives_the_same_bytes)
{
	struct mail_message m = base();
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;

	strbuf_appends(&a, "kept:");
	strbuf_appends(&b, "kept:");
	ck_assert_int_eq(mail_message_build(&m, &a), 0);
	ck_assert_int_eq(mail_message_build(&m, &b), 0);
	ck_assert_str_eq(a.buf, b.buf);
	ck_assert_int_eq(strncmp(a.buf, "kept:Date: ", 11), 0); /* appended, not replaced */
	strbuf_free(&a);
	strbuf_free(&b);
}
END_TEST

START_TEST(non_ascii_names_and_subjects_are_encoded_words)
{
	static const char *subjects[] = {
		"Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e",
		"\xf0\x9f\x98\x80\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80 sale",
		"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d",
		"  leading and trailing spaces  ",
		"two  spaces and a\ttab",
		"looks =?UTF-8?B?SGk=?= encoded",
		"",
		"?=_=?",
	};
	struct mail_message m = base();

	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		m.subject = subjects[i];
		m.to_name = subjects[i];
		m.from_name = subjects[i];
		expect_round_trip(&m);
	}
	m.from_name = "Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m";
	m.to_name = "Ren\xc3\xa9\xe2\x80\x94\xf0\x9f\x91\x8d";
	expect_round_trip(&m);
}
END_TEST

START_TEST(display_names_with_specials_are_quoted)
{
	static const struct {
		const char *name, *written;
	} cases[] = {
		{ "Smith, Ann", "To: \"Smith, Ann\" <ann@example.com>" },
		{ "J. R. R. Tolkien", "To: \"J. R. R. Tolkien\" <ann@example.com>" },
		{ "Ann \"The\" Smith", "To: \"Ann \\\"The\\\" Smith\" <ann@example.com>" },
		{ "back\\slash", "To: \"back\\\\slash\" <ann@example.com>" },
		{ "<evil@x.test>", "To: \"<evil@x.test>\" <ann@example.com>" },
		{ "a:b;c@d(e)", "To: \"a:b;c@d(e)\" <ann@example.com>" },
		{ "Ann O'Neil", "To: Ann O'Neil <ann@example.com>" },
		{ "=?UTF-8?B?RXZl?=", "To: =?UTF-8?" },
	};
	struct mail_message m = base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf out;
		struct mail_read_message r;
		m.to_name = cases[i].name;
		round_trip(&m, &out, &r);
		ck_assert_msg(contains(&out, cases[i].written), "%s:\n%s", cases[i].name, out.buf);
		mail_read_message_free(&r);
		strbuf_free(&out);
	}
	m.to_name = "";
	m.from_name = NULL;
	m.reply_to = NULL;
	{
		struct strbuf out;
		struct mail_read_message r;
		round_trip(&m, &out, &r);
		ck_assert(contains(&out, "\r\nTo: ann@example.com\r\n"));
		ck_assert(contains(&out, "\r\nFrom: news@shop.example\r\n"));
		ck_assert(!contains(&out, "Reply-To"));
		mail_read_message_free(&r);
		strbuf_free(&out);
	}
}
END_TEST

START_TEST(long_headers_fold_within_78)
{
	struct mail_message m = base();
	struct strbuf s = STRBUF_INIT, name = STRBUF_INIT, word = STRBUF_INIT, url = STRBUF_INIT;

	for (int i = 0; i < 40; i++)
		strbuf_appendf(&s, "%sword%d", i ? " " : "", i);
	m.subject = s.buf; /* plain words, folded at spaces */
	expect_round_trip(&m);
	for (int i = 0; i < 30; i++)
		strbuf_appends(&name, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 ");
	m.subject = name.buf; /* long and not ASCII */
	m.from_name = name.buf;
	m.to_name = name.buf;
	expect_round_trip(&m);
	for (int i = 0; i < 200; i++)
		strbuf_appendc(&word, 'x');
	m.subject = word.buf; /* one ASCII word too long for a line */
	m.from_name = word.buf;
	m.to_name = "A rather long display name that cannot fit on the To line beside the address";
	expect_round_trip(&m);
	/* Names of every length around the fold. */
	for (size_t n = 60; n < 80; n++) {
		strbuf_reset(&s);
		for (size_t i = 0; i < n; i++)
			strbuf_appendc(&s, i % 7 == 6 ? ' ' : 'a');
		m.subject = s.buf;
		m.to_name = s.buf;
		m.from_name = s.buf;
		expect_round_trip(&m);
	}
	/* A long unsubscribe URL cannot be broken: it moves to a line of its own. */
	strbuf_appends(&url, "https://mail.a-very-long-host-name.shop.example/u/");
	for (int i = 0; i < 38; i++)
		strbuf_appendc(&url, 'A');
	m = base();
	m.unsubscribe_url = url.buf;
	{
		struct strbuf out = STRBUF_INIT, line = STRBUF_INIT;
		struct mail_read_message r;
		const char *why;
		ck_assert_int_eq(mail_message_build(&m, &out), 0);
		ck_assert_msg(mail_read_message(out.buf, out.len, &r, &why) == 0, "%s", why);
		strbuf_appendf(&line, "\r\nList-Unsubscribe:\r\n <%s>\r\n", url.buf);
		ck_assert(contains(&out, line.buf));
		mail_read_message_free(&r);
		strbuf_free(&out);
		strbuf_free(&line);
	}
	strbuf_free(&s);
	strbuf_free(&name);
	strbuf_free(&word);
	strbuf_free(&url);
}
END_TEST

/* A multi-byte character never straddles two words, at every offset. */
START_TEST(words_never_split_a_character)
{
	struct mail_message m = base();
	struct strbuf s = STRBUF_INIT;
	static const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };

	for (size_t c = 0; c < 3; c++) {
		for (size_t pad = 0; pad < 24; pad++) {
			strbuf_reset(&s);
			for (size_t i = 0; i < pad; i++)
				strbuf_appendc(&s, 'a' + (char)(i % 26));
			for (int i = 0; i < 40; i++)
				strbuf_appends(&s, chars[c]);
			m.subject = s.buf;
			m.to_name = s.buf;
			expect_round_trip(&m);
		}
	}
	strbuf_free(&s);
}
END_TEST

START_TEST(bodies_take_the_smallest_encoding)
{
	struct mail_message m = base();
	struct strbuf out, cyr = STRBUF_INIT, longline = STRBUF_INIT;
	struct mail_read_message r;

	/* Mostly ASCII with some accents: quoted-printable. */
	m.text = "Bonjour \xc3\xa0 tous, voici les nouveaut\xc3\xa9s du mois.\n";
	m.text_len = strlen(m.text);
	/* Cyrillic: base64 is a third the size of quoted-printable. */
	for (int i = 0; i < 50; i++)
		strbuf_appends(&cyr, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 ");
	m.html = cyr.buf;
	m.html_len = cyr.len;
	round_trip(&m, &out, &r);
	ck_assert_str_eq(strbuf_cstr(&r.parts[0].encoding), "quoted-printable");
	ck_assert_str_eq(strbuf_cstr(&r.parts[1].encoding), "base64");
	ck_assert_uint_lt(r.parts[1].raw_len, cyr.len * 2);
	mail_read_message_free(&r);
	strbuf_free(&out);

	/* Long ASCII lines: quoted-printable with soft breaks, never 7bit. */
	for (int i = 0; i < 300; i++)
		strbuf_appends(&longline, "abc ");
	m.text = longline.buf;
	m.text_len = longline.len;
	round_trip(&m, &out, &r);
	ck_assert_str_eq(strbuf_cstr(&r.parts[0].encoding), "quoted-printable");
	mail_read_message_free(&r);
	strbuf_free(&out);
	strbuf_free(&cyr);
	strbuf_free(&longline);
}
END_TEST

START_TEST(lines_of_2000_characters)
{
	struct mail_message m = base();
	struct strbuf a = STRBUF_INIT, u = STRBUF_INIT, out;
	struct mail_read_message r;

	for (int i = 0; i < 2000; i++)
		strbuf_appendc(&a, (char)('a' + i % 26));
	strbuf_appends(&a, "\nsecond line\n");
	for (int i = 0; i < 1000; i++)
		strbuf_appends(&u, "\xc3\xa9");
	m.text = a.buf;
	m.text_len = a.len;
	m.html = u.buf;
	m.html_len = u.len;
	round_trip(&m, &out, &r); /* mail_read_message checks every line <= 998, QP <= 76 */
	ck_assert(mail_read_lines_ok(out.buf, out.len, 998));
	mail_read_message_free(&r);
	strbuf_free(&out);
	strbuf_free(&a);
	strbuf_free(&u);
}
END_TEST

/* Text that holds the very boundary the message uses is not sent 7bit. */
START_TEST(a_body_holding_the_boundary_is_encoded)
{
	struct mail_message m = base();
	struct strbuf out, text = STRBUF_INIT;
	struct mail_read_message r;
	char boundary[80];

	/* The boundary depends on the sizes, not the bytes: learn it first. */
	m.text = "0123456789012345678901234567890123456789012345678901234567890123456789"
		 "0123456789012345678901234567890123456789";
	m.text_len = strlen(m.text);
	round_trip(&m, &out, &r);
	snprintf(boundary, sizeof(boundary), "%s", strbuf_cstr(&r.boundary));
	mail_read_message_free(&r);
	strbuf_free(&out);
	strbuf_appendf(&text, "--%s\n--%s--\n", boundary, boundary);
	while (text.len < m.text_len)
		strbuf_appendc(&text, 'x');
	ck_assert_uint_eq(text.len, m.text_len);
	m.text = text.buf;
	round_trip(&m, &out, &r);
	ck_assert_str_eq(strbuf_cstr(&r.boundary), boundary);
	ck_assert_str_eq(strbuf_cstr(&r.parts[0].encoding), "quoted-printable");
	mail_read_message_free(&r);
	strbuf_free(&out);

	/* Boundary-like lines of the usual kinds. */
	m.text = "--\n--=_fs_\n-- \n--=_fs_0000000000000000000000000000000--\n";
	m.text_len = strlen(m.text);
	expect_round_trip(&m);
	strbuf_free(&text);
}
END_TEST

START_TEST(from_and_dot_lines_survive)
{
	struct mail_message m = base();
	struct strbuf out;
	struct mail_read_message r;

	m.text = "From here on\n.\n..\n.hidden\nFrom\nFrom \nend";
	m.text_len = strlen(m.text);
	m.html = ".\r\nFrom the shop\r\n";
	m.html_len = strlen(m.html);
	round_trip(&m, &out, &r);
	/* Dot-stuffing is curl's; still, no line of ours is "." or starts "From ". */
	ck_assert(!contains(&out, "\r\n.\r\n"));
	ck_assert(!contains(&out, "\r\nFrom "));
	ck_assert_int_ne(strncmp(out.buf, "From ", 5), 0);
	mail_read_message_free(&r);
	strbuf_free(&out);
}
END_TEST

START_TEST(line_breaks_become_crlf)
{
	struct mail_message m = base();
	static const char text[] = "a\nb\r\nc\rd\n\n\r\re\r";
	static const char html[] = "<p>\xc3\xa9\n</p>\r<br>\r\n";

	m.text = text;
	m.text_len = sizeof(text) - 1;
	m.html = html;
	m.html_len = sizeof(html) - 1;
	expect_round_trip(&m); /* the reader refuses any bare CR or LF */
	m.text = "trailing space \nand tab\t\n \n";
	m.text_len = strlen(m.text);
	expect_round_trip(&m);
	m.text = "";
	m.text_len = 0;
	m.html = NULL;
	m.html_len = 0;
	expect_round_trip(&m);
}
END_TEST

/* Any bytes in the bodies, NUL and controls included, come back. */
START_TEST(binary_bodies_round_trip)
{
	struct mail_message m = base();
	char bytes[512];

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)(i * 7 + 3);
	/* Canonical form: no CR or LF of their own. */
	for (size_t i = 0; i < sizeof(bytes); i++)
		if (bytes[i] == '\r' || bytes[i] == '\n')
			bytes[i] = 'x';
	m.text = bytes;
	m.text_len = sizeof(bytes);
	m.html = bytes + 100;
	m.html_len = 3;
	expect_round_trip(&m);
}
END_TEST

static void expect_refused(const struct mail_message *m, const char *what)
{
	struct strbuf out = STRBUF_INIT;

	strbuf_appends(&out, "before");
	ck_assert_msg(mail_message_build(m, &out) == -1, "accepted %s", what);
	ck_assert_str_eq(strbuf_cstr(&out), "before");
	strbuf_free(&out);
}

START_TEST(hostile_header_inputs_are_refused)
{
	static const char *bad_text[] = {
		"Hi\r\nBcc: victim@x.test", "Hi\nBcc: victim@x.test", "Hi\rX: y", "Hi\r\n",
		"\n", "bad \xc3 utf-8", "\xed\xa0\x80 surrogate",
	};
	static const char *bad_addr[] = {
		"ann@example.com\r\nBcc: victim@x.test", "ann@example.com\n", "ann@exa mple.com",
		"<ann@example.com>", "Ann <ann@example.com>", "ann", "@example.com", "ann@",
		"a@b@c.test", "j\xc3\xb6rg@example.com", "ann@exa_mple.com", "\"a b\"@example.com", "",
	};
	static const char *bad_ids[] = {
		"<a@b>\r\nBcc: v@x.test", "a@b", "<a b@c>", "<a@b", "<@b>", "<a@>", "<a@b@c>", "<>",
		"<a\xc3\xa9@b>",
	};
	struct mail_message m = base();

	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		m = base();
		m.subject = bad_text[i];
		expect_refused(&m, bad_text[i]);
		m = base();
		m.from_name = bad_text[i];
		expect_refused(&m, bad_text[i]);
		m = base();
		m.to_name = bad_text[i];
		expect_refused(&m, bad_text[i]);
	}
	for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		m = base();
		m.to_email = bad_addr[i];
		expect_refused(&m, bad_addr[i]);
		m = base();
		m.from_email = bad_addr[i];
		expect_refused(&m, bad_addr[i]);
		if (*bad_addr[i]) {
			m = base();
			m.reply_to = bad_addr[i];
			expect_refused(&m, bad_addr[i]);
		}
	}
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		m = base();
		m.message_id = bad_ids[i];
		expect_refused(&m, bad_ids[i]);
	}
	m = base();
	m.outbox_id = "id\r\nBcc: v@x.test";
	expect_refused(&m, "outbox id with CRLF");
	m.outbox_id = "two words";
	expect_refused(&m, "outbox id with a space");
	m.outbox_id = "";
	expect_refused(&m, "empty outbox id");
	m = base();
	m.unsubscribe_url = "https://x.test/u/a\r\nBcc: v@x.test";
	expect_refused(&m, "URL with CRLF");
	m.unsubscribe_url = "https://x.test/u/a>b";
	expect_refused(&m, "URL with >");
	m.unsubscribe_url = "https://x.test/u/a b";
	expect_refused(&m, "URL with a space");
	m = base();
	m.date = -1;
	expect_refused(&m, "a date before 1970");
	m.date = 253402300800LL;
	expect_refused(&m, "a date after 9999");
	m = base();
	m.subject = NULL;
	expect_refused(&m, "no subject");
	m = base();
	m.to_email = NULL;
	expect_refused(&m, "no recipient");
	m = base();
	m.message_id = NULL;
	expect_refused(&m, "no Message-ID");
	m = base();
	m.text = NULL;
	m.text_len = 3;
	expect_refused(&m, "a NULL text with a length");
}
END_TEST

/* What the tenant writes stays inside its header, whatever it holds. */
START_TEST(names_cannot_start_a_header)
{
	static const char *names[] = {
		"Ann\tBcc: victim@x.test", "Ann\x0b\x0c\x1b[31m", "a\xc2\x85\xe2\x80\xa8" "b",
		"\"; Bcc: victim@x.test; \"", ">, victim@x.test, <",
	};
	struct mail_message m = base();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct strbuf out, hv = STRBUF_INIT;
		struct mail_read_message r;
		m.to_name = names[i];
		m.from_name = names[i];
		m.subject = names[i];
		round_trip(&m, &out, &r);
		ck_assert_int_eq(mail_read_header(out.buf, out.len, "Bcc", &hv), 0);
		ck_assert_str_eq(strbuf_cstr(&r.to_addr), "ann@example.com");
		mail_read_message_free(&r);
		strbuf_free(&out);
		strbuf_free(&hv);
	}
}
END_TEST

START_TEST(one_click_headers_only_for_https)
{
	struct mail_message m = base();
	struct strbuf out;
	struct mail_read_message r;
	static const char *none[] = { NULL, "", "http://127.0.0.1:8080/u/abc", "mailto:u@x.test",
				      "https://" };

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		m.unsubscribe_url = none[i];
		round_trip(&m, &out, &r);
		ck_assert_uint_eq(r.list_unsubscribe.len, 0);
		ck_assert(!contains(&out, "List-Unsubscribe"));
		mail_read_message_free(&r);
		strbuf_free(&out);
	}
	m.unsubscribe_url = "HTTPS://x.test/u/abc";
	round_trip(&m, &out, &r);
	ck_assert_str_eq(strbuf_cstr(&r.list_unsubscribe), "<HTTPS://x.test/u/abc>");
	ck_assert_str_eq(strbuf_cstr(&r.list_unsubscribe_post), "List-Unsubscribe=One-Click");
	mail_read_message_free(&r);
	strbuf_free(&out);
}
END_TEST

START_TEST(dates_are_rfc5322_utc)
{
	static const struct {
		long long t;
		const char *want;
	} cases[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 1798761599, "Thu, 31 Dec 2026 23:59:59 +0000" },
		{ 253402300799LL, "Fri, 31 Dec 9999 23:59:59 +0000" },
	};
	struct mail_message m = base();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf out;
		struct mail_read_message r;
		m.date = cases[i].t;
		round_trip(&m, &out, &r);
		ck_assert_str_eq(strbuf_cstr(&r.date), cases[i].want);
		mail_read_message_free(&r);
		strbuf_free(&out);
	}
}
END_TEST

START_TEST(message_ids_from_outbox_ids)
{
	char id[128];

	ck_assert_int_eq(mail_message_id(OUTBOX, "shop.example", id, sizeof(id)), 0);
	ck_assert_str_eq(id, MSGID);
	ck_assert_int_eq(mail_message_id(OUTBOX, "shop.example", id, strlen(MSGID) + 1), 0);
	ck_assert_int_eq(mail_message_id(OUTBOX, "shop.example", id, strlen(MSGID)), -1);
	ck_assert_int_eq(mail_message_id("a b", "shop.example", id, sizeof(id)), -1);
	ck_assert_int_eq(mail_message_id(OUTBOX, "shop.example>\r\nX: y", id, sizeof(id)), -1);
	ck_assert_int_eq(mail_message_id(OUTBOX, "", id, sizeof(id)), -1);
	ck_assert_int_eq(mail_message_id(OUTBOX, ".shop", id, sizeof(id)), -1);
	ck_assert_int_eq(mail_message_id("", "shop.example", id, sizeof(id)), -1);
	ck_assert_int_eq(mail_message_id(OUTBOX, "sh\xc3\xb6p.example", id, sizeof(id)), -1);
}
END_TEST

/* Random UTF-8 text in every field that takes it: each reads back. */
static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void random_text(struct strbuf *s, size_t n, int newlines)
{
	static const char *pieces[] = { "a", "Z", " ", "  ", "=", "?", "_", "\"", "\\", ".", "From ",
					"=?", "?=", "\t", "\xc3\xa9", "\xe2\x82\xac",
					"\xf0\x9f\x98\x80", "<", ">", "@", ",", ";", "(", "--" };
	strbuf_reset(s);
	strbuf_grow(s, 0);
	for (size_t i = 0; i < n; i++) {
		if (newlines && rng() % 20 == 0)
			strbuf_appends(s, rng() % 2 ? "\n" : "\r\n");
		else
			strbuf_appends(s, pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))]);
	}
}

START_TEST(random_inputs_round_trip)
{
	struct strbuf subj = STRBUF_INIT, name = STRBUF_INIT, text = STRBUF_INIT, html = STRBUF_INIT;

	for (int i = 0; i < 400; i++) {
		struct mail_message m = base();
		random_text(&subj, rng() % 120, 0);
		random_text(&name, rng() % 60, 0);
		random_text(&text, rng() % 600, 1);
		random_text(&html, rng() % 300, 1);
		m.subject = subj.buf;
		m.to_name = name.buf;
		m.from_name = subj.buf;
		m.text = text.buf;
		m.text_len = text.len;
		m.html = html.buf;
		m.html_len = html.len;
		expect_round_trip(&m);
	}
	strbuf_free(&subj);
	strbuf_free(&name);
	strbuf_free(&text);
	strbuf_free(&html);
}
END_TEST

/* Session 13: the body passes skip runs 16 bytes at a time; a special byte
 * (or a blank before a line end) at every offset of such a run, and at the
 * end of the text, still decodes to the input, in lines of at most 76 octets
 * that never end in a blank. */
START_TEST(specials_at_every_offset_round_trip)
{
	static const char *const specials[] = { "=", "\t", " \r\n", "\t\n", "\xc3\xa9", "\x7f",
						"\x01", "  \r\n", " ", "\r", ".", "\r\n." };
	struct strbuf text = STRBUF_INIT, out;
	struct mail_read_message r;

	for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
		for (size_t at = 0; at < 90; at++) {
			struct mail_message m = base();
			long body;
			size_t col = 0;

			strbuf_reset(&text);
			for (size_t i = 0; i < at; i++)
				strbuf_appendc(&text, (char)('a' + i % 26));
			strbuf_appends(&text, specials[k]);
			if (at % 3 != 2) /* sometimes the special ends the text */
				for (size_t i = 0; i < 120 - at; i++)
					strbuf_appendc(&text, i % 9 == 8 ? ' ' : (char)('A' + i % 26));
			m.text = text.buf;
			m.text_len = text.len;
			m.html = text.buf;
			m.html_len = text.len;
			round_trip(&m, &out, &r);
			body = mail_read_body_offset(out.buf, out.len);
			for (size_t i = (size_t)body; i < out.len; i++) {
				if (out.buf[i] == '\r') {
					ck_assert_msg(i == (size_t)body || (out.buf[i - 1] != ' ' && out.buf[i - 1] != '\t'),
						      "a line ends in a blank (special %zu at %zu)", k, at);
					col = 0;
					i++;
				} else {
					col++;
					ck_assert_msg(col <= 76, "a line over 76 (special %zu at %zu)", k, at);
				}
			}
			mail_read_message_free(&r);
			strbuf_free(&out);
		}
	}
	strbuf_free(&text);
}
END_TEST

START_TEST(reader_refuses_what_we_never_write)
{
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(mail_read_qp("a=4", 3, &out), -1);
	ck_assert_int_eq(mail_read_qp("a=XY", 4, &out), -1);
	ck_assert_int_eq(mail_read_qp("a \r\nb", 5, &out), -1);
	ck_assert_int_eq(mail_read_qp("\xc3\xa9", 2, &out), -1);
	ck_assert_int_eq(mail_read_base64("QQ=", 3, &out), -1);
	ck_assert_int_eq(mail_read_base64("Q===", 4, &out), -1);
	ck_assert_int_eq(mail_read_base64("QQ==QQ==", 8, &out), -1);
	ck_assert_int_eq(mail_read_base64("QU*D", 4, &out), -1);
	strbuf_reset(&out);
	ck_assert_int_eq(mail_read_base64("QUJD\r\nRA==", 10, &out), 0);
	ck_assert_str_eq(strbuf_cstr(&out), "ABCD");
	strbuf_reset(&out);
	ck_assert_int_eq(mail_read_words("=?UTF-8?Q?a_b?= =?UTF-8?B?w6k=?= c", 34, &out, NULL), 0);
	ck_assert_str_eq(strbuf_cstr(&out), "a b\xc3\xa9 c");
	ck_assert_int_eq(mail_read_words("=?UTF-8?X?a?=", 13, &out, NULL), -1);
	ck_assert_int_eq(mail_read_words("=?ISO-8859-1?Q?a?=", 18, &out, NULL), -1);
	ck_assert(!mail_read_lines_ok("a\nb\r\n", 5, 998));
	ck_assert(!mail_read_lines_ok("a\r\nb", 4, 998));
	ck_assert(!mail_read_lines_ok("abc\r\n", 5, 2));
	strbuf_free(&out);
}
END_TEST

Suite *message_suite(void)
{
	Suite *s = suite_create("message");
	TCase *tc = tcase_create("message");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, plain_message_has_every_header);
	tcase_add_test(tc, same_input_gives_the_same_bytes);
	tcase_add_test(tc, non_ascii_names_and_subjects_are_encoded_words);
	tcase_add_test(tc, display_names_with_specials_are_quoted);
	tcase_add_test(tc, long_headers_fold_within_78);
	tcase_add_test(tc, words_never_split_a_character);
	tcase_add_test(tc, bodies_take_the_smallest_encoding);
	tcase_add_test(tc, lines_of_2000_characters);
	tcase_add_test(tc, a_body_holding_the_boundary_is_encoded);
	tcase_add_test(tc, from_and_dot_lines_survive);
	tcase_add_test(tc, line_breaks_become_crlf);
	tcase_add_test(tc, binary_bodies_round_trip);
	tcase_add_test(tc, hostile_header_inputs_are_refused);
	tcase_add_test(tc, names_cannot_start_a_header);
	tcase_add_test(tc, one_click_headers_only_for_https);
	tcase_add_test(tc, dates_are_rfc5322_utc);
	tcase_add_test(tc, message_ids_from_outbox_ids);
	tcase_add_test(tc, random_inputs_round_trip);
	tcase_add_test(tc, specials_at_every_offset_round_trip);
	tcase_add_test(tc, reader_refuses_what_we_never_write);
	suite_add_tcase(s, tc);
	return s;
}
