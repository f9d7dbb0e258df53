/* Regression tests for what the outside review of the tracking, unsubscribe,
 * bounce and sender-domain modules found (session 7). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/links.h"
#include "services/track_links.h"

static struct fs_config config(void)
{
	struct fs_config cfg;
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	return cfg;
}

static long long owner_value(const char *sql, const char *a1, const char *a2)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_value(sql, a2 ? 2 : a1 ? 1 : 0, p);
}

static long form_post(const char *path, const char *body, struct http_answer *a)
{
	const char *h[] = { "Content-Type: application/x-www-form-urlencoded", NULL };

	ck_assert_int_eq(http_call("POST", path, h, body, strlen(body), a), 0);
	return a->status;
}

/* A tenant with one contact and a sent (test) mail to it: the unsubscribe
 * page's path into path. */
static void contact_with_mail(const char *prefix, char *user, char *contact, char *path,
			      size_t size)
{
	struct fs_config cfg = config();
	char token[4096], email[128], body[256], row[40], tok[LINK_TOKEN_LEN + 1];
	struct http_answer a;
	const char *p[3];

	e2e_new_tenant(prefix, token, sizeof(token));
	e2e_user_id(token, user);
	e2e_unique_email(prefix, email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	snprintf(contact, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	p[0] = user;
	p[1] = contact;
	p[2] = email;
	ck_assert_ptr_nonnull(e2e_owner_text("INSERT INTO outbox (user_id, contact_id, to_email, status,"
					     " sent_at) VALUES ($1, $2, $3, 'sent', now()) RETURNING id",
					     3, p, row, sizeof(row)));
	ck_assert_int_eq(link_token(cfg.link_secret, "u", row, tok, sizeof(tok)), 0);
	snprintf(path, size, "/u/%s", tok);
}

/* The preference center shows the first 90 public lists (by name); saving
 * the form must change only those: a list the page never showed is no list
 * the person chose to leave. */
START_TEST(preferences_save_leaves_alone_the_lists_the_page_did_not_show)
{
	char user[40], contact[40], path[160], last[40], first[40], body[256];
	struct http_answer a;
	const char *p[2];

	contact_with_mail("rev-pref", user, contact, path, sizeof(path));
	p[0] = user;
	ck_assert_int_eq(e2e_owner_value("WITH l AS (INSERT INTO contact_lists (user_id, name, list_type,"
					 " is_public) SELECT $1, 'List ' || lpad(g::text, 3, '0'),"
					 " 'static', true FROM generate_series(1, 95) g RETURNING 1)"
					 " SELECT count(*) FROM l",
					 1, p),
			 95);
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
					     " AND name = 'List 095'", 1, p, last, sizeof(last)));
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
					     " AND name = 'List 001'", 1, p, first, sizeof(first)));
	p[0] = last;
	p[1] = contact;
	ck_assert_int_eq(e2e_owner_value("WITH m AS (INSERT INTO contact_list_members (list_id, contact_id,"
					 " user_id) SELECT $1, $2, user_id FROM contacts WHERE id = $2"
					 " RETURNING 1) SELECT count(*) FROM m",
					 2, p),
			 1);

	/* The page shows List 001 to List 090, not the list the contact is in. */
	ck_assert_int_eq(http_call("GET", path, NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "List 090"));
	ck_assert_ptr_null(strstr(a.body, "List 091"));
	ck_assert_ptr_null(strstr(a.body, last));
	http_answer_free(&a);

	/* Join List 001, leave nothing the page showed. */
	snprintf(body, sizeof(body), "action=preferences&list=%s&save=1", first);
	ck_assert_int_eq(form_post(path, body, &a), 200);
	{
		const char *notice = strstr(a.body, "You joined");
		ck_assert_msg(notice && strncmp(notice, "You joined 1 and left 0 lists.", 30) == 0,
			      "%.60s", notice ? notice : "(no notice)");
	}
	http_answer_free(&a);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", first, contact),
			 1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", last, contact),
			 1);
	/* Naming a list the page did not show joins nothing either. */
	p[0] = user;
	{
		char l92[40];
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
						     " AND name = 'List 092'", 1, p, l92, sizeof(l92)));
		snprintf(body, sizeof(body), "action=preferences&list=%s&list=%s", first, l92);
		ck_assert_int_eq(form_post(path, body, &a), 200);
		http_answer_free(&a);
		ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
					     " AND contact_id = $2", l92, contact),
				 0);
	}
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", last, contact),
			 1);
}
END_TEST

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

/* Ports 12025 + 10 n + k per instance (see test_delivery.c); k = 9, as the
 * bounce suite's second sink, which is stopped by then. */
static int sink_port(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return 12025 + 10 * (port >= 18080 && port < 18090 ? port - 18080 : 0) + 9;
}

/* A campaign of html to one new contact of a new tenant, sent through the
 * sink by flowsend-batch --once; the campaign's id into camp, the seconds the
 * batch took returned. */
static double send_one(const char *prefix, const char *html, char *camp, struct e2e_sink *s)
{
	char token[4096], email[128], tpl[40], env[512], cmd[1024], dir[512];
	struct strbuf body = STRBUF_INIT;
	struct http_answer a;
	struct timespec t0, t1;
	json_object *o;

	e2e_new_tenant(prefix, token, sizeof(token));
	e2e_set_plan(token, "pro");
	e2e_unique_email(prefix, email, sizeof(email));
	strbuf_appendf(&body, "{\"email\":\"%s\"}", email);
	e2e_expect(token, "POST", "/api/v1/contacts", body.buf, 201, NULL, NULL);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string("T"));
	json_object_object_add(o, "subject", json_object_new_string("s"));
	json_object_object_add(o, "html_content", json_object_new_string(html));
	strbuf_reset(&body);
	strbuf_appends(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	e2e_expect(token, "POST", "/api/v1/templates", body.buf, 201, NULL, &a);
	snprintf(tpl, sizeof(tpl), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	strbuf_reset(&body);
	strbuf_appendf(&body, "{\"name\":\"R\",\"subject\":\"Hello\",\"template_id\":\"%s\"}", tpl);
	e2e_expect(token, "POST", "/api/v1/campaigns", body.buf, 201, NULL, &a);
	snprintf(camp, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	strbuf_reset(&body);
	strbuf_appendf(&body, "/api/v1/campaigns/%s/send", camp);
	e2e_expect(token, "POST", body.buf, NULL, 202, NULL, NULL);
	strbuf_free(&body);

	snprintf(dir, sizeof(dir), "%s/sink/review-%d", state_dir(), (int)getpid());
	e2e_sink_start(s, dir, sink_port(), NULL);
	snprintf(env, sizeof(env), "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=2"
		 " FLOWSEND_PUBLIC_URL=https://flowsend.test", s->port);
	snprintf(cmd, sizeof(cmd), "env %s %s/flowsend-batch --once >>/tmp/flowsend-e2e-batch.log 2>&1",
		 env, e2e_bin());
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(system(cmd), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status = 'sent'",
				     camp, NULL),
			 1);
	ck_assert_int_eq(e2e_sink_find(s, email, NULL, NULL), 1);
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Every distinct URL of a message is a campaign_links row, written while
 * the shared worker sends: personalised URLs make one per recipient each.
 * A template of 512 KiB holds some 15,000 of them, so one recipient cost
 * 15,000 upserts and rows, and a campaign millions, on the worker every
 * tenant's mail waits for. A message's links past TRACK_LINKS_PER_MESSAGE
 * go as they are (they work, untracked). */
START_TEST(a_message_tracks_a_bounded_number_of_links)
{
	struct strbuf html = STRBUF_INIT;
	struct e2e_sink s;
	char camp[40];
	double secs;
	long long rows;

	e2e_pause_worker(1);
	strbuf_appends(&html, "<html><body>");
	for (int i = 0; i < 3000; i++)
		strbuf_appendf(&html, "<a href=\"https://shop.example/p/%d?e={{email}}\">%d</a>", i, i);
	strbuf_appends(&html, "</body></html>");
	secs = send_one("rev-links", html.buf, camp, &s);
	e2e_sink_stop(&s);
	rows = owner_value("SELECT count(*) FROM campaign_links WHERE campaign_id = $1", camp, NULL);
	fprintf(stderr, "review: 3000 personalised links: %lld link rows, batch %.2f s\n", rows, secs);
	ck_assert_int_le(rows, TRACK_LINKS_PER_MESSAGE);
	ck_assert_int_gt(rows, 0);
	strbuf_free(&html);
	e2e_pause_worker(0);
}
END_TEST

Suite *review_suite(void)
{
	Suite *s = suite_create("review");
	TCase *tc = tcase_create("review");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, preferences_save_leaves_alone_the_lists_the_page_did_not_show);
	tcase_add_test(tc, a_message_tracks_a_bounded_number_of_links);
	suite_add_tcase(s, tc);
	return s;
}
