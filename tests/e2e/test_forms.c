/* Signup forms, double opt-in, consent records and suppressions (issue 24),
 * end to end: a form post, the confirmation mail read from the SMTP sink,
 * a GET of its link changing nothing, the POST that confirms; campaigns that
 * never reach unconfirmed sign-ups; CORS, the honeypot and the abuse limits;
 * suppressions beating imports and forms; the consent record in the export;
 * the plan's contact limit at confirmation; tenant isolation and hostile
 * input on every new route. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/message_read.h"
#include "services/forms.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"
#define JSON_CT "Content-Type: application/json"
#define FORM_CT "Content-Type: application/x-www-form-urlencoded"

static char token[4096];

static void tenant(void)
{
	e2e_new_tenant("forms", token, sizeof(token));
}

/* POST/PATCH with the tenant's token expecting status; the answer's "id" into id. */
static void make(const char *path, const char *body, long status, char *id)
{
	struct http_answer a;

	e2e_expect(token, "POST", path, body, status, NULL, &a);
	if (id)
		snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void new_list(char *id)
{
	make("/api/v1/contacts/lists", "{\"name\":\"Newsletter\"}", 201, id);
}

/* A form on list with extra JSON members (e.g. ",\"double_opt_in\":false"). */
static void new_form(const char *list, const char *extra, char *id)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"name\":\"Footer\",\"list_id\":\"%s\"%s}", list,
		 extra ? extra : "");
	make("/api/v1/forms", body, 201, id);
}

/* A public post (no credentials) of body with content type ct. */
static long post_signup(const char *form, const char *ct, const char *body, struct http_answer *out)
{
	char path[96];
	const char *h[3] = { ct, "User-Agent: forms-e2e/1.0", NULL };
	struct http_answer a;
	long st;

	snprintf(path, sizeof(path), "/f/%s", form);
	ck_assert_int_eq(http_call("POST", path, h, body, body ? strlen(body) : 0, &a), 0);
	st = a.status;
	if (out)
		*out = a;
	else
		http_answer_free(&a);
	return st;
}

static long signup_json(const char *form, const char *email)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Ann\"}", email);
	return post_signup(form, JSON_CT, body, NULL);
}

static long long owner_count(const char *sql, const char *arg)
{
	const char *p[1] = { arg };
	return e2e_owner_value(sql, arg ? 1 : 0, p);
}

static long long submissions(const char *email, const char *status)
{
	const char *p[2] = { email, status };
	return e2e_owner_value("SELECT count(*) FROM form_submissions WHERE lower(email) = lower($1)"
			       " AND ($2::text IS NULL OR status = $2)",
			       2, p);
}

static long long queued_mail(const char *email)
{
	return owner_count("SELECT count(*) FROM outbox WHERE lower(to_email) = lower($1)"
			   " AND payload ? 'form_confirmation'",
			   email);
}

/* The newest confirmation link's token mailed to email, from the queued
 * message (tests that do not need the SMTP sink). */
static void queued_token(const char *email, char *out, size_t size)
{
	const char *p[1] = { email };

	ck_assert_ptr_nonnull(e2e_owner_text(
		"SELECT substring(payload->>'text' FROM '/f/confirm/([A-Za-z0-9_-]+)') FROM outbox"
		" WHERE lower(to_email) = lower($1) AND payload ? 'form_confirmation'"
		" ORDER BY created_at DESC LIMIT 1",
		1, p, out, size));
	ck_assert_uint_eq(strlen(out), 38);
}

/* GET or POST /f/confirm/{tok} as a browser; the status, the page into out. */
static long confirm_call(const char *method, const char *tok, struct http_answer *out)
{
	char path[128];
	const char *h[3] = { "Accept: text/html", FORM_CT, NULL };
	struct http_answer a;
	long st;

	snprintf(path, sizeof(path), "/f/confirm/%s", tok);
	ck_assert_int_eq(http_call(method, path, h, strcmp(method, "POST") == 0 ? "confirm=1" : NULL,
				   strcmp(method, "POST") == 0 ? 9 : 0, &a),
			 0);
	st = a.status;
	if (out)
		*out = a;
	else
		http_answer_free(&a);
	return st;
}

static long long contacts_total(const char *query)
{
	char path[256];
	struct http_answer a;
	long long n;

	snprintf(path, sizeof(path), "/api/v1/contacts%s", query);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	n = json_object_get_int64(json_object_object_get(a.json, "total"));
	http_answer_free(&a);
	return n;
}

/* The contact's id with this address (asserting there is one). */
static void contact_id_of(const char *email, char *id)
{
	char path[256];
	struct http_answer a;
	json_object *items;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", email);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	items = json_object_object_get(a.json, "items");
	ck_assert_int_eq(json_object_array_length(items), 1);
	snprintf(id, 40, "%s", json_str(json_object_array_get_idx(items, 0), "id"));
	http_answer_free(&a);
}

/* ---- the sink (as tests/e2e/test_bounces.c runs it) ---- */

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

/* Ports 12025 + 10 n + k per instance (k 9, as the bounces suite: suites run one after another). */
static void sink_start(struct e2e_sink *s)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/sink/forms-%d", state_dir(), (int)getpid());
	e2e_sink_start(s, dir, 12025 + 10 * (port >= 18080 && port < 18090 ? port - 18080 : 0) + 9,
		       NULL);
}

static int smtp_batch(const struct e2e_sink *s)
{
	char cmd[1024];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d %s/flowsend-batch --once"
		 " >>/tmp/flowsend-e2e-batch.log 2>&1",
		 s->port, e2e_bin());
	rc = system(cmd);
	return rc;
}

/* ---- tests ---- */

START_TEST(a_form_post_is_confirmed_by_the_mailed_link_and_a_get_changes_nothing)
{
	char list[40], form[40], email[128], path[160], tok[64], cid[40];
	char *raw = NULL;
	const char *url, *msg;
	struct mail_read_message m;
	const char *why;
	struct http_answer a;
	struct e2e_sink s;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	e2e_unique_email("doi", email, sizeof(email));

	e2e_pause_worker(1);
	post_signup(form, JSON_CT, "{}", NULL); /* nothing */
	{
		char body[256];
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Ann\",\"last_name\":\"Lee\"}",
			 email);
		ck_assert_int_eq(post_signup(form, JSON_CT, body, &a), 202);
		ck_assert_str_eq(json_str(a.json, "status"), "pending");
		http_answer_free(&a);
	}
	/* Held apart from contacts. */
	ck_assert_int_eq(contacts_total(""), 0);
	ck_assert_int_eq(submissions(email, "pending"), 1);

	sink_start(&s);
	ck_assert_int_eq(smtp_batch(&s), 0);
	ck_assert_int_eq(e2e_sink_find(&s, email, "Subject: Confirm your subscription", &raw), 1);
	e2e_sink_stop(&s);
	e2e_pause_worker(0);
	msg = strstr(raw, "X-Sink-TLS: ");
	ck_assert_ptr_nonnull(msg);
	msg = strstr(msg, "\r\n") + 2;
	ck_assert_msg(mail_read_message(msg, strlen(msg), &m, &why) == 0, "unreadable: %s", why);
	url = strstr(strbuf_cstr(&m.text), "/f/confirm/");
	ck_assert_ptr_nonnull(url);
	ck_assert_ptr_nonnull(strstr(strbuf_cstr(&m.html), "/f/confirm/"));
	url += strlen("/f/confirm/");
	snprintf(tok, sizeof(tok), "%.*s",
		 (int)strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
		 url);
	ck_assert_uint_eq(strlen(tok), 38);
	mail_read_message_free(&m);
	free(raw);
	/* Only the token's hash is stored. */
	ck_assert_int_eq(owner_count("SELECT count(*) FROM form_submissions WHERE confirm_token_hash ="
				     " encode(sha256(convert_to($1, 'UTF8')), 'hex')",
				     tok),
			 1);

	/* A mail scanner's GET (twice, and a HEAD) changes nothing. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(confirm_call("GET", tok, &a), 200);
		ck_assert_ptr_nonnull(strstr(a.body, "<form method=\"post\""));
		ck_assert_ptr_nonnull(strstr(a.body, "Confirm my subscription"));
		ck_assert_ptr_nonnull(strstr(a.body, "#f43f5e"));
		ck_assert_ptr_null(strcasestr(a.body, "<script"));
		http_answer_free(&a);
	}
	snprintf(path, sizeof(path), "/f/confirm/%s", tok);
	ck_assert_int_eq(http_call("HEAD", path, NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 0);
	ck_assert_int_eq(submissions(email, "pending"), 1);

	/* The button. */
	ck_assert_int_eq(confirm_call("POST", tok, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You are subscribed"));
	http_answer_free(&a);
	ck_assert_int_eq(submissions(email, "confirmed"), 1);
	ck_assert_int_eq(contacts_total("?is_subscribed=true"), 1);
	contact_id_of(email, cid);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", cid);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "first_name"), "Ann");
	ck_assert_str_eq(json_str(a.json, "last_name"), "Lee");
	http_answer_free(&a);
	/* In the list. */
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/contacts", list);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 1);
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0),
				  "id"),
			 cid);
	http_answer_free(&a);

	/* Again: nothing more happens. */
	ck_assert_int_eq(confirm_call("POST", tok, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You are subscribed"));
	http_answer_free(&a);
	ck_assert_int_eq(confirm_call("GET", tok, &a), 200);
	ck_assert_ptr_null(strstr(a.body, "<form"));
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 1);
	ck_assert_int_eq(owner_count("SELECT count(*) FROM email_events WHERE contact_id = $1"
				     " AND event_type = 'subscribed'",
				     cid),
			 1);
}
END_TEST

START_TEST(consent_is_in_the_export_and_the_activity)
{
	char list[40], form[40], email[128], path[160], tok[64], cid[40];
	struct http_answer a;
	json_object *consents, *c, *events;

	tenant();
	new_list(list);
	new_form(list, ",\"consent_text\":\"Weekly news from Shop. Unsubscribe any time.\"", form);
	e2e_unique_email("consent", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	ck_assert_int_eq(confirm_call("POST", tok, NULL), 200);
	contact_id_of(email, cid);

	snprintf(path, sizeof(path), "/api/v1/contacts/%s/export", cid);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	consents = json_object_object_get(a.json, "consents");
	ck_assert_int_eq(json_object_array_length(consents), 1);
	c = json_object_array_get_idx(consents, 0);
	ck_assert_str_eq(json_str(c, "form_id"), form);
	ck_assert_str_eq(json_str(c, "list_id"), list);
	ck_assert_str_eq(json_str(c, "status"), "confirmed");
	ck_assert_str_eq(json_str(c, "ip"), "127.0.0.1");
	ck_assert_str_eq(json_str(c, "user_agent"), "forms-e2e/1.0");
	ck_assert_str_eq(json_str(c, "consent_text"), "Weekly news from Shop. Unsubscribe any time.");
	ck_assert_ptr_nonnull(json_str(c, "consent_at"));
	ck_assert_ptr_nonnull(json_str(c, "confirmed_at"));
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/contacts/%s/events", cid);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	events = json_object_object_get(a.json, "items");
	ck_assert_int_eq(json_object_array_length(events), 1);
	c = json_object_array_get_idx(events, 0);
	ck_assert_str_eq(json_str(c, "event_type"), "subscribed");
	ck_assert_str_eq(json_str(json_object_object_get(c, "metadata"), "form_id"), form);
	ck_assert_str_eq(json_str(json_object_object_get(c, "metadata"), "user_agent"), "forms-e2e/1.0");
	http_answer_free(&a);
}
END_TEST

/* A signup flow of the tenant, active; its id into flow. */
static void signup_flow(char flow[40])
{
	char path[160], body[512];

	snprintf(body, sizeof(body),
		 "{\"name\":\"Welcome\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"email\","
		 "\"template_id\":\"" WELCOME_TEMPLATE "\"}]}");
	make("/api/v1/flows", body, 201, flow);
	snprintf(path, sizeof(path), "/api/v1/flows/%s/activate", flow);
	e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
}

/* How many executions a flow has. */
static long long flow_executions(const char *flow)
{
	char path[160];
	struct http_answer a;
	long long total;

	snprintf(path, sizeof(path), "/api/v1/flows/%s/executions", flow);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	total = json_object_get_int64(json_object_object_get(a.json, "total"));
	http_answer_free(&a);
	return total;
}

START_TEST(a_signup_flow_fires_for_a_confirmed_sign_up)
{
	char list[40], form[40], email[128], tok[64], flow[40];
	long long total = 0;

	tenant();
	signup_flow(flow);
	new_list(list);
	new_form(list, NULL, form);
	e2e_unique_email("flow", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	ck_assert_int_eq(flow_executions(flow), 0);
	ck_assert_int_eq(confirm_call("POST", tok, NULL), 200);
	for (int i = 0; i < 50 && total == 0; i++) {
		total = flow_executions(flow);
		if (!total)
			usleep(100000);
	}
	ck_assert_int_eq(total, 1);
}
END_TEST

START_TEST(a_browser_post_is_redirected_and_works_without_javascript)
{
	char list[40], form[40], form2[40], email[128], body[512], loc[512], path[96];
	struct http_answer a;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	new_form(list, ",\"redirect_url\":\"https://shop.example/thanks?x=1\"", form2);
	/* The snippet posts form-encoded to /f/{id} with the honeypot, no script. */
	snprintf(path, sizeof(path), "/api/v1/forms/%s", form);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	{
		const char *html = json_str(a.json, "embed_html");
		char action[160];
		ck_assert_ptr_nonnull(html);
		snprintf(action, sizeof(action), "/f/%s\"", form);
		ck_assert_ptr_nonnull(strstr(html, action));
		ck_assert_ptr_nonnull(strstr(html, "method=\"post\""));
		ck_assert_ptr_nonnull(strstr(html, "name=\"email\""));
		ck_assert_ptr_nonnull(strstr(html, "name=\"website\""));
		ck_assert_ptr_null(strcasestr(html, "<script"));
		ck_assert_ptr_nonnull(strstr(json_str(a.json, "action_url"), form));
	}
	http_answer_free(&a);

	e2e_unique_email("browser", email, sizeof(email));
	{
		char enc[160];
		size_t o = 0;
		for (const char *p = email; *p && o < sizeof(enc) - 4; p++)
			o += (size_t)(*p == '@' ? snprintf(enc + o, sizeof(enc) - o, "%%40")
						: snprintf(enc + o, sizeof(enc) - o, "%c", *p));
		snprintf(body, sizeof(body), "email=%s&first_name=Ann+Marie&website=", enc);
	}
	ck_assert_int_eq(post_signup(form, FORM_CT, body, &a), 303);
	ck_assert_ptr_nonnull(http_header(&a, "Location", loc, sizeof(loc)));
	ck_assert_ptr_nonnull(strstr(loc, "/f/thanks"));
	http_answer_free(&a);
	ck_assert_int_eq(submissions(email, "pending"), 1);
	ck_assert_int_eq(http_call("GET", "/f/thanks", NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "check your inbox"));
	http_answer_free(&a);

	/* The form's own redirect. */
	e2e_unique_email("redirect", email, sizeof(email));
	snprintf(body, sizeof(body), "email=%.*s%%40example.com", (int)(strchr(email, '@') - email),
		 email);
	ck_assert_int_eq(post_signup(form2, FORM_CT, body, &a), 303);
	ck_assert_ptr_nonnull(http_header(&a, "Location", loc, sizeof(loc)));
	ck_assert_str_eq(loc, "https://shop.example/thanks?x=1");
	http_answer_free(&a);

	/* A bad address from a browser: a page, not JSON. */
	ck_assert_int_eq(post_signup(form, FORM_CT, "email=not-an-address", &a), 422);
	ck_assert_ptr_nonnull(strstr(a.body, "<html"));
	http_answer_free(&a);

	/* Without double opt-in: subscribed at once, with its consent record. */
	new_form(list, ",\"double_opt_in\":false", form2);
	e2e_unique_email("single", email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	ck_assert_int_eq(post_signup(form2, JSON_CT, body, &a), 202);
	ck_assert_str_eq(json_str(a.json, "status"), "subscribed");
	http_answer_free(&a);
	ck_assert_int_eq(submissions(email, "confirmed"), 1);
	ck_assert_int_eq(queued_mail(email), 0);
	ck_assert_int_eq(contacts_total("?is_subscribed=true"), 1);
}
END_TEST

START_TEST(the_cors_preflight_and_the_honeypot)
{
	char list[40], form[40], email[128], path[96], hdr[256], body[256];
	const char *pre[4] = { "Origin: https://merchant-shop.example",
			       "Access-Control-Request-Method: POST",
			       "Access-Control-Request-Headers: content-type", NULL };
	const char *cross[3] = { "Origin: https://merchant-shop.example", JSON_CT, NULL };
	struct http_answer a;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	snprintf(path, sizeof(path), "/f/%s", form);
	ck_assert_int_eq(http_call("OPTIONS", path, pre, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 204);
	ck_assert_ptr_nonnull(http_header(&a, "Access-Control-Allow-Origin", hdr, sizeof(hdr)));
	ck_assert_str_eq(hdr, "*");
	ck_assert_ptr_nonnull(http_header(&a, "Access-Control-Allow-Methods", hdr, sizeof(hdr)));
	ck_assert_ptr_nonnull(strstr(hdr, "POST"));
	ck_assert_ptr_nonnull(http_header(&a, "Access-Control-Allow-Headers", hdr, sizeof(hdr)));
	ck_assert_ptr_nonnull(strcasestr(hdr, "Content-Type"));
	http_answer_free(&a);

	e2e_unique_email("cors", email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	ck_assert_int_eq(http_call("POST", path, cross, body, strlen(body), &a), 0);
	ck_assert_int_eq(a.status, 202);
	ck_assert_ptr_nonnull(http_header(&a, "Access-Control-Allow-Origin", hdr, sizeof(hdr)));
	ck_assert_str_eq(hdr, "*");
	http_answer_free(&a);
	ck_assert_int_eq(submissions(email, "pending"), 1);

	/* The honeypot: the same answer, nothing kept, nothing mailed. */
	e2e_unique_email("bot", email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"website\":\"http://spam.example\"}", email);
	ck_assert_int_eq(post_signup(form, JSON_CT, body, &a), 202);
	ck_assert_str_eq(json_str(a.json, "status"), "pending");
	http_answer_free(&a);
	snprintf(body, sizeof(body), "email=%.*s%%40example.com&website=x",
		 (int)(strchr(email, '@') - email), email);
	ck_assert_int_eq(post_signup(form, FORM_CT, body, NULL), 303);
	ck_assert_int_eq(submissions(email, NULL), 0);
	ck_assert_int_eq(queued_mail(email), 0);
}
END_TEST

START_TEST(the_abuse_limits)
{
	char list[40], form[40], form2[40], email[128];
	struct http_answer a;
	char hdr[32];
	int accepted = 0;
	long st = 0;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	/* One address: FORM_ADDRESS_POSTS_PER_HOUR (5) posts, then 429; one mail in 10 minutes. */
	e2e_unique_email("limit", email, sizeof(email));
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(signup_json(form, email), 202);
	{
		char body[256];
		snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
		ck_assert_int_eq(post_signup(form, JSON_CT, body, &a), 429);
	}
	ck_assert_ptr_nonnull(http_header(&a, "Retry-After", hdr, sizeof(hdr)));
	ck_assert_ptr_nonnull(strstr(http_detail(&a), "this address"));
	http_answer_free(&a);
	ck_assert_int_eq(submissions(email, "pending"), 5);
	ck_assert_int_eq(queued_mail(email), 1);
	/* At most one mail in 10 minutes: on the settable clock, 5 minutes on
	 * the next sign-up is kept unmailed, 11 minutes on it is mailed. */
	{
		char uid[40];
		struct e2e_env e;
		struct signup_input in = { 0 };
		struct signup_result res;
		struct fs_error err;

		e2e_unique_email("window", email, sizeof(email));
		ck_assert_int_eq(signup_json(form, email), 202);
		ck_assert_int_eq(queued_mail(email), 1);
		e2e_user_id(token, uid);
		e2e_env_open(&e, uid, "free");
		in.email = email;
		clock_set_offset(5 * 60);
		ck_assert_int_eq(form_signup(&e.env, form, &in, &res, &err), FS_OK);
		ck_assert_int_eq(queued_mail(email), 1);
		clock_set_offset(11 * 60);
		ck_assert_int_eq(form_signup(&e.env, form, &in, &res, &err), FS_OK);
		clock_set_offset(0);
		e2e_env_close(&e);
		ck_assert_int_eq(queued_mail(email), 2);
		ck_assert_int_eq(submissions(email, "pending"), 3);
	}
	/* Other addresses still get in. */
	e2e_unique_email("other", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);

	/* One form: FORM_POSTS_PER_MINUTE (120) a minute. Honeypot posts count
	 * and store nothing; a minute boundary may reset the count once. */
	new_form(list, NULL, form2);
	for (int i = 0; i < 241; i++) {
		st = post_signup(form2, JSON_CT, "{\"email\":\"bot@example.com\",\"website\":\"x\"}", NULL);
		if (st != 202)
			break;
		accepted++;
	}
	ck_assert_int_eq(st, 429);
	ck_assert_int_ge(accepted, 120);
	ck_assert_int_le(accepted, 240);
	/* The limit is per form. */
	ck_assert_int_eq(signup_json(form, "someone-else@example.com"), 202);
}
END_TEST

START_TEST(unconfirmed_sign_ups_are_never_mailed_by_campaigns)
{
	char list[40], form[40], email[128], c1[40], c2[40], body[512], cid[40], path[160];
	struct http_answer a;

	tenant();
	new_list(list);
	make("/api/v1/contacts", "{\"email\":\"member@confirmed.example\"}", 201, cid);
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/members", list);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\"]}", cid);
	e2e_expect(token, "POST", path, body, 200, NULL, NULL);
	new_form(list, NULL, form);
	e2e_unique_email("pending", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);

	snprintf(body, sizeof(body),
		 "{\"name\":\"L\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\",\"list_id\":\"%s\"}",
		 list);
	make("/api/v1/campaigns", body, 201, c1);
	make("/api/v1/campaigns",
	     "{\"name\":\"All\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE "\"}", 201, c2);
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", k ? c2 : c1);
		e2e_expect(token, "POST", path, NULL, 202, NULL, &a);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total_recipients")),
				 1);
		http_answer_free(&a);
	}
	ck_assert_int_eq(owner_count("SELECT count(*) FROM outbox WHERE lower(to_email) = lower($1)"
				     " AND campaign_id IS NOT NULL",
				     email),
			 0);
	ck_assert_int_eq(queued_mail(email), 1); /* only the confirmation */
}
END_TEST

START_TEST(suppression_beats_imports_and_forms)
{
	char list[40], form[40], email[128], upper[128], other[128], sid[40], path[160], body[512],
		tok[64];
	struct http_answer a;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	e2e_unique_email("suppressed", email, sizeof(email));
	e2e_unique_email("fine", other, sizeof(other));
	snprintf(upper, sizeof(upper), "%s", email);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);

	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", upper);
	e2e_expect(token, "POST", "/api/v1/suppressions", body, 201, NULL, &a);
	snprintf(sid, sizeof(sid), "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "reason"), "manual");
	ck_assert_str_eq(json_str(a.json, "email"), email); /* stored lower-cased */
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"reason\":\"complaint\"}", email);
	e2e_expect(token, "POST", "/api/v1/suppressions", body, 409, "already suppressed", NULL);
	e2e_expect(token, "POST", "/api/v1/suppressions", "{\"email\":\"nope\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/suppressions",
		   "{\"email\":\"x@example.com\",\"reason\":\"erasure\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/suppressions", "{\"reason\":\"manual\"}", 422, NULL, NULL);
	e2e_expect(token, "GET", "/api/v1/suppressions", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/suppressions?search=%.10s", email);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/suppressions?search=zzzz-none", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/suppressions/%s", sid);
	e2e_expect(token, "GET", path, NULL, 200, NULL, NULL);

	/* An import leaves the suppressed address out. */
	snprintf(body, sizeof(body), "{\"emails\":[\"%s\",\"%s\"]}", upper, other);
	e2e_expect(token, "POST", "/api/v1/contacts/import", body, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "imported")), 1);
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 1);

	/* A form takes it like any other, and keeps and mails nothing. */
	ck_assert_int_eq(signup_json(form, upper), 202);
	ck_assert_int_eq(submissions(email, NULL), 0);
	ck_assert_int_eq(queued_mail(email), 0);

	/* Suppressed between the sign-up and the confirmation: no contact. */
	ck_assert_int_eq(e2e_owner_value("DELETE FROM suppressions WHERE id = $1::uuid RETURNING 1", 1,
					 (const char *const[]){ sid }),
			 1);
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"reason\":\"manual\"}", email);
	e2e_expect(token, "POST", "/api/v1/suppressions", body, 201, NULL, &a);
	snprintf(sid, sizeof(sid), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(confirm_call("POST", tok, &a), 409);
	ck_assert_ptr_nonnull(strstr(a.body, "cannot be subscribed"));
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 1);
	ck_assert_int_eq(submissions(email, "pending"), 1);

	/* Removed: the kept sign-up confirms. */
	snprintf(path, sizeof(path), "/api/v1/suppressions/%s", sid);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	e2e_expect(token, "DELETE", path, NULL, 404, "Suppression not found", NULL);
	e2e_expect(token, "GET", path, NULL, 404, NULL, NULL);
	ck_assert_int_eq(confirm_call("POST", tok, NULL), 200);
	ck_assert_int_eq(contacts_total("?is_subscribed=true"), 2);

	/* Erasure adds a suppression that stays, and beats the next sign-up. */
	{
		char cid[40];
		contact_id_of(email, cid);
		snprintf(path, sizeof(path), "/api/v1/contacts/%s?erase=true", cid);
		e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	}
	e2e_expect(token, "GET", "/api/v1/suppressions", NULL, 200, NULL, &a);
	{
		json_object *it = json_object_array_get_idx(json_object_object_get(a.json, "items"), 0);
		ck_assert_str_eq(json_str(it, "reason"), "erasure");
		ck_assert_ptr_null(json_str(it, "email"));
		snprintf(path, sizeof(path), "/api/v1/suppressions/%s", json_str(it, "id"));
	}
	http_answer_free(&a);
	e2e_expect(token, "DELETE", path, NULL, 400, "erasure", NULL);
	ck_assert_int_eq(signup_json(form, email), 202);
	ck_assert_int_eq(submissions(email, NULL), 0);
}
END_TEST

/* A contact that unsubscribed signs up again through a form: its own act,
 * which the API refuses the merchant. */
START_TEST(an_unsubscribed_contact_re_subscribes_through_a_form)
{
	char list[40], form[40], email[128], cid[40], path[160], body[256], tok[64], flow[40];

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	e2e_unique_email("again", email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	make("/api/v1/contacts", body, 201, cid);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", cid);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":true}", 400, "signup form", NULL);
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	/* A signup flow made after the contact was: the confirmed sign-up
	 * enrolls the re-subscribed contact as a new one (once). */
	signup_flow(flow);
	ck_assert_int_eq(flow_executions(flow), 0);
	ck_assert_int_eq(confirm_call("POST", tok, NULL), 200);
	ck_assert_int_eq(flow_executions(flow), 1);
	ck_assert_int_eq(confirm_call("POST", tok, NULL), 200);
	ck_assert_int_eq(flow_executions(flow), 1);
	ck_assert_int_eq(contacts_total("?is_subscribed=true"), 1);
	ck_assert_int_eq(contacts_total(""), 1);
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/contacts", list);
	{
		struct http_answer a;
		e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 1);
		http_answer_free(&a);
	}
}
END_TEST

START_TEST(the_contact_limit_at_confirmation)
{
	char list[40], form[40], email[128], tok[64];
	struct strbuf body = STRBUF_INIT;
	struct http_answer a;

	tenant(); /* free: 250 contacts */
	new_list(list);
	new_form(list, NULL, form);
	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < 250; i++)
		strbuf_appendf(&body, "%s\"n%d@full.example\"", i ? "," : "", i);
	strbuf_appends(&body, "]}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
	ck_assert_int_eq(contacts_total(""), 250);

	e2e_unique_email("full", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	ck_assert_int_eq(confirm_call("POST", tok, &a), 409);
	ck_assert_ptr_nonnull(strstr(a.body, "cannot take new subscribers"));
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 250);
	ck_assert_int_eq(submissions(email, "pending"), 1);
	/* The page still offers the button: the sign-up is kept. */
	ck_assert_int_eq(confirm_call("GET", tok, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "<form method=\"post\""));
	http_answer_free(&a);

	e2e_set_plan(token, "pro");
	ck_assert_int_eq(confirm_call("POST", tok, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You are subscribed"));
	http_answer_free(&a);
	ck_assert_int_eq(contacts_total(""), 251);
	ck_assert_int_eq(submissions(email, "confirmed"), 1);
}
END_TEST

START_TEST(tenants_never_see_each_others_forms_and_suppressions)
{
	char list[40], form[40], sid[40], other[4096], mine[4096], path[160], body[256], other_list[40];
	struct http_answer a;

	tenant();
	snprintf(mine, sizeof(mine), "%s", token);
	new_list(list);
	new_form(list, NULL, form);
	make("/api/v1/suppressions", "{\"email\":\"kept@tenant-a.example\"}", 201, sid);

	e2e_new_tenant("forms-b", other, sizeof(other));
	snprintf(path, sizeof(path), "/api/v1/forms/%s", form);
	e2e_expect(other, "GET", path, NULL, 404, "Form not found", NULL);
	e2e_expect(other, "PATCH", path, "{\"name\":\"Mine now\"}", 404, "Form not found", NULL);
	e2e_expect(other, "DELETE", path, NULL, 404, "Form not found", NULL);
	e2e_expect(other, "GET", "/api/v1/forms", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	/* A form on another tenant's list. */
	snprintf(body, sizeof(body), "{\"name\":\"X\",\"list_id\":\"%s\"}", list);
	e2e_expect(other, "POST", "/api/v1/forms", body, 404, "Contact list not found", NULL);
	snprintf(path, sizeof(path), "/api/v1/suppressions/%s", sid);
	e2e_expect(other, "GET", path, NULL, 404, "Suppression not found", NULL);
	e2e_expect(other, "DELETE", path, NULL, 404, "Suppression not found", NULL);
	e2e_expect(other, "GET", "/api/v1/suppressions", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	/* The same address suppressed by both, each for itself. */
	e2e_expect(other, "POST", "/api/v1/suppressions", "{\"email\":\"kept@tenant-a.example\"}", 201,
		   NULL, NULL);
	/* B's list cannot be put on A's form either. */
	snprintf(token, sizeof(token), "%s", other);
	new_list(other_list);
	snprintf(token, sizeof(token), "%s", mine);
	snprintf(path, sizeof(path), "/api/v1/forms/%s", form);
	snprintf(body, sizeof(body), "{\"list_id\":\"%s\"}", other_list);
	e2e_expect(mine, "PATCH", path, body, 404, "Contact list not found", NULL);
	/* A's are untouched. */
	e2e_expect(mine, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "name"), "Footer");
	ck_assert_str_eq(json_str(a.json, "list_id"), list);
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/suppressions/%s", sid);
	e2e_expect(mine, "GET", path, NULL, 200, NULL, NULL);
	/* Every route needs credentials. */
	e2e_expect(NULL, "GET", "/api/v1/forms", NULL, 401, NULL, NULL);
	e2e_expect(NULL, "POST", "/api/v1/forms", body, 401, NULL, NULL);
	e2e_expect(NULL, "GET", path, NULL, 401, NULL, NULL);
	e2e_expect(NULL, "GET", "/api/v1/suppressions", NULL, 401, NULL, NULL);
}
END_TEST

START_TEST(hostile_input_is_refused_cleanly)
{
	char list[40], form[40], dyn[40], path[160], tok[64], email[128];
	struct http_answer a;
	char *big;

	tenant();
	new_list(list);
	new_form(list, NULL, form);
	/* The merchant's side. */
	e2e_expect(token, "POST", "/api/v1/forms", "{\"name\":\"X\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/forms", "{\"name\":\"\",\"list_id\":null}", 422, NULL, NULL);
	{
		char body[512];
		snprintf(body, sizeof(body), "{\"name\":\"X\",\"list_id\":\"%s\",\"double_opt_in\":\"yes\"}",
			 list);
		e2e_expect(token, "POST", "/api/v1/forms", body, 422, NULL, NULL);
		snprintf(body, sizeof(body),
			 "{\"name\":\"X\",\"list_id\":\"%s\",\"redirect_url\":\"javascript:alert(1)\"}", list);
		e2e_expect(token, "POST", "/api/v1/forms", body, 422, NULL, NULL);
		snprintf(body, sizeof(body),
			 "{\"name\":\"X\",\"list_id\":\"%s\",\"redirect_url\":\"https://a.example/\\r\\nSet-Cookie: x\"}",
			 list);
		e2e_expect(token, "POST", "/api/v1/forms", body, 422, NULL, NULL);
		snprintf(body, sizeof(body), "{\"name\":\"X\\u0000\",\"list_id\":\"%s\"}", list);
		e2e_expect(token, "POST", "/api/v1/forms", body, 422, NULL, NULL);
		e2e_expect(token, "POST", "/api/v1/forms", "{\"name\":\"X\",\"list_id\":\"not-a-uuid\"}", 422,
			   NULL, NULL);
		e2e_expect(token, "POST", "/api/v1/forms", "{\"name\":\"X\",\"list_id\":-1}", 422, NULL, NULL);
		e2e_expect(token, "POST", "/api/v1/forms", "[1,2]", 422, NULL, NULL);
		e2e_expect(token, "POST", "/api/v1/forms", "{\"name\":", 422, NULL, NULL);
		make("/api/v1/contacts/lists",
		     "{\"name\":\"Dyn\",\"list_type\":\"dynamic\",\"rules\":{\"match\":\"all\","
		     "\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}]}}",
		     201, dyn);
		snprintf(body, sizeof(body), "{\"name\":\"X\",\"list_id\":\"%s\"}", dyn);
		e2e_expect(token, "POST", "/api/v1/forms", body, 400, "static list", NULL);
		snprintf(path, sizeof(path), "/api/v1/forms/%s", form);
		e2e_expect(token, "PATCH", path, "{\"list_id\":null}", 422, NULL, NULL);
		e2e_expect(token, "PATCH", path, "{\"name\":\"Sidebar \\u00e9\\ud83d\\ude00\"}", 200, NULL, NULL);
		e2e_expect(token, "GET", "/api/v1/forms/not-a-uuid", NULL, 404, NULL, NULL);
		e2e_expect(token, "GET", "/api/v1/forms?page=0", NULL, 422, NULL, NULL);
		e2e_expect(token, "GET", "/api/v1/suppressions?page_size=1000", NULL, 422, NULL, NULL);
	}

	/* The public side. */
	big = malloc(10000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 9999);
	big[9999] = '\0';
	memcpy(big, "email=", 6);
	ck_assert_int_eq(post_signup(form, FORM_CT, big, NULL), 413);
	memcpy(big, "{\"email\":\"", 10);
	big[9997] = '"';
	big[9998] = '}';
	ck_assert_int_eq(post_signup(form, JSON_CT, big, NULL), 413);
	free(big);
	ck_assert_int_eq(post_signup(form, JSON_CT, "{\"email\":", &a), 422);
	ck_assert_ptr_nonnull(a.json);
	http_answer_free(&a);
	ck_assert_int_eq(post_signup(form, JSON_CT, "[\"a@example.com\"]", NULL), 422);
	ck_assert_int_eq(post_signup(form, JSON_CT, "{\"email\":\"a\\u0000b@example.com\"}", NULL), 422);
	ck_assert_int_eq(post_signup(form, JSON_CT, "{\"email\":42}", NULL), 422);
	ck_assert_int_eq(post_signup(form, JSON_CT, "{\"email\":\"ok@example.com\",\"first_name\":\"A\\nB\"}",
				     NULL),
			 422);
	ck_assert_int_eq(post_signup(form, FORM_CT, "email=a%00b%40example.com", &a), 400);
	http_answer_free(&a);
	ck_assert_int_eq(post_signup(form, FORM_CT, "email=a%40example.com&email=b%40example.com", NULL),
			 400);
	ck_assert_int_eq(post_signup(form, FORM_CT, "email=%FF%40example.com", NULL), 400);
	ck_assert_int_eq(post_signup(form, "Content-Type: text/plain", "email=a@example.com", NULL), 415);
	ck_assert_int_eq(post_signup(form, "Content-Type: multipart/form-data; boundary=x", "--x--", NULL),
			 415);
	ck_assert_int_eq(post_signup(form, "Content-Type:", "{}", NULL), 415);
	ck_assert_int_eq(post_signup("00000000-0000-4000-8000-0000000000ff", JSON_CT,
				     "{\"email\":\"a@example.com\"}", &a),
			 404);
	ck_assert_str_eq(http_detail(&a), "Form not found");
	http_answer_free(&a);
	ck_assert_int_eq(post_signup("not-a-form", JSON_CT, "{\"email\":\"a@example.com\"}", NULL), 404);
	ck_assert_int_eq(submissions("a@example.com", NULL), 0);
	ck_assert_int_eq(submissions("ok@example.com", NULL), 0);
	/* A user agent that is not text is left out of the consent record, a long one cut. */
	{
		const char *h[3] = { JSON_CT, "User-Agent: bot\xff\xfe", NULL };
		char ua[1100], body[256];
		e2e_unique_email("agent", email, sizeof(email));
		snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
		snprintf(path, sizeof(path), "/f/%s", form);
		ck_assert_int_eq(http_call("POST", path, h, body, strlen(body), &a), 0);
		ck_assert_int_eq(a.status, 202);
		http_answer_free(&a);
		ck_assert_int_eq(owner_count("SELECT count(*) FROM form_submissions WHERE email = $1"
					     " AND consent_user_agent IS NULL", email), 1);
		memcpy(ua, "User-Agent: ", 12);
		for (int i = 12; i < 1090; i += 2)
			memcpy(ua + i, "\xc3\xa9", 2); /* é */
		ua[1090] = '\0';
		h[1] = ua;
		e2e_unique_email("agent2", email, sizeof(email));
		snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
		ck_assert_int_eq(http_call("POST", path, h, body, strlen(body), &a), 0);
		ck_assert_int_eq(a.status, 202);
		http_answer_free(&a);
		ck_assert_int_eq(owner_count("SELECT octet_length(consent_user_agent) FROM form_submissions"
					     " WHERE email = $1", email), 512);
	}

	/* Tokens: forged, altered, truncated, too long, another row's. */
	e2e_unique_email("token", email, sizeof(email));
	ck_assert_int_eq(signup_json(form, email), 202);
	queued_token(email, tok, sizeof(tok));
	{
		char bad[128];
		const char *forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		ck_assert_int_eq(confirm_call("GET", forged, NULL), 404);
		ck_assert_int_eq(confirm_call("POST", forged, NULL), 404);
		snprintf(bad, sizeof(bad), "%s", tok);
		bad[37] = bad[37] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(confirm_call("POST", bad, NULL), 404);
		snprintf(bad, sizeof(bad), "%s", tok);
		bad[3] = bad[3] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(confirm_call("GET", bad, NULL), 404);
		snprintf(bad, sizeof(bad), "%.30s", tok);
		ck_assert_int_eq(confirm_call("POST", bad, NULL), 404);
		snprintf(bad, sizeof(bad), "%sAA", tok);
		ck_assert_int_eq(confirm_call("POST", bad, NULL), 404);
		/* Without Accept: text/html the refusal is JSON. */
		snprintf(path, sizeof(path), "/f/confirm/%s", forged);
		ck_assert_int_eq(http_call("POST", path, NULL, NULL, 0, &a), 0);
		ck_assert_int_eq(a.status, 404);
		ck_assert_ptr_nonnull(http_detail(&a));
		http_answer_free(&a);
	}
	ck_assert_int_eq(submissions(email, "pending"), 1);
	ck_assert_int_eq(contacts_total(""), 0);
	/* Wrong methods. */
	snprintf(path, sizeof(path), "/f/%s", form);
	ck_assert_int_eq(http_call("GET", path, NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 405);
	http_answer_free(&a);
}
END_TEST

Suite *forms_suite(void)
{
	Suite *s = suite_create("forms");
	TCase *tc = tcase_create("forms");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_form_post_is_confirmed_by_the_mailed_link_and_a_get_changes_nothing);
	tcase_add_test(tc, consent_is_in_the_export_and_the_activity);
	tcase_add_test(tc, a_signup_flow_fires_for_a_confirmed_sign_up);
	tcase_add_test(tc, a_browser_post_is_redirected_and_works_without_javascript);
	tcase_add_test(tc, the_cors_preflight_and_the_honeypot);
	tcase_add_test(tc, the_abuse_limits);
	tcase_add_test(tc, unconfirmed_sign_ups_are_never_mailed_by_campaigns);
	tcase_add_test(tc, suppression_beats_imports_and_forms);
	tcase_add_test(tc, an_unsubscribed_contact_re_subscribes_through_a_form);
	tcase_add_test(tc, the_contact_limit_at_confirmation);
	tcase_add_test(tc, tenants_never_see_each_others_forms_and_suppressions);
	tcase_add_test(tc, hostile_input_is_refused_cleanly);
	suite_add_tcase(s, tc);
	return s;
}
