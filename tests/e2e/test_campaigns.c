/* Campaigns end to end: the original's behaviours with the send now
 * asynchronous (202, then poll until "sent"), recipients and exclusions,
 * scheduling through flowsend-batch --once, cancelling mid-send, two workers
 * at once, the monthly limit, test sends, figures that equal the events, and
 * tenants kept apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "db/db.h"
#include "e2e.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"

static char token[4096];

static void tenant(void)
{
	e2e_new_tenant("camp", token, sizeof(token));
}

/* n contacts n0..n(n-1)@<domain> through the JSON import. */
static void contacts(int n, const char *domain)
{
	struct strbuf body = STRBUF_INIT;

	strbuf_appends(&body, "{\"emails\":[");
	for (int i = 0; i < n; i++)
		strbuf_appendf(&body, "%s\"n%d@%s\"", i ? "," : "", i, domain);
	strbuf_appends(&body, "]}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", strbuf_cstr(&body), 200, NULL, NULL);
	strbuf_free(&body);
}

static void contact(const char *body, char *id)
{
	struct http_answer a;

	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	if (id)
		snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

/* A campaign from body; its id into id. */
static void campaign(const char *body, char *id)
{
	struct http_answer a;

	e2e_expect(token, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void simple_campaign(char *id)
{
	campaign("{\"name\":\"Spring\",\"subject\":\"Hi {{first_name|there}}\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\"}",
		 id);
}

/* GET /campaigns/{id} member as a number. */
static long long field(const char *id, const char *name)
{
	char path[128];
	struct http_answer a;
	long long v;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	v = json_object_get_int64(json_object_object_get(a.json, name));
	http_answer_free(&a);
	return v;
}

static int has_status(const char *id, const char *status)
{
	char path[128];
	struct http_answer a;
	int same;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	same = strcmp(json_str(a.json, "status"), status) == 0;
	http_answer_free(&a);
	return same;
}

static void wait_status(const char *id, const char *status)
{
	for (int i = 0; i < 600; i++) {
		if (has_status(id, status))
			return;
		usleep(100000);
	}
	ck_abort_msg("campaign %s never became %s", id, status);
}

static void send_ok(const char *id, long long recipients)
{
	char path[128];
	struct http_answer a;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(token, "POST", path, NULL, 202, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "sending");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(a.json, "total_recipients")),
			 recipients);
	http_answer_free(&a);
}

/* The total of /campaigns/{id}/events?event_type=type. */
static long long events_of(const char *id, const char *type)
{
	char path[160];
	struct http_answer a;
	long long n;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/events?event_type=%s&page_size=1", id, type);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	n = json_object_get_int64(json_object_object_get(a.json, "total"));
	http_answer_free(&a);
	return n;
}

/* Events straight from the table: the campaign's figures must equal these. */
static long long stored_events(const char *id, const char *type, int distinct_contacts)
{
	const char *p[2] = { id, type };
	return e2e_owner_value(distinct_contacts
				       ? "SELECT count(DISTINCT contact_id) FROM email_events"
					 " WHERE campaign_id = $1 AND event_type = $2"
				       : "SELECT count(*) FROM email_events WHERE campaign_id = $1"
					 " AND event_type = $2",
			       2, p);
}

static void expect_figures_match_events(const char *id)
{
	const char *p[1] = { id };

	ck_assert_int_eq(field(id, "sent_count"), stored_events(id, "sent", 0));
	ck_assert_int_eq(stored_events(id, "sent", 0), stored_events(id, "sent", 1));
	ck_assert_int_eq(events_of(id, "sent"), stored_events(id, "sent", 0));
	ck_assert_int_eq(events_of(id, "delivered"), stored_events(id, "delivered", 0));
	ck_assert_int_eq(e2e_owner_value("SELECT delivered_count - (SELECT count(*) FROM email_events"
					 " WHERE campaign_id = $1 AND event_type = 'delivered')"
					 " FROM campaigns WHERE id = $1",
					 1, p),
			 0);
}

START_TEST(create_read_update_delete)
{
	char id[40], sched[40], path[128];
	struct http_answer a;

	tenant();
	e2e_expect(token, "GET", "/api/v1/campaigns", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);

	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"Draft\",\"subject\":\"Hello\",\"template_id\":\"" WELCOME_TEMPLATE "\"}",
		   201, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "draft");
	ck_assert_str_eq(json_str(a.json, "template_id"), WELCOME_TEMPLATE);
	ck_assert_ptr_null(json_object_object_get(a.json, "list_id"));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "sent_count")), 0);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"Later\",\"subject\":\"S\",\"scheduled_at\":\"2099-01-01T10:00:00+02:00\"}",
		   201, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "scheduled");
	ck_assert_str_eq(json_str(a.json, "scheduled_at"), "2099-01-01T08:00:00Z");
	snprintf(sched, sizeof(sched), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	/* Validation. */
	e2e_expect(token, "POST", "/api/v1/campaigns", "{\"subject\":\"S\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns", "{\"name\":\"N\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns", "{\"name\":\"\",\"subject\":\"S\"}", 422, NULL,
		   NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"N\",\"subject\":\"S\",\"scheduled_at\":\"next tuesday\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"N\",\"subject\":\"S\",\"scheduled_at\":\"2026-02-30T10:00:00Z\"}", 422, NULL,
		   NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"N\",\"subject\":\"S\",\"template_id\":\"nope\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns", "{\"name\":\"N\",\"subject\":\"Hi {{first_name\"}",
		   422, "Template error at line 1, column 4", NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"N\",\"subject\":\"S\",\"template_id\":\"00000000-0000-4000-8000-0000000000ff\"}",
		   404, "Template not found", NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"N\",\"subject\":\"S\",\"list_id\":\"00000000-0000-4000-8000-0000000000ff\"}",
		   404, "Contact list not found", NULL);

	/* Listing, paging, status filter. */
	e2e_expect(token, "GET", "/api/v1/campaigns?page=1&page_size=1", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 2);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(a.json, "items")), 1);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/campaigns?status=scheduled", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/campaigns?status=bogus", NULL, 422, NULL, NULL);

	/* Update: a draft gains a time and is scheduled; clearing it makes a draft. */
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "PATCH", path, "{\"name\":\"Renamed\",\"scheduled_at\":\"2099-05-01T00:00:00Z\"}",
		   200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "name"), "Renamed");
	ck_assert_str_eq(json_str(a.json, "status"), "scheduled");
	http_answer_free(&a);
	e2e_expect(token, "PATCH", path, "{\"scheduled_at\":null,\"template_id\":null}", 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "draft");
	ck_assert_ptr_null(json_object_object_get(a.json, "template_id"));
	http_answer_free(&a);
	e2e_expect(token, "GET", path, NULL, 200, NULL, NULL);

	e2e_expect(token, "GET", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff", NULL, 404,
		   "Campaign not found", NULL);
	e2e_expect(token, "PATCH", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff",
		   "{\"name\":\"x\"}", 404, "Campaign not found", NULL);
	e2e_expect(token, "DELETE", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff", NULL,
		   404, "Campaign not found", NULL);
	e2e_expect(token, "GET", "/api/v1/campaigns/not-a-uuid", NULL, 404, NULL, NULL);

	/* Sending needs a template. */
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(token, "POST", path, NULL, 400, "Campaign has no template", NULL);

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	e2e_expect(token, "GET", path, NULL, 404, NULL, NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/cancel", sched);
	e2e_expect(token, "POST", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "cancelled");
	http_answer_free(&a);
	e2e_expect(token, "POST", path, NULL, 400, "Only scheduled or sending campaigns", NULL);
}
END_TEST

START_TEST(send_reaches_sent_and_skips_the_unreachable)
{
	char id[40], unsub[40], suppressed[40], bounced[40], path[160], uid[40];
	struct http_answer a;

	tenant();
	contacts(5, "send.example");
	contact("{\"email\":\"gone@send.example\",\"is_subscribed\":false}", unsub);
	contact("{\"email\":\"suppressed@send.example\"}", suppressed);
	contact("{\"email\":\"bounced@send.example\"}", bounced);
	{
		const char *p[2] = { e2e_user_id(token, uid), "suppressed@send.example" };
		const char *b[1] = { bounced };
		ck_assert_int_eq(e2e_owner_value("INSERT INTO suppressions (user_id, email_hash, email, reason)"
						 " VALUES ($1, flowsend_email_hash($2), $2, 'manual') RETURNING 1",
						 2, p),
				 1);
		ck_assert_int_eq(e2e_owner_value("UPDATE contacts SET bounced_at = now() WHERE id = $1"
						 " RETURNING 1",
						 1, b),
				 1);
	}
	simple_campaign(id);
	send_ok(id, 5);
	wait_status(id, "sent");
	ck_assert_int_eq(field(id, "sent_count"), 5);
	expect_figures_match_events(id);
	{
		const char *p[4] = { id, unsub, suppressed, bounced };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
						 " AND contact_id IN ($2, $3, $4)",
						 4, p),
				 0);
	}
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_ptr_nonnull(json_str(a.json, "sent_at"));
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/analytics", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total_sent")), 5);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total_delivered")), 5);
	ck_assert(json_object_get_double(json_object_object_get(a.json, "open_rate")) == 0.0);
	ck_assert_str_eq(json_str(a.json, "campaign_name"), "Spring");
	ck_assert(json_object_is_type(json_object_object_get(a.json, "links"), json_type_array));
	http_answer_free(&a);

	/* Opens and clicks count each contact once, rates have two decimals. */
	{
		const char *p[1] = { id };
		e2e_owner_value("INSERT INTO email_events (user_id, campaign_id, contact_id, event_type)"
				" SELECT user_id, campaign_id, contact_id, 'opened' FROM email_events"
				" WHERE campaign_id = $1 AND event_type = 'sent'"
				" AND contact_id IN (SELECT contact_id FROM email_events WHERE campaign_id = $1"
				"  AND event_type = 'sent' ORDER BY contact_id LIMIT 2)"
				" UNION ALL SELECT user_id, campaign_id, contact_id, 'opened' FROM email_events"
				" WHERE campaign_id = $1 AND event_type = 'sent'"
				" AND contact_id = (SELECT min(contact_id::text)::uuid FROM email_events"
				"  WHERE campaign_id = $1 AND event_type = 'sent') RETURNING 1",
				1, p);
	}
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total_opened")), 2);
	ck_assert_ptr_nonnull(strstr(a.body, "\"open_rate\":40.00"));
	http_answer_free(&a);

	/* A sent campaign cannot be sent, updated or deleted again. */
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", id);
	e2e_expect(token, "POST", path, NULL, 400,
		   "Campaign must be in draft or scheduled status to send", NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s", id);
	e2e_expect(token, "PATCH", path, "{\"name\":\"x\"}", 400,
		   "Can only update draft or scheduled campaigns", NULL);
	e2e_expect(token, "DELETE", path, NULL, 400, "Cannot delete a campaign that has been sent",
		   NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/events?event_type=opened_twice", id);
	e2e_expect(token, "GET", path, NULL, 422, NULL, NULL);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/events?page=1&page_size=3", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(a.json, "items")), 3);
	http_answer_free(&a);

	e2e_expect(token, "POST", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff/send", NULL,
		   404, "Campaign not found", NULL);
	e2e_expect(token, "GET", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff/analytics",
		   NULL, 404, "Campaign not found", NULL);
	e2e_expect(token, "GET", "/api/v1/campaigns/00000000-0000-4000-8000-0000000000ff/events", NULL,
		   404, "Campaign not found", NULL);
}
END_TEST

START_TEST(lists_choose_the_recipients)
{
	char a_id[40], b_id[40], list[40], dyn[40], c1[40], c2[40], body[512];
	struct http_answer a;

	tenant();
	contacts(4, "all.example");
	contact("{\"email\":\"vip1@lists.example\",\"tags\":[\"vip\"]}", a_id);
	contact("{\"email\":\"vip2@lists.example\",\"tags\":[\"vip\"]}", b_id);
	contact("{\"email\":\"vip3@lists.example\",\"tags\":[\"vip\"],\"is_subscribed\":false}", NULL);
	e2e_expect(token, "POST", "/api/v1/contacts/lists", "{\"name\":\"Static\"}", 201, NULL, &a);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\"]}", a_id);
	{
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/members", list);
		e2e_expect(token, "POST", path, body, 200, NULL, NULL);
	}
	e2e_expect(token, "POST", "/api/v1/contacts/lists",
		   "{\"name\":\"Dynamic\",\"list_type\":\"dynamic\",\"rules\":{\"match\":\"all\","
		   "\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}]}}",
		   201, NULL, &a);
	snprintf(dyn, sizeof(dyn), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	snprintf(body, sizeof(body),
		 "{\"name\":\"L\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\",\"list_id\":\"%s\"}",
		 list);
	campaign(body, c1);
	send_ok(c1, 1);
	snprintf(body, sizeof(body),
		 "{\"name\":\"D\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\",\"list_id\":\"%s\"}",
		 dyn);
	campaign(body, c2);
	send_ok(c2, 2); /* the unsubscribed vip is left out */
	simple_campaign(body);
	send_ok(body, 6); /* every subscribed contact */
	wait_status(c1, "sent");
	wait_status(c2, "sent");
	wait_status(body, "sent");
	{
		const char *p[2] = { c1, a_id };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
						 " AND event_type = 'sent' AND contact_id = $2",
						 2, p),
				 1);
	}
	expect_figures_match_events(c2);
	(void)b_id;
}
END_TEST

START_TEST(test_sends_are_not_counted)
{
	char id[40], path[128], uid[40];
	struct http_answer a;

	tenant();
	contacts(2, "test.example");
	simple_campaign(id);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", id);
	e2e_expect(token, "POST", path, "{\"email\":\"boss@test.example\"}", 202, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "status"), "queued");
	ck_assert_str_eq(json_str(a.json, "email"), "boss@test.example");
	http_answer_free(&a);
	e2e_expect(token, "POST", path, "{\"email\":\"not an address\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", path, "{}", 422, NULL, NULL);
	{
		const char *p[1] = { e2e_user_id(token, uid) };
		for (int i = 0; i < 100 && e2e_owner_value("SELECT count(*) FROM outbox WHERE user_id = $1"
							   " AND status = 'sent' AND payload IS NOT NULL",
							   1, p) != 1;
		     i++)
			usleep(100000);
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE user_id = $1 AND"
						 " status = 'sent' AND to_email = 'boss@test.example'"
						 " AND payload->>'subject' = 'Hi Alex'",
						 1, p),
				 1);
	}
	ck_assert(has_status(id, "draft"));
	ck_assert_int_eq(field(id, "sent_count"), 0);
	ck_assert_int_eq(stored_events(id, "sent", 0), 0);
	/* No template, no test. */
	campaign("{\"name\":\"Bare\",\"subject\":\"S\"}", id);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", id);
	e2e_expect(token, "POST", path, "{\"email\":\"boss@test.example\"}", 400,
		   "Campaign has no template", NULL);
}
END_TEST

START_TEST(the_monthly_limit_refuses_a_send_that_would_exceed_it)
{
	char first[40], second[40], third[40], path[128];

	tenant(); /* free: 500 emails a month, 250 contacts */
	contacts(250, "limit.example");
	simple_campaign(first);
	send_ok(first, 250);
	simple_campaign(second);
	send_ok(second, 250);
	simple_campaign(third);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", third);
	e2e_expect(token, "POST", path, NULL, 400,
		   "This campaign would send 250 emails, over your plan's monthly limit of 500"
		   " (500 already sent this month)",
		   NULL);
	ck_assert(has_status(third, "draft"));
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", third);
	e2e_expect(token, "POST", path, "{\"email\":\"x@limit.example\"}", 400, "monthly limit", NULL);
	/* Pro lifts it (the plan reaches the responders' caches by NOTIFY, within
	 * moments of the change). */
	e2e_set_plan(token, "pro");
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/send", third);
	{
		struct http_answer a;
		long status = 0;
		for (int i = 0; i < 50 && status != 202; i++) {
			ck_assert_int_eq(http_bearer("POST", path, token, NULL, &a), 0);
			status = a.status;
			http_answer_free(&a);
			if (status != 202)
				usleep(100000);
		}
		ck_assert_int_eq(status, 202);
	}
}
END_TEST

START_TEST(tenants_never_see_each_other)
{
	char id[40], other[4096], path[160], list[40], tpl[40], body[512];
	struct http_answer a;
	static const char *const suffixes[][2] = {
		{ "GET", "" },       { "PATCH", "" },          { "DELETE", "" },
		{ "POST", "/send" }, { "POST", "/cancel" },    { "GET", "/analytics" },
		{ "GET", "/events" }, { "POST", "/test" },
	};

	tenant();
	simple_campaign(id);
	e2e_expect(token, "POST", "/api/v1/contacts/lists", "{\"name\":\"Mine\"}", 201, NULL, &a);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"Mine\",\"subject\":\"S\",\"html_content\":\"<p>x</p>\"}", 201, NULL, &a);
	snprintf(tpl, sizeof(tpl), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	e2e_new_tenant("camp", other, sizeof(other));
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s%s", id, suffixes[i][1]);
		e2e_expect(other, suffixes[i][0], path,
			   strcmp(suffixes[i][1], "/test") == 0 ? "{\"email\":\"a@b.co\"}"
								: "{\"name\":\"x\"}",
			   404, "Campaign not found", NULL);
	}
	e2e_expect(other, "GET", "/api/v1/campaigns", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"name\":\"N\",\"subject\":\"S\",\"list_id\":\"%s\"}", list);
	e2e_expect(other, "POST", "/api/v1/campaigns", body, 404, "Contact list not found", NULL);
	snprintf(body, sizeof(body), "{\"name\":\"N\",\"subject\":\"S\",\"template_id\":\"%s\"}", tpl);
	e2e_expect(other, "POST", "/api/v1/campaigns", body, 404, "Template not found", NULL);
	ck_assert(has_status(id, "draft"));
}
END_TEST

/* ---- tests that drive delivery themselves, with the stack's worker paused ---- */

static void resume_worker(void)
{
	e2e_pause_worker(0);
}

START_TEST(scheduled_campaigns_are_started_by_once)
{
	char id[40], body[256], when[40];
	time_t due = time(NULL) + 6; /* room for a slow machine before the first pass */
	struct tm tm;

	e2e_pause_worker(1);
	tenant();
	contacts(3, "sched.example");
	gmtime_r(&due, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(body, sizeof(body),
		 "{\"name\":\"Soon\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\",\"scheduled_at\":\"%s\"}",
		 when);
	campaign(body, id);
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	ck_assert(has_status(id, "scheduled")); /* not due yet */
	while (time(NULL) <= due)
		usleep(200000);
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	ck_assert(has_status(id, "sent"));
	ck_assert_int_eq(field(id, "total_recipients"), 3);
	ck_assert_int_eq(field(id, "sent_count"), 3);
	expect_figures_match_events(id);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(cancelling_mid_send_stops_the_rest)
{
	char id[40], path[128];
	const char *p[1];

	e2e_pause_worker(1);
	tenant();
	e2e_set_plan(token, "enterprise");
	contacts(300, "cancel.example");
	/* Mail already queued (account mail of new tenants) goes first, so the
	 * limit below counts this campaign's mail only. */
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	simple_campaign(id);
	send_ok(id, 300);
	ck_assert_int_eq(e2e_run_batch("--limit 100"), 0);
	ck_assert(has_status(id, "sending"));
	ck_assert_int_eq(field(id, "sent_count"), 100);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/cancel", id);
	e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	e2e_pause_worker(0);
	sleep(1);
	ck_assert(has_status(id, "cancelled"));
	ck_assert_int_eq(field(id, "sent_count"), 100);
	expect_figures_match_events(id);
	p[0] = id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE campaign_id = $1"
					 " AND status = 'cancelled'",
					 1, p),
			 200);
}
END_TEST

START_TEST(unsubscribing_after_the_send_still_stops_the_mail)
{
	char id[40], gone[40], path[128];
	const char *p[2];

	e2e_pause_worker(1);
	tenant();
	contacts(3, "late.example");
	contact("{\"email\":\"changed.mind@late.example\"}", gone);
	simple_campaign(id);
	send_ok(id, 4);
	/* Between the send and the delivery the contact unsubscribes. */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", gone);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	e2e_pause_worker(0);
	ck_assert(has_status(id, "sent"));
	ck_assert_int_eq(field(id, "sent_count"), 3);
	expect_figures_match_events(id);
	p[0] = id;
	p[1] = gone;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
					 " AND contact_id = $2",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE campaign_id = $1"
					 " AND contact_id = $2 AND status = 'cancelled'",
					 2, p),
			 1);
}
END_TEST

START_TEST(two_workers_never_send_twice)
{
	char id[40];
	pid_t kids[2];
	int status;

	e2e_pause_worker(1);
	tenant();
	e2e_set_plan(token, "enterprise");
	contacts(3000, "twice.example");
	simple_campaign(id);
	send_ok(id, 3000);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0)
			_exit(e2e_run_batch(NULL) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	e2e_pause_worker(0);
	ck_assert(has_status(id, "sent"));
	ck_assert_int_eq(field(id, "sent_count"), 3000);
	ck_assert_int_eq(stored_events(id, "sent", 0), 3000);
	ck_assert_int_eq(stored_events(id, "sent", 1), 3000);
	expect_figures_match_events(id);
}
END_TEST

/* ---- one clock (issue 13): weeks of schedule in seconds ---- */

/* A campaign a week ahead stays scheduled on today's clock and goes out on
 * flowsend-batch --now a week and a minute later; a bad --now runs nothing. */
START_TEST(a_week_ahead_goes_out_with_batch_now)
{
	char id[40], body[256], when[40], now_arg[64];
	time_t due = time(NULL) + 7 * 86400, later = due + 60;
	const char *p[1];
	struct tm tm;
	int st;

	e2e_pause_worker(1);
	tenant();
	contacts(3, "week.example");
	gmtime_r(&due, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(body, sizeof(body),
		 "{\"name\":\"Next week\",\"subject\":\"S\",\"template_id\":\"" WELCOME_TEMPLATE
		 "\",\"scheduled_at\":\"%s\"}",
		 when);
	campaign(body, id);
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
	ck_assert(has_status(id, "scheduled")); /* not due today */
	st = e2e_run_batch("--now 2031-02-29T10:00:00Z");
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	ck_assert(has_status(id, "scheduled"));
	gmtime_r(&later, &tm);
	strftime(now_arg, sizeof(now_arg), "--now %Y-%m-%dT%H:%M:%SZ", &tm);
	ck_assert_int_eq(e2e_run_batch(now_arg), 0);
	ck_assert(has_status(id, "sent"));
	ck_assert_int_eq(field(id, "total_recipients"), 3);
	ck_assert_int_eq(field(id, "sent_count"), 3);
	expect_figures_match_events(id);
	/* Stamped on the moved clock: started and sent after the scheduled time. */
	p[0] = id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM campaigns WHERE id = $1 AND"
					 " started_at >= scheduled_at AND sent_at >= started_at",
					 1, p),
			 1);
	e2e_pause_worker(0);
}
END_TEST

#define CLOCK_SKEW_SQL "SELECT extract(epoch FROM flowsend_now() - now())::bigint"

/* flowsend_now() - now() in seconds on the session db. */
static long long clock_skew(struct fs_db *db, struct arena *a)
{
	PGresult *r = db_query(db, a, CLOCK_SKEW_SQL, 0, NULL);

	ck_assert(r != NULL && PQntuples(r) == 1);
	return strtoll(PQgetvalue(r, 0, 0), NULL, 10);
}

/* flowsend_now() is now() moved by the offset the process's clock gives the
 * session: nothing sent while it is 0, sent again after a change, a rollback
 * or a reconnect; inlined by the planner; and every column default uses it. */
START_TEST(flowsend_now_follows_the_process_clock)
{
	struct fs_config cfg;
	struct fs_db db;
	struct arena a;
	char err[256];
	PGresult *r;
	int inlined = 0;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	arena_init(&a, 0);
	db_init(&db, cfg.database_migrate_url);
	/* The wall clock costs no statement: the session never hears of it. */
	r = db_query(&db, &a, "SELECT current_setting('flowsend.clock_offset', true) IS NULL", 0,
		     NULL);
	ck_assert(r != NULL && strcmp(PQgetvalue(r, 0, 0), "t") == 0);
	ck_assert_int_eq(clock_skew(&db, &a), 0);
	clock_set_offset(7 * 86400 + 60);
	ck_assert_int_eq(clock_skew(&db, &a), 7 * 86400 + 60);
	clock_set_offset(-90);
	ck_assert_int_eq(clock_skew(&db, &a), -90);
	clock_set_offset(0);
	ck_assert_int_eq(clock_skew(&db, &a), 0);
	/* Moved inside a transaction that is rolled back: sent again after it. */
	ck_assert_int_eq(db_begin(&db), FS_OK);
	clock_set_offset(3600);
	ck_assert_int_eq(clock_skew(&db, &a), 3600);
	db_rollback(&db);
	ck_assert_int_eq(clock_skew(&db, &a), 3600);
	/* A new session hears of it too, the tests' owner helper included. */
	db_close(&db);
	ck_assert_int_eq(clock_skew(&db, &a), 3600);
	ck_assert_int_eq(e2e_owner_value(CLOCK_SKEW_SQL, 0, NULL), 3600);
	clock_set_offset(0);
	ck_assert_int_eq(clock_skew(&db, &a), 0);
	r = db_query(&db, &a, "EXPLAIN (VERBOSE, COSTS OFF) SELECT flowsend_now()", 0, NULL);
	ck_assert(r != NULL);
	for (int i = 0; i < PQntuples(r); i++) {
		ck_assert_msg(!strstr(PQgetvalue(r, i, 0), "flowsend_now"), "not inlined: %s",
			      PQgetvalue(r, i, 0));
		inlined |= strstr(PQgetvalue(r, i, 0), "now()") != NULL;
	}
	ck_assert(inlined);
	/* schema_migrations alone keeps now(): when a migration really ran. */
	r = db_query(&db, &a,
		     "SELECT string_agg(adrelid::regclass || '.' || adnum, ', ') FROM pg_attrdef"
		     " WHERE pg_get_expr(adbin, adrelid) ~ 'now\\('"
		     " AND pg_get_expr(adbin, adrelid) <> 'flowsend_now()'"
		     " AND adrelid <> 'schema_migrations'::regclass",
		     0, NULL);
	ck_assert(r != NULL);
	ck_assert_msg(PQgetisnull(r, 0, 0), "defaults on now(): %s", PQgetvalue(r, 0, 0));
	db_close(&db);
	arena_destroy(&a);
}
END_TEST

Suite *campaigns_suite(void)
{
	Suite *s = suite_create("campaigns");
	TCase *tc = tcase_create("campaigns");
	TCase *driven = tcase_create("campaigns driven by flowsend-batch");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, create_read_update_delete);
	tcase_add_test(tc, send_reaches_sent_and_skips_the_unreachable);
	tcase_add_test(tc, lists_choose_the_recipients);
	tcase_add_test(tc, test_sends_are_not_counted);
	tcase_add_test(tc, the_monthly_limit_refuses_a_send_that_would_exceed_it);
	tcase_add_test(tc, tenants_never_see_each_other);
	tcase_add_test(tc, flowsend_now_follows_the_process_clock);
	suite_add_tcase(s, tc);

	tcase_set_timeout(driven, 120);
	tcase_add_unchecked_fixture(driven, NULL, resume_worker);
	tcase_add_test(driven, scheduled_campaigns_are_started_by_once);
	tcase_add_test(driven, cancelling_mid_send_stops_the_rest);
	tcase_add_test(driven, unsubscribing_after_the_send_still_stops_the_mail);
	tcase_add_test(driven, two_workers_never_send_twice);
	tcase_add_test(driven, a_week_ahead_goes_out_with_batch_now);
	suite_add_tcase(s, driven);
	return s;
}
