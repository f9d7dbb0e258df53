/* A tenant's concurrent creates on an unlimited plan go down together (one
 * of the contacts responder's workers leads a batch: queue/shm_batch.c, one
 * statement, services/contacts.c). Through nginx, against the real
 * database: duplicates inside a burst get one 201 per address, every 201
 * reads back as answered, the counters, search, signup flows and
 * contact.created events see each new contact exactly once, an address that
 * opted out comes back unsubscribed, two tenants' bursts never mix, and
 * hostile values (quotes, backslashes, unicode, maximum lengths, custom
 * fields on both sides of the 4 KiB a batched create may take) survive. */
#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "e2e.h"

#define RACERS 64
#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"

struct request {
	const char *token;
	char *body; /* malloc'd */
	long status;
	char detail[256];
	json_object *answer; /* the parsed 201 body, or NULL */
};

/* One create of a race (e2e_race); its answer is checked afterwards. */
static void send_create(void *item)
{
	struct request *q = item;
	struct http_answer a;

	if (http_bearer("POST", "/api/v1/contacts", q->token, q->body, &a) == 0) {
		const char *d = http_detail(&a);
		q->status = a.status;
		snprintf(q->detail, sizeof(q->detail), "%s", d ? d : "");
		if (a.status == 201 && a.json)
			q->answer = json_object_get(a.json);
		http_answer_free(&a);
	} else {
		q->status = -1;
	}
}

static void race_run(struct request *requests, int n)
{
	e2e_race(requests, (size_t)n, sizeof(*requests), RACERS, send_create);
}

static void request_set(struct request *q, const char *token, const char *body)
{
	memset(q, 0, sizeof(*q));
	q->token = token;
	q->body = strdup(body);
	ck_assert_ptr_nonnull(q->body);
}

static void requests_free(struct request *q, int n)
{
	for (int i = 0; i < n; i++) {
		free(q[i].body);
		json_object_put(q[i].answer);
	}
}

/* GET /contacts/{id} equals the 201's body, member for member. */
static void reads_back_as_answered(const char *token, json_object *answer)
{
	struct http_answer a;
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/contacts/%s", json_str(answer, "id"));
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_msg(json_object_equal(a.json, answer), "GET %s: %s\n201: %s", path, a.body,
		      json_object_to_json_string(answer));
	http_answer_free(&a);
}

static long long api_total(const char *token, const char *path, const char *member)
{
	struct http_answer a;
	long long v;

	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	v = json_object_get_int64(json_object_object_get(a.json, member));
	http_answer_free(&a);
	return v;
}

/* The counters (slots and unfolded single creates' rows) against the rows,
 * for the tenant's total, its tags and its custom fields. */
static void counters_exact(const char *user_id)
{
	const char *p[1] = {user_id};

	ck_assert_int_eq(
		e2e_owner_value("SELECT COALESCE(sum(contacts), 0) FROM tenant_counters_all"
				" WHERE user_id = $1",
				1, p),
		e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p));
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM (SELECT tag, count(*) AS n FROM "
					 "contacts, unnest(tags) AS tag"
					 "  WHERE user_id = $1 GROUP BY tag) a"
					 " FULL JOIN (SELECT tag, sum(contacts) AS n FROM "
					 "tag_counts_all WHERE user_id = $1"
					 "  GROUP BY tag HAVING sum(contacts) <> 0) b USING (tag)"
					 " WHERE a.n IS DISTINCT FROM b.n",
					 1, p),
			 0);
	ck_assert_int_eq(
		e2e_owner_value(
			"SELECT count(*) FROM (SELECT f, count(*) AS n FROM contacts,"
			"  jsonb_object_keys(custom_fields) AS f WHERE user_id = $1 GROUP BY f) a"
			" FULL JOIN (SELECT field AS f, sum(contacts) AS n FROM field_counts_all "
			"WHERE user_id = $1"
			"  GROUP BY field HAVING sum(contacts) <> 0) b USING (f)"
			" WHERE a.n IS DISTINCT FROM b.n",
			1, p),
		0);
}

/* Rows that share their created_at with another of the tenant's: a batch's
 * rows take one time (services/contacts.c, batch_sql), single creates their
 * own. */
static long long batched_rows(const char *user_id)
{
	const char *p[1] = {user_id};

	return e2e_owner_value("SELECT COALESCE(sum(n), 0) FROM (SELECT count(*) AS n FROM contacts"
			       " WHERE user_id = $1 GROUP BY created_at HAVING count(*) > 1) s",
			       1, p);
}

/* The address the i-th of RACERS creates sends: 40 addresses, 0..7 three
 * times, 8..15 twice, the rest once, in three spellings of their case. */
#define DISTINCT 40
static int address_of(int i)
{
	if (i < DISTINCT)
		return i;
	if (i < DISTINCT + 12)
		return i - DISTINCT;
	if (i < DISTINCT + 20)
		return i - DISTINCT - 12;
	return i - DISTINCT - 20 + 12;
}

static void address_text(int addr, int spelling, const char *domain, char *out, size_t size)
{
	static const char *const local[3] = {"dup", "Dup", "DUP"};
	char up[64];

	snprintf(up, sizeof(up), "%s", domain);
	if (spelling == 2)
		for (char *c = up; *c; c++)
			*c = (char)toupper((unsigned char)*c);
	snprintf(out, size, "%s%d@%.60s", local[spelling % 3], addr, up);
}

START_TEST(a_burst_with_repeated_addresses_creates_each_once)
{
	char token[2048], uid[40], email[128], body[512], want[256];
	struct request q[RACERS];
	int sent[DISTINCT] = {0}, created[DISTINCT] = {0};
	const char *p[1];

	e2e_new_tenant("batch-dups", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	for (int i = 0; i < RACERS; i++) {
		int addr = address_of(i);
		ck_assert_int_lt(addr, DISTINCT);
		address_text(addr, sent[addr]++, "Batch.Example", email, sizeof(email));
		snprintf(body, sizeof(body),
			 "{\"email\":\"%s\",\"first_name\":\"F%d\",\"tags\":[\"burst\",\"t%d\"],"
			 "\"custom_fields\":{\"n\":%d,\"k%d\":true}}",
			 email, i, addr % 3, i, addr % 4);
		request_set(&q[i], token, body);
	}
	for (int a = 0; a < DISTINCT; a++)
		ck_assert_int_ge(sent[a], 1);
	ck_assert_int_eq(sent[0], 3);
	ck_assert_int_eq(sent[12], 2);
	ck_assert_int_eq(sent[39], 1);
	race_run(q, RACERS);

	for (int i = 0; i < RACERS; i++) {
		int addr = address_of(i);

		snprintf(email, sizeof(email), "dup%d@batch.example", addr);
		if (q[i].status == 201) {
			created[addr]++;
			ck_assert_str_eq(json_str(q[i].answer, "email"), email);
			ck_assert(json_object_get_boolean(
				json_object_object_get(q[i].answer, "is_subscribed")));
			reads_back_as_answered(token, q[i].answer);
		} else {
			ck_assert_msg(q[i].status == 400, "create %d: %ld %s", i, q[i].status,
				      q[i].detail);
			snprintf(want, sizeof(want), "Contact with email %s already exists", email);
			ck_assert_str_eq(q[i].detail, want);
		}
	}
	for (int a = 0; a < DISTINCT; a++)
		ck_assert_msg(created[a] == 1, "address %d created %d times", a, created[a]);

	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p),
			 DISTINCT);
	ck_assert_int_eq(e2e_owner_value("SELECT count(DISTINCT lower(email)) FROM contacts"
					 " WHERE user_id = $1",
					 1, p),
			 DISTINCT);
	/* The burst did go through batches (else this tests the single path). */
	counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), DISTINCT);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?page_size=1", "total"), DISTINCT);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=burst&page_size=1", "total"),
			 DISTINCT);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=t0&page_size=1", "total"), 14);
	/* Search finds them, each by its own address. */
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?search=batch.example&page_size=1", "total"),
		DISTINCT);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?search=DUP17%40&page_size=1", "total"),
			 1);
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?search=dup0%40batch&page_size=1", "total"), 1);
	/* Once the worker has folded them, the sums and search stay the same. */
	for (int i = 0; i < 50 && e2e_owner_value("SELECT count(*) FROM contact_count_deltas"
						  " WHERE user_id = $1",
						  1, p) > 0;
	     i++) {
		e2e_owner_value("SELECT flowsend_counters_fold(100000)", 0, NULL);
		usleep(100000);
	}
	counters_exact(uid);
	ck_assert_int_eq(
		e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1", 1, p),
		DISTINCT);
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?search=batch.example&page_size=1", "total"),
		DISTINCT);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), DISTINCT);
	requests_free(q, RACERS);
}
END_TEST

static void new_endpoint(const char *token, const char *url, char *id)
{
	struct http_answer a;
	char body[256];

	snprintf(body, sizeof(body), "{\"url\":\"%s\",\"events\":[\"contact.created\"]}", url);
	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints", body, 201, NULL, &a);
	snprintf(id, 37, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void signup_flow(const char *token, char *id)
{
	struct http_answer a;
	char path[128];

	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"welcome\",\"trigger_type\":\"signup\",\"trigger_config\":{},"
		   "\"steps\":[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
		   201, NULL, &a);
	snprintf(id, 37, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/flows/%s/activate", id);
	e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
}

/* Every created contact enrolled once into the signup flow (the subscribed
 * ones) and announced once per contact.created endpoint; a 400 nowhere. */
START_TEST(a_burst_enrolls_and_announces_each_new_contact_once)
{
	char token[2048], uid[40], flow[40], ep[2][40], email[128], body[512];
	struct request q[RACERS];
	int made = 0, made_subscribed = 0;
	const char *p[1];

	e2e_pause_worker(1);
	e2e_new_tenant("batch-hooks", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	signup_flow(token, flow);
	new_endpoint(token, "https://example.com/hook-a", ep[0]);
	new_endpoint(token, "https://example.com/hook-b", ep[1]);
	for (int i = 0; i < RACERS; i++) {
		int addr = address_of(i);
		address_text(addr, i % 3, "hooks.example", email, sizeof(email));
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"is_subscribed\":%s}", email,
			 addr % 5 == 0 ? "false" : "true");
		request_set(&q[i], token, body);
	}
	race_run(q, RACERS);
	for (int i = 0; i < RACERS; i++) {
		ck_assert_msg(q[i].status == 201 ||
				      (q[i].status == 400 && strstr(q[i].detail, "already exists")),
			      "create %d: %ld %s", i, q[i].status, q[i].detail);
		if (q[i].status == 201) {
			made++;
			made_subscribed += address_of(i) % 5 != 0;
		}
	}
	ck_assert_int_eq(made, DISTINCT);
	ck_assert_int_eq(made_subscribed, DISTINCT - DISTINCT / 5);
	for (int i = 0; i < RACERS; i++) {
		const char *pp[2] = {flow, q[i].answer ? json_str(q[i].answer, "id") : NULL};
		int subscribed = address_of(i) % 5 != 0;

		if (!q[i].answer)
			continue;
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions"
						 " WHERE flow_id = $1 AND contact_id = $2",
						 2, pp),
				 subscribed);
		for (int e = 0; e < 2; e++) {
			pp[0] = ep[e];
			ck_assert_int_eq(
				e2e_owner_value(
					"SELECT count(*) FROM webhook_events WHERE endpoint_id = $1"
					" AND event_type = 'contact.created'"
					" AND data->'contact'->>'id' = $2",
					2, pp),
				1);
		}
	}
	/* Nothing else: no event or execution for a contact the 400s named. */
	{
		const char *pf[1] = {flow};
		ck_assert_int_eq(
			e2e_owner_value("SELECT count(*) FROM flow_executions WHERE flow_id = $1",
					1, pf),
			made_subscribed);
	}
	ck_assert_int_eq(
		e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1", 1, p),
		2 * DISTINCT);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events w WHERE user_id = $1"
					 " AND NOT EXISTS (SELECT 1 FROM contacts c"
					 "  WHERE c.id = (w.data->'contact'->>'id')::uuid"
					 "  AND c.email = w.data->'contact'->>'email')",
					 1, p),
			 0);
	counters_exact(uid);
	e2e_pause_worker(0);
	requests_free(q, RACERS);
}
END_TEST

/* An address whose contact unsubscribed and was deleted comes back
 * unsubscribed when a burst creates it again, whatever its case. */
START_TEST(an_opted_out_address_comes_back_unsubscribed_in_a_burst)
{
	char token[2048], uid[40], id[40], path[128], body[256];
	struct request q[RACERS];
	struct http_answer a;
	int seen = 0;

	e2e_new_tenant("batch-optout", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	e2e_user_id(token, uid);
	for (int k = 0; k < 3; k++) {
		snprintf(body, sizeof(body), "{\"email\":\"gone%d@optout.example\"}", k);
		e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
		snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
		http_answer_free(&a);
		snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
		e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
		e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	}
	for (int i = 0; i < RACERS; i++) {
		if (i % 20 == 7)
			snprintf(body, sizeof(body),
				 "{\"email\":\"GONE%d@OptOut.Example\",\"first_name\":\"back\"}",
				 i / 20);
		else
			snprintf(body, sizeof(body), "{\"email\":\"stay%d@optout.example\"}", i);
		request_set(&q[i], token, body);
	}
	race_run(q, RACERS);
	for (int i = 0; i < RACERS; i++) {
		json_object *sub;

		ck_assert_msg(q[i].status == 201, "create %d: %ld %s", i, q[i].status, q[i].detail);
		sub = json_object_object_get(q[i].answer, "is_subscribed");
		if (i % 20 == 7) {
			seen++;
			ck_assert_msg(!json_object_get_boolean(sub), "%s came back subscribed",
				      json_str(q[i].answer, "email"));
			ck_assert_ptr_nonnull(json_str(q[i].answer, "unsubscribed_at"));
			ck_assert_ptr_null(json_str(q[i].answer, "subscribed_at"));
		} else {
			ck_assert(json_object_get_boolean(sub));
		}
		reads_back_as_answered(token, q[i].answer);
	}
	ck_assert_int_eq(seen, 3);
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?is_subscribed=false&page_size=1", "total"), 3);
	counters_exact(uid);
	requests_free(q, RACERS);
}
END_TEST

/* Two tenants' bursts at once, the same addresses in both: each tenant gets
 * its own contacts, reads only its own, counts and finds only its own. */
START_TEST(two_tenants_bursts_never_mix)
{
	char tok[2][2048], uid[2][40], body[256], path[128];
	struct request q[RACERS];
	const char *p[1];

	e2e_new_tenant("batch-mix-a", tok[0], sizeof(tok[0]));
	e2e_new_tenant("batch-mix-b", tok[1], sizeof(tok[1]));
	e2e_set_plan(tok[0], "enterprise");
	e2e_set_plan(tok[1], "enterprise");
	e2e_user_id(tok[0], uid[0]);
	e2e_user_id(tok[1], uid[1]);
	for (int i = 0; i < RACERS; i++) {
		int t = i % 2;
		snprintf(body, sizeof(body),
			 "{\"email\":\"m%d@mix.example\",\"first_name\":\"%s\",\"tags\":[\"%s\"]}",
			 i / 2, t ? "bee" : "ay", t ? "tb" : "ta");
		request_set(&q[i], tok[t], body);
	}
	race_run(q, RACERS);
	for (int i = 0; i < RACERS; i++) {
		int t = i % 2;
		const char *pp[2];

		ck_assert_msg(q[i].status == 201, "create %d: %ld %s", i, q[i].status, q[i].detail);
		ck_assert_str_eq(json_str(q[i].answer, "first_name"), t ? "bee" : "ay");
		reads_back_as_answered(tok[t], q[i].answer);
		snprintf(path, sizeof(path), "/api/v1/contacts/%s", json_str(q[i].answer, "id"));
		e2e_expect(tok[!t], "GET", path, NULL, 404, "Contact not found", NULL);
		pp[0] = json_str(q[i].answer, "id");
		pp[1] = uid[t];
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE id = $1"
						 " AND user_id = $2",
						 2, pp),
				 1);
	}
	for (int t = 0; t < 2; t++) {
		p[0] = uid[t];
		ck_assert_int_eq(
			e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p),
			RACERS / 2);
		counters_exact(uid[t]);
		ck_assert_int_eq(api_total(tok[t], "/api/v1/contacts/count", "count"), RACERS / 2);
		ck_assert_int_eq(api_total(tok[t],
					   t ? "/api/v1/contacts?tag=tb&page_size=1"
					     : "/api/v1/contacts?tag=ta&page_size=1",
					   "total"),
				 RACERS / 2);
		ck_assert_int_eq(api_total(tok[t],
					   t ? "/api/v1/contacts?tag=ta&page_size=1"
					     : "/api/v1/contacts?tag=tb&page_size=1",
					   "total"),
				 0);
		ck_assert_int_eq(
			api_total(tok[t], "/api/v1/contacts?search=m5%40mix&page_size=1", "total"),
			1);
		ck_assert_int_eq(api_total(tok[t],
					   t ? "/api/v1/contacts?search=ay&page_size=1"
					     : "/api/v1/contacts?search=bee&page_size=1",
					   "total"),
				 0);
	}
	/* Some went down in batches (each tenant's its own). */
	{
		const char *pp[2] = {uid[0], uid[1]};
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE (user_id = $1"
						 " AND first_name <> 'ay') OR (user_id = $2 AND "
						 "first_name <> 'bee')",
						 2, pp),
				 0);
		ck_assert_int_eq(
			e2e_owner_value(
				"SELECT count(*) FROM contact_count_deltas d JOIN contacts c"
				" ON c.id = d.contact_id WHERE c.user_id <> d.user_id"
				" AND c.user_id IN ($1, $2)",
				2, pp),
			0);
	}
	requests_free(q, RACERS);
}
END_TEST

/* Hostile values in a burst: quotes, backslashes, unicode, names of 255
 * characters, tags that need quoting in a text[] literal, custom fields just
 * under 4 KiB of request (batched) and above it (alone). Every 201 holds what
 * was sent and reads back the same. */
START_TEST(hostile_values_in_a_burst_read_back_exactly)
{
	static const char *const names[] = {
		"O'Brien \\\"the\\\" \\\\ back\\\\slash",
		"\\u00e9l\\u00e8ve \\u65e5\\u672c \\ud83d\\ude00 \\u0301combining",
		"{braces},\\\"quoted\\\",NULL",
		"tab\\tnew\\nline",
		"'; DROP TABLE contacts; --",
		"%_\\\\%_",
	};
	static const char *const tags[] = {
		"\\\"q\\\"",	      "back\\\\slash",	"{curly}",
		"comma,separated",    "NULL",		"sp ace",
		"\\u00fcml\\u00e4ut", "\\ud83d\\ude00", "''",
		"a\\\"b\\\\c",
	};
	char token[2048], uid[40];
	struct request q[RACERS];
	struct strbuf b = STRBUF_INIT;
	int bigs = 0;

	e2e_new_tenant("batch-hostile", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	e2e_user_id(token, uid);
	for (int i = 0; i < RACERS; i++) {
		const int nn = sizeof(names) / sizeof(names[0]),
			  nt = sizeof(tags) / sizeof(tags[0]);
		strbuf_reset(&b);
		strbuf_appendf(&b, "{\"email\":\"h%d+x@hostile.example\",\"first_name\":", i);
		if (i % 8 == 3) {
			/* 255 characters, 4 bytes each. */
			strbuf_appends(&b, "\"");
			for (int k = 0; k < 255; k++)
				strbuf_appends(&b, "\\ud83d\\ude00");
			strbuf_appends(&b, "\"");
		} else if (i % 8 == 5) {
			strbuf_appends(&b, "null");
		} else {
			strbuf_appendf(&b, "\"%s\"", names[i % nn]);
		}
		strbuf_appends(&b, ",\"last_name\":\"");
		if (i % 8 == 4)
			for (int k = 0; k < 255; k++)
				strbuf_appends(&b, k % 2 ? "\\\\" : "\\\"");
		else
			strbuf_appends(&b, names[(i + 1) % nn]);
		strbuf_appendf(&b, "\",\"tags\":[\"%s\",\"%s\"],\"custom_fields\":{", tags[i % nt],
			       tags[(i + 3) % nt]);
		strbuf_appends(
			&b,
			"\"quote\\\"key\":\"va\\\\lue\",\"nested\":{\"a\":[1,2.5,\"x\",null,true]},"
			"\"uni\":\"\\u00e9\\ud83d\\ude00\"");
		if (i % 4 == 1) {
			/* Padding so the request the batch queues is just under 4096
			 * bytes (i % 8 == 1) or above (i % 8 == 5: goes alone). */
			int pad = i % 8 == 1 ? 3400 : 4200;
			strbuf_appends(&b, ",\"pad\":\"");
			for (int k = 0; k < pad; k++)
				strbuf_append(&b, &"abcdefghij"[k % 10], 1);
			strbuf_appends(&b, "\"");
			bigs++;
		}
		strbuf_appends(&b, "}}");
		ck_assert(!b.oom);
		request_set(&q[i], token, strbuf_cstr(&b));
	}
	strbuf_free(&b);
	race_run(q, RACERS);
	for (int i = 0; i < RACERS; i++) {
		json_object *sent = json_tokener_parse(q[i].body), *tags_sent;
		char email[64];

		ck_assert_msg(sent != NULL, "body %d is no JSON: %.300s", i, q[i].body);
		ck_assert_msg(q[i].status == 201, "create %d: %ld %s", i, q[i].status, q[i].detail);
		snprintf(email, sizeof(email), "h%d+x@hostile.example", i);
		ck_assert_str_eq(json_str(q[i].answer, "email"), email);
		ck_assert_msg(json_object_equal(json_object_object_get(sent, "first_name"),
						json_object_object_get(q[i].answer, "first_name")),
			      "create %d first_name: %s", i,
			      json_object_to_json_string(
				      json_object_object_get(q[i].answer, "first_name")));
		ck_assert_msg(json_object_equal(json_object_object_get(sent, "last_name"),
						json_object_object_get(q[i].answer, "last_name")),
			      "create %d last_name: %s", i,
			      json_object_to_json_string(
				      json_object_object_get(q[i].answer, "last_name")));
		tags_sent = json_object_object_get(sent, "tags");
		ck_assert_msg(
			json_object_equal(tags_sent, json_object_object_get(q[i].answer, "tags")),
			"create %d tags: sent %s, got %s", i, json_object_to_json_string(tags_sent),
			json_object_to_json_string(json_object_object_get(q[i].answer, "tags")));
		ck_assert_msg(
			json_object_equal(json_object_object_get(sent, "custom_fields"),
					  json_object_object_get(q[i].answer, "custom_fields")),
			"create %d custom_fields differ", i);
		reads_back_as_answered(token, q[i].answer);
		json_object_put(sent);
	}
	ck_assert_int_eq(bigs, RACERS / 4);
	counters_exact(uid);
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?tag=%7Bcurly%7D&page_size=1", "total"),
		e2e_owner_value("SELECT count(*) FROM contacts WHERE '{curly}' = ANY (tags)", 0,
				NULL));
	ck_assert_int_eq(
		api_total(token, "/api/v1/contacts?search=O%27Brien&page_size=1", "total"),
		e2e_owner_value("SELECT count(*) FROM contacts WHERE first_name LIKE 'O''Brien%'"
				" OR last_name LIKE 'O''Brien%'",
				0, NULL));
	requests_free(q, RACERS);
}
END_TEST

/* One create sent on its own thread (its answer read afterwards). */
struct one_create {
	pthread_t t;
	struct request q;
};

static void *one_create_thread(void *arg)
{
	struct one_create *c = arg;
	struct http_answer a;

	if (http_bearer("POST", "/api/v1/contacts", c->q.token, c->q.body, &a) == 0) {
		const char *d = http_detail(&a);
		c->q.status = a.status;
		snprintf(c->q.detail, sizeof(c->q.detail), "%s", d ? d : "");
		if (a.status == 201 && a.json)
			c->q.answer = json_object_get(a.json);
		http_answer_free(&a);
	} else {
		c->q.status = -1;
	}
	return NULL;
}

static void one_create_start(struct one_create *c, const char *token, const char *email)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	request_set(&c->q, token, body);
	ck_assert_int_eq(pthread_create(&c->t, NULL, one_create_thread, c), 0);
}

/* Sessions waiting for an advisory lock: the creates waiting for the one the
 * test holds (pg_locks, which every role may read; pg_stat_activity hides
 * other roles' waits). */
static long long lock_waiters(void)
{
	return e2e_owner_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
			       " AND NOT granted",
			       0, NULL);
}

static void wait_lock_waiters(long long n)
{
	for (int i = 0; i < 300 && lock_waiters() < n; i++)
		usleep(20000);
	ck_assert_int_eq(lock_waiters(), n);
}

/* The contacts responder's write workers (not its master, not the read
 * pool) that sit in poll(2): waiting for PostgreSQL's answer, i.e. leading
 * a batch (an owner waits on a futex, an idle worker in accept). */
static int leaders_now(pid_t *out, int max)
{
	const char *state = getenv("FLOWSEND_TEST_STATE");
	char cmd[512], path[64], line[256];
	FILE *p, *f;
	int n = 0;
	long pid;

	snprintf(cmd, sizeof(cmd), "pgrep -f 'fs-contacts.*%s/sock/contacts\\.sock'",
		 state ? state : "/var/tmp/flowsend-18080");
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fscanf(p, "%ld", &pid) == 1) {
		long nr = -1, ppid = 0;
		char comm[64], st;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%*d %63s %c %ld", comm, &st, &ppid) != 3)
			ppid = 0;
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%ld/syscall", pid);
		if ((f = fopen(path, "r"))) {
			if (fgets(line, sizeof(line), f))
				nr = strtol(line, NULL, 10);
			fclose(f);
		}
		/* A worker's parent is the master, itself a contacts process. */
		if (nr == 7 /* poll */ && ppid != 1 && n < max) {
			snprintf(path, sizeof(path), "/proc/%ld/cmdline", ppid);
			if ((f = fopen(path, "r"))) {
				size_t got = fread(line, 1, sizeof(line) - 1, f);
				line[got] = '\0';
				fclose(f);
				if (strstr(line, "fs-contacts"))
					out[n++] = (pid_t)pid;
			}
		}
	}
	pclose(p);
	return n;
}

/* The tenant's shared counter lock, held in a transaction of the owner's:
 * every create of the tenant then waits in its statement's trigger, after
 * its rows are in (uncommitted), until tenant_lock_release. */
static PGconn *tenant_lock_hold(const char *uid)
{
	const char *lp[1] = {uid};
	struct fs_config cfg;
	char err[256];
	PGconn *lock;
	PGresult *r;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	lock = PQconnectdb(cfg.database_migrate_url);
	ck_assert_int_eq(PQstatus(lock), CONNECTION_OK);
	r = PQexec(lock, "BEGIN");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexecParams(lock,
			 "SELECT pg_advisory_xact_lock(flowsend_counter_slot_key($1::uuid), -1)", 1,
			 NULL, lp, NULL, NULL, 0);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	return lock;
}

static void tenant_lock_release(PGconn *lock)
{
	PGresult *r = PQexec(lock, "COMMIT");

	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(lock);
}

/* Creates queued behind a tenant's two leaders (held back by the tenant's
 * counter lock, so that the queue forms whatever the machine's speed) go
 * down together once the leaders are done: at least one statement holds
 * two or more of them (rows sharing one created_at). The bursts above only
 * may batch, depending on timing; this one must. */
START_TEST(creates_queued_behind_the_leaders_go_down_together)
{
	enum { LEADERS = 2, QUEUED = 3 };
	char token[2048], uid[40], email[64];
	struct one_create c[LEADERS + QUEUED];
	PGconn *lock;

	e2e_new_tenant("batch-queued", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	e2e_user_id(token, uid);
	lock = tenant_lock_hold(uid);
	for (int i = 0; i < LEADERS; i++) {
		snprintf(email, sizeof(email), "leader%d@queued.example", i);
		one_create_start(&c[i], token, email);
	}
	wait_lock_waiters(LEADERS);
	for (int i = LEADERS; i < LEADERS + QUEUED; i++) {
		snprintf(email, sizeof(email), "queued%d@queued.example", i);
		one_create_start(&c[i], token, email);
	}
	usleep(300000);
	/* Still only the leaders wait in PostgreSQL: the others are queued. */
	ck_assert_int_eq(lock_waiters(), LEADERS);
	tenant_lock_release(lock);
	for (int i = 0; i < LEADERS + QUEUED; i++) {
		pthread_join(c[i].t, NULL);
		ck_assert_msg(c[i].q.status == 201, "create %d: %ld %s", i, c[i].q.status,
			      c[i].q.detail);
		reads_back_as_answered(token, c[i].q.answer);
		requests_free(&c[i].q, 1);
	}
	ck_assert_int_ge(batched_rows(uid), 2);
	counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), LEADERS + QUEUED);
}
END_TEST

/* Leaders killed while their batch waits in PostgreSQL: their owners find
 * their creates lost, look them up (not there yet: the dead leaders'
 * sessions still wait) and create them alone with the same ids; when the
 * dead sessions then commit (a backend finishes its statement and commit
 * before it finds its client gone), the lone insert fails on the id or the
 * address, and the create is still answered 201 with its contact, once. */
START_TEST(a_killed_leaders_creates_are_answered_once)
{
	enum { FIRST = 2, MORE = 4 };
	char token[2048], uid[40], email[64], err[256];
	struct one_create c[FIRST + MORE];
	pid_t killed[8];
	int nkilled = 0, answered = 0;
	const char *p[1];
	PGconn *lock;

	e2e_new_tenant("batch-killed", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	/* Every create of the tenant waits in its statement's trigger for the
	 * tenant's shared counter lock, after its rows are in (uncommitted). */
	lock = tenant_lock_hold(uid);
	/* Two leaders, each with its own create, waiting. */
	for (int i = 0; i < FIRST; i++) {
		snprintf(email, sizeof(email), "lead%d@killed.example", i);
		one_create_start(&c[i], token, email);
	}
	wait_lock_waiters(FIRST);
	/* Four more queue behind them. */
	for (int i = FIRST; i < FIRST + MORE; i++) {
		snprintf(email, sizeof(email), "queued%d@killed.example", i);
		one_create_start(&c[i], token, email);
	}
	usleep(300000);
	ck_assert_int_eq(lock_waiters(), FIRST);
	/* Kill both leaders: the lead passes to queued creates, which take the
	 * others into their batches and wait too; kill those leaders as well. */
	nkilled = leaders_now(killed, 8);
	ck_assert_int_eq(nkilled, FIRST);
	for (int i = 0; i < nkilled; i++)
		ck_assert_int_eq(kill(killed[i], SIGKILL), 0);
	for (int i = 0; i < 300 && lock_waiters() < FIRST + 1; i++)
		usleep(20000);
	ck_assert_int_ge(lock_waiters(), FIRST + 1);
	{
		pid_t now[8];
		int n = leaders_now(now, 8), k = 0;
		for (int i = 0; i < n; i++) {
			int old = 0;
			for (int j = 0; j < nkilled; j++)
				old |= now[i] == killed[j];
			if (!old) {
				ck_assert_int_eq(kill(now[i], SIGKILL), 0);
				k++;
			}
		}
		ck_assert_int_ge(k, 1);
	}
	/* Their owners look up, create alone and wait on the dead sessions' rows. */
	usleep(500000);
	tenant_lock_release(lock);
	for (int i = 0; i < FIRST + MORE; i++)
		pthread_join(c[i].t, NULL);
	/* A killed worker's own request has no answer but nginx's 502; every
	 * other one is a 201 with its contact. */
	for (int i = 0; i < FIRST + MORE; i++) {
		ck_assert_msg(c[i].q.status == 201 || c[i].q.status == 502, "create %d: %ld %s", i,
			      c[i].q.status, c[i].q.detail);
		if (c[i].q.status == 201) {
			answered++;
			reads_back_as_answered(token, c[i].q.answer);
		}
		requests_free(&c[i].q, 1);
	}
	ck_assert_int_ge(answered, 1);
	/* Every create happened once: the dead leaders' sessions committed theirs. */
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p),
			 FIRST + MORE);
	counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), FIRST + MORE);
	/* The restarted workers answer; no slot stays held. */
	for (int i = 0; i < 12; i++) {
		snprintf(email, sizeof(email), "after%d@killed.example", i);
		snprintf(err, sizeof(err), "{\"email\":\"%s\"}", email);
		e2e_expect(token, "POST", "/api/v1/contacts", err, 201, NULL, NULL);
	}
	counters_exact(uid);
}
END_TEST

Suite *batched_creates_suite(void)
{
	Suite *s = suite_create("batched_creates");
	TCase *tc = tcase_create("batched_creates");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, a_burst_with_repeated_addresses_creates_each_once);
	tcase_add_test(tc, a_burst_enrolls_and_announces_each_new_contact_once);
	tcase_add_test(tc, an_opted_out_address_comes_back_unsubscribed_in_a_burst);
	tcase_add_test(tc, two_tenants_bursts_never_mix);
	tcase_add_test(tc, hostile_values_in_a_burst_read_back_exactly);
	tcase_add_test(tc, creates_queued_behind_the_leaders_go_down_together);
	tcase_add_test(tc, a_killed_leaders_creates_are_answered_once);
	suite_add_tcase(s, tc);
	return s;
}
