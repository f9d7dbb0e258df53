/* Real delivery end to end: flowsend-batch with FLOWSEND_SMTP_URL set sends
 * the test instance's queued mail to SMTP servers these tests start
 * (tests/sink/smtp_sink.c), and the tests read what arrived: structure,
 * headers, encodings, personalisation; 4xx retried, 5xx bounced and
 * suppressed; STARTTLS and SMTPS with a CA file; and workers killed at random
 * moments never mailing anyone twice. The stack's own worker (mock mode) is
 * paused meanwhile. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "e2e.h"
#include "mail/dkim.h"
#include "mail/dkim_check.h"

static char token[4096];

/* ---- the instance's ports and folders ---- */

static int instance_offset(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return port >= 18080 && port < 18090 ? port - 18080 : 0;
}

/* Ports below 32768, ten per test instance: 12025 + 10 n + k. */
static int sink_port(int k)
{
	return 12025 + 10 * instance_offset() + k;
}

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

/* Self-signed certificates for 127.0.0.1, made once: "good" is the sink's,
 * "other" a stranger that must not verify it. */
static const char *cert_path(const char *name, const char *kind)
{
	static char path[4][512];
	static int turn;
	char *out = path[turn++ % 4];

	snprintf(out, sizeof(path[0]), "%s/sink/certs/%s.%s", state_dir(), name, kind);
	return out;
}

static void make_certs(void)
{
	const char *names[] = { "good", "other" };

	sh("mkdir -p %s/sink/certs", state_dir());
	for (size_t i = 0; i < 2; i++) {
		struct stat st;
		if (stat(cert_path(names[i], "pem"), &st) == 0)
			continue;
		sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
		   " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s -out %s 2>/dev/null",
		   cert_path(names[i], "key"), cert_path(names[i], "pem"));
	}
}

/* ---- the sink ---- */

/* Start a sink on sink_port(k) (and, with tls, sink_port(k + 1) for
 * implicit TLS); extra options as a string of words. */
static void sink_start(struct e2e_sink *s, int k, int tls, const char *extra)
{
	static int serial;
	char dir[512], words[1536] = "";

	snprintf(dir, sizeof(dir), "%s/sink/run-%d-%d", state_dir(), (int)getpid(), serial++);
	if (tls) {
		make_certs();
		snprintf(words, sizeof(words), "--tls-port %d --cert %s --key %s", sink_port(k + 1),
			 cert_path("good", "pem"), cert_path("good", "key"));
	}
	if (extra)
		snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", *words ? " " : "",
			 extra);
	e2e_sink_start(s, dir, sink_port(k), *words ? words : NULL);
	s->tls_port = tls ? sink_port(k + 1) : 0;
}

/* ---- reading a message ---- */

/* The header block of a stored message (after the sink's envelope lines). */
static const char *message_start(const char *raw)
{
	const char *p = strstr(raw, "X-Sink-TLS: ");
	ck_assert_ptr_nonnull(p);
	return strstr(p, "\r\n") + 2;
}

/* A header's value, unfolded, into out; NULL when absent. Only the top
 * level headers of text (up to the first empty line) are searched. */
static const char *header(const char *text, const char *name, char *out, size_t size)
{
	const char *end = strstr(text, "\r\n\r\n"), *p = text;
	size_t nlen = strlen(name), o = 0;

	while (p && p < end) {
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			for (;;) {
				const char *eol = strstr(p, "\r\n");
				size_t len = (size_t)(eol - p);
				if (o + len >= size)
					len = size - o - 1;
				memcpy(out + o, p, len);
				o += len;
				p = eol + 2;
				if (*p != ' ' && *p != '\t')
					break;
			}
			out[o] = '\0';
			/* Unfolding keeps the fold's space: trim the ends. */
			{
				size_t lead = strspn(out, " \t");
				memmove(out, out + lead, o - lead + 1);
				o -= lead;
				while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
					out[--o] = '\0';
			}
			return out;
		}
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
	return NULL;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t b64_decode(const char *in, size_t len, struct strbuf *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	int bits = 0;
	size_t before = out->len;

	for (size_t i = 0; i < len; i++) {
		const char *k = strchr(alphabet, in[i]);
		if (!k || !in[i])
			continue; /* line breaks, padding */
		acc = acc << 6 | (unsigned)(k - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_appendc(out, (char)(acc >> bits & 0xff));
		}
	}
	return out->len - before;
}

static void qp_decode(const char *in, size_t len, int header_q, struct strbuf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '=' && i + 2 < len + 0 && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			strbuf_appendc(out, (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
			i += 2;
		} else if (in[i] == '=' && i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n') {
			i += 2; /* soft line break */
		} else if (header_q && in[i] == '_') {
			strbuf_appendc(out, ' ');
		} else {
			strbuf_appendc(out, in[i]);
		}
	}
}

/* RFC 2047: encoded words decoded, the space between two of them dropped. */
static void decode_words(const char *in, char *out, size_t size)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = in;
	int last_was_word = 0;

	while (*p) {
		if (p[0] == '=' && p[1] == '?') {
			const char *q1 = strchr(p + 2, '?'), *q2 = q1 ? strchr(q1 + 1, '?') : NULL;
			const char *endw = q2 ? strstr(q2 + 1, "?=") : NULL;
			if (q1 && q2 && endw && q2 == q1 + 2) {
				if ((q1[1] | 32) == 'b')
					b64_decode(q2 + 1, (size_t)(endw - q2 - 1), &sb);
				else
					qp_decode(q2 + 1, (size_t)(endw - q2 - 1), 1, &sb);
				p = endw + 2;
				last_was_word = 1;
				continue;
			}
		}
		if ((*p == ' ' || *p == '\t') && last_was_word) {
			const char *n = p;
			while (*n == ' ' || *n == '\t')
				n++;
			if (n[0] == '=' && n[1] == '?') {
				p = n;
				continue;
			}
		}
		last_was_word = 0;
		strbuf_appendc(&sb, *p++);
	}
	snprintf(out, size, "%s", strbuf_cstr(&sb));
	strbuf_free(&sb);
}

/* The decoded body of the multipart/alternative part of type ctype. */
static char *mime_part(const char *msg, const char *ctype)
{
	char ct[1024], boundary[256], delim[300];
	const char *b, *p;

	ck_assert_ptr_nonnull(header(msg, "Content-Type", ct, sizeof(ct)));
	ck_assert_msg(strncasecmp(ct, "multipart/alternative", 21) == 0, "Content-Type %s", ct);
	b = strcasestr(ct, "boundary=");
	ck_assert_ptr_nonnull(b);
	b += 9;
	if (*b == '"')
		b++;
	snprintf(boundary, sizeof(boundary), "%.*s", (int)strcspn(b, "\";"), b);
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	for (p = strstr(msg, delim); p; p = strstr(p + 1, delim)) {
		const char *part = p + strlen(delim), *body, *next;
		char pct[256], cte[64];
		struct strbuf out = STRBUF_INIT;

		if (strncmp(part, "--", 2) == 0)
			break;
		part += 2;
		body = strstr(part, "\r\n\r\n");
		next = strstr(part, delim);
		if (!body || !next || !header(part, "Content-Type", pct, sizeof(pct)) ||
		    strncasecmp(pct, ctype, strlen(ctype)) != 0)
			continue;
		body += 4;
		if (!header(part, "Content-Transfer-Encoding", cte, sizeof(cte)))
			snprintf(cte, sizeof(cte), "7bit");
		if (strcasecmp(cte, "base64") == 0)
			b64_decode(body, (size_t)(next - body), &out);
		else if (strcasecmp(cte, "quoted-printable") == 0)
			qp_decode(body, (size_t)(next - body), 0, &out);
		else
			strbuf_append(&out, body, (size_t)(next - body));
		if (!out.buf)
			strbuf_appends(&out, "");
		return out.buf;
	}
	return NULL;
}

/* ---- the tenant and its campaign ---- */

static void contact(const char *body)
{
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
}

static void campaign_with(const char *template_id, const char *subject, char *id)
{
	char body[1024];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"name\":\"Delivery\",\"subject\":\"%s\",\"template_id\":\"%s\"}",
		 subject, template_id);
	e2e_expect(token, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"

static void send_campaign(const char *id)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);
}

static json_object *campaign_json(const char *id, struct http_answer *a)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, a);
	return a->json;
}

static long long campaign_count(const char *id, const char *field)
{
	struct http_answer a;
	long long v = json_object_get_int64(json_object_object_get(campaign_json(id, &a), field));

	http_answer_free(&a);
	return v;
}

static int campaign_is(const char *id, const char *status)
{
	struct http_answer a;
	int same = strcmp(json_str(campaign_json(id, &a), "status"), status) == 0;

	http_answer_free(&a);
	return same;
}

/* flowsend-batch --once with SMTP settings (env words) and more arguments. */
static int smtp_batch(const char *env, const char *args)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "env %s %s/flowsend-batch --once %s >>/tmp/flowsend-e2e-batch.log 2>&1", env,
		 e2e_bin(), args ? args : "");
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *smtp_env(const struct e2e_sink *s, char *buf, size_t size)
{
	snprintf(buf, size, "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=4", s->port);
	return buf;
}

/* --now, seconds from the wall clock. */
static const char *now_plus(long seconds, char *buf, size_t size)
{
	time_t t = time(NULL) + seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "--now %Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static long long owner_count(const char *sql, const char *a1, const char *a2)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_value(sql, a2 ? 2 : 1, p);
}

static const char *outbox_field(const char *campaign, const char *email, const char *field,
				char *out, size_t size)
{
	char sql[256];
	const char *p[2] = { campaign, email };

	snprintf(sql, sizeof(sql), "SELECT %s::text FROM outbox WHERE campaign_id = $1 AND to_email = $2",
		 field);
	return e2e_owner_text(sql, 2, p, out, size);
}

static void events_match_counts(const char *id)
{
	static const char *const pairs[][2] = {
		{ "sent", "sent_count" }, { "bounced", "bounce_count" }, { "failed", "failed_count" },
		{ "delivered", "delivered_count" },
	};

	e2e_counters_match_events(id, pairs, sizeof(pairs) / sizeof(pairs[0]));
}

static void resume_worker(void)
{
	e2e_pause_worker(0);
}

/* ---- the tests ---- */

START_TEST(real_mail_carries_headers_encodings_and_personalisation)
{
	char id[40], tpl[40], env[512], raw_id[64], buf[2048], mid[256];
	struct http_answer a;
	struct e2e_sink s;
	char *raw;
	const char *msg;

	e2e_pause_worker(1);
	e2e_new_tenant("mail", token, sizeof(token));
	e2e_set_plan(token, "pro");
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"from_name\":\"Zoë's Shop — Ünïcode\",\"from_email\":\"shop@sender.example\","
		   "\"reply_to\":\"help@sender.example\"}",
		   200, NULL, NULL);
	contact("{\"email\":\"ann@mail.example\",\"first_name\":\"Ann\",\"last_name\":\"Lee\","
		"\"custom_fields\":{\"code\":\"A-1\"}}");
	contact("{\"email\":\"lukasz@mail.example\",\"first_name\":\"Łukasz\",\"last_name\":\"Żółć 日本\","
		"\"custom_fields\":{\"code\":\"Z-42\"}}");
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"T\",\"subject\":\"ignored\",\"html_content\":\"<p>Hello {{first_name}}, your code is"
		   " {{custom.code}}.</p><p><a href=\\\"{{unsubscribe_url}}\\\">Unsubscribe</a></p>\"}",
		   201, NULL, &a);
	snprintf(tpl, sizeof(tpl), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	campaign_with(tpl, "Hi {{first_name|there}} — ünïcode ✓", id);
	send_campaign(id);

	sink_start(&s, 0, 0, NULL);
	/* sender.example is not a verified domain of the tenant: the mail goes
	 * out From FlowSend's address with the tenant's name (issue 16). */
	snprintf(env, sizeof(env), "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_PUBLIC_URL=https://flowsend.test"
		 " FLOWSEND_MAIL_FROM=noreply@flowsend-e2e.example",
		 s.port);
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(campaign_count(id, "sent_count"), 2);
	ck_assert_int_eq(campaign_count(id, "bounce_count"), 0);
	/* Accepted by the relay is sent; delivery is for provider feedback to say. */
	ck_assert_int_eq(owner_count("SELECT delivered_count FROM campaigns WHERE id = $1", id, NULL), 0);
	events_match_counts(id);

	ck_assert_int_eq(e2e_sink_find(&s, "ann@mail.example", NULL, NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "lukasz@mail.example", NULL, &raw), 1);
	ck_assert_ptr_nonnull(strstr(raw, "X-Sink-Mail-From: <noreply@flowsend-e2e.example>"));
	msg = message_start(raw);
	/* CRLF everywhere, no line over 998 octets. */
	for (const char *p = msg, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		ck_assert_msg(nl > msg && nl[-1] == '\r', "a bare LF");
		ck_assert_int_le(nl - p, 1000);
	}
	decode_words(header(msg, "From", buf, sizeof(buf)), buf, sizeof(buf));
	ck_assert_str_eq(buf, "Zoë's Shop — Ünïcode <noreply@flowsend-e2e.example>");
	ck_assert_ptr_nonnull(strstr(header(msg, "Reply-To", buf, sizeof(buf)), "help@sender.example"));
	decode_words(header(msg, "To", buf, sizeof(buf)), buf, sizeof(buf));
	ck_assert_str_eq(buf, "Łukasz Żółć 日本 <lukasz@mail.example>");
	decode_words(header(msg, "Subject", buf, sizeof(buf)), buf, sizeof(buf));
	ck_assert_str_eq(buf, "Hi Łukasz — ünïcode ✓");
	ck_assert_ptr_nonnull(header(msg, "Date", buf, sizeof(buf)));
	ck_assert_str_eq(header(msg, "MIME-Version", buf, sizeof(buf)), "1.0");
	/* The Message-ID is the outbox row's, at the From address's domain. */
	ck_assert_ptr_nonnull(header(msg, "Message-ID", mid, sizeof(mid)));
	ck_assert_str_eq(outbox_field(id, "lukasz@mail.example", "message_id", buf, sizeof(buf)), mid);
	ck_assert_ptr_nonnull(strstr(mid, "@flowsend-e2e.example>"));
	/* No FLOWSEND_DKIM_* here: unsigned. */
	ck_assert_ptr_null(header(msg, "DKIM-Signature", buf, sizeof(buf)));
	ck_assert_str_eq(header(msg, "X-FlowSend-Outbox", raw_id, sizeof(raw_id)),
			 outbox_field(id, "lukasz@mail.example", "id", buf, sizeof(buf)));
	/* One-click unsubscribe (RFC 8058), the same link as in the body. */
	ck_assert_ptr_nonnull(header(msg, "List-Unsubscribe", buf, sizeof(buf)));
	ck_assert_msg(strncmp(buf, "<https://flowsend.test/u/", 25) == 0, "List-Unsubscribe %s", buf);
	ck_assert_str_eq(header(msg, "List-Unsubscribe-Post", mid, sizeof(mid)),
			 "List-Unsubscribe=One-Click");
	{
		char *html = mime_part(msg, "text/html"), *text = mime_part(msg, "text/plain");
		char url[512];
		ck_assert_ptr_nonnull(html);
		ck_assert_ptr_nonnull(text);
		ck_assert_ptr_nonnull(strstr(html, "Hello Łukasz, your code is Z-42."));
		ck_assert_ptr_nonnull(strstr(text, "Hello Łukasz, your code is Z-42."));
		snprintf(url, sizeof(url), "%.*s", (int)strlen(buf) - 2, buf + 1);
		ck_assert_msg(strstr(html, url) != NULL, "the body does not carry %s", url);
		/* text before html: the last part is the preferred one */
		ck_assert(strstr(msg, "text/plain") < strstr(msg, "text/html"));
		free(html);
		free(text);
	}
	free(raw);
	/* The one-click link in the header works on this instance: a GET changes
	 * nothing, the POST a mail client sends unsubscribes. */
	{
		char path[256];
		struct http_answer u;
		const char *h[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
		snprintf(path, sizeof(path), "/u/%.*s", (int)strcspn(buf + 25, ">"), buf + 25);
		ck_assert_int_eq(http_call("GET", path, NULL, NULL, 0, &u), 0);
		ck_assert_int_eq(u.status, 200);
		http_answer_free(&u);
		ck_assert_int_eq(owner_count("SELECT count(*) FROM contacts WHERE email = $1 AND is_subscribed",
					     "lukasz@mail.example", NULL),
				 1);
		ck_assert_int_eq(http_call("POST", path, h, "List-Unsubscribe=One-Click", 26, &u), 0);
		ck_assert_int_eq(u.status, 200);
		http_answer_free(&u);
		ck_assert_int_eq(owner_count("SELECT count(*) FROM contacts WHERE email = $1 AND is_subscribed",
					     "lukasz@mail.example", NULL),
				 0);
	}
	/* Nothing is sent twice: another pass finds nothing. */
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "lukasz@mail.example", NULL, NULL), 1);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(a_4xx_is_retried_with_backoff_then_delivered)
{
	char id[40], id2[40], env[512], now[64], buf[512];
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("retry", token, sizeof(token));
	contact("{\"email\":\"cy+tempfail@retry.example\",\"first_name\":\"Cy\"}");
	contact("{\"email\":\"ok@retry.example\"}");
	campaign_with(WELCOME_TEMPLATE, "Hello", id);
	send_campaign(id);
	sink_start(&s, 2, 0, "--tempfail 2");
	smtp_env(&s, env, sizeof(env));

	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "ok@retry.example", NULL, NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "cy+tempfail@retry.example", NULL, NULL), 0);
	ck_assert_str_eq(outbox_field(id, "cy+tempfail@retry.example", "status", buf, sizeof(buf)), "pending");
	ck_assert_ptr_nonnull(strstr(outbox_field(id, "cy+tempfail@retry.example", "last_error", buf,
						  sizeof(buf)),
				     "451 4.7.1"));
	/* The first retry waits a minute. */
	ck_assert_int_eq(owner_count("SELECT (extract(epoch FROM next_attempt_at - now()) BETWEEN 40 AND 70)::int"
				     " FROM outbox WHERE campaign_id = $1 AND to_email = $2",
				     id, "cy+tempfail@retry.example"),
			 1);
	ck_assert(campaign_is(id, "sending"));
	ck_assert_int_eq(smtp_batch(env, NULL), 0); /* not due yet */
	ck_assert_str_eq(outbox_field(id, "cy+tempfail@retry.example", "attempts", buf, sizeof(buf)), "1");
	/* Two minutes on: refused again, next try five minutes later. */
	ck_assert_int_eq(smtp_batch(env, now_plus(120, now, sizeof(now))), 0);
	ck_assert_str_eq(outbox_field(id, "cy+tempfail@retry.example", "attempts", buf, sizeof(buf)), "2");
	ck_assert_int_eq(owner_count("SELECT (extract(epoch FROM next_attempt_at - now()) BETWEEN 400 AND 430)::int"
				     " FROM outbox WHERE campaign_id = $1 AND to_email = $2",
				     id, "cy+tempfail@retry.example"),
			 1);
	ck_assert_int_eq(smtp_batch(env, now_plus(480, now, sizeof(now))), 0);
	ck_assert_str_eq(outbox_field(id, "cy+tempfail@retry.example", "status", buf, sizeof(buf)), "sent");
	ck_assert_int_eq(e2e_sink_find(&s, "cy+tempfail@retry.example", NULL, NULL), 1);
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(campaign_count(id, "sent_count"), 2);
	events_match_counts(id);

	/* With one attempt allowed, a 4xx is final: failed, with the reason. */
	contact("{\"email\":\"dee+tempfail@retry.example\"}");
	campaign_with(WELCOME_TEMPLATE, "Again", id2);
	send_campaign(id2);
	snprintf(env + strlen(env), sizeof(env) - strlen(env), " FLOWSEND_SMTP_MAX_ATTEMPTS=1");
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_str_eq(outbox_field(id2, "dee+tempfail@retry.example", "status", buf, sizeof(buf)), "failed");
	ck_assert_ptr_nonnull(strstr(outbox_field(id2, "dee+tempfail@retry.example", "last_error", buf,
						  sizeof(buf)),
				     "gave up after 1 attempts: 451"));
	ck_assert_int_eq(campaign_count(id2, "sent_count"), 2); /* cy and ok this time */
	ck_assert_int_eq(owner_count("SELECT failed_count FROM campaigns WHERE id = $1", id2, NULL), 1);
	events_match_counts(id2);
	ck_assert(campaign_is(id2, "sent"));
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(a_5xx_bounces_suppresses_and_is_never_mailed_again)
{
	char id[40], id2[40], env[512], buf[512], uid[40];
	struct http_answer a;
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("bounce", token, sizeof(token));
	contact("{\"email\":\"ok@bounce.example\"}");
	contact("{\"email\":\"bob+bounce@bounce.example\"}");
	contact("{\"email\":\"rex+reject@bounce.example\"}");
	campaign_with(WELCOME_TEMPLATE, "Hello", id);
	send_campaign(id);
	sink_start(&s, 3, 0, NULL);
	ck_assert_int_eq(smtp_batch(smtp_env(&s, env, sizeof(env)), NULL), 0);
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(e2e_sink_find(&s, "ok@bounce.example", NULL, NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "bob+bounce@bounce.example", NULL, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "rex+reject@bounce.example", NULL, NULL), 0);
	/* Refused at RCPT (550) and after the message (554): both bounces. */
	ck_assert_str_eq(outbox_field(id, "bob+bounce@bounce.example", "status", buf, sizeof(buf)), "bounced");
	ck_assert_ptr_nonnull(strstr(outbox_field(id, "bob+bounce@bounce.example", "last_error", buf,
						  sizeof(buf)),
				     "550 5.1.1"));
	ck_assert_str_eq(outbox_field(id, "rex+reject@bounce.example", "status", buf, sizeof(buf)), "bounced");
	ck_assert_ptr_nonnull(strstr(outbox_field(id, "rex+reject@bounce.example", "last_error", buf,
						  sizeof(buf)),
				     "554 5.7.1"));
	ck_assert_int_eq(campaign_count(id, "bounce_count"), 2);
	ck_assert_int_eq(campaign_count(id, "sent_count"), 3);
	events_match_counts(id);
	ck_assert_int_eq(owner_count("SELECT count(*) FROM email_events WHERE campaign_id = $1 AND"
				     " event_type = 'bounced' AND metadata->>'reply' LIKE '550 5.1.1%'",
				     id, NULL),
			 1);
	e2e_user_id(token, uid);
	ck_assert_int_eq(owner_count("SELECT count(*) FROM contacts WHERE user_id = $1 AND bounced_at IS NOT NULL",
				     uid, NULL),
			 2);
	ck_assert_int_eq(owner_count("SELECT count(*) FROM suppressions WHERE user_id = $1 AND reason = 'bounce'"
				     " AND email_hash = flowsend_email_hash($2)",
				     uid, "bob+bounce@bounce.example"),
			 1);
	/* The next campaign leaves them out, and nothing more reaches them. */
	campaign_with(WELCOME_TEMPLATE, "Next", id2);
	{
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id2);
		e2e_expect(token, "POST", path, NULL, 202, NULL, &a);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total_recipients")), 1);
		http_answer_free(&a);
	}
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert(campaign_is(id2, "sent"));
	ck_assert_int_eq(e2e_sink_find(&s, "ok@bounce.example", NULL, NULL), 2);
	ck_assert_int_eq(e2e_sink_find(&s, "bob+bounce@bounce.example", NULL, NULL), 0);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(nobody_unsubscribed_bounced_or_suppressed_is_mailed)
{
	char id[40], env[512], uid[40], late[40], path[128];
	struct http_answer a;
	struct e2e_sink s;

	e2e_pause_worker(1);
	e2e_new_tenant("skip", token, sizeof(token));
	e2e_user_id(token, uid);
	contact("{\"email\":\"ok@skip.example\"}");
	contact("{\"email\":\"gone@skip.example\",\"is_subscribed\":false}");
	contact("{\"email\":\"bounced@skip.example\"}");
	contact("{\"email\":\"suppressed@skip.example\"}");
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"late@skip.example\"}", 201, NULL, &a);
	snprintf(late, sizeof(late), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(owner_count("UPDATE contacts SET bounced_at = now() WHERE user_id = $1 AND"
				     " email = $2 RETURNING 1",
				     uid, "bounced@skip.example"),
			 1);
	ck_assert_int_eq(owner_count("INSERT INTO suppressions (user_id, email_hash, email, reason)"
				     " VALUES ($1, flowsend_email_hash($2), $2, 'manual') RETURNING 1",
				     uid, "suppressed@skip.example"),
			 1);
	campaign_with(WELCOME_TEMPLATE, "Hello", id);
	send_campaign(id);
	/* Between the send and the delivery one more unsubscribes. */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", late);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	sink_start(&s, 4, 0, NULL);
	ck_assert_int_eq(smtp_batch(smtp_env(&s, env, sizeof(env)), NULL), 0);
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(e2e_sink_find(&s, "ok@skip.example", NULL, NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, "gone@skip.example", NULL, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "bounced@skip.example", NULL, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "suppressed@skip.example", NULL, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "late@skip.example", NULL, NULL), 0);
	ck_assert_int_eq(campaign_count(id, "sent_count"), 1);
	events_match_counts(id);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(starttls_and_smtps_verify_the_server_with_the_ca_file)
{
	char id[40], env[1024], buf[512], now[64];
	struct e2e_sink s;
	char *raw;

	e2e_pause_worker(1);
	e2e_new_tenant("tls", token, sizeof(token));
	contact("{\"email\":\"one@tls.example\"}");
	campaign_with(WELCOME_TEMPLATE, "Over TLS", id);
	send_campaign(id);
	/* STARTTLS, required by the server, verified with the CA file. */
	sink_start(&s, 5, 1, "--require-tls --auth fs-user:fs-secret");
	snprintf(env, sizeof(env),
		 "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d/flowsend.test FLOWSEND_SMTP_TLS=starttls"
		 " FLOWSEND_SMTP_CA_FILE=%s FLOWSEND_SMTP_USER=fs-user FLOWSEND_SMTP_PASSWORD=fs-secret",
		 s.port, cert_path("good", "pem"));
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "one@tls.example", NULL, &raw), 1);
	ck_assert_ptr_nonnull(strstr(raw, "X-Sink-TLS: yes"));
	free(raw);
	ck_assert(campaign_is(id, "sent"));

	/* SMTPS, and a CA that did not sign the server's certificate: a
	 * temporary failure, retried, never a crash or a bounce. */
	contact("{\"email\":\"two@tls.example\"}");
	campaign_with(WELCOME_TEMPLATE, "Over TLS again", id);
	send_campaign(id);
	snprintf(env, sizeof(env),
		 "FLOWSEND_SMTP_URL=smtps://127.0.0.1:%d FLOWSEND_SMTP_CA_FILE=%s"
		 " FLOWSEND_SMTP_USER=fs-user FLOWSEND_SMTP_PASSWORD=fs-secret",
		 s.tls_port, cert_path("other", "pem"));
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "two@tls.example", NULL, NULL), 0);
	ck_assert_str_eq(outbox_field(id, "two@tls.example", "status", buf, sizeof(buf)), "pending");
	ck_assert_msg(strcasestr(outbox_field(id, "two@tls.example", "last_error", buf, sizeof(buf)),
				 "certificate") != NULL,
		      "last_error: %s", buf);
	/* A wrong password is the relay refusing us, not the contact: retried. */
	snprintf(env, sizeof(env),
		 "FLOWSEND_SMTP_URL=smtps://127.0.0.1:%d FLOWSEND_SMTP_CA_FILE=%s"
		 " FLOWSEND_SMTP_USER=fs-user FLOWSEND_SMTP_PASSWORD=wrong",
		 s.tls_port, cert_path("good", "pem"));
	ck_assert_int_eq(smtp_batch(env, now_plus(120, now, sizeof(now))), 0);
	ck_assert_str_eq(outbox_field(id, "two@tls.example", "status", buf, sizeof(buf)), "pending");
	ck_assert_int_eq(campaign_count(id, "bounce_count"), 0);
	/* The right CA and password: delivered over TLS from the first byte. */
	snprintf(env, sizeof(env),
		 "FLOWSEND_SMTP_URL=smtps://127.0.0.1:%d FLOWSEND_SMTP_CA_FILE=%s"
		 " FLOWSEND_SMTP_USER=fs-user FLOWSEND_SMTP_PASSWORD=fs-secret",
		 s.tls_port, cert_path("good", "pem"));
	ck_assert_int_eq(smtp_batch(env, now_plus(900, now, sizeof(now))), 0);
	ck_assert_int_eq(e2e_sink_find(&s, "two@tls.example", NULL, &raw), 1);
	ck_assert_ptr_nonnull(strstr(raw, "X-Sink-TLS: yes"));
	free(raw);
	ck_assert(campaign_is(id, "sent"));
	events_match_counts(id);
	/* An unreadable CA file stops the worker at once, with the reason. */
	snprintf(env, sizeof(env), "FLOWSEND_SMTP_URL=smtps://127.0.0.1:%d FLOWSEND_SMTP_CA_FILE=/nonexistent.pem",
		 s.tls_port);
	ck_assert_int_eq(smtp_batch(env, NULL), 1);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(a_failed_campaign_says_why)
{
	char id[40], now[64];
	struct http_answer a;
	json_object *items;
	int found = 0;

	e2e_pause_worker(1);
	e2e_new_tenant("why", token, sizeof(token));
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"No template\",\"subject\":\"S\",\"scheduled_at\":\"2030-01-01T00:00:00Z\"}",
		   201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	ck_assert(json_object_object_get_ex(a.json, "last_error", NULL));
	ck_assert_ptr_null(json_object_object_get(a.json, "last_error"));
	http_answer_free(&a);
	ck_assert_int_eq(e2e_run_batch(now_plus(0, now, sizeof(now))), 0);
	ck_assert(campaign_is(id, "scheduled"));
	snprintf(now, sizeof(now), "--now 2030-01-01T00:01:00Z");
	ck_assert_int_eq(e2e_run_batch(now), 0);
	campaign_json(id, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "failed");
	ck_assert_str_eq(json_str(a.json, "last_error"), "Campaign has no template");
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/campaigns?status=failed", NULL, 200, NULL, &a);
	items = json_object_object_get(a.json, "items");
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *c = json_object_array_get_idx(items, i);
		if (strcmp(json_str(c, "id"), id) == 0) {
			ck_assert_str_eq(json_str(c, "last_error"), "Campaign has no template");
			found = 1;
		}
	}
	ck_assert(found);
	http_answer_free(&a);
	e2e_pause_worker(0);
}
END_TEST

/* ---- the crash test ---- */

#define CRASH_RECIPIENTS 5000
#define CRASH_CONCURRENCY 8
#define CRASH_KILLS 4
/* Two processes claim up to 2,000 rows a round, so the 5,000 recipients
 * outlast at least three kills. */

static pid_t start_worker(const struct e2e_sink *s)
{
	char cmd[1024];
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "exec env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=%d"
		 " FLOWSEND_BATCH_WORKERS=2 %s/flowsend-batch --worker --poll 1"
		 " >>/tmp/flowsend-e2e-batch.log 2>&1",
		 s->port, CRASH_CONCURRENCY, e2e_bin());
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0); /* its own group: kill -9 takes every worker process */
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Every address's count in the sink, by the number in c<N>@crash.example. */
static void crash_counts(const struct e2e_sink *s, int *counts)
{
	char path[1024];
	struct dirent *e;
	DIR *d;

	memset(counts, 0, sizeof(int) * CRASH_RECIPIENTS);
	snprintf(path, sizeof(path), "%s/new", s->dir);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char file[1400], *text, *p;
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		text = e2e_slurp(file, NULL);
		ck_assert_ptr_nonnull(text);
		for (p = text; (p = strstr(p, "X-Sink-Rcpt-To: <c")); p++) {
			int n = atoi(p + 18);
			if (strncmp(strchr(p, '@'), "@crash.example>", 15) == 0 && n >= 0 && n < CRASH_RECIPIENTS)
				counts[n]++;
		}
		free(text);
	}
	closedir(d);
}

START_TEST(killing_workers_never_mails_anyone_twice)
{
	char id[40], now[64], uid[40], env[512];
	struct strbuf body = STRBUF_INIT;
	struct e2e_sink s;
	long long handing_before = 0, in_doubt;
	int *counts = calloc(CRASH_RECIPIENTS, sizeof(int)), kills = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	ck_assert_ptr_nonnull(counts);
	e2e_pause_worker(1);
	e2e_new_tenant("crash", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	e2e_user_id(token, uid);
	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < CRASH_RECIPIENTS; i++)
		strbuf_appendf(&body, "%s\"c%d@crash.example\"", i ? "," : "", i);
	strbuf_appends(&body, "]}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
	sink_start(&s, 7, 0, NULL);
	/* Account mail queued by earlier tests goes first, so the kills fall in
	 * this campaign. */
	ck_assert_int_eq(smtp_batch(smtp_env(&s, env, sizeof(env)), NULL), 0);
	campaign_with(WELCOME_TEMPLATE, "Hello {{email}}", id);
	send_campaign(id);

	fprintf(stderr, "crash test: seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < CRASH_KILLS; round++) {
		pid_t w;
		long long left = owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1"
					     " AND status = 'pending'",
					     id, NULL);
		if (left == 0)
			break;
		long long sent_before = owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1"
						    " AND status = 'sent'",
						    id, NULL);
		w = start_worker(&s);
		/* Once it is sending, at a random moment within the next 300 ms. */
		for (int i = 0; i < 500 && owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1"
							" AND status = 'sent'",
							id, NULL) == sent_before;
		     i++)
			usleep(20000);
		usleep((useconds_t)(rand() % 300) * 1000);
		ck_assert_int_eq(kill(-w, SIGKILL), 0);
		waitpid(w, NULL, 0);
		usleep(50000); /* the group's other processes die too */
		kills++;
		/* In doubt: what this kill left handed over and not recorded. */
		in_doubt = owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status = 'handing'",
				       id, NULL);
		fprintf(stderr, "crash test: kill %d: %lld rows in doubt, %lld sent so far\n", kills,
			in_doubt - handing_before,
			owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status = 'sent'", id,
				    NULL));
		ck_assert_int_le(in_doubt - handing_before, CRASH_CONCURRENCY);
		handing_before = in_doubt;
	}
	ck_assert_int_gt(kills, 1);
	/* After the claims lapse: in-doubt rows fail, claimed ones go out. */
	for (int i = 0; i < 10 && !campaign_is(id, "sent"); i++)
		ck_assert_int_eq(smtp_batch(env, now_plus(15 * 60, now, sizeof(now))), 0);
	ck_assert(campaign_is(id, "sent"));

	crash_counts(&s, counts);
	{
		long long sent = owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status = 'sent'",
					     id, NULL);
		long long interrupted = owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND"
						    " status = 'failed' AND last_error = 'interrupted'",
						    id, NULL);
		long long once = 0;

		for (int i = 0; i < CRASH_RECIPIENTS; i++) {
			ck_assert_msg(counts[i] <= 1, "c%d@crash.example was mailed %d times", i, counts[i]);
			once += counts[i];
		}
		ck_assert_int_eq(sent + interrupted, CRASH_RECIPIENTS);
		ck_assert_int_le(interrupted, (long long)kills * CRASH_CONCURRENCY);
		ck_assert_int_eq(interrupted, handing_before);
		/* Every row recorded sent reached the server exactly once. */
		ck_assert_int_eq(owner_count("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status"
					     " NOT IN ('sent', 'failed')",
					     id, NULL),
				 0);
		ck_assert_int_ge(once, sent);
		ck_assert_int_le(once, sent + interrupted);
		for (int i = 0; i < CRASH_RECIPIENTS; i++) {
			char addr[64], st[32];
			if (i % 97 != 0 && counts[i] == 1)
				continue; /* spot-check the sent ones, every in-doubt one */
			snprintf(addr, sizeof(addr), "c%d@crash.example", i);
			outbox_field(id, addr, "status", st, sizeof(st));
			if (strcmp(st, "sent") == 0)
				ck_assert_msg(counts[i] == 1, "%s recorded sent, received %d", addr, counts[i]);
		}
		ck_assert_int_eq(campaign_count(id, "sent_count"), sent);
		ck_assert_int_eq(owner_count("SELECT failed_count FROM campaigns WHERE id = $1", id, NULL),
				 interrupted);
		events_match_counts(id);
		fprintf(stderr, "crash test: %d kills, %lld sent, %lld interrupted, %lld of those received\n",
			kills, sent, interrupted, once - sent);
	}
	free(counts);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

/* ---- DKIM (issue 16) ---- */

#define GLOBAL_DOMAIN "flowsend-global.example"

/* FlowSend's own key as FLOWSEND_DKIM_KEY_FILE names it, and the key file
 * libopendkim's file query method reads, with its line already in. */
static void global_key(char *pem_path, char *keys_path, size_t size)
{
	struct strbuf priv = STRBUF_INIT, pub = STRBUF_INIT;
	FILE *f;

	snprintf(pem_path, size, "%s/sink/dkim-global-%d.pem", state_dir(), (int)getpid());
	snprintf(keys_path, size, "%s/sink/dkim-keys-%d.txt", state_dir(), (int)getpid());
	sh("mkdir -p %s/sink", state_dir());
	ck_assert_int_eq(dkim_keygen(2048, &priv, &pub), 0);
	ck_assert_ptr_nonnull(f = fopen(pem_path, "w"));
	ck_assert_uint_eq(fwrite(priv.buf, 1, priv.len, f), priv.len);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(keys_path, "w"));
	fprintf(f, "global._domainkey." GLOBAL_DOMAIN " v=DKIM1; k=rsa; p=%s\n", pub.buf);
	fclose(f);
	strbuf_free(&priv);
	strbuf_free(&pub);
}

/* Add domain for the tenant, mark it verified as the schema owner would
 * after a DNS check, and append its key line to keys_path. */
static void verified_domain(const char *domain, const char *keys_path)
{
	char body[256], id[40], one[8];
	struct http_answer a;
	json_object *recs, *dkim = NULL, *strings;
	const char *p[1];
	FILE *f;

	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", domain);
	e2e_expect(token, "POST", "/api/v1/settings/domains", body, 201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	recs = json_object_object_get(a.json, "dns_records");
	for (size_t i = 0; i < json_object_array_length(recs); i++)
		if (strcmp(json_str(json_object_array_get_idx(recs, i), "purpose"), "dkim") == 0)
			dkim = json_object_array_get_idx(recs, i);
	ck_assert_ptr_nonnull(dkim);
	strings = json_object_object_get(dkim, "strings");
	ck_assert_ptr_nonnull(f = fopen(keys_path, "a"));
	fprintf(f, "%s ", json_str(dkim, "name"));
	for (size_t i = 0; i < json_object_array_length(strings); i++)
		fputs(json_object_get_string(json_object_array_get_idx(strings, i)), f);
	fputc('\n', f);
	fclose(f);
	http_answer_free(&a);
	p[0] = id;
	ck_assert_ptr_nonnull(e2e_owner_text("UPDATE sender_domains SET verified = true,"
					     " verified_at = now() WHERE id = $1 RETURNING 1",
					     1, p, one, sizeof(one)));
}

/* What libopendkim's verifier makes of msg[0..len). */
static struct dkim_check_result judge(const char *msg, size_t len, const char *keys_path)
{
	struct dkim_check_result r;

	ck_assert_int_eq(dkim_check(msg, len, keys_path, &r), 0);
	return r;
}

/* One campaign to every contact through a fresh sink; the message that
 * reached addr into *raw (the caller frees it), and with addr2 the one that
 * reached it into *raw2. */
static void send_through_sink(const char *env_extra, const char *addr, char **raw,
			      const char *addr2, char **raw2)
{
	char id[40], env[2048];
	struct e2e_sink s;

	campaign_with(WELCOME_TEMPLATE, "Signed {{first_name|there}}", id);
	send_campaign(id);
	sink_start(&s, 0, 0, NULL);
	snprintf(env, sizeof(env), "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d %s", s.port, env_extra);
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(e2e_sink_find(&s, addr, NULL, raw), 1);
	if (addr2)
		ck_assert_int_eq(e2e_sink_find(&s, addr2, NULL, raw2), 1);
	e2e_sink_stop(&s);
}

START_TEST(signed_mail_verifies_with_the_global_and_the_tenants_key)
{
	char pem[512], keys[512], dom[160], email[128], env[1536], body[512], buf[2048], *at;
	char *raw, *account_raw, tenant_email[256];
	const char *msg;
	struct dkim_check_result r;
	struct http_answer me;

	/* Paused before the tenant registers: its verification mail waits in
	 * the queue and goes out with the first SMTP pass below. */
	e2e_pause_worker(1);
	e2e_new_tenant("dkim", token, sizeof(token));
	e2e_expect(token, "GET", "/api/v1/auth/me", NULL, 200, NULL, &me);
	snprintf(tenant_email, sizeof(tenant_email), "%s", json_str(me.json, "email"));
	http_answer_free(&me);
	e2e_set_plan(token, "pro");
	global_key(pem, keys, sizeof(pem));
	/* A domain of this tenant's own, verified. */
	e2e_unique_email("dkim-dom", email, sizeof(email));
	at = strchr(email, '@');
	*at = '\0';
	for (char *p = email; *p; p++)
		if (*p == '_')
			*p = '-';
	snprintf(dom, sizeof(dom), "%s.flowsend-e2e.example", email);
	verified_domain(dom, keys);
	contact("{\"email\":\"signed@dkim.example\",\"first_name\":\"Sig\"}");
	snprintf(env, sizeof(env),
		 "FLOWSEND_MAIL_FROM=mail@" GLOBAL_DOMAIN " FLOWSEND_DKIM_DOMAIN=" GLOBAL_DOMAIN
		 " FLOWSEND_DKIM_SELECTOR=global FLOWSEND_DKIM_KEY_FILE=%s",
		 pem);

	/* 1. From on the verified domain: its address, envelope, Message-ID
	 * domain and key. */
	snprintf(body, sizeof(body),
		 "{\"from_name\":\"Own Domain\",\"from_email\":\"news@%s\"}", dom);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender", body, 200, NULL, NULL);
	send_through_sink(env, "signed@dkim.example", &raw, tenant_email, &account_raw);
	/* Account mail is FlowSend's own whatever the tenant's From: the
	 * global address and key. */
	msg = message_start(account_raw);
	ck_assert_ptr_nonnull(strstr(account_raw, "X-Sink-Mail-From: <mail@" GLOBAL_DOMAIN ">"));
	ck_assert_ptr_nonnull(strstr(header(msg, "From", buf, sizeof(buf)), "mail@" GLOBAL_DOMAIN));
	r = judge(msg, strlen(msg), keys);
	ck_assert_msg(r.pass, "account mail: %s", r.detail);
	ck_assert_str_eq(r.domain, GLOBAL_DOMAIN);
	free(account_raw);
	msg = message_start(raw);
	snprintf(body, sizeof(body), "X-Sink-Mail-From: <news@%s>", dom);
	ck_assert_msg(strstr(raw, body) != NULL, "envelope: %.300s", raw);
	ck_assert_msg(strncmp(msg, "DKIM-Signature:", 15) == 0, "the signature is not first");
	snprintf(body, sizeof(body), "Own Domain <news@%s>", dom);
	ck_assert_str_eq(header(msg, "From", buf, sizeof(buf)), body);
	ck_assert_ptr_null(header(msg, "Reply-To", buf, sizeof(buf)));
	snprintf(body, sizeof(body), "@%s>", dom);
	ck_assert_ptr_nonnull(strstr(header(msg, "Message-ID", buf, sizeof(buf)), body));
	r = judge(msg, strlen(msg), keys);
	ck_assert_msg(r.pass, "own domain: %s", r.detail);
	ck_assert(r.from_signed);
	ck_assert_str_eq(r.domain, dom);
	/* A byte of the body changed after signing fails; so does a signed field. */
	{
		size_t len = strlen(msg);
		char *copy = strdup(msg), *p;
		ck_assert_ptr_nonnull(p = strstr(copy, "\r\n\r\n"));
		p += 4 + strcspn(p + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
		*p = *p == 'A' ? 'B' : 'A';
		r = judge(copy, len, keys);
		ck_assert_msg(!r.pass, "an altered body verified");
		memcpy(copy, msg, len);
		ck_assert_ptr_nonnull(p = strstr(copy, "\r\nSubject: "));
		p[11] ^= 1;
		r = judge(copy, len, keys);
		ck_assert_msg(!r.pass, "an altered subject verified");
		free(copy);
	}
	free(raw);

	/* 2. From on a domain it has not verified: FlowSend's address with the
	 * tenant's name, Reply-To the tenant's address, the global key. */
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"from_name\":\"Not Verified\",\"from_email\":\"shop@unverified-dkim.example\"}",
		   200, NULL, NULL);
	send_through_sink(env, "signed@dkim.example", &raw, NULL, NULL);
	msg = message_start(raw);
	ck_assert_ptr_nonnull(strstr(raw, "X-Sink-Mail-From: <mail@" GLOBAL_DOMAIN ">"));
	ck_assert_str_eq(header(msg, "From", buf, sizeof(buf)), "Not Verified <mail@" GLOBAL_DOMAIN ">");
	ck_assert_ptr_nonnull(strstr(header(msg, "Reply-To", buf, sizeof(buf)),
				     "shop@unverified-dkim.example"));
	ck_assert_ptr_nonnull(strstr(header(msg, "Message-ID", buf, sizeof(buf)), "@" GLOBAL_DOMAIN ">"));
	r = judge(msg, strlen(msg), keys);
	ck_assert_msg(r.pass, "global key: %s", r.detail);
	ck_assert_str_eq(r.domain, GLOBAL_DOMAIN);
	ck_assert_str_eq(r.selector, "global");
	free(raw);

	/* 3. A configured key that cannot sign stops the worker before it
	 * claims anything: nothing goes out unsigned. */
	snprintf(env, sizeof(env),
		 "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_DKIM_DOMAIN=" GLOBAL_DOMAIN
		 " FLOWSEND_DKIM_KEY_FILE=%s.missing",
		 sink_port(0), pem);
	ck_assert_int_eq(smtp_batch(env, NULL), 1);
	unlink(pem);
	unlink(keys);
	e2e_pause_worker(0);
}
END_TEST

/* A claim lists the rows it took (schema/0053_send_indexes.sql): when it
 * lapses, its handed-over rows fail as interrupted and its claimed ones go
 * back to the queue, but a row it lists that a live claim took since is left
 * alone, and the campaign is not finished while that row is in flight. */
START_TEST(a_lapsed_claim_settles_only_the_rows_it_lists)
{
	char id[40], row[40], env[512], st[32], err[64];
	struct e2e_sink s;
	const char *p[1];

	e2e_pause_worker(1);
	e2e_new_tenant("lapsed", token, sizeof(token));
	for (int i = 0; i < 4; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"email\":\"l%d@lapsed.example\"}", i);
		contact(body);
	}
	sink_start(&s, 8, 0, NULL);
	ck_assert_int_eq(smtp_batch(smtp_env(&s, env, sizeof(env)), NULL), 0); /* earlier tests' mail */
	campaign_with(WELCOME_TEMPLATE, "Lapsed", id);
	send_campaign(id);
	p[0] = id;
	/* A dead worker's claim of l0 (handed over), l1 and l2 (claimed) ... */
	ck_assert_int_eq(e2e_owner_value(
				 "WITH a AS (INSERT INTO delivery_claims (locked_until, outbox_ids)"
				 "  SELECT flowsend_now() - interval '1 minute', array_agg(id) FROM outbox"
				 "  WHERE campaign_id = $1 AND to_email IN ('l0@lapsed.example',"
				 "   'l1@lapsed.example', 'l2@lapsed.example') RETURNING id, outbox_ids)"
				 " UPDATE outbox o SET claim_id = a.id, attempts = 1,"
				 "  status = CASE WHEN o.to_email = 'l0@lapsed.example' THEN 'handing' ELSE 'sending' END"
				 " FROM a WHERE o.id = ANY (a.outbox_ids) RETURNING 1",
				 1, p),
			 1);
	/* ... and a live worker that has since taken l2. */
	ck_assert_int_eq(e2e_owner_value(
				 "WITH b AS (INSERT INTO delivery_claims (locked_until, outbox_ids)"
				 "  SELECT flowsend_now() + interval '10 minutes', array_agg(id) FROM outbox"
				 "  WHERE campaign_id = $1 AND to_email = 'l2@lapsed.example' RETURNING id, outbox_ids)"
				 " UPDATE outbox o SET claim_id = b.id, attempts = 2"
				 " FROM b WHERE o.id = ANY (b.outbox_ids) RETURNING 1",
				 1, p),
			 1);
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_str_eq(outbox_field(id, "l0@lapsed.example", "status", st, sizeof(st)), "failed");
	ck_assert_str_eq(outbox_field(id, "l0@lapsed.example", "last_error", err, sizeof(err)), "interrupted");
	ck_assert_str_eq(outbox_field(id, "l1@lapsed.example", "status", st, sizeof(st)), "sent");
	ck_assert_str_eq(outbox_field(id, "l2@lapsed.example", "status", st, sizeof(st)), "sending");
	ck_assert_str_eq(outbox_field(id, "l3@lapsed.example", "status", st, sizeof(st)), "sent");
	ck_assert(campaign_is(id, "sending"));
	/* Once the live claim lapses too, l2 goes out and the campaign is done. */
	ck_assert_ptr_nonnull(outbox_field(id, "l2@lapsed.example", "id", row, sizeof(row)));
	p[0] = row;
	ck_assert_int_eq(e2e_owner_value("UPDATE delivery_claims SET locked_until = flowsend_now() - interval"
					 " '1 minute' WHERE $1::uuid = ANY (outbox_ids) RETURNING 1",
					 1, p),
			 1);
	ck_assert_int_eq(smtp_batch(env, NULL), 0);
	ck_assert_str_eq(outbox_field(id, "l2@lapsed.example", "status", st, sizeof(st)), "sent");
	ck_assert(campaign_is(id, "sent"));
	ck_assert_int_eq(campaign_count(id, "sent_count"), 3);
	ck_assert_int_eq(owner_count("SELECT failed_count FROM campaigns WHERE id = $1", id, NULL), 1);
	events_match_counts(id);
	ck_assert_int_eq(owner_count("SELECT count(*) FROM delivery_claims WHERE $1::uuid IN"
				     " (SELECT campaign_id FROM outbox WHERE id = ANY (outbox_ids))",
				     id, NULL),
			 0);
	e2e_sink_stop(&s);
}
END_TEST

Suite *delivery_suite(void)
{
	Suite *s = suite_create("delivery");
	TCase *tc = tcase_create("delivery over SMTP");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, NULL, resume_worker);
	tcase_add_test(tc, real_mail_carries_headers_encodings_and_personalisation);
	tcase_add_test(tc, signed_mail_verifies_with_the_global_and_the_tenants_key);
	tcase_add_test(tc, a_4xx_is_retried_with_backoff_then_delivered);
	tcase_add_test(tc, a_5xx_bounces_suppresses_and_is_never_mailed_again);
	tcase_add_test(tc, nobody_unsubscribed_bounced_or_suppressed_is_mailed);
	tcase_add_test(tc, starttls_and_smtps_verify_the_server_with_the_ca_file);
	tcase_add_test(tc, a_failed_campaign_says_why);
	tcase_add_test(tc, killing_workers_never_mails_anyone_twice);
	tcase_add_test(tc, a_lapsed_claim_settles_only_the_rows_it_lists);
	suite_add_tcase(s, tc);
	return s;
}
