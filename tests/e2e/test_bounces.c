/* News that comes back after delivery (issue 18), end to end: campaigns go
 * out through the tests' SMTP sink with VERP envelope senders, and reports
 * built from what arrived are piped into flowsend-bounce as Postfix would:
 * hard bounces, complaints and soft-bounce runs recorded once, forged or
 * mismatched reports and other tenants untouched. Then the password reset
 * mail, read from the sink, and the link it carries. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fixtures/provider_keys.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/links.h"
#include "mail/provider.h"
#include "mail/message_read.h"
#include "services/auth.h"

#define BOUNCE_DOMAIN "bounces.e2e.example"
#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"

static char token[4096];

/* ---- the sink (as tests/e2e/test_delivery.c runs it) ---- */

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

/* Ports 12025 + 10 n + k per instance; delivery's tests use k up to 7. */
static int sink_port(int k)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return 12025 + 10 * (port >= 18080 && port < 18090 ? port - 18080 : 0) + k;
}

static void sink_start(struct e2e_sink *s, int k)
{
	static int serial;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/sink/bounces-%d-%d", state_dir(), (int)getpid(), serial++);
	e2e_sink_start(s, dir, sink_port(k), NULL);
}

/* The envelope sender the sink recorded. */
static const char *envelope_of(const char *raw, char *out, size_t size)
{
	const char *p = strstr(raw, "X-Sink-Mail-From: <"), *end;

	ck_assert_ptr_nonnull(p);
	p += strlen("X-Sink-Mail-From: <");
	end = strchr(p, '>');
	ck_assert_ptr_nonnull(end);
	ck_assert_uint_lt((size_t)(end - p), size);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return out;
}

/* The message itself, after the sink's envelope lines. */
static const char *message_start(const char *raw)
{
	const char *p = strstr(raw, "X-Sink-TLS: ");
	ck_assert_ptr_nonnull(p);
	return strstr(p, "\r\n") + 2;
}

/* ---- commands ---- */

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int smtp_batch(const struct e2e_sink *s)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_BOUNCE_DOMAIN=" BOUNCE_DOMAIN
		 " %s/flowsend-batch --once >>/tmp/flowsend-e2e-batch.log 2>&1",
		 s->port, e2e_bin());
	return run(cmd);
}

/* Pipe msg into flowsend-bounce; recipient NULL: none given; how "arg" or
 * "env" (ORIGINAL_RECIPIENT, as Postfix's local(8) sets it). Its exit status. */
static int bounce(const char *recipient, const char *how, const char *msg)
{
	char path[600], cmd[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/report-%d.eml", state_dir(), (int)getpid());
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(msg, 1, strlen(msg), f), strlen(msg));
	fclose(f);
	if (!recipient)
		snprintf(cmd, sizeof(cmd), "env -u ORIGINAL_RECIPIENT -u RECIPIENT %s/flowsend-bounce"
			 " < %s >>/tmp/flowsend-e2e-bounce.log 2>&1", e2e_bin(), path);
	else if (strcmp(how, "env") == 0)
		snprintf(cmd, sizeof(cmd), "env ORIGINAL_RECIPIENT='%s' %s/flowsend-bounce"
			 " < %s >>/tmp/flowsend-e2e-bounce.log 2>&1", recipient, e2e_bin(), path);
	else
		snprintf(cmd, sizeof(cmd), "%s/flowsend-bounce --recipient '%s'"
			 " < %s >>/tmp/flowsend-e2e-bounce.log 2>&1", e2e_bin(), recipient, path);
	return run(cmd);
}

/* ---- reports, as relays write them (LF line ends, as pipe(8) gives) ---- */

/* The header block of a delivered message, CRLF made LF. */
static void original_headers(const char *raw, struct strbuf *out)
{
	const char *msg = message_start(raw), *end = strstr(msg, "\r\n\r\n");

	ck_assert_ptr_nonnull(end);
	for (const char *p = msg; p < end; p++)
		if (*p != '\r')
			strbuf_appendc(out, *p);
	strbuf_appends(out, "\n");
}

static char *dsn(const char *to, const char *action, const char *status, const char *raw)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_appendf(&sb,
		       "Return-Path: <>\nFrom: MAILER-DAEMON@relay.example (Mail Delivery System)\n"
		       "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
		       "Content-Type: multipart/report; report-type=delivery-status;\n"
		       "\tboundary=\"AB12.1764410400/relay.example\"\n\n"
		       "This is a MIME-encapsulated message.\n\n"
		       "--AB12.1764410400/relay.example\nContent-Type: text/plain\n\n"
		       "Your message could not be delivered.\n\n"
		       "--AB12.1764410400/relay.example\nContent-Type: message/delivery-status\n\n"
		       "Reporting-MTA: dns; relay.example\n\n"
		       "Final-Recipient: rfc822; %s\nAction: %s\nStatus: %s\n"
		       "Diagnostic-Code: smtp; %s %s mailbox says no\n\n"
		       "--AB12.1764410400/relay.example\nContent-Type: text/rfc822-headers\n\n",
		       to, action, status, status[0] == '5' ? "550" : "452", status);
	if (raw)
		original_headers(raw, &sb);
	strbuf_appends(&sb, "\n--AB12.1764410400/relay.example--\n");
	return sb.buf;
}

static char *arf(const char *to, const char *raw)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_appendf(&sb,
		       "From: <feedback@isp.example>\nSubject: Abuse report\nMIME-Version: 1.0\n"
		       "Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n"
		       "--f\nContent-Type: text/plain\n\nA user marked this as spam.\n\n"
		       "--f\nContent-Type: message/feedback-report\n\n"
		       "Feedback-Type: abuse\nUser-Agent: ISP-FBL/1.0\nVersion: 1\n"
		       "Original-Rcpt-To: <%s>\n\n--f\nContent-Type: message/rfc822\n\n",
		       to);
	original_headers(raw, &sb);
	strbuf_appends(&sb, "\nbody\n--f--\n");
	return sb.buf;
}

/* ---- the tenant's side ---- */

static void contact(const char *tok, const char *email)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(tok, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
}

static void send_campaign(const char *tok, const char *subject, char *id)
{
	char body[512], path[128];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"name\":\"Bounces\",\"subject\":\"%s\",\"template_id\":\"%s\"}",
		 subject, WELCOME_TEMPLATE);
	e2e_expect(tok, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(tok, "POST", path, NULL, 202, NULL, NULL);
}

static long long campaign_count(const char *tok, const char *id, const char *field)
{
	char path[128];
	struct http_answer a;
	long long v;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(tok, "GET", path, NULL, 200, NULL, &a);
	v = json_object_get_int64(json_object_object_get(a.json, field));
	http_answer_free(&a);
	return v;
}

static long long owner2(const char *sql, const char *a1, const char *a2)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_value(sql, a2 ? 2 : 1, p);
}

/* The envelope sender FlowSend should have used for the row. */
static void expected_envelope(const char *campaign, const char *email, char *out, size_t size)
{
	struct fs_config cfg;
	char err[256], id[40];
	const char *p[2] = { campaign, email };

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id::text FROM outbox WHERE campaign_id = $1"
					     " AND to_email = $2", 2, p, id, sizeof(id)));
	ck_assert_int_eq(verp_address(cfg.link_secret, id, BOUNCE_DOMAIN, out, size), 0);
}

/* What a contact of tenant uid looks like: "bounced,subscribed,suppression reason". */
static const char *contact_state(const char *uid, const char *email, char *out, size_t size)
{
	const char *p[2] = { uid, email };

	ck_assert_ptr_nonnull(e2e_owner_text(
		"SELECT (k.bounced_at IS NOT NULL)::text || ',' || k.is_subscribed::text || ','"
		" || coalesce((SELECT s.reason FROM suppressions s WHERE s.user_id = k.user_id"
		"   AND s.email_hash = flowsend_email_hash(k.email)), '-')"
		" FROM contacts k WHERE k.user_id = $1 AND k.email = $2", 2, p, out, size));
	return out;
}

static void events_match_counts(const char *id)
{
	static const char *const pairs[][2] = {
		{ "sent", "sent_count" }, { "bounced", "bounce_count" },
		{ "complained", "complaint_count" },
	};

	e2e_counters_match_events(id, pairs, sizeof(pairs) / sizeof(pairs[0]));
}

static void resume_worker(void)
{
	e2e_pause_worker(0);
}

/* ---- the tests ---- */

START_TEST(reports_by_mail_bounce_complain_and_replay_to_nothing)
{
	char id[40], uid[40], uid_b[40], token_b[4096], env_ann[256], env_bob[256], env_cy[256];
	char want[256], buf[256], *raw_ann, *raw_bob, *raw_cy, *msg;
	struct e2e_sink s;

	e2e_pause_worker(1);
	/* Tenant B holds the same address, and must never hear of A's news. */
	e2e_new_tenant("bounces-b", token_b, sizeof(token_b));
	e2e_user_id(token_b, uid_b);
	contact(token_b, "ann@vb.example");
	e2e_new_tenant("bounces-a", token, sizeof(token));
	e2e_user_id(token, uid);
	contact(token, "ann@vb.example");
	contact(token, "bob@vb.example");
	contact(token, "cy@vb.example");
	send_campaign(token, "News", id);
	sink_start(&s, 8);
	ck_assert_int_eq(smtp_batch(&s), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "ann@vb.example", NULL, &raw_ann), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "bob@vb.example", NULL, &raw_bob), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "cy@vb.example", NULL, &raw_cy), 1);
	e2e_sink_stop(&s);

	/* Each message went out from its own signed return address. */
	envelope_of(raw_ann, env_ann, sizeof(env_ann));
	envelope_of(raw_bob, env_bob, sizeof(env_bob));
	envelope_of(raw_cy, env_cy, sizeof(env_cy));
	expected_envelope(id, "ann@vb.example", want, sizeof(want));
	ck_assert_str_eq(env_ann, want);
	ck_assert_uint_eq(strcspn(env_ann, "@"), strlen(VERP_PREFIX) + VERP_TOKEN_LEN);
	ck_assert_str_eq(strchr(env_ann, '@'), "@" BOUNCE_DOMAIN);
	ck_assert_str_ne(env_ann, env_bob);
	ck_assert_str_ne(env_bob, env_cy);

	/* A hard bounce: contact bounced, address suppressed, event, counts. */
	msg = dsn("ann@vb.example", "failed", "5.1.1", raw_ann);
	ck_assert_int_eq(bounce(env_ann, "arg", msg), 0);
	ck_assert_str_eq(contact_state(uid, "ann@vb.example", buf, sizeof(buf)), "true,true,bounce");
	ck_assert_int_eq(campaign_count(token, id, "bounce_count"), 1);
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND event_type = 'bounced' AND metadata->>'source' = 'dsn'"
				" AND metadata->>'status' = '5.1.1' AND metadata->>'bounce_type' = 'hard'"
				" AND contact_id = (SELECT id FROM contacts WHERE user_id = $2"
				"  AND email = 'ann@vb.example')",
				id, uid), 1);
	ck_assert_int_eq(owner2("SELECT coalesce(sum(bounced), 0) FROM daily_stats WHERE user_id = $1",
				uid, NULL), 1);
	events_match_counts(id);
	/* The same report again, and through the environment: nothing more. */
	ck_assert_int_eq(bounce(env_ann, "arg", msg), 0);
	ck_assert_int_eq(bounce(env_ann, "env", msg), 0);
	ck_assert_int_eq(campaign_count(token, id, "bounce_count"), 1);
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE user_id = $1"
				" AND event_type = 'bounced'", uid, NULL), 1);
	ck_assert_int_eq(owner2("SELECT coalesce(sum(bounced), 0) FROM daily_stats WHERE user_id = $1",
				uid, NULL), 1);
	free(msg);

	/* A complaint: unsubscribed, suppressed, complained. */
	msg = arf("bob@vb.example", raw_bob);
	ck_assert_int_eq(bounce(env_bob, "arg", msg), 0);
	ck_assert_int_eq(bounce(env_bob, "arg", msg), 0);
	ck_assert_str_eq(contact_state(uid, "bob@vb.example", buf, sizeof(buf)),
			 "false,false,complaint");
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND event_type = 'complained' AND metadata->>'feedback_type' = 'abuse'",
				id, NULL), 1);
	ck_assert_int_eq(owner2("SELECT complaint_count FROM campaigns WHERE id = $1", id, NULL), 1);
	ck_assert_int_eq(owner2("SELECT count(*) FROM unsubscribes WHERE user_id = $1"
				" AND source = 'complaint'", uid, NULL), 1);
	ck_assert_int_eq(owner2("SELECT coalesce(sum(complained), 0) FROM daily_stats"
				" WHERE user_id = $1", uid, NULL), 1);
	events_match_counts(id);
	free(msg);

	/* Forged, altered, missing or mismatched: nothing happens to cy. */
	msg = dsn("cy@vb.example", "failed", "5.1.1", raw_cy);
	{
		char forged[256];
		snprintf(forged, sizeof(forged), "%s", env_cy);
		forged[10] = forged[10] == '0' ? '1' : '0';
		ck_assert_int_eq(bounce(forged, "arg", msg), 67);
		snprintf(forged, sizeof(forged), "bounce+%s", env_ann + 7);
		forged[7 + 40] = forged[7 + 40] == 'a' ? 'b' : 'a'; /* inside the MAC */
		ck_assert_int_eq(bounce(forged, "arg", msg), 67);
		ck_assert_int_eq(bounce("news@" BOUNCE_DOMAIN, "arg", msg), 67);
		ck_assert_int_eq(bounce(NULL, NULL, msg), 67);
	}
	free(msg);
	/* cy's own address, but the copy returned is ann's: not cy's report. */
	msg = dsn("cy@vb.example", "failed", "5.1.1", raw_ann);
	ck_assert_int_eq(bounce(env_cy, "arg", msg), 0);
	free(msg);
	/* An out-of-office reply and a "delivered" notice: no news. */
	ck_assert_int_eq(bounce(env_cy, "arg", "Subject: Out of office\n\nBack on Monday.\n"), 0);
	msg = dsn("cy@vb.example", "delivered", "2.0.0", raw_cy);
	ck_assert_int_eq(bounce(env_cy, "arg", msg), 0);
	free(msg);
	/* 6 MiB of junk after a report's start: read up to the cap, taken, ignored. */
	{
		struct strbuf big = STRBUF_INIT;
		strbuf_appends(&big, "Content-Type: multipart/report; boundary=b\n\n--b\n"
				     "Content-Type: message/delivery-status\n\nX-Junk: ");
		for (int i = 0; i < 6 * 16384; i++)
			strbuf_appends(&big, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
					     "abcdef\n ");
		ck_assert(!big.oom);
		ck_assert_int_eq(bounce(env_cy, "arg", big.buf), 0);
		strbuf_free(&big);
	}
	/* A report that arrives before the worker committed the message's
	 * outcome: Postfix is told to try again later, nothing is recorded. */
	{
		const char *p[1] = { NULL };
		char cy_id[40];
		const char *q[2] = { id, "cy@vb.example" };
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT id::text FROM outbox WHERE campaign_id = $1"
						     " AND to_email = $2", 2, q, cy_id, sizeof(cy_id)));
		p[0] = cy_id;
		ck_assert_int_eq(e2e_owner_value("UPDATE outbox SET status = 'handing' WHERE id = $1"
						 " RETURNING 1", 1, p), 1);
		msg = dsn("cy@vb.example", "failed", "5.1.1", raw_cy);
		ck_assert_int_eq(bounce(env_cy, "arg", msg), 75);
		ck_assert_int_eq(e2e_owner_value("UPDATE outbox SET status = 'sent' WHERE id = $1"
						 " RETURNING 1", 1, p), 1);
		free(msg);
	}
	ck_assert_str_eq(contact_state(uid, "cy@vb.example", buf, sizeof(buf)), "false,true,-");
	ck_assert_int_eq(owner2("SELECT count(*) FROM mail_feedback WHERE user_id = $1", uid, NULL), 2);

	/* Tenant B's contact with ann's address is untouched. */
	ck_assert_str_eq(contact_state(uid_b, "ann@vb.example", buf, sizeof(buf)), "false,true,-");
	ck_assert_int_eq(owner2("SELECT count(*) FROM suppressions WHERE user_id = $1", uid_b, NULL), 0);
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE user_id = $1"
				" AND event_type IN ('bounced', 'complained')", uid_b, NULL), 0);
	ck_assert_int_eq(owner2("SELECT count(*) FROM mail_feedback WHERE user_id = $1", uid_b, NULL), 0);

	/* The next campaign leaves ann and bob out. */
	send_campaign(token, "Next", id);
	ck_assert_int_eq(owner2("SELECT count(*) FROM outbox WHERE campaign_id = $1", id, NULL), 1);
	free(raw_ann);
	free(raw_bob);
	free(raw_cy);
	e2e_pause_worker(0);
}
END_TEST

/* One message to dan; the report for it is of kind (NULL: none comes). */
static void soft_round(const struct e2e_sink *s, const char *action, const char *status, char *id)
{
	char env[256];
	char *msg;

	send_campaign(token, "Weekly", id);
	ck_assert_int_eq(smtp_batch(s), 0);
	if (!action)
		return;
	expected_envelope(id, "dan@soft.example", env, sizeof(env));
	msg = dsn("dan@soft.example", action, status, NULL);
	ck_assert_int_eq(bounce(env, "arg", msg), 0);
	ck_assert_int_eq(bounce(env, "arg", msg), 0); /* replayed: counted once */
	free(msg);
}

START_TEST(soft_bounces_suppress_after_three_in_a_row)
{
	char id[5][40], uid[40], buf[256];
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("soft", token, sizeof(token));
	e2e_user_id(token, uid);
	contact(token, "dan@soft.example");
	sink_start(&s, 9);
	soft_round(&s, "delayed", "4.4.1", id[0]);
	ck_assert_int_eq(owner2("SELECT count(*) FROM mail_feedback WHERE user_id = $1"
				" AND kind = 'soft'", uid, NULL), 1);
	soft_round(&s, NULL, NULL, id[1]); /* arrived: breaks the run */
	soft_round(&s, "failed", "4.4.7", id[2]);
	soft_round(&s, "delayed", "4.2.2", id[3]);
	/* Three soft among four, but not three in a row. */
	ck_assert_int_eq(owner2("SELECT count(*) FROM mail_feedback WHERE user_id = $1"
				" AND kind = 'soft'", uid, NULL), 3);
	ck_assert_str_eq(contact_state(uid, "dan@soft.example", buf, sizeof(buf)), "false,true,-");
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE user_id = $1"
				" AND event_type = 'bounced'", uid, NULL), 0);
	soft_round(&s, "delayed", "4.4.1", id[4]);
	ck_assert_str_eq(contact_state(uid, "dan@soft.example", buf, sizeof(buf)), "true,true,bounce");
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND event_type = 'bounced' AND metadata->>'bounce_type' = 'soft'"
				" AND metadata->>'soft_bounces' = '3'", id[4], NULL), 1);
	ck_assert_int_eq(campaign_count(token, id[4], "bounce_count"), 1);
	ck_assert_int_eq(campaign_count(token, id[3], "bounce_count"), 0);
	for (int i = 0; i < 5; i++)
		events_match_counts(id[i]);
	/* Suppressed: the next campaign has nobody to mail. */
	{
		char next[40];
		send_campaign(token, "After", next);
		ck_assert_int_eq(owner2("SELECT count(*) FROM outbox WHERE campaign_id = $1", next, NULL),
				 0);
	}
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

/* ---- password reset by mail ---- */

static void login(const char *email, const char *password, long status)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	e2e_expect(NULL, "POST", "/api/v1/auth/login", body, status, NULL, NULL);
}

static const char *forgot(const char *email, char *message, size_t size)
{
	char body[256];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(NULL, "POST", "/api/v1/auth/forgot-password", body, 200, NULL, &a);
	snprintf(message, size, "%s", a.body);
	http_answer_free(&a);
	return message;
}

START_TEST(password_reset_arrives_by_mail_and_works_once)
{
	char email[128], access[4096], refresh[512], body[1024], known[512], unknown[512];
	char tok[128], uid[40];
	char *raw;
	const char *url, *msg;
	struct mail_read_message m;
	const char *why;
	struct e2e_sink s;
	struct e2e_env e;
	struct fs_error err;

	e2e_pause_worker(1);
	e2e_unique_email("reset-mail", email, sizeof(email));
	e2e_register(email, "first-password-1", access, sizeof(access), refresh, sizeof(refresh));
	e2e_user_id(access, uid);
	/* The same answer whether the address has an account or not. */
	forgot(email, known, sizeof(known));
	e2e_unique_email("nobody", body, sizeof(body));
	forgot(body, unknown, sizeof(unknown));
	ck_assert_str_eq(known, unknown);
	forgot(email, known, sizeof(known)); /* within 10 minutes: no second mail */

	sink_start(&s, 9);
	ck_assert_int_eq(smtp_batch(&s), 0);
	ck_assert_int_eq(e2e_sink_find(&s, email, "Subject: Reset your FlowSend password", &raw), 1);
	ck_assert_int_eq(e2e_sink_find(&s, body, NULL, NULL), 0);
	/* FlowSend's own mail, returned to a signed address like any other. */
	{
		char env[256];
		envelope_of(raw, env, sizeof(env));
		ck_assert_int_eq(strncmp(env, VERP_PREFIX, strlen(VERP_PREFIX)), 0);
	}
	msg = message_start(raw);
	ck_assert_msg(mail_read_message(msg, strlen(msg), &m, &why) == 0, "unreadable: %s", why);
	url = strstr(strbuf_cstr(&m.text), "/app/reset-password?token=fsp_");
	ck_assert_ptr_nonnull(url);
	ck_assert_ptr_nonnull(strstr(strbuf_cstr(&m.html), "/app/reset-password?token=fsp_"));
	url += strlen("/app/reset-password?token=");
	snprintf(tok, sizeof(tok), "%.*s", (int)strspn(url, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"), url);
	ck_assert_uint_gt(strlen(tok), 20);
	mail_read_message_free(&m);
	free(raw);
	/* Stored hashed: the token itself is nowhere in the database. */
	{
		const char *p[2] = { uid, tok };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM password_reset_tokens"
						 " WHERE user_id = $1", 1, p), 1);
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM password_reset_tokens"
						 " WHERE user_id = $1 AND token_hash ="
						 "  encode(sha256(convert_to($2, 'UTF8')), 'hex')",
						 2, p), 1);
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM password_reset_tokens"
						 " WHERE user_id = $1 AND token_hash = $2", 2, p), 0);
	}

	/* On the settable clock: 11 minutes on, another mail may go; an hour
	 * and a minute on, the mailed token has expired. */
	e2e_env_open(&e, uid, "free");
	clock_set_offset(11 * 60);
	ck_assert_int_eq(auth_forgot_password(&e.env, email, &err), FS_OK);
	clock_set_offset(61 * 60);
	ck_assert_int_eq(auth_reset_password(&e.env, tok, "expired-password-1", 18, &err),
			 FS_BAD_REQUEST);
	clock_set_offset(0);
	e2e_env_close(&e);
	{
		const char *p[1] = { uid };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM password_reset_tokens"
						 " WHERE user_id = $1", 1, p), 2);
	}
	login(email, "expired-password-1", 401);

	/* Now, within the hour: the reset works once and ends every session. */
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"new_password\":\"second-password-2\"}", tok);
	e2e_expect(NULL, "POST", "/api/v1/auth/reset-password", body, 200, NULL, NULL);
	e2e_expect(NULL, "POST", "/api/v1/auth/reset-password", body, 400,
		   "Invalid or expired reset token", NULL);
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh);
	e2e_expect(NULL, "POST", "/api/v1/auth/refresh", body, 401, NULL, NULL);
	login(email, "first-password-1", 401);
	login(email, "second-password-2", 200);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

/* ---- provider webhooks ---- */

#define SNS_CERT_URL "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-e2e.pem"

/* The SNS stand-in: a static HTTP server on FLOWSEND_SNS_BASE_URL's port
 * serving the test certificate, logging every request it gets. */
struct standin {
	pid_t pid;
	char dir[512], log[600];
};

static void standin_start(struct standin *t)
{
	const char *base = getenv("FLOWSEND_SNS_BASE_URL");
	const char *colon = base ? strrchr(base, ':') : NULL;
	int port = colon ? atoi(colon + 1) : 0;
	char cmd[2048], path[700];
	FILE *f;

	ck_assert_msg(port > 0, "FLOWSEND_SNS_BASE_URL is not set: %s", base ? base : "(null)");
	snprintf(t->dir, sizeof(t->dir), "%s/sns-standin", state_dir());
	snprintf(t->log, sizeof(t->log), "%s/sns-standin.log", state_dir());
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s && : > %s", t->dir, t->dir, t->log);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/SimpleNotificationService-e2e.pem", t->dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(test_sns_cert, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/confirm", t->dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("<ConfirmSubscriptionResponse/>", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "exec %s -m http.server %d --bind 127.0.0.1 --directory %s 2>>%s >/dev/null",
		 e2e_python(), port, t->dir, t->log);
	t->pid = fork();
	ck_assert_int_ge(t->pid, 0);
	if (t->pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	ck_assert_msg(e2e_wait_port(port), "the SNS stand-in did not start on %d", port);
}

static void standin_stop(struct standin *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
}

/* How many requests the stand-in logged whose line holds needle. */
static int standin_seen(const struct standin *t, const char *needle)
{
	char *text = e2e_slurp(t->log, NULL), *p;
	int n = 0;

	ck_assert_ptr_nonnull(text);
	for (p = text; (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

/* An SNS message as SNS sends it: signed with the test key (SHA-256), or
 * with one field changed after signing (tamper), or unsigned. */
static char *sns_message(const char *type, const char *message, const char *cert_url,
			 const char *subscribe_path, int sign, int tamper)
{
	struct sns_message m = { 0 };
	struct strbuf text = STRBUF_INIT, body = STRBUF_INIT;
	char sig[400] = "AAAA", url[256];
	json_object *o = json_object_new_object();

	snprintf(url, sizeof(url), "https://sns.eu-west-1.amazonaws.com/%s?Action=ConfirmSubscription"
		 "&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses-events&Token=t0k",
		 subscribe_path ? subscribe_path : "confirm");
	m.type = type;
	m.message_id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";
	m.topic_arn = "arn:aws:sns:eu-west-1:123456789012:ses-events";
	m.message = message;
	m.timestamp = "2026-11-29T10:00:00.000Z";
	m.subscribe_url = url;
	m.token = "t0k";
	ck_assert_int_eq(sns_string_to_sign(&m, &text), 0);
	if (sign)
		ck_assert_int_eq(test_sign(test_sns_key, 0, text.buf, text.len, sig, sizeof(sig)), 0);
	json_object_object_add(o, "Type", json_object_new_string(type));
	json_object_object_add(o, "MessageId", json_object_new_string(m.message_id));
	json_object_object_add(o, "TopicArn", json_object_new_string(m.topic_arn));
	json_object_object_add(o, "Message",
			       json_object_new_string(tamper ? "{\"notificationType\":\"Bounce\"}"
							     : message));
	json_object_object_add(o, "Timestamp", json_object_new_string(m.timestamp));
	json_object_object_add(o, "SignatureVersion", json_object_new_string("2"));
	json_object_object_add(o, "Signature", json_object_new_string(sig));
	json_object_object_add(o, "SigningCertURL", json_object_new_string(cert_url));
	if (strcmp(type, "Notification") != 0) {
		json_object_object_add(o, "SubscribeURL", json_object_new_string(url));
		json_object_object_add(o, "Token", json_object_new_string(m.token));
	}
	strbuf_appends(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	strbuf_free(&text);
	return body.buf;
}

static char *ses_event(const char *type, const char *message_id, const char *email)
{
	struct strbuf sb = STRBUF_INIT;

	if (strcmp(type, "Bounce") == 0)
		strbuf_appendf(&sb, "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":"
			       "\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"%s\","
			       "\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 unknown\"}]},",
			       email);
	else
		strbuf_appendf(&sb, "{\"notificationType\":\"Complaint\",\"complaint\":"
			       "{\"complaintFeedbackType\":\"abuse\",\"complainedRecipients\":"
			       "[{\"emailAddress\":\"%s\"}]},", email);
	strbuf_appendf(&sb, "\"mail\":{\"messageId\":\"0100018c-ses-id\",\"commonHeaders\":"
		       "{\"messageId\":\"%s\"}}}", message_id);
	return sb.buf;
}

/* POST a body to a webhook with extra headers; the answer's status. */
static long webhook(const char *path, const char *const *headers, const char *body,
		    struct http_answer *out)
{
	struct http_answer a;
	long st;

	ck_assert_int_eq(http_call("POST", path, headers, body, strlen(body), &a), 0);
	st = a.status;
	if (out)
		*out = a;
	else
		http_answer_free(&a);
	return st;
}

static long sns_post(const char *body, struct http_answer *out)
{
	static const char *const text[] = { "Content-Type: text/plain; charset=UTF-8",
					     "x-amz-sns-message-type: Notification", NULL };
	return webhook("/api/v1/webhooks/ses-events", text, body, out);
}

static int answer_int(const struct http_answer *a, const char *key)
{
	return json_object_get_int(json_object_object_get(a->json, key));
}

static const char *message_id_of(const char *campaign, const char *email, char *out, size_t size)
{
	const char *p[2] = { campaign, email };

	ck_assert_ptr_nonnull(e2e_owner_text("SELECT message_id FROM outbox WHERE campaign_id = $1"
					     " AND to_email = $2", 2, p, out, size));
	return out;
}

START_TEST(ses_notifications_are_verified_confirmed_and_recorded_once)
{
	char id[40], uid[40], mid_ann[256], mid_bob[256], mid_cy[256], buf[256];
	char *ev, *body;
	struct http_answer a;
	struct standin t;
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("ses", token, sizeof(token));
	e2e_user_id(token, uid);
	contact(token, "ann@ses.example");
	contact(token, "bob@ses.example");
	contact(token, "cy@ses.example");
	send_campaign(token, "SES", id);
	sink_start(&s, 8);
	ck_assert_int_eq(smtp_batch(&s), 0);
	e2e_sink_stop(&s);
	message_id_of(id, "ann@ses.example", mid_ann, sizeof(mid_ann));
	message_id_of(id, "bob@ses.example", mid_bob, sizeof(mid_bob));
	message_id_of(id, "cy@ses.example", mid_cy, sizeof(mid_cy));
	standin_start(&t);

	/* A signed bounce: recorded, the certificate fetched from the stand-in. */
	ev = ses_event("Bounce", mid_ann, "ann@ses.example");
	body = sns_message("Notification", ev, SNS_CERT_URL, NULL, 1, 0);
	ck_assert_int_eq(sns_post(body, &a), 200);
	ck_assert_int_eq(answer_int(&a, "recorded"), 1);
	http_answer_free(&a);
	ck_assert_int_ge(standin_seen(&t, "GET /SimpleNotificationService-e2e.pem"), 1);
	ck_assert_str_eq(contact_state(uid, "ann@ses.example", buf, sizeof(buf)), "true,true,bounce");
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND event_type = 'bounced' AND metadata->>'source' = 'ses'"
				" AND metadata->>'status' = '5.1.1'", id, NULL), 1);
	/* Replayed: nothing more. */
	ck_assert_int_eq(sns_post(body, &a), 200);
	ck_assert_int_eq(answer_int(&a, "recorded"), 0);
	ck_assert_int_eq(answer_int(&a, "ignored"), 1);
	http_answer_free(&a);
	ck_assert_int_eq(campaign_count(token, id, "bounce_count"), 1);
	free(body);

	/* Altered after signing, unsigned, or a certificate from elsewhere: 401. */
	body = sns_message("Notification", ev, SNS_CERT_URL, NULL, 1, 1);
	ck_assert_int_eq(sns_post(body, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid SNS message signature");
	http_answer_free(&a);
	free(body);
	body = sns_message("Notification", ev, SNS_CERT_URL, NULL, 0, 0);
	ck_assert_int_eq(sns_post(body, NULL), 401);
	free(body);
	body = sns_message("Notification", ev, "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
			   NULL, 1, 0);
	ck_assert_int_eq(sns_post(body, NULL), 401);
	free(body);
	body = sns_message("Notification", ev, "http://127.0.0.1:1/SimpleNotificationService-e2e.pem",
			   NULL, 1, 0);
	ck_assert_int_eq(sns_post(body, NULL), 401);
	free(body);
	ck_assert_int_eq(sns_post("not json at all", NULL), 401);
	/* A topic not in FLOWSEND_SNS_TOPIC_ARNS: 403, and no certificate fetched for it. */
	{
		char *arn;
		body = sns_message("Notification", ev,
				   "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-other.pem",
				   NULL, 1, 0);
		ck_assert_ptr_nonnull(arn = strstr(body, ":ses-events\""));
		memcpy(arn, ":ses-evilxx\"", 12);
		ck_assert_int_eq(sns_post(body, &a), 403);
		ck_assert_str_eq(http_detail(&a), "SNS topic not allowed (FLOWSEND_SNS_TOPIC_ARNS)");
		http_answer_free(&a);
		free(body);
		ck_assert_int_eq(standin_seen(&t, "other.pem"), 0);
	}
	free(ev);

	/* A Message-ID with the right id but not the one sent: not ours. */
	{
		char other[300];
		snprintf(other, sizeof(other), "%.37s@evil.example>", mid_cy);
		ev = ses_event("Bounce", other, "cy@ses.example");
		body = sns_message("Notification", ev, SNS_CERT_URL, NULL, 1, 0);
		ck_assert_int_eq(sns_post(body, &a), 200);
		ck_assert_int_eq(answer_int(&a, "recorded"), 0);
		http_answer_free(&a);
		ck_assert_str_eq(contact_state(uid, "cy@ses.example", buf, sizeof(buf)), "false,true,-");
		free(body);
		free(ev);
	}

	/* A complaint. */
	ev = ses_event("Complaint", mid_bob, "bob@ses.example");
	body = sns_message("Notification", ev, SNS_CERT_URL, NULL, 1, 0);
	ck_assert_int_eq(sns_post(body, NULL), 200);
	ck_assert_int_eq(sns_post(body, NULL), 200);
	ck_assert_str_eq(contact_state(uid, "bob@ses.example", buf, sizeof(buf)), "false,false,complaint");
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND event_type = 'complained' AND metadata->>'source' = 'ses'", id, NULL), 1);
	free(body);
	free(ev);

	/* The subscription is confirmed by fetching its URL; a forged one is not. */
	body = sns_message("SubscriptionConfirmation", "You have chosen to subscribe to the topic",
			   SNS_CERT_URL, "confirm", 1, 0);
	ck_assert_int_eq(sns_post(body, &a), 200);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "confirmed")));
	http_answer_free(&a);
	free(body);
	ck_assert_int_eq(standin_seen(&t, "GET /confirm?Action=ConfirmSubscription"), 1);
	body = sns_message("SubscriptionConfirmation", "You have chosen to subscribe to the topic",
			   SNS_CERT_URL, "confirm-forged", 0, 0);
	ck_assert_int_eq(sns_post(body, NULL), 401);
	free(body);
	ck_assert_int_eq(standin_seen(&t, "confirm-forged"), 0);
	standin_stop(&t);
	e2e_pause_worker(0);
}
END_TEST

static long sendgrid_post(const char *body, const char *timestamp, int sign, int drop_headers,
			  struct http_answer *out)
{
	char sig[256] = "AAAA", hs[400], ht[100], *data;
	const char *headers[4] = { "Content-Type: application/json", hs, ht, NULL };

	data = malloc(strlen(timestamp) + strlen(body) + 1);
	strcpy(data, timestamp);
	strcat(data, body);
	if (sign)
		ck_assert_int_eq(test_sign(test_sendgrid_key, 0, data, strlen(data), sig, sizeof(sig)), 0);
	free(data);
	snprintf(hs, sizeof(hs), "X-Twilio-Email-Event-Webhook-Signature: %s", sig);
	snprintf(ht, sizeof(ht), "X-Twilio-Email-Event-Webhook-Timestamp: %s", timestamp);
	if (drop_headers)
		headers[1] = NULL;
	return webhook("/api/v1/webhooks/sendgrid-events", headers, body, out);
}

START_TEST(sendgrid_events_are_verified_and_recorded_once)
{
	char id[40], uid[40], uid_b[40], token_b[4096], mid_cy[256], mid_dan[256], buf[256];
	char body[2048];
	struct http_answer a;
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("sendgrid-b", token_b, sizeof(token_b));
	e2e_user_id(token_b, uid_b);
	contact(token_b, "cy@sg.example");
	e2e_new_tenant("sendgrid", token, sizeof(token));
	e2e_user_id(token, uid);
	contact(token, "cy@sg.example");
	contact(token, "dan@sg.example");
	contact(token, "eve@sg.example");
	send_campaign(token, "SendGrid", id);
	sink_start(&s, 8);
	ck_assert_int_eq(smtp_batch(&s), 0);
	e2e_sink_stop(&s);
	message_id_of(id, "cy@sg.example", mid_cy, sizeof(mid_cy));
	message_id_of(id, "dan@sg.example", mid_dan, sizeof(mid_dan));
	snprintf(body, sizeof(body),
		 "[{\"email\":\"cy@sg.example\",\"timestamp\":1764410400,\"event\":\"bounce\","
		 "\"type\":\"bounce\",\"smtp-id\":\"%s\",\"status\":\"5.1.1\",\"reason\":\"550 unknown\","
		 "\"sg_event_id\":\"e1\"},"
		 "{\"email\":\"dan@sg.example\",\"timestamp\":1764410400,\"event\":\"spamreport\","
		 "\"smtp-id\":\"%s\",\"sg_event_id\":\"e2\"},"
		 "{\"email\":\"eve@sg.example\",\"event\":\"delivered\",\"smtp-id\":\"<x@y>\"}]",
		 mid_cy, mid_dan);
	/* Unsigned, signed for another timestamp, no headers: 401, nothing recorded. */
	ck_assert_int_eq(sendgrid_post(body, "1764410400", 0, 0, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid SendGrid webhook signature");
	http_answer_free(&a);
	ck_assert_int_eq(sendgrid_post(body, "1764410400", 1, 1, NULL), 401);
	{
		/* Signed for one timestamp, sent with another. */
		char sig[256], data[2100], hs[400];
		const char *headers[4] = { hs, "X-Twilio-Email-Event-Webhook-Timestamp: 1764410401",
					   "Content-Type: application/json", NULL };
		snprintf(data, sizeof(data), "1764410400%s", body);
		ck_assert_int_eq(test_sign(test_sendgrid_key, 0, data, strlen(data), sig, sizeof(sig)), 0);
		snprintf(hs, sizeof(hs), "X-Twilio-Email-Event-Webhook-Signature: %s", sig);
		ck_assert_int_eq(webhook("/api/v1/webhooks/sendgrid-events", headers, body, NULL), 401);
	}
	ck_assert_int_eq(owner2("SELECT count(*) FROM mail_feedback WHERE user_id = $1", uid, NULL), 0);

	ck_assert_int_eq(sendgrid_post(body, "1764410400", 1, 0, &a), 200);
	ck_assert_int_eq(answer_int(&a, "events"), 3);
	ck_assert_int_eq(answer_int(&a, "recorded"), 2);
	http_answer_free(&a);
	ck_assert_str_eq(contact_state(uid, "cy@sg.example", buf, sizeof(buf)), "true,true,bounce");
	ck_assert_str_eq(contact_state(uid, "dan@sg.example", buf, sizeof(buf)), "false,false,complaint");
	ck_assert_str_eq(contact_state(uid, "eve@sg.example", buf, sizeof(buf)), "false,true,-");
	/* Replayed: nothing more; the other tenant's cy never touched. */
	ck_assert_int_eq(sendgrid_post(body, "1764410400", 1, 0, &a), 200);
	ck_assert_int_eq(answer_int(&a, "recorded"), 0);
	http_answer_free(&a);
	ck_assert_int_eq(campaign_count(token, id, "bounce_count"), 1);
	ck_assert_int_eq(owner2("SELECT complaint_count FROM campaigns WHERE id = $1", id, NULL), 1);
	ck_assert_int_eq(owner2("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				" AND metadata->>'source' = 'sendgrid'", id, NULL), 2);
	events_match_counts(id);
	ck_assert_str_eq(contact_state(uid_b, "cy@sg.example", buf, sizeof(buf)), "false,true,-");
	ck_assert_int_eq(owner2("SELECT count(*) FROM suppressions WHERE user_id = $1", uid_b, NULL), 0);
	/* Not an array: refused after the signature held. */
	ck_assert_int_eq(sendgrid_post("{\"event\":\"bounce\"}", "1764410400", 1, 0, NULL), 400);
	e2e_pause_worker(0);
}
END_TEST

Suite *bounces_suite(void)
{
	Suite *s = suite_create("bounces");
	TCase *tc = tcase_create("news that comes back");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, NULL, resume_worker);
	tcase_add_test(tc, reports_by_mail_bounce_complain_and_replay_to_nothing);
	tcase_add_test(tc, soft_bounces_suppress_after_three_in_a_row);
	tcase_add_test(tc, password_reset_arrives_by_mail_and_works_once);
	tcase_add_test(tc, ses_notifications_are_verified_confirmed_and_recorded_once);
	tcase_add_test(tc, sendgrid_events_are_verified_and_recorded_once);
	suite_add_tcase(s, tc);
	return s;
}
