/* The unsubscribe link end to end, through nginx: a GET shows a page and
 * changes nothing; a POST (RFC 8058 one-click or the page's button)
 * unsubscribes at once, records the unsubscribe and its event, cancels the
 * contact's queued mail, and is idempotent; forged, altered and foreign
 * tokens and hostile paths are 404 (or refused by nginx) and record nothing;
 * links signed with the JWT secret before FLOWSEND_LINK_SECRET still work;
 * a link acts on its own tenant only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/links.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"
#define ONE_CLICK "Content-Type: application/x-www-form-urlencoded"

static char token[4096];

static struct fs_config config(void)
{
	struct fs_config cfg;
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	return cfg;
}

/* The link a message carries, minted as the worker does (or with another key). */
static void link_for(const char *secret, const char *purpose, const char *outbox_id,
		     char out[LINK_TOKEN_LEN + 1])
{
	ck_assert_int_eq(link_token(secret, purpose, outbox_id, out, LINK_TOKEN_LEN + 1), 0);
}

static void contact(const char *tok, const char *email, char *id)
{
	char body[256];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Zo\\u00eb\"}", email);
	e2e_expect(tok, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void campaign(const char *tok, char *id)
{
	struct http_answer a;

	e2e_expect(tok, "POST", "/api/v1/campaigns",
		   "{\"name\":\"News\",\"subject\":\"Hi {{first_name|there}}\",\"template_id\":\"" WELCOME_TEMPLATE "\"}",
		   201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void send_campaign(const char *tok, const char *id)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(tok, "POST", path, NULL, 202, NULL, NULL);
}

static void wait_sent(const char *id)
{
	const char *p[1] = { id };

	for (int i = 0; i < 600; i++) {
		if (e2e_owner_value("SELECT count(*) FROM campaigns WHERE id = $1 AND status = 'sent'", 1,
				    p) == 1)
			return;
		usleep(100000);
	}
	ck_abort_msg("campaign %s never became sent", id);
}

/* The outbox row of campaign for contact, into out. */
static void outbox_row(const char *campaign_id, const char *contact_id, char *out)
{
	const char *p[2] = { campaign_id, contact_id };

	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM outbox WHERE campaign_id = $1"
					     " AND contact_id = $2",
					     2, p, out, 40));
}

static long long count_for(const char *sql, const char *id)
{
	const char *p[1] = { id };
	return e2e_owner_value(sql, 1, p);
}

static int subscribed(const char *contact_id)
{
	return count_for("SELECT count(*) FROM contacts WHERE id = $1 AND is_subscribed"
			 " AND unsubscribed_at IS NULL",
			 contact_id) == 1;
}

/* What an unsubscribe of the tenant user_id leaves behind, as one number:
 * unsubscribes rows, 'unsubscribed' events, opt-outs, campaign counts. */
static long long traces(const char *user_id)
{
	return count_for("SELECT (SELECT count(*) FROM unsubscribes WHERE user_id = $1)"
			 " + (SELECT count(*) FROM email_events WHERE user_id = $1"
			 "    AND event_type = 'unsubscribed')"
			 " + (SELECT count(*) FROM opt_outs WHERE user_id = $1)"
			 " + (SELECT COALESCE(sum(unsubscribe_count), 0) FROM campaigns WHERE user_id = $1)"
			 " + (SELECT COALESCE(sum(unsubscribed), 0) FROM daily_stats WHERE user_id = $1)",
			 user_id);
}

static void call(const char *method, const char *path, const char *body,
		 struct http_answer *a)
{
	const char *headers[] = { ONE_CLICK, NULL };

	ck_assert_int_eq(http_call(method, path, body ? headers : NULL, body,
				   body ? strlen(body) : 0, a),
			 0);
}

static void expect_status(const char *method, const char *path, const char *body, long status)
{
	struct http_answer a;

	call(method, path, body, &a);
	ck_assert_msg(a.status == status, "%s %.80s: %ld, want %ld", method, path, a.status, status);
	http_answer_free(&a);
}

/* The safety headers every page carries, and nothing loaded from elsewhere. */
static void expect_safe_page(const struct http_answer *a)
{
	char h[512];

	ck_assert_ptr_nonnull(http_header(a, "Content-Type", h, sizeof(h)));
	ck_assert_str_eq(h, "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(http_header(a, "Cache-Control", h, sizeof(h)));
	ck_assert_str_eq(h, "no-store");
	ck_assert_ptr_nonnull(http_header(a, "Referrer-Policy", h, sizeof(h)));
	ck_assert_str_eq(h, "no-referrer");
	ck_assert_ptr_nonnull(http_header(a, "Content-Security-Policy", h, sizeof(h)));
	ck_assert(strstr(h, "default-src 'none'") != NULL);
	ck_assert(strstr(h, "style-src 'sha256-") != NULL);
	ck_assert(strstr(h, "form-action 'self'") != NULL);
	ck_assert(strstr(h, "frame-ancestors 'none'") != NULL);
	ck_assert(strstr(a->body, "<script") == NULL);
	ck_assert(strstr(a->body, "src=") == NULL);
	ck_assert(strstr(a->body, "http://") == NULL && strstr(a->body, "https://") == NULL);
	ck_assert(strstr(a->body, "#f43f5e") != NULL);
}

/* A tenant with two contacts and a campaign sent to both. */
struct world {
	char user[40], ann[40], bob[40], camp[40], ann_row[40], bob_row[40];
};

static void world(struct world *w, const char *prefix)
{
	char email[128];

	e2e_new_tenant(prefix, token, sizeof(token));
	e2e_user_id(token, w->user);
	e2e_unique_email("ann", email, sizeof(email));
	contact(token, email, w->ann);
	e2e_unique_email("bob", email, sizeof(email));
	contact(token, email, w->bob);
	campaign(token, w->camp);
	send_campaign(token, w->camp);
	wait_sent(w->camp);
	outbox_row(w->camp, w->ann, w->ann_row);
	outbox_row(w->camp, w->bob, w->bob_row);
}

static void resume_worker(void)
{
	e2e_pause_worker(0);
}

START_TEST(get_shows_a_page_and_changes_nothing)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[128], action[160];
	struct http_answer a;

	ck_assert_str_ne(cfg.link_secret, cfg.jwt_secret);
	world(&w, "unsub-get");
	link_for(cfg.link_secret, "u", w.ann_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	call("GET", path, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	expect_safe_page(&a);
	snprintf(action, sizeof(action), "<form method=\"post\" action=\"/u/%s\">", tok);
	ck_assert_msg(strstr(a.body, action) != NULL, "%s", a.body);
	ck_assert(strstr(a.body, "<button") != NULL);
	http_answer_free(&a);
	expect_status("HEAD", path, NULL, 200);
	expect_status("GET", path, NULL, 200);
	ck_assert(subscribed(w.ann));
	ck_assert_int_eq(traces(w.user), 0);
}
END_TEST

START_TEST(post_unsubscribes_records_and_cancels_queued_mail)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[128], second[40], ann_next[40], bob_next[40], api[160];
	const char *p[2];
	struct http_answer a;

	world(&w, "unsub-post");
	/* A second campaign waits in the queue for both contacts. */
	e2e_pause_worker(1);
	campaign(token, second);
	send_campaign(token, second);
	outbox_row(second, w.ann, ann_next);
	outbox_row(second, w.bob, bob_next);
	ck_assert_int_eq(count_for("SELECT count(*) FROM outbox WHERE id = $1 AND status = 'pending'",
				   ann_next),
			 1);

	link_for(cfg.link_secret, "u", w.ann_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	call("POST", path, "List-Unsubscribe=One-Click", &a);
	ck_assert_int_eq(a.status, 200);
	expect_safe_page(&a);
	ck_assert(strstr(a.body, "<form") == NULL);
	http_answer_free(&a);

	/* The contact, the unsubscribe, the event naming the mail and campaign. */
	ck_assert(!subscribed(w.ann));
	ck_assert_int_eq(count_for("SELECT count(*) FROM contacts WHERE id = $1 AND NOT is_subscribed"
				   " AND unsubscribed_at IS NOT NULL",
				   w.ann),
			 1);
	p[0] = w.ann;
	p[1] = w.camp;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM unsubscribes WHERE contact_id = $1"
					 " AND campaign_id = $2 AND source = 'one_click'"
					 " AND email_hash = (SELECT flowsend_email_hash(email) FROM contacts"
					 "  WHERE id = $1)",
					 2, p),
			 1);
	p[1] = w.ann_row;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE contact_id = $1"
					 " AND outbox_id = $2 AND event_type = 'unsubscribed'"
					 " AND campaign_id = (SELECT campaign_id FROM outbox WHERE id = $2)"
					 " AND metadata->>'source' = 'one_click'",
					 2, p),
			 1);
	ck_assert_int_eq(count_for("SELECT count(*) FROM opt_outs o JOIN contacts c"
				   " ON c.user_id = o.user_id AND o.email_hash = flowsend_email_hash(c.email)"
				   " WHERE c.id = $1",
				   w.ann),
			 1);
	/* The figures equal the events, through the API too. */
	ck_assert_int_eq(count_for("SELECT unsubscribe_count FROM campaigns WHERE id = $1", w.camp), 1);
	ck_assert_int_eq(count_for("SELECT sum(unsubscribed) FROM daily_stats WHERE user_id = $1",
				   w.user),
			 1);
	snprintf(api, sizeof(api), "/api/v1/campaigns/%s/analytics", w.camp);
	e2e_expect(token, "GET", api, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total_unsubscribed")),
			 1);
	http_answer_free(&a);
	snprintf(api, sizeof(api), "/api/v1/contacts/%s", w.ann);
	e2e_expect(token, "GET", api, NULL, 200, NULL, &a);
	ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "is_subscribed")));
	http_answer_free(&a);
	/* Ann's queued mail is cancelled; Bob's is not. */
	ck_assert_int_eq(count_for("SELECT count(*) FROM outbox WHERE id = $1 AND status = 'cancelled'",
				   ann_next),
			 1);
	ck_assert_int_eq(count_for("SELECT count(*) FROM outbox WHERE id = $1 AND status = 'pending'",
				   bob_next),
			 1);
	ck_assert(subscribed(w.bob));

	/* Again: the same answer, nothing new. */
	ck_assert_int_eq(traces(w.user), 5);
	call("POST", path, "List-Unsubscribe=One-Click", &a);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
	call("GET", path, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert(strstr(a.body, "<form") == NULL); /* already unsubscribed: no button */
	http_answer_free(&a);
	ck_assert_int_eq(traces(w.user), 5);

	/* The second campaign goes out to Bob alone. */
	e2e_pause_worker(0);
	wait_sent(second);
	ck_assert_int_eq(count_for("SELECT sent_count FROM campaigns WHERE id = $1", second), 1);
	ck_assert_int_eq(count_for("SELECT count(*) FROM outbox WHERE id = $1 AND status = 'sent'",
				   bob_next),
			 1);
}
END_TEST

START_TEST(the_page_button_unsubscribes_too)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[128];
	const char *p[1];

	world(&w, "unsub-button");
	link_for(cfg.link_secret, "u", w.bob_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, "unsubscribe=confirm", 200);
	ck_assert(!subscribed(w.bob));
	ck_assert(subscribed(w.ann));
	p[0] = w.bob;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM unsubscribes WHERE contact_id = $1"
					 " AND source = 'link'",
					 1, p),
			 1);
	/* A POST without a body (some clients) is the button's too. */
	link_for(cfg.link_secret, "u", w.ann_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, NULL, 200);
	ck_assert(!subscribed(w.ann));
	ck_assert_int_eq(traces(w.user), 2 * 5);
}
END_TEST

START_TEST(forged_altered_and_foreign_tokens_are_404)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], bad[LINK_TOKEN_LEN + 8], path[160];
	struct http_answer a;

	world(&w, "unsub-forged");
	link_for(cfg.link_secret, "u", w.ann_row, tok);
	/* Every single character altered. */
	for (size_t i = 0; i < LINK_TOKEN_LEN; i++) {
		memcpy(bad, tok, sizeof(tok));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		snprintf(path, sizeof(path), "/u/%s", bad);
		expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	}
	/* Truncated, extended, another purpose, another key, another row. */
	snprintf(path, sizeof(path), "/u/%.*s", LINK_TOKEN_LEN - 1, tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	snprintf(path, sizeof(path), "/u/%sA", tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	link_for(cfg.link_secret, "c", w.ann_row, bad);
	snprintf(path, sizeof(path), "/u/%s", bad);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	expect_status("GET", path, NULL, 404);
	link_for(cfg.link_secret, "o", w.ann_row, bad);
	snprintf(path, sizeof(path), "/u/%s", bad);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	link_for("not-our-secret", "u", w.ann_row, bad);
	snprintf(path, sizeof(path), "/u/%s", bad);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	link_for(cfg.link_secret, "u", "00000000-0000-4000-8000-000000000000", bad);
	snprintf(path, sizeof(path), "/u/%s", bad);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	expect_status("POST", "/u/00000000-0000-4000-8000-000000000000", "{}", 404);
	expect_status("POST", "/u/not-a-token", "List-Unsubscribe=One-Click", 404);
	/* The 404 is a page for a browser, JSON for anything else; neither
	 * says anything of the tenant. */
	snprintf(path, sizeof(path), "/u/%.*s", LINK_TOKEN_LEN - 1, tok);
	{
		const char *browser[] = { "Accept: text/html,application/xhtml+xml,*/*;q=0.8", NULL };
		ck_assert_int_eq(http_call("GET", path, browser, NULL, 0, &a), 0);
	}
	ck_assert_int_eq(a.status, 404);
	expect_safe_page(&a);
	ck_assert(strstr(a.body, "<form") == NULL);
	http_answer_free(&a);
	call("POST", path, "List-Unsubscribe=One-Click", &a);
	ck_assert_int_eq(a.status, 404);
	ck_assert_ptr_nonnull(http_detail(&a));
	ck_assert(strstr(http_detail(&a), "not valid") != NULL);
	http_answer_free(&a);
	ck_assert(subscribed(w.ann));
	ck_assert_int_eq(traces(w.user), 0);
	/* The real one still works afterwards. */
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 200);
	ck_assert(!subscribed(w.ann));
}
END_TEST

START_TEST(links_signed_with_the_jwt_secret_still_work)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[128], second[40], pending[40];

	world(&w, "unsub-legacy");
	/* Mail sent before FLOWSEND_LINK_SECRET carries links made with the JWT secret. */
	link_for(cfg.jwt_secret, "u", w.ann_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("GET", path, NULL, 200);
	ck_assert(subscribed(w.ann));
	expect_status("POST", path, "List-Unsubscribe=One-Click", 200);
	ck_assert(!subscribed(w.ann));
	/* The fallback covers mail already sent only: not a row still queued. */
	e2e_pause_worker(1);
	campaign(token, second);
	send_campaign(token, second);
	outbox_row(second, w.bob, pending);
	link_for(cfg.jwt_secret, "u", pending, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 404);
	e2e_pause_worker(0);
	ck_assert(subscribed(w.bob));
	ck_assert_int_eq(traces(w.user), 5);
}
END_TEST

/* A test send goes to an address that is no contact: its link opts the
 * address out (for good, as every unsubscribe does), counted nowhere. */
START_TEST(mail_to_an_address_that_is_no_contact_opts_it_out)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[160], row[40], email[128], body[200];
	const char *p[2];

	world(&w, "unsub-nocontact");
	e2e_unique_email("boss", email, sizeof(email));
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", w.camp);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(token, "POST", path, body, 202, NULL, NULL);
	p[0] = w.user;
	p[1] = email;
	for (int i = 0; i < 100 && !e2e_owner_text("SELECT id FROM outbox WHERE user_id = $1"
						    " AND to_email = $2 AND status = 'sent'",
						    2, p, row, sizeof(row));
	     i++)
		usleep(100000);
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM outbox WHERE user_id = $1"
					     " AND to_email = $2 AND status = 'sent'",
					     2, p, row, sizeof(row)));
	link_for(cfg.link_secret, "u", row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 200);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 200);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM opt_outs WHERE user_id = $1"
					 " AND email_hash = flowsend_email_hash($2)",
					 2, p),
			 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM unsubscribes WHERE user_id = $1"
					 " AND contact_id IS NULL AND email_hash = flowsend_email_hash($2)",
					 2, p),
			 1);
	/* Not a campaign recipient: no event, no figures. */
	ck_assert_int_eq(traces(w.user), 2);
	/* The address cannot be added back as a subscribed contact. */
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	{
		struct http_answer a;
		e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
		ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "is_subscribed")));
		http_answer_free(&a);
	}
}
END_TEST

/* Many clicks at once (a mail client retrying, a person clicking twice):
 * each answers 200, one records. */
START_TEST(concurrent_posts_record_once)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[128];
	pid_t kids[8];

	world(&w, "unsub-race");
	link_for(cfg.link_secret, "u", w.ann_row, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	for (int i = 0; i < 8; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0) {
			struct http_answer a;
			int ok = http_call("POST", path, NULL, "List-Unsubscribe=One-Click", 26, &a) == 0 &&
				 a.status == 200;
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < 8; i++) {
		int status;
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert(!subscribed(w.ann));
	ck_assert_int_eq(traces(w.user), 5);
}
END_TEST

/* Two tenants with the same person: one tenant's link never touches the other. */
START_TEST(a_link_acts_on_its_own_tenant_only)
{
	struct fs_config cfg = config();
	char tok[LINK_TOKEN_LEN + 1], path[128], email[128];
	char user_a[40], user_b[40], ca[40], cb[40], camp_a[40], camp_b[40], row_a[40];
	static char token_b[4096];

	e2e_unique_email("shared", email, sizeof(email));
	e2e_new_tenant("unsub-ta", token, sizeof(token));
	e2e_new_tenant("unsub-tb", token_b, sizeof(token_b));
	e2e_user_id(token, user_a);
	e2e_user_id(token_b, user_b);
	contact(token, email, ca);
	contact(token_b, email, cb);
	campaign(token, camp_a);
	campaign(token_b, camp_b);
	send_campaign(token, camp_a);
	send_campaign(token_b, camp_b);
	wait_sent(camp_a);
	wait_sent(camp_b);
	outbox_row(camp_a, ca, row_a);
	link_for(cfg.link_secret, "u", row_a, tok);
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("POST", path, "List-Unsubscribe=One-Click", 200);
	ck_assert(!subscribed(ca));
	ck_assert(subscribed(cb));
	ck_assert_int_eq(traces(user_a), 5);
	ck_assert_int_eq(traces(user_b), 0);
}
END_TEST

START_TEST(hostile_requests_record_nothing)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[256];
	struct strbuf big = STRBUF_INIT;
	struct http_answer a;
	static const char *paths[] = {
		"/u/%00", "/u/AAAA%00AAAA", "/u/../api/v1/health", "/u/..%2f..%2fapi%2fv1%2fhealth",
		"/u/%2e%2e/%2e%2e/etc/passwd", "/u/..%2F..%2F..%2Fetc%2Fpasswd", "/u/%2e%2e",
		"/u/a/b", "/u//", "/u/%ff%fe", "/u/<script>",
	};

	world(&w, "unsub-hostile");
	link_for(cfg.link_secret, "u", w.ann_row, tok);
	/* nginx refuses what it cannot read (400) and resolves ".." within the
	 * site ("/u/../api/v1/health" is the health route, which takes no POST);
	 * nothing reaches the files of the machine, nothing is a 500. */
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		call("POST", paths[i], "List-Unsubscribe=One-Click", &a);
		ck_assert_msg(a.status == 400 || a.status == 404 || a.status == 405, "%s: %ld",
			      paths[i], a.status);
		ck_assert(strstr(a.body ? a.body : "", "root:") == NULL);
		http_answer_free(&a);
		call("GET", paths[i], NULL, &a);
		ck_assert_msg(a.status < 500, "GET %s: %ld", paths[i], a.status);
		ck_assert(strstr(a.body ? a.body : "", "root:") == NULL);
		http_answer_free(&a);
	}
	/* The errors nginx answers itself are JSON, like every other. */
	call("GET", "/u/%00", NULL, &a);
	ck_assert_int_eq(a.status, 400);
	ck_assert_str_eq(http_detail(&a), "Bad Request");
	http_answer_free(&a);
	/* The token with a NUL after it, or before it. */
	snprintf(path, sizeof(path), "/u/%s%%00", tok);
	call("POST", path, "List-Unsubscribe=One-Click", &a);
	ck_assert_msg(a.status == 400 || a.status == 404, "%s: %ld", path, a.status);
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/u/%%00%s", tok);
	call("POST", path, "List-Unsubscribe=One-Click", &a);
	ck_assert_msg(a.status == 400 || a.status == 404, "%s: %ld", path, a.status);
	http_answer_free(&a);
	/* A huge token. */
	strbuf_appends(&big, "/u/");
	for (int i = 0; i < 7000; i++)
		strbuf_appendc(&big, tok[i % LINK_TOKEN_LEN]);
	call("POST", big.buf, "List-Unsubscribe=One-Click", &a);
	ck_assert_int_eq(a.status, 404);
	http_answer_free(&a);
	strbuf_free(&big);
	/* The real token with another method, or a body over the cap. */
	snprintf(path, sizeof(path), "/u/%s", tok);
	expect_status("PUT", path, "List-Unsubscribe=One-Click", 405);
	expect_status("DELETE", path, NULL, 405);
	strbuf_init(&big);
	for (int i = 0; i < 5000; i++)
		strbuf_appendc(&big, 'x');
	expect_status("POST", path, big.buf, 413);
	strbuf_free(&big);
	ck_assert(subscribed(w.ann));
	ck_assert_int_eq(traces(w.user), 0);
}
END_TEST

Suite *unsubscribe_suite(void)
{
	Suite *s = suite_create("unsubscribe");
	TCase *tc = tcase_create("unsubscribe");

	tcase_set_timeout(tc, 120);
	/* Some tests hold the worker to keep mail queued: never leave it stopped. */
	tcase_add_unchecked_fixture(tc, NULL, resume_worker);
	tcase_add_checked_fixture(tc, NULL, resume_worker);
	tcase_add_test(tc, get_shows_a_page_and_changes_nothing);
	tcase_add_test(tc, post_unsubscribes_records_and_cancels_queued_mail);
	tcase_add_test(tc, the_page_button_unsubscribes_too);
	tcase_add_test(tc, forged_altered_and_foreign_tokens_are_404);
	tcase_add_test(tc, links_signed_with_the_jwt_secret_still_work);
	tcase_add_test(tc, mail_to_an_address_that_is_no_contact_opts_it_out);
	tcase_add_test(tc, concurrent_posts_record_once);
	tcase_add_test(tc, a_link_acts_on_its_own_tenant_only);
	tcase_add_test(tc, hostile_requests_record_nothing);
	suite_add_tcase(s, tc);
	return s;
}
