/* The flow engine end to end (issue 20): flowsend-batch runs executions on
 * the settable clock (--now), mails through the outbox and the SMTP sink,
 * branches on a real open through the pixel, splits by weight, loops with a
 * delay, holds paused flows, stops for unsubscribed contacts, keeps to the
 * monthly limit, fires scheduled flows across DST once per due time, and
 * survives kill -9 without repeating or skipping an email. The stack's own
 * worker is paused while a test drives the batch itself. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/track_token.h"

#define BROWSER "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)" \
		" Chrome/120.0 Safari/537.36"

static char token[4096];
static char uid[40];

static long long ov(const char *sql, const char *a1, const char *a2, const char *a3)
{
	const char *p[3] = { a1, a2, a3 };
	return e2e_owner_value(sql, a3 ? 3 : a2 ? 2 : a1 ? 1 : 0, p);
}

static const char *ot(const char *sql, const char *a1, const char *a2, char *out, size_t size)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_text(sql, a2 ? 2 : a1 ? 1 : 0, p, out, size);
}

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

static int sink_port(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	/* 12025 + 10 n + k per instance: delivery uses k up to 7, tracking 8. */
	return 12025 + 10 * (port >= 18080 && port < 18090 ? port - 18080 : 0) + 9;
}

static void sink_start(struct e2e_sink *s, const char *extra)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/sink/flows-%d", state_dir(), (int)getpid());
	e2e_sink_start(s, dir, sink_port(), extra);
}

/* "YYYY-MM-DDTHH:MM:SSZ" seconds from the wall clock. */
static const char *now_plus(long seconds, char *out, size_t size)
{
	time_t t = time(NULL) + seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

static int batch_at(const char *iso)
{
	char args[128];

	if (!iso)
		return e2e_run_batch(NULL);
	snprintf(args, sizeof(args), "--now %s", iso);
	return e2e_run_batch(args);
}

static int batch_in(long seconds)
{
	char iso[40];
	return batch_at(now_plus(seconds, iso, sizeof(iso)));
}

/* flowsend-batch --once over SMTP to the sink, at iso (NULL: now). */
static int smtp_batch_at(const struct e2e_sink *s, const char *iso)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=4"
		 " FLOWSEND_PUBLIC_URL=https://flowsend.test %s/flowsend-batch --once%s%s"
		 " >>/tmp/flowsend-e2e-batch.log 2>&1",
		 s->port, e2e_bin(), iso ? " --now " : "", iso ? iso : "");
	return system(cmd);
}

static void tenant(const char *prefix, const char *plan)
{
	e2e_new_tenant(prefix, token, sizeof(token));
	if (plan)
		e2e_set_plan(token, plan);
	e2e_user_id(token, uid);
}

static void template_create(char *id)
{
	struct http_answer a;

	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"Flow mail\",\"subject\":\"Template subject\",\"html_content\":"
		   "\"<html><body><p>Hi {{first_name}}</p><a href=\\\"https://shop.example/p\\\">shop</a>"
		   "</body></html>\",\"text_content\":\"Hi {{first_name}}\"}",
		   201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void contact_create(const char *email, const char *extra, char *id)
{
	struct http_answer a;
	char body[1024];

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Ann\"%s%s}", email,
		 extra ? "," : "", extra ? extra : "");
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

/* A flow made and activated through the flows API (issue 19): version 1. */
static void flow_create(const char *trigger, const char *config, const char *steps, char *id)
{
	struct http_answer a;
	struct strbuf body = STRBUF_INIT;
	char path[128];

	strbuf_appendf(&body, "{\"name\":\"Engine test\",\"trigger_type\":\"%s\",\"trigger_config\":%s,"
		       "\"steps\":%s}", trigger, config, steps);
	e2e_expect(token, "POST", "/api/v1/flows", strbuf_cstr(&body), 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	strbuf_free(&body);
	snprintf(path, sizeof(path), "/api/v1/flows/%s/activate", id);
	e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
}

static void flow_call(const char *flow, const char *action, long status)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/flows/%s%s", flow, action);
	e2e_expect(token, strcmp(action, "") == 0 ? "DELETE" : "POST", path, NULL, status, NULL, NULL);
}

/* The flow's stats as the API shows them: {enrolled, active, completed, emails_sent}. */
static long long stat_of(const char *flow, const char *name)
{
	struct http_answer a;
	char path[128];
	long long v;

	snprintf(path, sizeof(path), "/api/v1/flows/%s", flow);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	v = json_object_get_int64(json_object_object_get(json_object_object_get(a.json, "stats"), name));
	http_answer_free(&a);
	return v;
}

/* The execution of contact in flow (the one enrollment made). */
static void execution_of(const char *flow, const char *contact, char *exec)
{
	ck_assert_ptr_nonnull(ot("SELECT id FROM flow_executions WHERE flow_id = $1 AND contact_id = $2",
				 flow, contact, exec, 40));
}

static const char *exec_field(const char *exec, const char *col, char *out, size_t size)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT %s::text FROM flow_executions WHERE id = $1", col);
	if (!ot(sql, exec, NULL, out, size))
		snprintf(out, size, "(null)");
	return out;
}

static long long mails(const char *exec, const char *status)
{
	return status ? ov("SELECT count(*) FROM outbox WHERE flow_execution_id = $1 AND status = $2", exec,
			   status, NULL)
		      : ov("SELECT count(*) FROM outbox WHERE flow_execution_id = $1", exec, NULL, NULL);
}

/* ---- welcome series: email, delay 2 days, opened_previous, two branches ---- */

START_TEST(welcome_series_branches_on_a_real_open)
{
	struct fs_config cfg;
	char err[256], tpl[40], flow[40], ca[40], cb[40], ea[40], eb[40], steps[2048], row[40];
	char tok[TRACK_TOKEN_MAX + 1], path[600], iso[40], buf[64], *raw = NULL;
	char opener[96], ignorer[96];
	struct e2e_sink s;
	struct http_answer a;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	e2e_pause_worker(1);
	tenant("flowwelcome", "pro");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Welcome {{first_name}}\"},"
		 "{\"type\":\"delay\",\"delay_hours\":48},"
		 "{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":3,\"else_step\":5},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Glad you read it\"},"
		 "{\"type\":\"condition\",\"condition_type\":\"tag_equals\",\"value\":\"x\",\"then_step\":6,"
		 "\"else_step\":6},"
		 "{\"type\":\"email\",\"template_id\":\"%s\"}]",
		 tpl, tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	/* new contacts enroll through the signup trigger */
	/* addresses of this run only: the sink's port is reused by later runs */
	snprintf(opener, sizeof(opener), "opener-%d-%ld@welcome.example", (int)getpid(), (long)time(NULL));
	snprintf(ignorer, sizeof(ignorer), "ignorer-%d-%ld@welcome.example", (int)getpid(), (long)time(NULL));
	contact_create(opener, NULL, ca);
	contact_create(ignorer, NULL, cb);
	execution_of(flow, ca, ea);
	execution_of(flow, cb, eb);

	sink_start(&s, NULL);
	ck_assert_int_eq(smtp_batch_at(&s, NULL), 0);
	/* the first email went to both, and they wait on the delay */
	ck_assert_int_eq(e2e_sink_find(&s, opener, "Subject: Welcome Ann", NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, ignorer, "Subject: Welcome Ann", NULL), 1);
	ck_assert_str_eq(exec_field(ea, "status", buf, sizeof(buf)), "waiting");
	ck_assert_str_eq(exec_field(ea, "current_step", buf, sizeof(buf)), "2");
	ck_assert_int_eq(mails(ea, "sent"), 1);
	/* the message carries the open pixel */
	ck_assert_int_eq(e2e_sink_find(&s, opener, NULL, &raw), 1);
	ck_assert_ptr_nonnull(raw);
	ck_assert_ptr_nonnull(strstr(raw, "flowsend.test/t/o/"));
	free(raw);

	/* A person opens it a minute later: the pixel through nginx. */
	ot("SELECT id FROM outbox WHERE flow_execution_id = $1", ea, NULL, row, sizeof(row));
	ov("UPDATE outbox SET sent_at = now() - interval '1 minute' WHERE flow_execution_id IN ($1, $2)"
	   " RETURNING 1", ea, eb, NULL);
	{
		struct track_key k = { 1, cfg.link_secret };
		const char *h[] = { BROWSER, NULL };
		ck_assert_int_eq(track_token_mint(&k, TRACK_OPEN, row, NULL, tok, sizeof(tok)), 0);
		snprintf(path, sizeof(path), "/t/o/%s.gif", tok);
		ck_assert_int_eq(http_call("GET", path, h, NULL, 0, &a), 0);
		ck_assert_int_eq(a.status, 200);
		http_answer_free(&a);
	}
	for (int i = 0; i < 200 && ov("SELECT count(*) FROM email_events WHERE outbox_id = $1"
				       " AND event_type = 'opened'", row, NULL, NULL) < 1; i++)
		usleep(25000);
	ck_assert_int_eq(ov("SELECT count(*) FROM email_events WHERE outbox_id = $1 AND event_type = 'opened'"
			    " AND flow_id = $2 AND NOT is_bot", row, flow, NULL),
			 1);

	/* Not yet: a day later nothing moves. */
	ck_assert_int_eq(smtp_batch_at(&s, now_plus(24 * 3600, iso, sizeof(iso))), 0);
	ck_assert_int_eq(mails(ea, NULL), 1);
	ck_assert_str_eq(exec_field(ea, "status", buf, sizeof(buf)), "waiting");
	/* Two days and a minute later each takes its branch. */
	ck_assert_int_eq(smtp_batch_at(&s, now_plus(48 * 3600 + 60, iso, sizeof(iso))), 0);
	ck_assert_int_eq(e2e_sink_find(&s, opener, "Subject: Glad you read it", NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, opener, "Subject: Template subject", NULL), 0);
	ck_assert_int_eq(e2e_sink_find(&s, ignorer, "Subject: Template subject", NULL), 1);
	ck_assert_int_eq(e2e_sink_find(&s, ignorer, "Subject: Glad you read it", NULL), 0);
	ck_assert_str_eq(exec_field(ea, "status", buf, sizeof(buf)), "completed");
	ck_assert_str_eq(exec_field(eb, "status", buf, sizeof(buf)), "completed");
	ck_assert_str_eq(exec_field(ea, "current_step", buf, sizeof(buf)), "6");
	ck_assert_int_eq(mails(ea, "sent"), 2);
	ck_assert_int_eq(mails(eb, "sent"), 2);
	/* emails_sent is the flow's sent events, one per message */
	ck_assert_int_eq(ov("SELECT count(*) FROM email_events WHERE flow_id = $1 AND event_type = 'sent'",
			    flow, NULL, NULL),
			 4);
	ck_assert_int_eq(stat_of(flow, "emails_sent"), 4);
	ck_assert_int_eq(stat_of(flow, "enrolled"), 2);
	ck_assert_int_eq(stat_of(flow, "completed"), 2);
	ck_assert_int_eq(stat_of(flow, "active"), 0);
	/* running again changes nothing */
	ck_assert_int_eq(smtp_batch_at(&s, now_plus(48 * 3600 + 120, iso, sizeof(iso))), 0);
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
			    " WHERE e.flow_id = $1", flow, NULL, NULL),
			 4);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

/* ---- split: within 5% of the weights over 2,000 contacts ---- */

START_TEST(split_follows_the_weights_over_2000_contacts)
{
	char tpl[40], flow[40], steps[1024], n[24];
	struct strbuf body = STRBUF_INIT;
	long long a, b;

	e2e_pause_worker(1);
	tenant("flowsplit", "enterprise");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"split\",\"branches\":[1,3],\"weights\":[30,70]},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"A\"},"
		 "{\"type\":\"condition\",\"condition_type\":\"tag_equals\",\"value\":\"x\",\"then_step\":4,"
		 "\"else_step\":4},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"B\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	/* a big import: the worker enrolls it (issue 19's backlog), then runs it */
	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < 2000; i++)
		strbuf_appendf(&body, "%s\"s%d@split.example\"", i ? "," : "", i);
	strbuf_appends(&body, "]}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
	ck_assert_int_eq(batch_at(NULL), 0);
	snprintf(n, sizeof(n), "%lld", stat_of(flow, "enrolled"));
	ck_assert_str_eq(n, "2000");
	a = ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
	       " WHERE e.flow_id = $1 AND o.step_index = 1", flow, NULL, NULL);
	b = ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
	       " WHERE e.flow_id = $1 AND o.step_index = 3", flow, NULL, NULL);
	fprintf(stderr, "split 30/70 over 2000: %lld / %lld\n", a, b);
	ck_assert_int_eq(a + b, 2000);
	ck_assert_msg(a >= 500 && a <= 700, "branch A took %lld of 2000 (want 600 +- 100)", a);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_executions WHERE flow_id = $1 AND status = 'completed'",
			    flow, NULL, NULL),
			 2000);
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
			    " WHERE e.flow_id = $1 AND o.status = 'sent'", flow, NULL, NULL),
			 2000);
	/* stable: the same contacts in a second flow split the same way... no, by flow too: but
	 * the same flow and contact always pick the same branch (a second enrollment agrees) */
	ck_assert_int_eq(ov("WITH x AS (INSERT INTO flow_executions (user_id, flow_id, flow_version, contact_id,"
			    " next_run_at, enrollment_key) SELECT user_id, flow_id, 1, contact_id, now(), 'again'"
			    " FROM flow_executions WHERE flow_id = $1 RETURNING 1) SELECT count(*) FROM x",
			    flow, NULL, NULL),
			 2000);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_int_eq(ov("SELECT count(*) FROM (SELECT e.contact_id FROM outbox o JOIN flow_executions e"
			    " ON e.id = o.flow_execution_id WHERE e.flow_id = $1"
			    " GROUP BY e.contact_id HAVING count(DISTINCT o.step_index) <> 1) x", flow, NULL, NULL),
			 0);
	e2e_pause_worker(0);
}
END_TEST

/* ---- a loop with a delay mails on every visit, once per visit ---- */

START_TEST(loop_with_delay_mails_once_per_visit)
{
	char tpl[40], flow[40], c[40], e[40], steps[1024], buf[64], path[128];

	e2e_pause_worker(1);
	tenant("flowloop", "pro");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Reminder\"},"
		 "{\"type\":\"delay\",\"delay_minutes\":60},"
		 "{\"type\":\"condition\",\"condition_type\":\"tag_equals\",\"value\":\"done\",\"then_step\":3,"
		 "\"else_step\":0}]",
		 tpl);
	flow_create("signup", "{}", steps, flow);
	contact_create("looper@loop.example", NULL, c);
	execution_of(flow, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_int_eq(batch_at(NULL), 0); /* nothing due: nothing repeats */
	ck_assert_int_eq(mails(e, NULL), 1);
	ck_assert_int_eq(batch_in(61 * 60), 0);
	ck_assert_int_eq(batch_in(61 * 60), 0);
	ck_assert_int_eq(mails(e, NULL), 2);
	ck_assert_int_eq(batch_in(122 * 60), 0);
	ck_assert_int_eq(mails(e, "sent"), 3);
	/* three visits of step 0, each its own row */
	ck_assert_int_eq(ov("SELECT count(DISTINCT flow_visit) FROM outbox WHERE flow_execution_id = $1"
			    " AND step_index = 0", e, NULL, NULL),
			 3);
	/* a second row for a visit already mailed is refused by the key */
	ck_assert_int_eq(ov("INSERT INTO outbox (user_id, flow_execution_id, step_index, flow_visit, contact_id,"
			    " to_email) SELECT user_id, flow_execution_id, step_index, flow_visit, contact_id,"
			    " to_email FROM outbox WHERE flow_execution_id = $1 ON CONFLICT DO NOTHING RETURNING 1",
			    e, NULL, NULL),
			 -1);
	/* the tag ends the loop at the next visit of the condition */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", c);
	e2e_expect(token, "PATCH", path, "{\"tags\":[\"done\"]}", 200, NULL, NULL);
	ck_assert_int_eq(batch_in(183 * 60), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "completed");
	ck_assert_int_eq(mails(e, NULL), 3);
	e2e_pause_worker(0);
}
END_TEST

/* ---- pause holds, re-activation resumes ---- */

START_TEST(pause_holds_and_resume_resumes)
{
	char tpl[40], flow[40], c[40], e[40], steps[1024], buf[64];

	e2e_pause_worker(1);
	tenant("flowpause", "pro");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"delay\",\"delay_hours\":1},"
		 "{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"custom_fields.spent\","
		 "\"value\":100,\"then_step\":2,\"else_step\":3},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Big spender\"},"
		 "{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"custom_fields.spent\","
		 "\"value\":1000,\"then_step\":4,\"else_step\":5},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Never\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	contact_create("held@pause.example", "\"custom_fields\":{\"spent\":\"250.5\"}", c);
	execution_of(flow, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "waiting");
	flow_call(flow, "/pause", 200);
	ck_assert_int_eq(batch_in(2 * 3600), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "waiting");
	ck_assert_int_eq(mails(e, NULL), 0);
	flow_call(flow, "/activate", 200);
	ck_assert_int_eq(batch_in(2 * 3600), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "completed");
	/* 250.5 > 100 as numbers, not > 1000 */
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox WHERE flow_execution_id = $1 AND step_index = 2", e,
			    NULL, NULL),
			 1);
	ck_assert_int_eq(mails(e, NULL), 1);
	/* deleting the flow stops what is still running */
	contact_create("late@pause.example", NULL, c);
	execution_of(flow, c, e);
	/* (marked deleted as the API's DELETE marks it, executions left as they
	 * were: the engine itself must not run them) */
	ov("UPDATE flows SET deleted_at = now() WHERE id = $1 RETURNING 1", flow, NULL, NULL);
	ck_assert_int_eq(batch_in(2 * 3600), 0);
	ck_assert_int_eq(mails(e, NULL), 0);
	ck_assert_str_eq(exec_field(e, "current_step", buf, sizeof(buf)), "0");
	e2e_pause_worker(0);
}
END_TEST

/* ---- an unsubscribed contact's execution stops ---- */

START_TEST(unsubscribe_mid_flow_stops_the_execution)
{
	char tpl[40], flow[40], c[40], e[40], steps[1024], buf[128], path[128];

	e2e_pause_worker(1);
	tenant("flowunsub", "pro");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"One\"},"
		 "{\"type\":\"delay\",\"delay_hours\":1},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Two\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	contact_create("leaver@unsub.example", NULL, c);
	execution_of(flow, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_int_eq(mails(e, "sent"), 1);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", c);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	ck_assert_int_eq(batch_in(2 * 3600), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "cancelled");
	ck_assert_str_eq(exec_field(e, "last_error", buf, sizeof(buf)), "contact unsubscribed");
	ck_assert_int_eq(mails(e, NULL), 1);
	e2e_pause_worker(0);
}
END_TEST

/* ---- the due queue (schema/0050_flow_due.sql) follows every writer ---- */

/* Executions of the tenant whose queue row disagrees with them: a waiting
 * one without its row or with another time, or a row for one that does not
 * wait. */
static long long due_mismatches(void)
{
	return ov("SELECT count(*) FROM flow_executions e FULL JOIN flow_due d ON d.execution_id = e.id"
		  " WHERE (e.user_id = $1 OR e.id IS NULL)"
		  "  AND (e.id IS NULL OR (e.status IN ('active', 'waiting') AND e.next_run_at IS NOT NULL)"
		  "   IS DISTINCT FROM (d.execution_id IS NOT NULL)"
		  "   OR d.due_at IS DISTINCT FROM CASE WHEN d.execution_id IS NOT NULL THEN e.next_run_at END)",
		  uid, NULL, NULL);
}

static long long due_rows(const char *exec)
{
	return ov("SELECT count(*) FROM flow_due WHERE execution_id = $1", exec, NULL, NULL);
}

START_TEST(due_queue_follows_every_writer)
{
	char tpl[40], flow[40], c1[40], c2[40], c3[40], e1[40], e2[40], e3[40], steps[1024], buf[64],
		path[128];

	e2e_pause_worker(1);
	tenant("flowdue", "pro");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"One\"},"
		 "{\"type\":\"delay\",\"delay_hours\":1},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Two\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	/* enrollment: due now, in the queue */
	contact_create("one@due.example", NULL, c1);
	contact_create("two@due.example", NULL, c2);
	contact_create("three@due.example", NULL, c3);
	execution_of(flow, c1, e1);
	execution_of(flow, c2, e2);
	execution_of(flow, c3, e3);
	ck_assert_int_eq(due_rows(e1), 1);
	ck_assert_int_eq(due_mismatches(), 0);
	/* a move to the delay: the queue row takes the new time */
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_str_eq(exec_field(e1, "status", buf, sizeof(buf)), "waiting");
	ck_assert_int_eq(due_rows(e1), 1);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_due WHERE execution_id = $1 AND due_at > now()", e1, NULL,
			    NULL),
			 1);
	ck_assert_int_eq(due_mismatches(), 0);
	/* not yet due: nothing runs */
	ck_assert_int_eq(batch_in(600), 0);
	ck_assert_int_eq(mails(e1, NULL), 1);
	/* a deleted contact's execution and its queue row go with it */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", c3);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	ck_assert_int_eq(due_rows(e3), 0);
	/* completion leaves the queue */
	ck_assert_int_eq(batch_in(2 * 3600), 0);
	ck_assert_str_eq(exec_field(e1, "status", buf, sizeof(buf)), "completed");
	ck_assert_int_eq(mails(e1, NULL), 2);
	ck_assert_int_eq(due_rows(e1), 0);
	ck_assert_int_eq(due_mismatches(), 0);
	/* a later enrollment waits in the queue until the flow is deleted */
	contact_create("four@due.example", NULL, c3);
	execution_of(flow, c3, e3);
	ck_assert_int_eq(due_rows(e3), 1);
	flow_call(flow, "", 204);
	ck_assert_str_eq(exec_field(e3, "status", buf, sizeof(buf)), "cancelled");
	ck_assert_int_eq(due_rows(e3), 0);
	ck_assert_int_eq(due_mismatches(), 0);
	ck_assert_int_eq(batch_in(4 * 3600), 0);
	ck_assert_int_eq(mails(e3, NULL), 0);
	(void)e2;
	e2e_pause_worker(0);
}
END_TEST

/* ---- the monthly limit: the email is not queued, the execution moves on ---- */

START_TEST(monthly_limit_passes_over_the_email_and_moves_on)
{
	char tpl[40], flow[40], c[40], e[40], steps[1024], buf[256];

	e2e_pause_worker(1);
	tenant("flowlimit", NULL); /* free: 500 a month */
	template_create(tpl);
	/* 499 already this month */
	ck_assert_int_eq(ov("WITH x AS (INSERT INTO outbox (user_id, to_email, payload, status, sent_at)"
			    " SELECT $1, 'used' || g || '@limit.example', '{\"subject\":\"s\",\"html\":\"h\"}',"
			    " 'sent', now() FROM generate_series(1, 499) g RETURNING 1) SELECT count(*) FROM x",
			    uid, NULL, NULL),
			 499);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Fits\"},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Over\"},"
		 "{\"type\":\"delay\",\"delay_minutes\":5}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	contact_create("limited@limit.example", NULL, c);
	execution_of(flow, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_int_eq(mails(e, NULL), 1);
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox WHERE flow_execution_id = $1 AND step_index = 0", e,
			    NULL, NULL),
			 1);
	ck_assert_str_eq(exec_field(e, "last_error", buf, sizeof(buf)), "step 1: monthly email limit reached");
	/* it moved on past the email to the delay */
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "waiting");
	ck_assert_str_eq(exec_field(e, "current_step", buf, sizeof(buf)), "3");
	ck_assert_int_eq(batch_in(600), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "completed");
	e2e_pause_worker(0);
}
END_TEST

/* ---- triggers from outside: a platform event and a custom event ---- */

static long platform_event(const char *body)
{
	char hex[65], sig[100];
	const char *h[] = { sig, "Content-Type: application/json", NULL };
	struct http_answer a;
	long st;

	hmac_sha256_hex(FS_DEFAULT_PLATFORM_SECRET, strlen(FS_DEFAULT_PLATFORM_SECRET), body, strlen(body),
			hex);
	snprintf(sig, sizeof(sig), "X-Platform-Signature: sha256=%s", hex);
	ck_assert_int_eq(http_call("POST", "/api/v1/webhooks/platform-events", h, body, strlen(body), &a), 0);
	st = a.status;
	ck_assert_msg(st == 200, "%ld %s", st, a.body);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "matched")));
	http_answer_free(&a);
	return st;
}

START_TEST(abandoned_cart_and_custom_events_run_their_flows)
{
	char tpl[40], cart[40], custom[40], c[40], e[40], steps[1024], body[1024], pid[64], buf[64];
	struct http_answer a;

	e2e_pause_worker(1);
	tenant("flowevents", "pro");
	snprintf(pid, sizeof(pid), "engine-shop-%d-%ld", (int)getpid(), (long)time(NULL));
	ck_assert_int_eq(ov("UPDATE users SET external_platform_id = $1 WHERE id = $2 RETURNING 1", pid, uid,
			    NULL),
			 1);
	template_create(tpl);
	contact_create("shopper@events.example", NULL, c);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"delay\",\"delay_minutes\":60},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"You left something\"}]", tpl);
	flow_create("abandoned_cart", "{}", steps, cart);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Your trial ended\"}]", tpl);
	flow_create("custom", "{\"event\":\"trial.ended\"}", steps, custom);

	/* the platform says the cart was abandoned: an hour later, the reminder */
	snprintf(body, sizeof(body),
		 "{\"event\":\"cart.abandoned\",\"user_id\":\"%s\",\"data\":{\"email\":"
		 "\"shopper@events.example\",\"cart_url\":\"https://shop.example/cart/1\"}}", pid);
	platform_event(body);
	execution_of(cart, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "waiting");
	ck_assert_int_eq(mails(e, NULL), 0);
	ck_assert_int_eq(batch_in(61 * 60), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "completed");
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox WHERE flow_execution_id = $1 AND status = 'sent'"
			    " AND step_index = 1", e, NULL, NULL),
			 1);
	ck_assert_int_eq(stat_of(cart, "emails_sent"), 1);

	/* a custom event from the API */
	e2e_expect(token, "POST", "/api/v1/events",
		   "{\"event\":\"trial.ended\",\"email\":\"shopper@events.example\",\"data\":{\"plan\":\"pro\"}}",
		   202, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 1);
	http_answer_free(&a);
	execution_of(custom, c, e);
	ck_assert_int_eq(batch_at(NULL), 0);
	ck_assert_str_eq(exec_field(e, "status", buf, sizeof(buf)), "completed");
	ck_assert_int_eq(mails(e, "sent"), 1);
	ck_assert_int_eq(stat_of(custom, "completed"), 1);
	/* an event of another name runs nothing */
	e2e_expect(token, "POST", "/api/v1/events",
		   "{\"event\":\"trial.started\",\"email\":\"shopper@events.example\"}", 202, NULL, NULL);
	ck_assert_int_eq(stat_of(custom, "enrolled"), 1);
	e2e_pause_worker(0);
}
END_TEST

/* ---- scheduled: cron in the flow's zone, DST, once per due time ---- */

static const char *flow_next(const char *flow, char *out, size_t size)
{
	if (!ot("SELECT to_char(next_trigger_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') FROM flows"
		" WHERE id = $1", flow, NULL, out, size))
		snprintf(out, size, "(null)");
	return out;
}

static long long enrolled(const char *flow)
{
	return ov("SELECT count(*) FROM flow_executions WHERE flow_id = $1", flow, NULL, NULL);
}

START_TEST(scheduled_flow_fires_once_per_due_time_across_dst)
{
	char tpl[40], flow[40], c[40], steps[512], buf[64], list[40], cfgj[256], path[128];
	struct http_answer a;
	pid_t p1, p2;
	int st1, st2;

	e2e_pause_worker(1);
	tenant("flowcron", "pro");
	template_create(tpl);
	contact_create("a@cron.example", NULL, c);
	contact_create("b@cron.example", NULL, c);
	contact_create("c@cron.example", NULL, c); /* not on the list */
	e2e_expect(token, "POST", "/api/v1/contacts/lists", "{\"name\":\"Cron list\"}", 201, NULL, &a);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(ov("WITH x AS (INSERT INTO contact_list_members (list_id, contact_id, user_id)"
			    " SELECT $2, id, user_id FROM contacts WHERE user_id = $1 AND email <> 'c@cron.example'"
			    " RETURNING 1) SELECT count(*) FROM x", uid, list, NULL),
			 2);
	snprintf(steps, sizeof(steps), "[{\"type\":\"email\",\"template_id\":\"%s\"}]", tpl);
	snprintf(cfgj, sizeof(cfgj),
		 "{\"cron\":\"30 2 * * *\",\"timezone\":\"America/New_York\",\"list_id\":\"%s\","
		 "\"allow_reentry\":true}", list);
	flow_create("scheduled", cfgj, steps, flow);

	/* 02:30 does not exist on 8 March 2026 in New York: 03:00 EDT instead */
	ck_assert_int_eq(batch_at("2026-03-07T12:00:00Z"), 0);
	ck_assert_str_eq(flow_next(flow, buf, sizeof(buf)), "2026-03-08T07:00Z");
	ck_assert_int_eq(enrolled(flow), 0);
	ck_assert_int_eq(batch_at("2026-03-08T06:59:00Z"), 0);
	ck_assert_int_eq(enrolled(flow), 0);
	ck_assert_int_eq(batch_at("2026-03-08T07:00:20Z"), 0);
	ck_assert_int_eq(enrolled(flow), 2);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_executions WHERE flow_id = $1 AND status = 'completed'",
			    flow, NULL, NULL),
			 2);
	ck_assert_str_eq(flow_next(flow, buf, sizeof(buf)), "2026-03-09T06:30Z");
	/* two workers at the same minute: one firing */
	p1 = fork();
	if (p1 == 0)
		_exit(batch_at("2026-03-09T06:31:00Z") == 0 ? 0 : 1);
	p2 = fork();
	if (p2 == 0)
		_exit(batch_at("2026-03-09T06:31:00Z") == 0 ? 0 : 1);
	waitpid(p1, &st1, 0);
	waitpid(p2, &st2, 0);
	ck_assert_int_eq(WEXITSTATUS(st1), 0);
	ck_assert_int_eq(WEXITSTATUS(st2), 0);
	ck_assert_int_eq(enrolled(flow), 4);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_schedule_runs WHERE flow_id = $1", flow, NULL, NULL), 2);

	/* Autumn: 01:30 happens twice on 1 November 2026; it runs once. */
	snprintf(path, sizeof(path), "{\"cron\":\"30 1 * * *\",\"timezone\":\"America/New_York\","
		 "\"list_id\":\"%s\",\"allow_reentry\":true}", list);
	flow_call(flow, "/pause", 200);
	{
		struct strbuf b = STRBUF_INIT;
		char fp[128];
		strbuf_appendf(&b, "{\"trigger_config\":%s}", path);
		snprintf(fp, sizeof(fp), "/api/v1/flows/%s", flow);
		e2e_expect(token, "PATCH", fp, strbuf_cstr(&b), 200, NULL, NULL);
		strbuf_free(&b);
	}
	flow_call(flow, "/activate", 200);
	ck_assert_int_eq(batch_at("2026-10-31T12:00:00Z"), 0);
	ck_assert_str_eq(flow_next(flow, buf, sizeof(buf)), "2026-11-01T05:30Z");
	ck_assert_int_eq(batch_at("2026-11-01T05:30:10Z"), 0);
	ck_assert_int_eq(enrolled(flow), 6);
	ck_assert_str_eq(flow_next(flow, buf, sizeof(buf)), "2026-11-02T06:30Z");
	ck_assert_int_eq(batch_at("2026-11-01T06:31:00Z"), 0); /* the second 01:30 */
	ck_assert_int_eq(enrolled(flow), 6);
	/* a run three days late fires the time it missed once */
	ck_assert_int_eq(batch_at("2026-11-05T00:00:00Z"), 0);
	ck_assert_int_eq(enrolled(flow), 8);
	ck_assert_str_eq(flow_next(flow, buf, sizeof(buf)), "2026-11-05T06:30Z");
	ck_assert_int_eq(batch_at("2026-11-05T00:00:00Z"), 0);
	ck_assert_int_eq(enrolled(flow), 8);
	/* the list's members only, all mailed */
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_executions e JOIN contacts k ON k.id = e.contact_id"
			    " WHERE e.flow_id = $1 AND k.email = 'c@cron.example'", flow, NULL, NULL),
			 0);
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
			    " WHERE e.flow_id = $1 AND o.status = 'sent'", flow, NULL, NULL),
			 8);
	flow_call(flow, "/pause", 200);
	e2e_pause_worker(0);
}
END_TEST

/* ---- kill -9 mid-run: nothing repeated, nothing skipped ---- */

#define CRASH_CONTACTS 200

static pid_t start_worker(const struct e2e_sink *s)
{
	char cmd[1024];
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "exec env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=4"
		 " FLOWSEND_BATCH_WORKERS=2 %s/flowsend-batch --worker --poll 1"
		 " >>/tmp/flowsend-e2e-flow-worker.log 2>&1",
		 s->port, e2e_bin());
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* How many stored messages went to each crash contact, for subject A and B. */
static void crash_counts(const struct e2e_sink *s, int (*counts)[2])
{
	char path[1024];
	struct dirent *d;
	DIR *dir;

	memset(counts, 0, sizeof(int) * 2 * CRASH_CONTACTS);
	snprintf(path, sizeof(path), "%s/new", s->dir);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir))) {
		char file[1400], *text, *p;
		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, d->d_name);
		text = e2e_slurp(file, NULL);
		ck_assert_ptr_nonnull(text);
		p = strstr(text, "X-Sink-Rcpt-To: <k");
		if (p) {
			int n = atoi(p + 18);
			int which = strstr(text, "Subject: Step B") ? 1 : 0;
			if (n >= 0 && n < CRASH_CONTACTS)
				counts[n][which]++;
		}
		free(text);
	}
	closedir(dir);
}

START_TEST(kill_9_mid_run_repeats_and_skips_nothing)
{
	char tpl[40], flow[40], steps[1024], iso[40];
	struct strbuf body = STRBUF_INIT;
	struct e2e_sink s;
	int (*counts)[2] = calloc(CRASH_CONTACTS, sizeof(*counts)), kills = 0;
	long long sent, interrupted, once = 0;

	ck_assert_ptr_nonnull(counts);
	e2e_pause_worker(1);
	tenant("flowcrash", "enterprise");
	template_create(tpl);
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Step A\"},"
		 "{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":2,\"else_step\":2},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"Step B\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	sink_start(&s, "--delay-ms 20");
	/* mail queued by earlier suites first, so the kills fall on this flow */
	ck_assert_int_eq(smtp_batch_at(&s, NULL), 0);
	/* enrolled by the import itself (under 1,000 rows: in its transaction) */
	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < CRASH_CONTACTS; i++)
		strbuf_appendf(&body, "%s\"k%d@crash.example\"", i ? "," : "", i);
	strbuf_appends(&body, "]}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
	ck_assert_int_eq(stat_of(flow, "enrolled"), CRASH_CONTACTS);
	for (int round = 0; round < 3; round++) {
		pid_t w = start_worker(&s);
		long long before = ov("SELECT count(*) FROM outbox o JOIN flow_executions e"
				      " ON e.id = o.flow_execution_id WHERE e.flow_id = $1 AND o.status = 'sent'",
				      flow, NULL, NULL);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			usleep(50000);
			clock_gettime(CLOCK_MONOTONIC, &t1);
		} while (t1.tv_sec - t0.tv_sec < 4 &&
			 ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
			    " WHERE e.flow_id = $1 AND o.status = 'sent'", flow, NULL, NULL) < before + 15);
		usleep((useconds_t)(rand() % 200) * 1000);
		ck_assert_int_eq(kill(-w, SIGKILL), 0);
		waitpid(w, NULL, 0);
		usleep(50000);
		kills++;
	}
	/* after the claims lapse, in-doubt rows fail and the rest go out */
	for (int i = 0; i < 10 && ov("SELECT count(*) FROM outbox o JOIN flow_executions e"
				      " ON e.id = o.flow_execution_id WHERE e.flow_id = $1"
				      " AND o.status IN ('pending', 'sending', 'handing')", flow, NULL, NULL) > 0;
	     i++)
		ck_assert_int_eq(smtp_batch_at(&s, now_plus(15 * 60, iso, sizeof(iso))), 0);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_executions WHERE flow_id = $1 AND status = 'completed'",
			    flow, NULL, NULL),
			 CRASH_CONTACTS);
	/* every execution has exactly one row per email step: none skipped, none doubled */
	ck_assert_int_eq(ov("SELECT count(*) FROM (SELECT o.flow_execution_id FROM outbox o JOIN flow_executions e"
			    " ON e.id = o.flow_execution_id WHERE e.flow_id = $1 GROUP BY 1"
			    " HAVING count(*) FILTER (WHERE step_index = 0) = 1"
			    " AND count(*) FILTER (WHERE step_index = 2) = 1 AND count(*) = 2) x", flow, NULL, NULL),
			 CRASH_CONTACTS);
	sent = ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
		  " WHERE e.flow_id = $1 AND o.status = 'sent'", flow, NULL, NULL);
	interrupted = ov("SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id"
			 " WHERE e.flow_id = $1 AND o.status = 'failed' AND o.last_error = 'interrupted'",
			 flow, NULL, NULL);
	ck_assert_int_eq(sent + interrupted, 2 * CRASH_CONTACTS);
	ck_assert_int_le(interrupted, (long long)kills * 4);
	ck_assert_int_eq(stat_of(flow, "completed"), CRASH_CONTACTS);
	ck_assert_int_eq(stat_of(flow, "emails_sent"), sent);
	crash_counts(&s, counts);
	for (int i = 0; i < CRASH_CONTACTS; i++)
		for (int k = 0; k < 2; k++) {
			ck_assert_msg(counts[i][k] <= 1, "k%d@crash.example got step %c %d times", i, 'A' + k,
				      counts[i][k]);
			once += counts[i][k];
		}
	ck_assert_int_ge(once, sent);
	ck_assert_int_le(once, sent + interrupted);
	fprintf(stderr, "flow crash test: %d kills, %lld sent, %lld interrupted, %lld received\n", kills, sent,
		interrupted, once);
	ck_assert_int_eq(ov("SELECT count(*) FROM email_events WHERE flow_id = $1 AND event_type = 'sent'", flow,
			    NULL, NULL),
			 sent);
	free(counts);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
}
END_TEST

/* ---- flow mail's opens and clicks count once, as campaigns' do ---- */

/* A hit through nginx on tracking token kind/row/link: the HTTP status. */
static long track_hit(const struct fs_config *cfg, char kind, const char *row, const char *link,
		      const char *method)
{
	struct track_key k = { 1, cfg->link_secret };
	const char *h[] = { BROWSER, NULL };
	char tok[TRACK_TOKEN_MAX + 1], path[600];
	struct http_answer a;
	long st;

	ck_assert_int_eq(track_token_mint(&k, kind, row, link, tok, sizeof(tok)), 0);
	snprintf(path, sizeof(path), kind == TRACK_OPEN ? "/t/o/%s.gif" : "/t/c/%s", tok);
	ck_assert_int_eq(http_call(method, path, h, NULL, 0, &a), 0);
	st = a.status;
	http_answer_free(&a);
	return st;
}

static long long analytics_of(const char *tok, const char *name)
{
	struct http_answer a;
	long long v;

	e2e_expect(tok, "GET", "/api/v1/analytics?days=1", NULL, 200, NULL, &a);
	v = json_object_get_int64(json_object_object_get(a.json, name));
	http_answer_free(&a);
	return v;
}

/* The direct count: human hits, each (campaign or flow step, contact) once. */
#define DIRECT_COUNT(kind)                                                                              \
	"SELECT count(DISTINCT (coalesce(e.campaign_id, e.flow_id), coalesce(o.step_index, -1),"       \
	" e.contact_id)) FROM email_events e JOIN outbox o ON o.id = e.outbox_id"                       \
	" WHERE e.user_id = $1 AND e.event_type = '" kind "' AND NOT e.is_bot"

START_TEST(flow_mail_opens_and_clicks_count_once_in_analytics)
{
	struct fs_config cfg;
	char err[256], tpl[40], flow[40], camp[40], ca[40], cb[40], ea[40], eb[40], steps[1024];
	char a0[40], a2[40], b0[40], acamp[40], link[40], body[256], path[128], other[4096], iso[40];
	struct e2e_sink s;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	e2e_pause_worker(1);
	tenant("flowtrack", "pro");
	template_create(tpl);
	/* the same template in two email steps of one flow, and a campaign */
	snprintf(steps, sizeof(steps),
		 "[{\"type\":\"email\",\"template_id\":\"%s\"},{\"type\":\"delay\",\"delay_hours\":1},"
		 "{\"type\":\"email\",\"template_id\":\"%s\"}]",
		 tpl, tpl);
	flow_create("signup", "{}", steps, flow);
	contact_create("a@flowtrack.example", NULL, ca);
	contact_create("b@flowtrack.example", NULL, cb);
	execution_of(flow, ca, ea);
	execution_of(flow, cb, eb);
	snprintf(body, sizeof(body), "{\"name\":\"Both\",\"subject\":\"Campaign\",\"template_id\":\"%s\"}", tpl);
	{
		struct http_answer a;
		e2e_expect(token, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
		snprintf(camp, sizeof(camp), "%s", json_str(a.json, "id"));
		http_answer_free(&a);
	}
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", path, NULL, 202, NULL, NULL);
	/* over SMTP, so the mail is rendered with its pixel and tracked links */
	sink_start(&s, NULL);
	ck_assert_int_eq(smtp_batch_at(&s, NULL), 0);
	ck_assert_int_eq(smtp_batch_at(&s, now_plus(3600 + 60, iso, sizeof(iso))), 0);
	e2e_sink_stop(&s);
	ck_assert_int_eq(ov("SELECT count(*) FROM outbox WHERE user_id = $1 AND status = 'sent'"
			    " AND (campaign_id IS NOT NULL OR flow_execution_id IS NOT NULL)", uid, NULL, NULL),
			 6);
	/* out of the scanners' window after delivery (the second batch ran an
	 * hour ahead on its clock: its mail's sent_at is in the future) */
	ov("WITH o AS (UPDATE outbox SET sent_at = now() - interval '1 minute' WHERE user_id = $1"
	   " RETURNING 1) SELECT count(*) FROM o", uid, NULL, NULL);
	/* From 23:00 UTC on, that batch's sends fall on tomorrow's row of the
	 * daily rollup, after the end of analytics' window (today): fold it into
	 * today's, as if the batch had run today. */
	ov("WITH f AS (DELETE FROM daily_stats WHERE user_id = $1"
	   "  AND day > (now() AT TIME ZONE 'UTC')::date RETURNING *),"
	   " m AS (INSERT INTO daily_stats AS d (user_id, day, sent, delivered, opened, clicked, bounced,"
	   "  unsubscribed, complained, failed)"
	   "  SELECT user_id, (now() AT TIME ZONE 'UTC')::date, sum(sent), sum(delivered), sum(opened),"
	   "   sum(clicked), sum(bounced), sum(unsubscribed), sum(complained), sum(failed)"
	   "  FROM f GROUP BY user_id"
	   "  ON CONFLICT (user_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent,"
	   "   delivered = d.delivered + EXCLUDED.delivered, opened = d.opened + EXCLUDED.opened,"
	   "   clicked = d.clicked + EXCLUDED.clicked, bounced = d.bounced + EXCLUDED.bounced,"
	   "   unsubscribed = d.unsubscribed + EXCLUDED.unsubscribed,"
	   "   complained = d.complained + EXCLUDED.complained, failed = d.failed + EXCLUDED.failed"
	   "  RETURNING 1) SELECT count(*) FROM m",
	   uid, NULL, NULL);
	ot("SELECT id FROM outbox WHERE flow_execution_id = $1 AND step_index = 0", ea, NULL, a0, sizeof(a0));
	ot("SELECT id FROM outbox WHERE flow_execution_id = $1 AND step_index = 2", ea, NULL, a2, sizeof(a2));
	ot("SELECT id FROM outbox WHERE flow_execution_id = $1 AND step_index = 0", eb, NULL, b0, sizeof(b0));
	ot("SELECT id FROM outbox WHERE campaign_id = $1 AND contact_id = $2", camp, ca, acamp, sizeof(acamp));
	ck_assert_ptr_nonnull(ot("SELECT id FROM campaign_links WHERE flow_id = $1 AND url = 'https://shop.example/p'",
				 flow, NULL, link, sizeof(link)));

	/* A opens the first flow email three times and clicks its link twice,
	 * a scanner fetches it too; B's is only scanned; A opens the second
	 * flow email once and the campaign's twice. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, a0, NULL, "GET"), 200);
	ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, a0, NULL, "HEAD"), 200);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(track_hit(&cfg, TRACK_CLICK, a0, link, "GET"), 302);
	ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, b0, NULL, "HEAD"), 200);
	ck_assert_int_eq(track_hit(&cfg, TRACK_CLICK, b0, link, "HEAD"), 302);
	ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, a2, NULL, "GET"), 200);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, acamp, NULL, "GET"), 200);
	for (int i = 0; i < 200 && ov("SELECT count(*) FROM email_events WHERE user_id = $1"
				       " AND event_type IN ('opened', 'clicked')", uid, NULL, NULL) < 11; i++)
		usleep(25000);
	ck_assert_int_eq(ov("SELECT count(*) FROM email_events WHERE user_id = $1"
			    " AND event_type IN ('opened', 'clicked')", uid, NULL, NULL),
			 11);
	ck_assert_int_eq(ov("SELECT count(*) FROM email_events WHERE flow_id = $1 AND is_bot", flow, NULL, NULL), 3);

	/* once per contact per flow step, humans only; the campaign's as before */
	ck_assert_int_eq(ov(DIRECT_COUNT("opened"), uid, NULL, NULL), 3);
	ck_assert_int_eq(ov(DIRECT_COUNT("clicked"), uid, NULL, NULL), 1);
	ck_assert_int_eq(analytics_of(token, "total_opens"), 3);
	ck_assert_int_eq(analytics_of(token, "total_clicks"), 1);
	ck_assert_int_eq(analytics_of(token, "total_emails_sent"),
			 ov("SELECT count(*) FROM email_events WHERE user_id = $1 AND event_type = 'sent'", uid,
			    NULL, NULL));
	ck_assert_int_eq(analytics_of(token, "total_emails_sent"), 6);
	ck_assert_int_eq(ov("SELECT opened FROM daily_stats WHERE user_id = $1"
			    " AND day = (flowsend_now() AT TIME ZONE 'UTC')::date", uid, NULL, NULL),
			 3);
	ck_assert_int_eq(ov("SELECT open_count FROM campaigns WHERE id = $1", camp, NULL, NULL), 1);
	/* the flow's link: one contact, two human clicks */
	ck_assert_int_eq(ov("SELECT click_count FROM campaign_links WHERE id = $1", link, NULL, NULL), 1);
	ck_assert_int_eq(ov("SELECT total_clicks FROM campaign_links WHERE id = $1", link, NULL, NULL), 2);

	/* More hits later count nothing more; a second tenant sees none of it. */
	ck_assert_int_eq(track_hit(&cfg, TRACK_OPEN, a0, NULL, "GET"), 200);
	ck_assert_int_eq(track_hit(&cfg, TRACK_CLICK, a0, link, "GET"), 302);
	for (int i = 0; i < 200 && ov("SELECT count(*) FROM email_events WHERE user_id = $1"
				       " AND event_type IN ('opened', 'clicked')", uid, NULL, NULL) < 13; i++)
		usleep(25000);
	ck_assert_int_eq(analytics_of(token, "total_opens"), ov(DIRECT_COUNT("opened"), uid, NULL, NULL));
	ck_assert_int_eq(analytics_of(token, "total_opens"), 3);
	ck_assert_int_eq(analytics_of(token, "total_clicks"), 1);
	ck_assert_int_eq(ov("SELECT click_count FROM campaign_links WHERE id = $1", link, NULL, NULL), 1);
	ck_assert_int_eq(ov("SELECT total_clicks FROM campaign_links WHERE id = $1", link, NULL, NULL), 3);
	e2e_new_tenant("flowtrack-other", other, sizeof(other));
	ck_assert_int_eq(analytics_of(other, "total_opens"), 0);
	ck_assert_int_eq(ov("SELECT count(*) FROM flow_tracking_firsts WHERE flow_id = $1 AND kind = 'opened'",
			    flow, NULL, NULL),
			 2);
	e2e_pause_worker(0);
}
END_TEST

Suite *flow_engine_suite(void)
{
	Suite *s = suite_create("flow_engine");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, welcome_series_branches_on_a_real_open);
	tcase_add_test(tc, split_follows_the_weights_over_2000_contacts);
	tcase_add_test(tc, loop_with_delay_mails_once_per_visit);
	tcase_add_test(tc, pause_holds_and_resume_resumes);
	tcase_add_test(tc, unsubscribe_mid_flow_stops_the_execution);
	tcase_add_test(tc, monthly_limit_passes_over_the_email_and_moves_on);
	tcase_add_test(tc, abandoned_cart_and_custom_events_run_their_flows);
	tcase_add_test(tc, scheduled_flow_fires_once_per_due_time_across_dst);
	tcase_add_test(tc, kill_9_mid_run_repeats_and_skips_nothing);
	tcase_add_test(tc, flow_mail_opens_and_clicks_count_once_in_analytics);
	tcase_add_test(tc, due_queue_follows_every_writer);
	suite_add_tcase(s, tc);
	return s;
}
