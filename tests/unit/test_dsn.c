/* Bounce and complaint reports (mail/dsn) as real relays write them, and as
 * hostile ones might; the VERP tokens that name the message (mail/links). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "mail/dsn.h"
#include "mail/links.h"
#include "unit.h"

#define OUTBOX "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
#define SECRET "a-link-secret-of-at-least-32-characters!"

/* What Postfix's bounce(8) writes, as pipe(8) hands it over (LF line ends). */
static const char postfix_dsn[] =
	"Return-Path: <>\n"
	"Received: by mx.example.net (Postfix) id 4F1; Sun, 29 Nov 2026 10:00:00 +0000 (UTC)\n"
	"Date: Sun, 29 Nov 2026 10:00:00 +0000 (UTC)\n"
	"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
	"Subject: Undelivered Mail Returned to Sender\n"
	"To: bounce+0123@bounces.flowsend.example\n"
	"Auto-Submitted: auto-replied\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/report; report-type=delivery-status;\n"
	"\tboundary=\"4F1.1764410400/mx.example.net\"\n"
	"\n"
	"This is a MIME-encapsulated message.\n"
	"\n"
	"--4F1.1764410400/mx.example.net\n"
	"Content-Description: Notification\n"
	"Content-Type: text/plain; charset=us-ascii\n"
	"\n"
	"I'm sorry to have to inform you that your message could not\n"
	"be delivered to one or more recipients.\n"
	"\n"
	"--4F1.1764410400/mx.example.net\n"
	"Content-Description: Delivery report\n"
	"Content-Type: message/delivery-status\n"
	"\n"
	"Reporting-MTA: dns; mx.example.net\n"
	"X-Postfix-Queue-ID: 4F1\n"
	"Arrival-Date: Sun, 29 Nov 2026 09:59:58 +0000 (UTC)\n"
	"\n"
	"Final-Recipient: rfc822; ann@example.com\n"
	"Original-Recipient: rfc822;ann@example.com\n"
	"Action: failed\n"
	"Status: 5.1.1\n"
	"Remote-MTA: dns; mail.example.com\n"
	"Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>: Recipient address\n"
	"    rejected: User unknown in local recipient table\n"
	"\n"
	"--4F1.1764410400/mx.example.net\n"
	"Content-Description: Undelivered Message\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: Shop <news@shop.example>\n"
	"To: ann@example.com\n"
	"Subject: Hello\n"
	"Message-ID: <" OUTBOX "@shop.example>\n"
	"X-FlowSend-Outbox: " OUTBOX "\n"
	"\n"
	"Hello\n"
	"\n"
	"--4F1.1764410400/mx.example.net--\n";

/* An ARF report as large mailbox providers send them (CRLF). */
static const char arf[] =
	"From: <staff@hotmail.example>\r\n"
	"To: <bounce+x@bounces.flowsend.example>\r\n"
	"Subject: complaint about message\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/report; report-type=feedback-report;\r\n"
	"     boundary=\"part1_13d.2e68ed54_boundary\"\r\n"
	"\r\n"
	"--part1_13d.2e68ed54_boundary\r\n"
	"Content-Type: text/plain; charset=\"US-ASCII\"\r\n"
	"Content-Transfer-Encoding: 7bit\r\n"
	"\r\n"
	"This is an email abuse report.\r\n"
	"\r\n"
	"--part1_13d.2e68ed54_boundary\r\n"
	"Content-Type: message/feedback-report\r\n"
	"\r\n"
	"Feedback-Type: abuse\r\n"
	"User-Agent: SomeGenerator/1.0\r\n"
	"Version: 1\r\n"
	"Original-Mail-From: <bounce+x@bounces.flowsend.example>\r\n"
	"Original-Rcpt-To: <Bob@Example.com>\r\n"
	"\r\n"
	"--part1_13d.2e68ed54_boundary\r\n"
	"Content-Type: text/rfc822-headers\r\n"
	"\r\n"
	"From: <news@shop.example>\r\n"
	"Message-ID: <" OUTBOX "@shop.example>\r\n"
	"X-FlowSend-Outbox: " OUTBOX "\r\n"
	"\r\n"
	"--part1_13d.2e68ed54_boundary--\r\n";

/* A report built around one delivery-status body. */
static char *report(const char *status_headers, const char *status_body)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_appends(&sb, "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
			    "--b\nContent-Type: text/plain\n\nsorry\n--b\n");
	strbuf_appends(&sb, status_headers);
	strbuf_appends(&sb, "\n");
	strbuf_appends(&sb, status_body);
	strbuf_appends(&sb, "\n--b--\n");
	return sb.buf;
}

static enum dsn_kind kind_of(const char *headers, const char *body, struct dsn_report *r)
{
	char *msg = report(headers, body);
	enum dsn_kind k = dsn_parse(msg, strlen(msg), r);

	free(msg);
	return k;
}

START_TEST(a_postfix_bounce_is_hard_with_its_fields)
{
	struct dsn_report r;

	ck_assert_int_eq(dsn_parse(postfix_dsn, strlen(postfix_dsn), &r), DSN_HARD);
	ck_assert_int_eq(r.kind, DSN_HARD);
	ck_assert_str_eq(r.action, "failed");
	ck_assert_str_eq(r.status, "5.1.1");
	ck_assert_str_eq(r.recipient, "ann@example.com");
	ck_assert_str_eq(r.diagnostic, "smtp; 550 5.1.1 <ann@example.com>: Recipient address "
				       "rejected: User unknown in local recipient table");
	ck_assert_str_eq(r.outbox_id, OUTBOX);
	ck_assert_str_eq(r.message_id, "<" OUTBOX "@shop.example>");
	ck_assert_str_eq(dsn_kind_name(r.kind), "hard");
}
END_TEST

START_TEST(an_arf_abuse_report_is_a_complaint)
{
	struct dsn_report r;
	char copy[sizeof(arf)];
	char *p;

	ck_assert_int_eq(dsn_parse(arf, strlen(arf), &r), DSN_COMPLAINT);
	ck_assert_str_eq(r.feedback_type, "abuse");
	ck_assert_str_eq(r.recipient, "Bob@Example.com");
	ck_assert_str_eq(r.outbox_id, OUTBOX);
	ck_assert_str_eq(dsn_kind_name(r.kind), "complaint");
	/* "not-spam" and DMARC failure reports are no complaint. */
	memcpy(copy, arf, sizeof(arf));
	p = strstr(copy, "abuse\r\n");
	memcpy(p, "fraud", 5);
	ck_assert_int_eq(dsn_parse(copy, strlen(copy), &r), DSN_COMPLAINT);
	memcpy(copy, arf, sizeof(arf));
	p = strstr(copy, "Feedback-Type: abuse");
	memcpy(p, "Feedback-Typo", 13);
	ck_assert_int_eq(dsn_parse(copy, strlen(copy), &r), DSN_NONE);
	ck_assert_int_eq(kind_of("Content-Type: message/feedback-report\n",
				 "Feedback-Type: not-spam\nVersion: 1\n", &r),
			 DSN_NONE);
	ck_assert_int_eq(kind_of("Content-Type: message/feedback-report\n",
				 "Feedback-Type: auth-failure\n", &r),
			 DSN_NONE);
	ck_assert_int_eq(kind_of("Content-Type: message/feedback-report\n",
				 "Feedback-Type: Virus (found one)\n", &r),
			 DSN_COMPLAINT);
	ck_assert_str_eq(r.feedback_type, "virus");
}
END_TEST

START_TEST(action_and_status_decide_hard_or_soft)
{
	struct dsn_report r;
	const char *ds = "Content-Type: message/delivery-status\n";

	ck_assert_int_eq(kind_of(ds, "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; x@y.z\n"
				     "Action: delayed\nStatus: 4.4.1\n", &r), DSN_SOFT);
	ck_assert_str_eq(r.status, "4.4.1");
	ck_assert_str_eq(r.action, "delayed");
	/* Given up after the queue lifetime: failed, but not for good. */
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nAction: failed\nStatus: 4.4.7\n",
				 &r), DSN_SOFT);
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nAction: FAILED\nStatus: 5.7.1 (spam)\n",
				 &r), DSN_HARD);
	ck_assert_str_eq(r.status, "5.7.1");
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nAction: delivered\nStatus: 2.0.0\n",
				 &r), DSN_NONE);
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nAction: relayed\nStatus: 2.0.0\n",
				 &r), DSN_NONE);
	/* Without an Action the status class speaks; without either, nothing. */
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nStatus: 5.1.1\n", &r), DSN_HARD);
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\nStatus: 4.2.2\n", &r), DSN_SOFT);
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; x@y.z\n", &r), DSN_NONE);
	/* A failure with a malformed status is still a failure. */
	ck_assert_int_eq(kind_of(ds, "Action: failed\nStatus: 5.x.1\n", &r), DSN_HARD);
	ck_assert_str_eq(r.status, "");
	ck_assert_int_eq(kind_of(ds, "Action: failed\nStatus: 5.1111.1\n", &r), DSN_HARD);
	ck_assert_str_eq(r.status, "");
	/* The worst recipient speaks for the report. */
	ck_assert_int_eq(kind_of(ds, "Final-Recipient: rfc822; a@y.z\nAction: relayed\n\n"
				     "Final-Recipient: rfc822; b@y.z\nAction: delayed\nStatus: 4.0.0\n\n"
				     "Final-Recipient: rfc822; c@y.z\nAction: failed\nStatus: 5.0.0\n\n"
				     "Final-Recipient: rfc822; d@y.z\nAction: delayed\nStatus: 4.0.0\n",
				 &r), DSN_HARD);
	ck_assert_str_eq(r.recipient, "c@y.z");
}
END_TEST

START_TEST(encoded_and_nested_reports_read)
{
	struct dsn_report r;
	/* base64 of "Final-Recipient: rfc822; q@y.z\r\nAction: failed\r\nStatus: 5.2.2\r\n" */
	const char *b64 = "RmluYWwtUmVjaXBpZW50OiByZmM4MjI7IHFAeS56DQpBY3Rpb246IGZhaWxlZA0KU3Rh\n"
			  "dHVzOiA1LjIuMg0K\n";
	char *msg;
	struct strbuf sb = STRBUF_INIT;

	ck_assert_int_eq(kind_of("Content-Type: message/delivery-status\n"
				 "Content-Transfer-Encoding: base64\n", b64, &r), DSN_HARD);
	ck_assert_str_eq(r.status, "5.2.2");
	ck_assert_str_eq(r.recipient, "q@y.z");
	ck_assert_int_eq(kind_of("Content-Type: message/delivery-status\n"
				 "Content-Transfer-Encoding: quoted-printable\n",
				 "Action: fail=\ned\nStatus: 5.1=2E1\n", &r), DSN_HARD);
	ck_assert_str_eq(r.status, "5.1.1");
	/* A report forwarded inside a multipart/mixed still reads. */
	strbuf_appends(&sb, "Content-Type: multipart/mixed; boundary=\"outer; x\"\n\n--outer; x\n");
	strbuf_append(&sb, postfix_dsn, strlen(postfix_dsn));
	strbuf_appends(&sb, "--outer; x--\n");
	ck_assert_int_eq(dsn_parse(sb.buf, sb.len, &r), DSN_HARD);
	ck_assert_str_eq(r.outbox_id, OUTBOX);
	strbuf_free(&sb);
	/* Nested beyond DSN_MAX_DEPTH: skipped, not followed. */
	for (int i = 0; i <= DSN_MAX_DEPTH; i++)
		strbuf_appendf(&sb, "Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n", i, i);
	strbuf_append(&sb, postfix_dsn, strlen(postfix_dsn));
	ck_assert_int_eq(dsn_parse(sb.buf, sb.len, &r), DSN_NONE);
	strbuf_free(&sb);
	/* The returned message is not read as a report of its own: a bounce
	 * quoted inside a "delivered" report says nothing failed. */
	msg = report("Content-Type: message/delivery-status\n",
		     "Action: delivered\nStatus: 2.0.0\n\n--b\nContent-Type: message/rfc822\n\n"
		     "Content-Type: multipart/report; boundary=c\n\n--c\n"
		     "Content-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n--c--\n");
	ck_assert_int_eq(dsn_parse(msg, strlen(msg), &r), DSN_NONE);
	free(msg);
}
END_TEST

START_TEST(hostile_reports_are_read_or_ignored_safely)
{
	struct dsn_report r;
	struct strbuf sb = STRBUF_INIT;
	char *msg;

	/* Not a report at all. */
	ck_assert_int_eq(dsn_parse("", 0, &r), DSN_NONE);
	ck_assert_int_eq(dsn_parse("Subject: out of office\n\nback monday\n", 36, &r), DSN_NONE);
	ck_assert_int_eq(dsn_parse("Content-Type: multipart/report\n\n--b\n", 36, &r), DSN_NONE);
	/* A truncated report (no closing delimiter) still reads. */
	msg = report("Content-Type: message/delivery-status\n", "Action: failed\nStatus: 5.1.1\n");
	*strstr(msg, "\n--b--") = '\0';
	ck_assert_int_eq(dsn_parse(msg, strlen(msg), &r), DSN_HARD);
	free(msg);
	/* Lines that only start like the boundary are no delimiter. */
	msg = report("Content-Type: message/delivery-status\n",
		     "Action: failed\n--bx\nStatus: 5.1.1\n--b-\n");
	ck_assert_int_eq(dsn_parse(msg, strlen(msg), &r), DSN_HARD);
	ck_assert_str_eq(r.status, "5.1.1");
	free(msg);
	/* Huge headers and fields are cut, never overflow. */
	strbuf_appends(&sb, "X-Big: ");
	for (int i = 0; i < 200000; i++)
		strbuf_appends(&sb, "aaaaa");
	strbuf_appends(&sb, "\n");
	for (int i = 0; i < 5000; i++)
		strbuf_appends(&sb, " folded continuation line\n");
	strbuf_appends(&sb, "Content-Type: multipart/report; boundary=b\n\n--b\n"
			    "Content-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n"
			    "Diagnostic-Code: ");
	for (int i = 0; i < 10000; i++)
		strbuf_appends(&sb, "\xff\x01x");
	strbuf_appends(&sb, "\nFinal-Recipient: rfc822; <");
	for (int i = 0; i < 1000; i++)
		strbuf_appends(&sb, "long");
	strbuf_appends(&sb, "@y.z>\n--b--\n");
	ck_assert_int_eq(dsn_parse(sb.buf, sb.len, &r), DSN_HARD);
	ck_assert_uint_eq(strlen(r.diagnostic), sizeof(r.diagnostic) - 1);
	ck_assert_str_eq(r.diagnostic + 0, "??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x"
					   "??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x"
					   "??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x"
					   "??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x??x"
					   "??x??x??x??x??x");
	ck_assert_uint_eq(strlen(r.recipient), sizeof(r.recipient) - 1);
	strbuf_free(&sb);
	/* NUL bytes and bare CRs inside do not stop or confuse it. */
	{
		static const char nul[] = "Content-Type: multipart/report; boundary=b\n\n--b\n"
					  "Content-Type: message/delivery-status\n\n"
					  "X: a\0b\rc\nAction: failed\nStatus: 5.1.1\n--b--\n";
		ck_assert_int_eq(dsn_parse(nul, sizeof(nul) - 1, &r), DSN_HARD);
	}
	/* Many parts: only the first DSN_MAX_PARTS are looked at. */
	strbuf_appends(&sb, "Content-Type: multipart/report; boundary=b\n\n");
	for (int i = 0; i < DSN_MAX_PARTS + 10; i++)
		strbuf_appends(&sb, "--b\nContent-Type: text/plain\n\nx\n");
	strbuf_appends(&sb, "--b\nContent-Type: message/delivery-status\n\nAction: failed\n--b--\n");
	ck_assert_int_eq(dsn_parse(sb.buf, sb.len, &r), DSN_NONE);
	strbuf_free(&sb);
	/* An unterminated quoted boundary and empty parameters. */
	ck_assert_int_eq(dsn_parse("Content-Type: multipart/report; boundary=\"b\n\n--b\n", 47, &r),
			 DSN_NONE);
	ck_assert_int_eq(dsn_parse("Content-Type: multipart/report; boundary=\n\n--\n", 46, &r),
			 DSN_NONE);
	ck_assert_int_eq(dsn_parse("Content-Type: ;;;=\"\\\n\n", 23, &r), DSN_NONE);
}
END_TEST

START_TEST(random_and_mutated_inputs_never_crash)
{
	uint32_t seed = 18;
	size_t len = strlen(postfix_dsn);
	char *buf = malloc(len + 1);
	struct dsn_report r;

	for (int round = 0; round < 3000; round++) {
		memcpy(buf, postfix_dsn, len + 1);
		for (int k = 0; k < 1 + round % 8; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % len] = (char)(seed >> 16);
		}
		seed = seed * 1103515245u + 12345u;
		dsn_parse(buf, (seed >> 4) % (len + 1), &r);
		ck_assert_uint_lt(strlen(r.status), sizeof(r.status));
		ck_assert_uint_lt(strlen(r.diagnostic), sizeof(r.diagnostic));
	}
	free(buf);
}
END_TEST

START_TEST(verp_tokens_name_the_row_and_resist_forgery)
{
	char tok[VERP_TOKEN_LEN + 1], id[37], addr[256], up[VERP_TOKEN_LEN + 1];
	size_t off, tlen;

	ck_assert_int_eq(verp_token(SECRET, OUTBOX, tok, sizeof(tok)), 0);
	ck_assert_uint_eq(strlen(tok), VERP_TOKEN_LEN);
	ck_assert_uint_le(strlen(VERP_PREFIX) + VERP_TOKEN_LEN, 64); /* one local part */
	ck_assert_int_eq(verp_token_verify(SECRET, tok, strlen(tok), id, sizeof(id)), 0);
	ck_assert_str_eq(id, OUTBOX);
	/* Relays may change the case of a local part. */
	for (size_t i = 0; i <= VERP_TOKEN_LEN; i++)
		up[i] = tok[i] >= 'a' && tok[i] <= 'f' ? (char)(tok[i] - 32) : tok[i];
	ck_assert_int_eq(verp_token_verify(SECRET, up, strlen(up), id, sizeof(id)), 0);
	/* Any digit changed, another secret, another length: refused. */
	for (size_t i = 0; i < VERP_TOKEN_LEN; i++) {
		char bad[VERP_TOKEN_LEN + 1];
		memcpy(bad, tok, sizeof(bad));
		bad[i] = bad[i] == '0' ? '1' : '0';
		ck_assert_int_eq(verp_token_verify(SECRET, bad, VERP_TOKEN_LEN, id, sizeof(id)), -1);
	}
	ck_assert_int_eq(verp_token_verify("another-secret-of-32-characters-at-least", tok,
					   VERP_TOKEN_LEN, id, sizeof(id)), -1);
	ck_assert_int_eq(verp_token_verify(SECRET, tok, VERP_TOKEN_LEN - 1, id, sizeof(id)), -1);
	ck_assert_int_eq(verp_token_verify(SECRET, "zz", 2, id, sizeof(id)), -1);
	ck_assert_int_eq(verp_token(SECRET, "not-a-uuid", tok, sizeof(tok)), -1);
	/* The unsubscribe token of the same row is no VERP token. */
	{
		char u[LINK_TOKEN_LEN + 1];
		ck_assert_int_eq(link_token(SECRET, "u", OUTBOX, u, sizeof(u)), 0);
		ck_assert_int_eq(verp_token_verify(SECRET, u, strlen(u), id, sizeof(id)), -1);
	}
	ck_assert_int_eq(verp_address(SECRET, OUTBOX, "bounces.shop.example", addr, sizeof(addr)), 0);
	ck_assert_int_eq(strncmp(addr, "bounce+", 7), 0);
	ck_assert_ptr_nonnull(strstr(addr, "@bounces.shop.example"));
	{
		char small[40];
		ck_assert_int_eq(verp_address(SECRET, OUTBOX, "bounces.shop.example", small,
					      sizeof(small)), -1);
		ck_assert_int_eq(verp_address(SECRET, OUTBOX, "", small, sizeof(small)), -1);
	}
	/* Finding the token: case of the prefix, angle brackets; nothing else. */
	ck_assert_int_eq(verp_find_token(addr, strlen(addr), &off, &tlen), 0);
	ck_assert_uint_eq(off, 7);
	ck_assert_uint_eq(tlen, VERP_TOKEN_LEN);
	ck_assert_int_eq(verp_find_token("<BOUNCE+abc@x.y>", 16, &off, &tlen), 0);
	ck_assert_uint_eq(off, 8);
	ck_assert_uint_eq(tlen, 3);
	ck_assert_int_eq(verp_find_token("bounce+abc", 10, &off, &tlen), -1);
	ck_assert_int_eq(verp_find_token("bounce+@x.y", 11, &off, &tlen), -1);
	ck_assert_int_eq(verp_find_token("news@x.y", 8, &off, &tlen), -1);
	ck_assert_int_eq(verp_find_token("", 0, &off, &tlen), -1);
	ck_assert_int_eq(verp_find_token("<<<", 3, &off, &tlen), -1);
}
END_TEST

Suite *dsn_suite(void)
{
	Suite *s = suite_create("dsn");
	TCase *tc = tcase_create("dsn");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_postfix_bounce_is_hard_with_its_fields);
	tcase_add_test(tc, an_arf_abuse_report_is_a_complaint);
	tcase_add_test(tc, action_and_status_decide_hard_or_soft);
	tcase_add_test(tc, encoded_and_nested_reports_read);
	tcase_add_test(tc, hostile_reports_are_read_or_ignored_safely);
	tcase_add_test(tc, random_and_mutated_inputs_never_crash);
	tcase_add_test(tc, verp_tokens_name_the_row_and_resist_forgery);
	suite_add_tcase(s, tc);
	return s;
}
