/* Many writers of one tenant at once through nginx: the counters kept in
 * slots (schema/0018_counter_slots.sql) equal count(*) afterwards, per tenant,
 * per tag and per custom field, with creates, deletes and tag edits mixed; and
 * the free plan's contact limit holds exactly when 64 creates race for the
 * last places, on the locked path and across the unlocked one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define WRITERS 64

struct request {
	const char *token;
	const char *method;
	char path[128];
	char body[1024];
	long status;
	char detail[128];
};

/* One request of a race (e2e_race); its status is checked afterwards. */
static void send_request(void *item)
{
	struct request *q = item;
	struct http_answer a;

	if (http_bearer(q->method, q->path, q->token, q->body[0] ? q->body : NULL, &a) == 0) {
		const char *d = http_detail(&a);
		q->status = a.status;
		snprintf(q->detail, sizeof(q->detail), "%s", d ? d : "");
		http_answer_free(&a);
	} else {
		q->status = -1;
	}
}

/* Send every request with WRITERS threads at once. */
static void race_run(struct request *requests, int n)
{
	e2e_race(requests, (size_t)n, sizeof(*requests), WRITERS, send_request);
}

static void create_request(struct request *q, const char *token, const char *tag, int i)
{
	memset(q, 0, sizeof(*q));
	q->token = token;
	q->method = "POST";
	snprintf(q->path, sizeof(q->path), "/api/v1/contacts");
	snprintf(q->body, sizeof(q->body),
		 "{\"email\":\"w%d-%s@race.example\",\"tags\":[\"%s\",\"all\"],"
		 "\"custom_fields\":{\"%s_field\":%d,\"shared\":1}}",
		 i, tag, tag, tag, i);
}

/* WRITERS creates at once, tagged "odd" or "even" and "all": every one 201. */
static void race_odd_even_creates(struct request *q, const char *token)
{
	for (int i = 0; i < WRITERS; i++)
		create_request(&q[i], token, i % 2 ? "odd" : "even", i);
	race_run(q, WRITERS);
	for (int i = 0; i < WRITERS; i++)
		ck_assert_msg(q[i].status == 201, "create %d: %ld %s", i, q[i].status, q[i].detail);
}

/* The counters against the rows: the tenant's total, every tag and every
 * custom-field name (keys whose slots sum to 0 may keep rows; they show as 0),
 * as readers sum them: the slots and the single creates' rows not folded yet
 * (schema 0097). */
static void assert_counters_exact(const char *user_id)
{
	const char *p[1] = { user_id };

	ck_assert_int_eq(e2e_owner_value("SELECT COALESCE(sum(contacts), 0) FROM tenant_counters_all"
					 " WHERE user_id = $1", 1, p),
			 e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p));
	ck_assert_int_eq(e2e_owner_value(
		"SELECT count(*) FROM (SELECT tag, count(*) AS n FROM contacts, unnest(tags) AS tag"
		"  WHERE user_id = $1 GROUP BY tag) a"
		" FULL JOIN (SELECT tag, sum(contacts) AS n FROM tag_counts_all WHERE user_id = $1"
		"  GROUP BY tag HAVING sum(contacts) <> 0) b USING (tag)"
		" WHERE a.n IS DISTINCT FROM b.n", 1, p), 0);
	ck_assert_int_eq(e2e_owner_value(
		"SELECT count(*) FROM (SELECT f, count(*) AS n FROM contacts,"
		"  jsonb_object_keys(custom_fields) AS f WHERE user_id = $1 GROUP BY f) a"
		" FULL JOIN (SELECT field AS f, sum(contacts) AS n FROM field_counts_all WHERE user_id = $1"
		"  GROUP BY field HAVING sum(contacts) <> 0) b USING (f)"
		" WHERE a.n IS DISTINCT FROM b.n", 1, p), 0);
}

/* Rows the worker has yet to fold for the tenant: slots other than 0 and
 * single creates' appended rows. */
static long long unfolded(const char *const *p)
{
	return e2e_owner_value("SELECT (SELECT count(*) FROM tag_counts WHERE user_id = $1 AND slot <> 0)"
			       " + (SELECT count(*) FROM contact_count_deltas WHERE user_id = $1)",
			       1, p);
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

START_TEST(concurrent_creates_keep_every_counter_exact)
{
	char token[2048], uid[40];
	struct request q[WRITERS];
	const char *p[1];

	e2e_new_tenant("race-creates", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	race_odd_even_creates(q, token);
	assert_counters_exact(uid);
	/* The API reads the sums. */
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), WRITERS);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?page_size=1", "total"), WRITERS);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=odd&page_size=1", "total"), WRITERS / 2);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=all&page_size=1", "total"), WRITERS);
	/* The creates' rows (and any slots) fold into slot 0; no sum changes. */
	for (int i = 0; i < 50 && unfolded(p) > 0; i++) {
		e2e_owner_value("SELECT flowsend_counters_fold(100000)", 0, NULL);
		usleep(100000);
	}
	ck_assert_int_eq(unfolded(p), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM tag_counts WHERE user_id = $1"
					 " AND tag = 'all'", 1, p), 1);
	assert_counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=even&page_size=1", "total"), WRITERS / 2);
}
END_TEST

/* Single creates append their counts (schema 0097): while the worker is
 * paused they stay unfolded, and every count still equals the rows, with
 * deletes and tag edits of those very contacts; folding changes no count. */
START_TEST(counts_are_exact_while_creates_are_unfolded)
{
	char token[1024], uid[64];
	struct request q[WRITERS];
	const char *p[1];

	e2e_new_tenant("unfolded-creates", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	e2e_pause_worker(1);
	race_odd_even_creates(q, token);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_count_deltas WHERE user_id = $1",
					 1, p), WRITERS);
	assert_counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), WRITERS);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?page_size=1", "total"), WRITERS);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=odd&page_size=1", "total"), WRITERS / 2);
	/* w1, w10..w19: 11 deleted; w2, w20..w29: 11 retagged (even ones lose "all"). */
	ck_assert_int_eq(e2e_owner_value("WITH d AS (DELETE FROM contacts WHERE user_id = $1"
					 " AND email LIKE 'w1%' RETURNING 1) SELECT count(*) FROM d", 1, p), 11);
	ck_assert_int_eq(e2e_owner_value("WITH u AS (UPDATE contacts SET tags = ARRAY['odd', 'edited'],"
					 " custom_fields = '{\"edited\": 1}' WHERE user_id = $1 AND email LIKE 'w2%'"
					 " RETURNING 1) SELECT count(*) FROM u", 1, p), 11);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_count_deltas WHERE user_id = $1",
					 1, p), WRITERS);
	assert_counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), WRITERS - 11);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=edited&page_size=1", "total"), 11);
	e2e_pause_worker(0);
	for (int i = 0; i < 50 && unfolded(p) > 0; i++) {
		e2e_owner_value("SELECT flowsend_counters_fold(100000)", 0, NULL);
		usleep(100000);
	}
	ck_assert_int_eq(unfolded(p), 0);
	assert_counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"), WRITERS - 11);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=edited&page_size=1", "total"), 11);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=all&page_size=1", "total"), WRITERS - 11 - 11);
}
END_TEST

/* Creates, deletes and tag and field edits of one tenant, all at once. */
START_TEST(mixed_writes_keep_every_counter_exact)
{
	enum { EXISTING = 48 };
	char token[2048], uid[40], ids[EXISTING][40];
	struct request q[WRITERS + EXISTING];
	int n = 0;

	e2e_new_tenant("race-mixed", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	e2e_user_id(token, uid);
	for (int i = 0; i < EXISTING; i++) {
		struct http_answer a;
		char body[256];
		snprintf(body, sizeof(body),
			 "{\"email\":\"old%d@race.example\",\"tags\":[\"old\",\"t%d\"],"
			 "\"custom_fields\":{\"old_field\":%d}}", i, i % 3, i);
		e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
		snprintf(ids[i], sizeof(ids[i]), "%s", json_str(a.json, "id"));
		http_answer_free(&a);
	}
	for (int i = 0; i < WRITERS; i++)
		create_request(&q[n++], token, i % 2 ? "odd" : "old", i);
	for (int i = 0; i < EXISTING; i++) {
		struct request *r = &q[n++];
		memset(r, 0, sizeof(*r));
		r->token = token;
		snprintf(r->path, sizeof(r->path), "/api/v1/contacts/%.36s", ids[i]);
		if (i % 3 == 0) {
			r->method = "DELETE";
		} else if (i % 3 == 1) {
			r->method = "PATCH";
			snprintf(r->body, sizeof(r->body),
				 "{\"tags\":[\"t%d\",\"patched\"],\"custom_fields\":{\"new_field\":1}}",
				 (i + 1) % 3);
		} else {
			r->method = "PATCH";
			snprintf(r->body, sizeof(r->body), "{\"tags\":[]}");
		}
	}
	race_run(q, n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(q[i].status >= 200 && q[i].status < 300, "%s %s: %ld %s", q[i].method,
			      q[i].path, q[i].status, q[i].detail);
	assert_counters_exact(uid);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts/count", "count"),
			 WRITERS + EXISTING - EXISTING / 3);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=patched&page_size=1", "total"),
			 EXISTING / 3);
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?tag=old&page_size=1", "total"), WRITERS / 2);
}
END_TEST

/* Fill the tenant to `have` contacts with owner SQL (the triggers count them). */
static void fill(const char *uid, int have)
{
	char n[16];
	const char *p[2] = { uid, n };

	snprintf(n, sizeof(n), "%d", have);
	ck_assert_int_eq(e2e_owner_value("WITH c AS (INSERT INTO contacts (user_id, email)"
					 " SELECT $1, 'fill' || g || '@race.example'"
					 " FROM generate_series(1, $2::int) g RETURNING 1)"
					 " SELECT count(*) FROM c", 2, p), have);
}

/* count created, the rest refused with the plan's message. */
static int race_creates(const char *token, int *refused)
{
	struct request q[WRITERS];
	int created = 0;

	*refused = 0;
	for (int i = 0; i < WRITERS; i++)
		create_request(&q[i], token, "late", i);
	race_run(q, WRITERS);
	for (int i = 0; i < WRITERS; i++) {
		if (q[i].status == 201) {
			created++;
		} else {
			ck_assert_msg(q[i].status == 400 &&
					      strcmp(q[i].detail, "Contact limit reached for your plan") == 0,
				      "create %d: %ld %s", i, q[i].status, q[i].detail);
			(*refused)++;
		}
	}
	return created;
}

/* 249 of the free plan's 250: one place, 64 takers, exactly one gets it. */
START_TEST(the_last_free_place_goes_to_exactly_one_create)
{
	char token[2048], uid[40];
	const char *p[1];
	int refused;

	e2e_new_tenant("race-free", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	fill(uid, 249);
	ck_assert_int_eq(race_creates(token, &refused), 1);
	ck_assert_int_eq(refused, WRITERS - 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 250);
	assert_counters_exact(uid);
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"one-more@race.example\"}", 400,
		   "Contact limit reached for your plan", NULL);
}
END_TEST

/* 200 of 250: the first creates take the unlocked path (far from the limit,
 * one slot each), the later ones the locked path; still exactly 50 fit. */
START_TEST(the_limit_holds_across_the_unlocked_path)
{
	char token[2048], uid[40];
	const char *p[1];
	int refused;

	e2e_new_tenant("race-margin", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	fill(uid, 200);
	ck_assert_int_eq(race_creates(token, &refused), 50);
	ck_assert_int_eq(refused, WRITERS - 50);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 250);
	assert_counters_exact(uid);
}
END_TEST

/* An import racing single creates at the limit: together never past it. */
START_TEST(an_import_and_creates_share_the_limit_exactly)
{
	char token[2048], uid[40], csv[4096];
	struct request q[WRITERS + 1];
	const char *p[1];
	size_t o = 0;
	int created = 0;

	e2e_new_tenant("race-import", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	fill(uid, 230);
	o += (size_t)snprintf(csv + o, sizeof(csv) - o, "{\"emails\":[");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(csv + o, sizeof(csv) - o, "%s\"imp%d@race.example\"", i ? "," : "", i);
	snprintf(csv + o, sizeof(csv) - o, "]}");
	memset(&q[0], 0, sizeof(q[0]));
	q[0].token = token;
	q[0].method = "POST";
	snprintf(q[0].path, sizeof(q[0].path), "/api/v1/contacts/import");
	ck_assert_uint_lt(strlen(csv), sizeof(q[0].body));
	snprintf(q[0].body, sizeof(q[0].body), "%s", csv);
	for (int i = 0; i < WRITERS; i++)
		create_request(&q[i + 1], token, "late", i);
	race_run(q, WRITERS + 1);
	ck_assert_msg(q[0].status == 200 || q[0].status == 201, "import: %ld %s", q[0].status,
		      q[0].detail);
	for (int i = 1; i <= WRITERS; i++)
		created += q[i].status == 201;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 250);
	ck_assert_int_le(created, 20);
	assert_counters_exact(uid);
}
END_TEST

/* One trigger does a create's three jobs (schema 0085): 64 racing creates
 * into a tenant with an active signup flow and a contact.created endpoint
 * each enroll once, each record one event, and count once. */
START_TEST(concurrent_creates_enroll_and_announce_each_contact_once)
{
	char token[2048], uid[40], flow[40];
	struct request q[WRITERS];
	struct http_answer a;
	const char *p[2];

	e2e_pause_worker(1);
	e2e_new_tenant("race-jobs", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"welcome\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"email\","
		   "\"template_id\":\"00000000-0000-4000-8000-000000000001\"}]}",
		   201, NULL, &a);
	snprintf(flow, sizeof(flow), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	{
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/flows/%s/activate", flow);
		e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
	}
	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/race\",\"events\":[\"contact.created\"]}", 201, NULL,
		   NULL);
	race_odd_even_creates(q, token);
	p[1] = flow;
	ck_assert_int_eq(e2e_owner_value("SELECT count(DISTINCT e.contact_id) FROM flow_executions e"
					 " JOIN contacts c ON c.id = e.contact_id WHERE c.user_id = $1"
					 " AND e.flow_id = $2",
					 2, p),
			 WRITERS);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE user_id = $1"
					 " AND flow_id = $2",
					 2, p),
			 WRITERS);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
					 " AND event_type = 'contact.created'",
					 1, p),
			 WRITERS);
	ck_assert_int_eq(e2e_owner_value("SELECT count(DISTINCT data->'contact'->>'id') FROM webhook_events"
					 " w JOIN contacts c ON c.id::text = w.data->'contact'->>'id'"
					 " WHERE w.user_id = $1 AND c.user_id = $1",
					 1, p),
			 WRITERS);
	assert_counters_exact(uid);
	/* Each new contact is queued for search and found at once. */
	ck_assert_int_eq(api_total(token, "/api/v1/contacts?search=w17-odd&page_size=1", "total"), 1);
	e2e_pause_worker(0);
}
END_TEST

/* The tenant's counts of active signup flows and contact.created endpoints
 * (schema 0108), which single creates read instead of probing flows and
 * webhook_endpoints, follow every change of either and equal a recount. */
static void assert_create_work(const char *uid, long long flows, long long hooks)
{
	const char *p[1] = { uid };

	ck_assert_int_eq(e2e_owner_value("SELECT signup_flows FROM users WHERE id = $1", 1, p), flows);
	ck_assert_int_eq(e2e_owner_value("SELECT created_hooks FROM users WHERE id = $1", 1, p), hooks);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flows WHERE user_id = $1 AND"
					 " trigger_type = 'signup' AND status = 'active' AND deleted_at IS NULL",
					 1, p),
			 flows);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_endpoints WHERE user_id = $1 AND"
					 " is_active AND 'contact.created' = ANY (events)",
					 1, p),
			 hooks);
}

static void flow_call(const char *token, const char *method, const char *id, const char *what)
{
	char path[160];

	snprintf(path, sizeof(path), "/api/v1/flows/%s%s", id, what);
	e2e_expect(token, method, path, NULL, strcmp(method, "DELETE") == 0 ? 204 : 200, NULL, NULL);
}

/* Create a contact; then the tenant's queued contact.created events. */
static long long create_counting_events(const char *token, const char *email, const char *const *p)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
	return e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
			       " AND event_type = 'contact.created'",
			       1, p);
}

START_TEST(create_work_counts_follow_flows_and_endpoints)
{
	char token[2048], uid[40], flow[2][40], hook[40], path[160];
	struct http_answer a;
	const char *p[1];

	e2e_pause_worker(1); /* the events stay queued */
	e2e_new_tenant("create-work", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	assert_create_work(uid, 0, 0);
	for (int i = 0; i < 2; i++) {
		e2e_expect(token, "POST", "/api/v1/flows",
			   "{\"name\":\"welcome\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"email\","
			   "\"template_id\":\"00000000-0000-4000-8000-000000000001\"}]}",
			   201, NULL, &a);
		snprintf(flow[i], sizeof(flow[i]), "%s", json_str(a.json, "id"));
		http_answer_free(&a);
	}
	assert_create_work(uid, 0, 0); /* drafts */
	flow_call(token, "POST", flow[0], "/activate");
	flow_call(token, "POST", flow[1], "/activate");
	assert_create_work(uid, 2, 0);
	/* A contact created now is enrolled in both. */
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"work-1@example.com\"}", 201, NULL, NULL);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE user_id = $1", 1, p), 2);
	flow_call(token, "POST", flow[0], "/pause");
	assert_create_work(uid, 1, 0);
	flow_call(token, "DELETE", flow[1], "");
	assert_create_work(uid, 0, 0);
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"work-2@example.com\"}", 201, NULL, NULL);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE user_id = $1", 1, p), 2);

	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/work\",\"events\":[\"contact.created\",\"campaign.sent\"]}",
		   201, NULL, &a);
	snprintf(hook, sizeof(hook), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/other\",\"events\":[\"campaign.sent\"]}", 201, NULL, NULL);
	assert_create_work(uid, 0, 1);
	ck_assert_int_eq(create_counting_events(token, "work-3@example.com", p), 1);
	snprintf(path, sizeof(path), "/api/v1/webhooks/endpoints/%s", hook);
	e2e_expect(token, "PATCH", path, "{\"is_active\":false}", 200, NULL, NULL);
	assert_create_work(uid, 0, 0);
	/* No active endpoint for it: no event. */
	ck_assert_int_eq(create_counting_events(token, "work-4@example.com", p), 1);
	e2e_expect(token, "PATCH", path, "{\"is_active\":true}", 200, NULL, NULL);
	assert_create_work(uid, 0, 1);
	e2e_expect(token, "PATCH", path, "{\"events\":[\"campaign.sent\"]}", 200, NULL, NULL);
	assert_create_work(uid, 0, 0);
	e2e_expect(token, "PATCH", path, "{\"events\":[\"contact.created\"]}", 200, NULL, NULL);
	assert_create_work(uid, 0, 1);
	ck_assert_int_eq(create_counting_events(token, "work-5@example.com", p), 2);
	/* Its queued events go with it (their foreign key). */
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	assert_create_work(uid, 0, 0);
	e2e_pause_worker(0);
}
END_TEST

/* The worker's queue steps keep a plan PostgreSQL may make while the queue
 * is empty (plpgsql caches it, generic after five runs): schemas 0101 and 0103 took
 * the joins of a queue to itself out, after one fold of 19,108 rows read
 * 182 million buffers (a nested loop running the LIMIT subquery again for
 * every row). Here the plans are generic and made on emptied, vacuumed
 * queues, then each step takes QUEUED rows: the buffers read of each queue
 * stay a small multiple of its rows. */
#define QUEUED 5000

/* Run one step in a transaction of its own; the heap buffers it read of
 * each table (n of them) go to hits. */
static void step_hits(PGconn *c, const char *step, const char *const *tables, int n,
		      long long *hits)
{
	char sql[256];
	PGresult *r;

	snprintf(sql, sizeof(sql), "SELECT %s", step);
	PQclear(PQexec(c, "BEGIN"));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "SELECT pg_stat_get_xact_blocks_fetched('%s'::regclass)",
			 tables[i]);
		r = PQexec(c, sql);
		ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
		hits[i] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQclear(PQexec(c, "COMMIT"));
}

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

START_TEST(queue_steps_stay_linear_with_plans_made_empty)
{
	char token[1024], uid[64], sql[1024];
	struct fs_config cfg;
	char err[256];
	PGconn *c;
	const char *const fold_tables[] = { "contact_count_deltas", "tag_counts" };
	const char *const search_tables[] = { "contact_search_backlog" };
	long long fold[2], search;

	e2e_new_tenant("linear-steps", token, sizeof(token));
	e2e_user_id(token, uid);
	e2e_pause_worker(1);
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	c = PQconnectdb(cfg.database_migrate_url);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	/* Empty queues (what others left is taken now), their pages gone. */
	exec_ok(c, "SELECT flowsend_counters_fold(1000000)");
	exec_ok(c, "SELECT flowsend_search_backlog_step(1000000)");
	exec_ok(c, "VACUUM ANALYZE contact_count_deltas, contact_search_backlog, tag_counts");
	exec_ok(c, "SET plan_cache_mode = force_generic_plan");
	exec_ok(c, "SELECT flowsend_counters_fold(1000000)");
	exec_ok(c, "SELECT flowsend_search_backlog_step(1000000)");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO contact_count_deltas (user_id, tags, fields)"
		 " SELECT '%s', ARRAY['linear'], '{}' FROM generate_series(1, %d);"
		 "INSERT INTO tag_counts (user_id, tag, slot, contacts)"
		 " SELECT '%s', 'slot-' || i, 1 + i %% 31, 1 FROM generate_series(1, %d) i;"
		 "INSERT INTO contact_search_backlog (user_id, first_id, last_id)"
		 " SELECT '%s', u, u FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, %d)) g",
		 uid, QUEUED, uid, QUEUED, uid, QUEUED);
	exec_ok(c, sql);
	/* One fold takes the deltas, the slot rows and their zero rows. */
	step_hits(c, "flowsend_counters_fold(1000000)", fold_tables, 2, fold);
	step_hits(c, "flowsend_search_backlog_step(1000000)", search_tables, 1, &search);
	exec_ok(c, "SELECT flowsend_counters_fold(1000000)");
	PQfinish(c);
	e2e_pause_worker(0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM tag_counts WHERE user_id = $1 AND slot <> 0",
					 1, (const char *[]){ uid }),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT sum(contacts) FROM tenant_counters_all WHERE user_id = $1",
					 1, (const char *[]){ uid }),
			 QUEUED);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search_backlog WHERE user_id = $1",
					 1, (const char *[]){ uid }),
			 0);
	ck_assert_msg(fold[0] < 10LL * QUEUED, "the fold read %lld buffers of %d deltas", fold[0], QUEUED);
	ck_assert_msg(fold[1] < 10LL * QUEUED, "the fold read %lld buffers of %d slot rows", fold[1],
		      QUEUED);
	ck_assert_msg(search < 10LL * QUEUED, "the search step read %lld buffers of %d rows", search,
		      QUEUED);
}
END_TEST

/* A write whose tenant deletes one of its webhook endpoints at the same
 * moment: the trigger's INSERT into webhook_events read the endpoint in its
 * snapshot, then its foreign key check (webhook_events_endpoint_id_user_id_fkey)
 * waited for the DELETE and found the endpoint gone (23503), which failed the
 * whole write with a 500: a create (contact.created), an import, an
 * unsubscribe (contact.unsubscribed). The write has nothing to do with the
 * endpoint: it must succeed, and no event may point at the deleted endpoint.
 * Deterministic: the DELETE is held open in an owner transaction until the
 * write waits for it, then committed. */
struct held_write {
	const char *token, *method, *path, *body;
	long status;
	char detail[256];
};

static void *held_write_thread(void *arg)
{
	struct held_write *h = arg;
	struct http_answer a;

	if (http_bearer(h->method, h->path, h->token, h->body, &a) == 0) {
		const char *d = http_detail(&a);
		h->status = a.status;
		snprintf(h->detail, sizeof(h->detail), "%s", d ? d : "");
		http_answer_free(&a);
	} else {
		h->status = -1;
	}
	return NULL;
}

/* The tenant's new endpoint for event, deleted by the owner while the write
 * runs; the write's status and the events left for that endpoint. */
static long write_racing_endpoint_deletion(const char *token, const char *event, const char *method,
					   const char *path, const char *body, long *events)
{
	char hook[40], sql[256], err[256], ep[160];
	struct held_write h = { token, method, path, body, 0, "" };
	struct http_answer a;
	struct fs_config cfg;
	const char *p[1] = { hook };
	pthread_t t;
	PGconn *c;
	int waited = 0;

	snprintf(ep, sizeof(ep), "{\"url\":\"https://example.com/gone\",\"events\":[\"%s\"]}", event);
	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints", ep, 201, NULL, &a);
	snprintf(hook, sizeof(hook), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	c = PQconnectdb(cfg.database_migrate_url);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	exec_ok(c, "BEGIN");
	snprintf(sql, sizeof(sql), "DELETE FROM webhook_endpoints WHERE id = '%s'", hook);
	exec_ok(c, sql);
	ck_assert_int_eq(pthread_create(&t, NULL, held_write_thread, &h), 0);
	/* Until the write's backend waits for the DELETE's transaction (5 s at
	 * most; pg_locks, as the owner may not read others' pg_stat_activity). */
	for (int i = 0; i < 500 && !waited; i++) {
		usleep(10000);
		waited = e2e_owner_value("SELECT count(*) FROM pg_locks WHERE NOT granted"
					 " AND locktype = 'transactionid'",
					 0, NULL) > 0;
	}
	exec_ok(c, "COMMIT");
	PQfinish(c);
	pthread_join(t, NULL);
	ck_assert_msg(waited, "%s %s never waited for the endpoint's deletion", method, path);
	ck_assert_msg(h.status < 500, "%s %s racing the endpoint's deletion: %ld %s", method, path,
		      h.status, h.detail);
	*events = e2e_owner_value("SELECT count(*) FROM webhook_events WHERE endpoint_id = $1", 1, p);
	return h.status;
}

START_TEST(a_create_racing_an_endpoint_deletion_succeeds)
{
	char token[2048], uid[40];
	const char *p[1];
	long events;

	e2e_new_tenant("race-hook-create", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	ck_assert_int_eq(write_racing_endpoint_deletion(token, "contact.created", "POST", "/api/v1/contacts",
							"{\"email\":\"held-create@race.example\"}", &events),
			 201);
	ck_assert_int_eq(events, 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 1);
}
END_TEST

START_TEST(an_import_racing_an_endpoint_deletion_succeeds)
{
	char token[2048], uid[40];
	const char *p[1];
	long events;

	e2e_new_tenant("race-hook-import", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	ck_assert_int_eq(write_racing_endpoint_deletion(token, "contact.created", "POST",
							"/api/v1/contacts/import",
							"{\"emails\":[\"held-1@race.example\",\"held-2@race.example\"]}",
							&events),
			 200);
	ck_assert_int_eq(events, 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 2);
}
END_TEST

START_TEST(an_unsubscribe_racing_an_endpoint_deletion_succeeds)
{
	char token[2048], uid[40], path[128];
	struct http_answer a;
	const char *p[1];
	long events;

	e2e_new_tenant("race-hook-unsub", token, sizeof(token));
	p[0] = e2e_user_id(token, uid);
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"held-unsub@race.example\"}", 201, NULL,
		   &a);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(write_racing_endpoint_deletion(token, "contact.unsubscribed", "PATCH", path,
							"{\"is_subscribed\":false}", &events),
			 200);
	ck_assert_int_eq(events, 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1"
					 " AND NOT is_subscribed",
					 1, p),
			 1);
}
END_TEST

Suite *concurrency_suite(void)
{
	Suite *s = suite_create("concurrency");
	TCase *tc = tcase_create("concurrency");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, concurrent_creates_keep_every_counter_exact);
	tcase_add_test(tc, counts_are_exact_while_creates_are_unfolded);
	tcase_add_test(tc, mixed_writes_keep_every_counter_exact);
	tcase_add_test(tc, the_last_free_place_goes_to_exactly_one_create);
	tcase_add_test(tc, the_limit_holds_across_the_unlocked_path);
	tcase_add_test(tc, an_import_and_creates_share_the_limit_exactly);
	tcase_add_test(tc, concurrent_creates_enroll_and_announce_each_contact_once);
	tcase_add_test(tc, queue_steps_stay_linear_with_plans_made_empty);
	tcase_add_test(tc, create_work_counts_follow_flows_and_endpoints);
	tcase_add_test(tc, a_create_racing_an_endpoint_deletion_succeeds);
	tcase_add_test(tc, an_import_racing_an_endpoint_deletion_succeeds);
	tcase_add_test(tc, an_unsubscribe_racing_an_endpoint_deletion_succeeds);
	suite_add_tcase(s, tc);
	return s;
}
