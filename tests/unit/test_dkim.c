/* DKIM: messages from mail_message_build (and hand-written awkward ones)
 * signed by mail/dkim, judged by libopendkim's verifier with the key in a
 * file (DKIM_QUERY_FILE, no DNS); a byte changed after signing fails; the
 * body hash agrees with libopendkim's own signer; keys and TXT records. */
#include <dkim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/dkim.h"
#include "mail/dkim_check.h"
#include "mail/message.h"
#include "unit.h"

#define DOMAIN "shop.example"
#define SELECTOR "fs2025"
#define NOW 1764599230LL

/* One key pair for the whole suite, made before the tests fork. */
static struct strbuf priv_pem, pub_b64;
static char key_file[64];

static void write_key_file(const char *path, const char *selector, const char *domain,
			   const char *pub)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s._domainkey.%s v=DKIM1; k=rsa; p=%s\n", selector, domain, pub);
	fclose(f);
}

static void suite_setup(void)
{
	int fd;

	strbuf_init(&priv_pem);
	strbuf_init(&pub_b64);
	ck_assert_int_eq(dkim_keygen(2048, &priv_pem, &pub_b64), 0);
	snprintf(key_file, sizeof(key_file), "/tmp/fs-dkim-keys-XXXXXX");
	fd = mkstemp(key_file);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_key_file(key_file, SELECTOR, DOMAIN, pub_b64.buf);
}

static void suite_teardown(void)
{
	unlink(key_file);
	strbuf_free(&priv_pem);
	strbuf_free(&pub_b64);
}

static struct dkim_signer *signer(void)
{
	char err[256] = "";
	struct dkim_signer *s =
		dkim_signer_new(DOMAIN, SELECTOR, priv_pem.buf, priv_pem.len, err, sizeof(err));

	ck_assert_msg(s != NULL, "%s", err);
	return s;
}

static struct mail_message base(void)
{
	struct mail_message m = { 0 };

	m.from_name = "Shop";
	m.from_email = "news@shop.example";
	m.reply_to = "help@shop.example";
	m.to_name = "Ann";
	m.to_email = "ann@example.com";
	m.subject = "Spring sale: everything must go, and then some more words to fold";
	m.html = "<p>Hello   <b>Ann</b>\t</p>\n\n<p>Caf\xc3\xa9 cr\xc3\xa8me</p>\n";
	m.html_len = strlen(m.html);
	m.text = "Hello Ann  \n\nCaf\xc3\xa9 cr\xc3\xa8me\n\n\n";
	m.text_len = strlen(m.text);
	m.message_id = "<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee@shop.example>";
	m.outbox_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
	m.unsubscribe_url = "https://mail.shop.example/u/AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIII00";
	m.date = NOW;
	return m;
}

/* sig + msg in signed, as it goes to SMTP. */
static void sign_into(const struct dkim_signer *s, const char *msg, size_t len,
		      struct strbuf *signed_msg)
{
	strbuf_init(signed_msg);
	ck_assert_int_eq(dkim_signer_sign(s, msg, len, NOW, signed_msg), 0);
	strbuf_append(signed_msg, msg, len);
	ck_assert(!signed_msg->oom);
}

static struct dkim_check_result check(const struct strbuf *m)
{
	struct dkim_check_result r;

	ck_assert_int_eq(dkim_check(m->buf, m->len, key_file, &r), 0);
	return r;
}

static void expect_pass(const struct strbuf *m)
{
	struct dkim_check_result r = check(m);

	ck_assert_msg(r.pass, "%s\n%s", r.detail, m->buf);
	ck_assert_str_eq(r.domain, DOMAIN);
	ck_assert_str_eq(r.selector, SELECTOR);
	ck_assert(r.from_signed);
}

static void expect_fail(const struct strbuf *m)
{
	struct dkim_check_result r = check(m);

	ck_assert_msg(!r.pass, "an altered message verified:\n%s", m->buf);
}

START_TEST(built_message_verifies)
{
	struct dkim_signer *s = signer();
	struct mail_message m = base();
	struct strbuf msg = STRBUF_INIT, out;
	const char *h;

	ck_assert_int_eq(mail_message_build(&m, &msg), 0);
	sign_into(s, msg.buf, msg.len, &out);
	expect_pass(&out);
	/* The header: folded, every line within 78 octets, the fields we meant. */
	ck_assert(strncmp(out.buf, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;", 53) == 0);
	for (const char *p = out.buf, *e; (e = strstr(p, "\r\n")) && p < out.buf + out.len;
	     p = e + 2) {
		ck_assert_uint_le((size_t)(e - p), 78);
		if (e[2] != ' ' && e[2] != '\t')
			break; /* the end of the signature field */
	}
	h = strstr(out.buf, "h=");
	ck_assert_ptr_nonnull(h);
	{
		/* Unfold h= to compare it. */
		char list[512];
		size_t n = 0;
		for (const char *p = h + 2; *p != ';' && n + 1 < sizeof(list); p++)
			if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
				list[n++] = *p;
		list[n] = '\0';
		ck_assert_str_eq(list, "From:Reply-To:To:Subject:Date:Message-ID:MIME-Version:"
				       "Content-Type:List-Unsubscribe:List-Unsubscribe-Post:From");
	}
	ck_assert_ptr_null(strstr(out.buf, "X-FlowSend-Outbox:From")); /* ours only */
	ck_assert_ptr_nonnull(strstr(out.buf, " d=" DOMAIN ";"));
	ck_assert_ptr_nonnull(strstr(out.buf, "\ts=" SELECTOR ";"));
	ck_assert_ptr_nonnull(strstr(out.buf, " t=1764599230;"));

	/* Without Reply-To and List-Unsubscribe: only what is present is listed. */
	m.reply_to = NULL;
	m.unsubscribe_url = NULL;
	strbuf_reset(&msg);
	ck_assert_int_eq(mail_message_build(&m, &msg), 0);
	strbuf_free(&out);
	sign_into(s, msg.buf, msg.len, &out);
	expect_pass(&out);
	ck_assert_ptr_null(strstr(out.buf, "Reply-To"));
	ck_assert_ptr_null(strstr(out.buf, "List-Unsubscribe:"));
	strbuf_free(&out);
	strbuf_free(&msg);
	dkim_signer_free(s);
}
END_TEST

/* Flip one byte at the first occurrence of what (at offset skip from it). */
static void alter(struct strbuf *m, const char *what, size_t skip, char to)
{
	char *p = strstr(m->buf, what);

	ck_assert_msg(p != NULL, "%s not found", what);
	p[skip] = to;
}

START_TEST(altered_after_signing_fails)
{
	struct dkim_signer *s = signer();
	struct mail_message m = base();
	struct strbuf msg = STRBUF_INIT, out;

	ck_assert_int_eq(mail_message_build(&m, &msg), 0);

	/* A byte of the body. */
	sign_into(s, msg.buf, msg.len, &out);
	alter(&out, "Hello Ann", 0, 'J');
	expect_fail(&out);
	strbuf_free(&out);

	/* A byte of the subject. */
	sign_into(s, msg.buf, msg.len, &out);
	alter(&out, "Subject: Spring", 9, 'Z');
	expect_fail(&out);
	strbuf_free(&out);

	/* A byte of the signature itself. */
	sign_into(s, msg.buf, msg.len, &out);
	{
		char *b = strstr(out.buf, " b=");
		ck_assert_ptr_nonnull(b);
		b[10] = b[10] == 'A' ? 'B' : 'A';
	}
	expect_fail(&out);
	strbuf_free(&out);

	/* A second From added above the first: the oversigned From refuses it. */
	sign_into(s, msg.buf, msg.len, &out);
	{
		struct strbuf forged = STRBUF_INIT;
		char *first = strstr(out.buf, "\r\nDate:");
		ck_assert_ptr_nonnull(first);
		strbuf_append(&forged, out.buf, (size_t)(first - out.buf) + 2);
		strbuf_appends(&forged, "From: Bank <security@bank.example>\r\n");
		strbuf_appends(&forged, first + 2);
		expect_fail(&forged);
		strbuf_free(&forged);
	}
	strbuf_free(&out);

	/* Whitespace changes relaxed canonicalization ignores still pass. */
	sign_into(s, msg.buf, msg.len, &out);
	{
		struct strbuf loose = STRBUF_INIT;
		char *subj = strstr(out.buf, "\r\nSubject: ");
		ck_assert_ptr_nonnull(subj);
		strbuf_append(&loose, out.buf, (size_t)(subj - out.buf) + 2);
		strbuf_appends(&loose, "subject:   \t");
		strbuf_appends(&loose, subj + 11);
		strbuf_appends(&loose, "\r\n\r\n"); /* empty lines at the end */
		expect_pass(&loose);
		strbuf_free(&loose);
	}
	strbuf_free(&out);
	strbuf_free(&msg);
	dkim_signer_free(s);
}
END_TEST

/* libopendkim's own signer's bh= for msg, relaxed/relaxed. */
static void opendkim_body_hash(const char *msg, size_t len, char *out, size_t size)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	DKIM_STAT st;
	DKIM *d;
	unsigned char *hdr;
	size_t hlen;
	const char *bh, *end;

	ck_assert_ptr_nonnull(lib);
	d = dkim_sign(lib, (const unsigned char *)"t", NULL, (dkim_sigkey_t)priv_pem.buf,
		      (const unsigned char *)SELECTOR, (const unsigned char *)DOMAIN,
		      DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(dkim_chunk(d, (unsigned char *)msg, len), DKIM_STAT_OK);
	ck_assert_int_eq(dkim_chunk(d, NULL, 0), DKIM_STAT_OK);
	ck_assert_int_eq(dkim_eom(d, NULL), DKIM_STAT_OK);
	ck_assert_int_eq(dkim_getsighdr_d(d, 16, &hdr, &hlen), DKIM_STAT_OK);
	bh = strstr((const char *)hdr, "bh=");
	ck_assert_ptr_nonnull(bh);
	end = strchr(bh, ';');
	ck_assert_ptr_nonnull(end);
	snprintf(out, size, "%.*s", (int)(end - bh - 3), bh + 3);
	dkim_free(d);
	dkim_close(lib);
}

static void our_body_hash(const struct strbuf *sig, char *out, size_t size)
{
	const char *bh = strstr(sig->buf, "bh="), *end;

	ck_assert_ptr_nonnull(bh);
	end = strchr(bh, ';');
	ck_assert_ptr_nonnull(end);
	snprintf(out, size, "%.*s", (int)(end - bh - 3), bh + 3);
}

START_TEST(awkward_messages_verify)
{
	/* Hand-written: folded fields, odd spacing and case, tabs, trailing
	 * blanks, empty lines at the end, no CRLF at the very end, an empty body. */
	static const char *const msgs[] = {
		"FROM :  Ann   <ann@shop.example> \r\nTo: b@example.com,\r\n\t c@example.com\r\n"
		"Subject:\tA\t\tfolded\r\n   subject  \r\nDate: Mon, 01 Dec 2025 14:27:10 +0000\r\n"
		"\r\nline one  \r\n\t tabbed \t line\t\r\n\r\n \r\n\t\r\n\r\n",
		"From: a@shop.example\r\nSubject: no final CRLF\r\n\r\nlast line",
		"From: a@shop.example\r\nSubject: empty body\r\n\r\n",
		"From: a@shop.example\r\nSubject: only blank lines\r\n\r\n\r\n  \r\n\r\n",
		"From: a@shop.example\r\nSubject: headers only\r\n",
		"From: a@shop.example\r\nTo: x@example.com\r\nTo: y@example.com\r\n\r\n"
		"two To fields\r\n",
		"From: a@shop.example\r\n\r\n\r\n\r\nleading empty lines\r\n",
	};
	struct dkim_signer *s = signer();

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct strbuf out, sent = STRBUF_INIT;
		char ours[64], theirs[64];
		size_t len = strlen(msgs[i]);
		sign_into(s, msgs[i], len, &out);
		/* SMTP ends the data with CRLF whatever the message ends with, and
		 * libopendkim refuses a body without it: check what a server sees. */
		strbuf_append(&sent, out.buf, out.len);
		strbuf_append(&sent, msgs[i], 0);
		if (len >= 2 && msgs[i][len - 1] != '\n')
			strbuf_append(&sent, "\r\n", 2);
		expect_pass(&sent);
		our_body_hash(&out, ours, sizeof(ours));
		opendkim_body_hash(sent.buf + (out.len - len), sent.len - (out.len - len), theirs,
				   sizeof(theirs));
		strbuf_free(&sent);
		ck_assert_msg(strcmp(ours, theirs) == 0, "message %zu: bh %s, libopendkim %s", i,
			      ours, theirs);
		strbuf_free(&out);
	}
	dkim_signer_free(s);
}
END_TEST

/* Session 12: the canonical body reaches SHA-256 through a 4 KB staging
 * buffer. Bodies that cross it many times, with a line longer than the
 * buffer (hashed directly) and blank runs and empty lines on the edges,
 * must give libopendkim's body hash and verify. */
START_TEST(long_bodies_hash_like_libopendkim)
{
	struct dkim_signer *s = signer();

	for (int variant = 0; variant < 3; variant++) {
		struct strbuf msg = STRBUF_INIT, out;
		char ours[64], theirs[64];

		strbuf_appends(&msg, "From: a@shop.example\r\nSubject: long\r\n\r\n");
		for (int i = 0; i < 700; i++) {
			strbuf_appendf(&msg, "line %d%s with\t tabs   and  runs%s\r\n", i,
				       variant == 1 ? "    " : "", i % 3 ? "" : "  \t");
			if (i % 97 == variant)
				strbuf_appends(&msg, "\r\n \r\n\t\r\n");
			if (i == 350 + variant) {
				for (int k = 0; k < 5000 + variant * 1500; k++)
					strbuf_appendc(&msg, (char)(k == 2500 ? '\t' : 'a' + k % 26));
				strbuf_appends(&msg, "\r\n");
			}
		}
		if (variant == 2)
			strbuf_appends(&msg, "\r\n\r\n  \r\n\r\n");
		ck_assert(!msg.oom);
		sign_into(s, msg.buf, msg.len, &out); /* the signature, then the message */
		expect_pass(&out);
		our_body_hash(&out, ours, sizeof(ours));
		opendkim_body_hash(msg.buf, msg.len, theirs, sizeof(theirs));
		ck_assert_msg(strcmp(ours, theirs) == 0, "variant %d: bh %s, libopendkim %s", variant,
			      ours, theirs);
		strbuf_free(&out);
		strbuf_free(&msg);
	}
	dkim_signer_free(s);
}
END_TEST

START_TEST(unsignable_messages_are_refused)
{
	static const char *const msgs[] = {
		"To: b@example.com\r\n\r\nno From\r\n",
		"From: a@shop.example\r\nFrom: b@shop.example\r\n\r\ntwo From\r\n",
		"From: a@shop.example\nTo: b@example.com\r\n\r\nbare LF in the header\r\n",
		"From: a@shop.example\r\nno colon here\r\n\r\nbody\r\n",
		" From: a@shop.example\r\n\r\ncontinuation first\r\n",
		"From: a@shop.example",
		"",
		"From: a@shop.example\r\n\r\nbare\rCR\r\n",
		"From: a@shop.example\r\n\r\nbare LF\nin the body\r\n",
		"From: a@shop.example\r\n\r\nends in a bare CR\r",
	};
	struct dkim_signer *s = signer();
	struct strbuf out = STRBUF_INIT;

	strbuf_appends(&out, "kept");
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		ck_assert_msg(dkim_signer_sign(s, msgs[i], strlen(msgs[i]), NOW, &out) == -1,
			      "message %zu was signed", i);
		ck_assert_str_eq(strbuf_cstr(&out), "kept");
	}
	strbuf_free(&out);
	dkim_signer_free(s);
}
END_TEST

START_TEST(signer_checks_its_inputs)
{
	static const char ec_pem[] =
		"-----BEGIN PRIVATE KEY-----\n"
		"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZx5GFxYUrwZ0xAx+\n"
		"C6PsIdnRK6uiVANWQXdEgfLWj/mhRANCAAQySZQPN6JZLca9OO8x8gQd6GGxzhFw\n"
		"sUP/yTAJIhUCKXwCCLBrBgd5TOAiE+fKuzr+gvShLZu9g10yLV7CbRB0\n"
		"-----END PRIVATE KEY-----\n";
	char err[256];
	struct dkim_signer *s;
	struct strbuf pub = STRBUF_INIT;

	ck_assert_ptr_null(dkim_signer_new("shop.example", "s1", ec_pem, sizeof(ec_pem) - 1, err,
					   sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not an RSA key"));
	ck_assert_ptr_null(dkim_signer_new("shop.example", "s1", "garbage", 7, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not a PEM private key"));
	ck_assert_ptr_null(dkim_signer_new("shop.example; x=1", "s1", priv_pem.buf, priv_pem.len,
					   err, sizeof(err)));
	ck_assert_ptr_null(dkim_signer_new("shop.example", "s 1", priv_pem.buf, priv_pem.len, err,
					   sizeof(err)));
	ck_assert_ptr_null(dkim_signer_new("shop.example", "", priv_pem.buf, priv_pem.len, err,
					   sizeof(err)));
	ck_assert_ptr_null(dkim_signer_from_file("shop.example", "s1", "/nonexistent/key.pem", err,
						 sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/key.pem"));

	/* Made from a file, with the public key it should publish. */
	{
		char path[] = "/tmp/fs-dkim-pem-XXXXXX";
		int fd = mkstemp(path);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, priv_pem.buf, priv_pem.len), (ssize_t)priv_pem.len);
		close(fd);
		s = dkim_signer_from_file("Shop.Example", "fs_2025.a", path, err, sizeof(err));
		unlink(path);
	}
	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_str_eq(dkim_signer_domain(s), "shop.example");
	ck_assert_str_eq(dkim_signer_selector(s), "fs_2025.a");
	ck_assert_int_eq(dkim_signer_public_key(s, &pub), 0);
	ck_assert_str_eq(pub.buf, pub_b64.buf);
	strbuf_free(&pub);
	dkim_signer_free(s);
}
END_TEST

START_TEST(txt_record_strings)
{
	struct strbuf v = STRBUF_INIT, q = STRBUF_INIT, joined = STRBUF_INIT;
	size_t n;

	ck_assert_int_eq(dkim_txt_value(pub_b64.buf, &v), 0);
	ck_assert(strncmp(v.buf, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
			  62) == 0);
	ck_assert_uint_gt(v.len, 255); /* a 2048-bit key needs two strings */
	n = dkim_txt_strings(v.len);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(dkim_txt_quoted(v.buf, v.len, &q), 0);
	/* Read the zone-file form back: each string within 255 bytes. */
	for (const char *p = q.buf; *p;) {
		const char *e;
		ck_assert_int_eq(*p, '"');
		e = strchr(p + 1, '"');
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_le((size_t)(e - p - 1), DKIM_TXT_STRING_MAX);
		strbuf_append(&joined, p + 1, (size_t)(e - p - 1));
		p = e[1] == ' ' ? e + 2 : e + 1;
	}
	ck_assert_str_eq(joined.buf, v.buf);
	strbuf_reset(&q);
	ck_assert_int_eq(dkim_txt_quoted("a\"b\\c", 5, &q), 0);
	ck_assert_str_eq(q.buf, "\"a\\\"b\\\\c\"");
	ck_assert_uint_eq(dkim_txt_strings(255), 1);
	ck_assert_uint_eq(dkim_txt_strings(256), 2);
	ck_assert_uint_eq(dkim_txt_strings(0), 1);
	strbuf_free(&v);
	strbuf_free(&q);
	strbuf_free(&joined);
}
END_TEST

START_TEST(names)
{
	ck_assert(dkim_name_ok("shop.example", 12, 0));
	ck_assert(dkim_name_ok("xn--caf-dma.example", 19, 0));
	ck_assert(dkim_name_ok("fs_2025", 7, 1));
	ck_assert(!dkim_name_ok("fs_2025", 7, 0));
	ck_assert(!dkim_name_ok("", 0, 0));
	ck_assert(!dkim_name_ok(".shop.example", 13, 0));
	ck_assert(!dkim_name_ok("shop..example", 13, 0));
	ck_assert(!dkim_name_ok("shop.example.", 13, 0));
	ck_assert(!dkim_name_ok("-shop.example", 13, 0));
	ck_assert(!dkim_name_ok("shop-.example", 13, 0));
	ck_assert(!dkim_name_ok("shop.exa mple", 13, 0));
	{
		char label[80];
		memset(label, 'a', 64);
		memcpy(label + 64, ".example", 9);
		ck_assert(!dkim_name_ok(label, strlen(label), 0));
		ck_assert(dkim_name_ok(label + 1, strlen(label + 1), 0));
	}
}
END_TEST

Suite *dkim_suite(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("dkim");

	/* A 2048-bit key pair takes a while under valgrind. */
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, built_message_verifies);
	tcase_add_test(tc, altered_after_signing_fails);
	tcase_add_test(tc, awkward_messages_verify);
	tcase_add_test(tc, unsignable_messages_are_refused);
	tcase_add_test(tc, signer_checks_its_inputs);
	tcase_add_test(tc, txt_record_strings);
	tcase_add_test(tc, names);
	tcase_add_test(tc, long_bodies_hash_like_libopendkim);
	suite_add_tcase(s, tc);
	return s;
}
