/* Flows end to end: the original's flow and platform-event behaviours, every
 * validation error naming its step, each trigger creating the right
 * executions (API, imports big and small, the library without HTTP, events,
 * the platform), re-entry, 64 concurrent events making one execution,
 * versions, soft delete, the plan's limit, stats from data, tenants kept apart
 * and auth on every route. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "services/transfer.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"
#define GHOST "00000000-0000-4000-8000-00000000dead"

static char token[4096], other[4096];

/* POST a flow; its id into id (37 bytes). */
static void create_flow(const char *tok, const char *body, char *id)
{
	struct http_answer a;

	e2e_expect(tok, "POST", "/api/v1/flows", body, 201, NULL, &a);
	snprintf(id, 37, "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "status"), "draft");
	http_answer_free(&a);
}

static void flow_path(char *out, size_t size, const char *id, const char *tail)
{
	snprintf(out, size, "/api/v1/flows/%s%s", id, tail ? tail : "");
}

static void call_flow(const char *tok, const char *method, const char *id, const char *tail,
		      const char *body, long status, const char *detail)
{
	char path[160];
	flow_path(path, sizeof(path), id, tail);
	e2e_expect(tok, method, path, body, status, detail, NULL);
}

/* An active flow of that trigger with one email step (and config). */
static void active_flow(const char *tok, const char *trigger, const char *config, char *id)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s flow\",\"trigger_type\":\"%s\",\"trigger_config\":%s,"
		 "\"steps\":[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"},"
		 "{\"type\":\"delay\",\"delay_hours\":24},"
		 "{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\",\"subject\":\"Again\"}]}",
		 trigger, trigger, config ? config : "{}");
	create_flow(tok, body, id);
	call_flow(tok, "POST", id, "/activate", NULL, 200, NULL);
}

static long long executions_of(const char *flow_id)
{
	const char *p[1] = { flow_id };
	return e2e_owner_value("SELECT count(*) FROM flow_executions WHERE flow_id = $1", 1, p);
}

static long long executions_for(const char *flow_id, const char *email)
{
	const char *p[2] = { flow_id, email };
	return e2e_owner_value("SELECT count(*) FROM flow_executions e JOIN contacts c"
			       " ON c.id = e.contact_id WHERE e.flow_id = $1 AND c.email = $2",
			       2, p);
}

static void new_contact(const char *tok, const char *email, const char *extra)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"email\":\"%s\"%s}", email, extra ? extra : "");
	e2e_expect(tok, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
}

START_TEST(the_originals_flow_behaviours_hold)
{
	struct http_answer a;
	char id[40], minimal[40], path[160];
	static const char *const kinds[] = { "signup", "purchase", "abandoned_cart", "custom",
					     "scheduled" };

	e2e_new_tenant("flows", token, sizeof(token));
	e2e_expect(token, "GET", "/api/v1/flows", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	/* create with steps; create minimal; every trigger type */
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"Welcome\",\"description\":\"hi\",\"trigger_type\":\"signup\","
		   "\"steps\":[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
		   201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "name"), "Welcome");
	ck_assert_str_eq(json_str(a.json, "trigger_type"), "signup");
	ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "steps")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
				 json_object_object_get(a.json, "stats"), "enrolled")),
			 0);
	http_answer_free(&a);
	create_flow(token, "{\"name\":\"Minimal\",\"trigger_type\":\"purchase\"}", minimal);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char body[128], fid[40];
		snprintf(body, sizeof(body), "{\"name\":\"k%zu\",\"trigger_type\":\"%s\"}", i, kinds[i]);
		create_flow(token, body, fid);
	}
	e2e_expect(token, "POST", "/api/v1/flows", "{\"trigger_type\":\"signup\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":\"x\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":\"x\",\"trigger_type\":\"birthday\"}", 400,
		   "Invalid trigger_type. Must be one of: signup, purchase, abandoned_cart, custom,"
		   " scheduled",
		   NULL);
	/* list, pagination, status filter */
	e2e_expect(token, "GET", "/api/v1/flows?page=2&page_size=3", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 7);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(a.json, "items")), 3);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/flows?status=bogus", NULL, 422, NULL, NULL);
	/* get, unknown, malformed */
	call_flow(token, "GET", id, NULL, NULL, 200, NULL);
	call_flow(token, "GET", GHOST, NULL, NULL, 404, "Flow not found");
	e2e_expect(token, "GET", "/api/v1/flows/not-a-uuid", NULL, 404, NULL, NULL);
	/* update a draft, update unknown */
	flow_path(path, sizeof(path), id, NULL);
	e2e_expect(token, "PATCH", path, "{\"name\":\"Welcome 2\",\"description\":null}", 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "name"), "Welcome 2");
	ck_assert(json_object_get_type(json_object_object_get(a.json, "description")) == json_type_null);
	http_answer_free(&a);
	call_flow(token, "PATCH", GHOST, NULL, "{\"name\":\"x\"}", 404, "Flow not found");
	/* activate with steps, without, unknown, twice */
	call_flow(token, "POST", id, "/activate", NULL, 200, NULL);
	call_flow(token, "POST", id, "/activate", NULL, 400, "Flow is already active");
	call_flow(token, "POST", minimal, "/activate", NULL, 400, "Cannot activate a flow with no steps");
	call_flow(token, "POST", GHOST, "/activate", NULL, 404, "Flow not found");
	e2e_expect(token, "GET", "/api/v1/flows?status=active", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
	/* an active flow cannot be edited; pause it, edit, re-activate */
	call_flow(token, "PATCH", id, NULL, "{\"name\":\"x\"}", 400,
		  "Cannot update an active flow. Pause it first.");
	call_flow(token, "POST", minimal, "/pause", NULL, 400, "Can only pause an active flow");
	call_flow(token, "POST", GHOST, "/pause", NULL, 404, "Flow not found");
	call_flow(token, "POST", id, "/pause", NULL, 200, NULL);
	call_flow(token, "PATCH", id, NULL, "{\"name\":\"Paused edit\"}", 200, NULL);
	call_flow(token, "POST", id, "/activate", NULL, 200, NULL);
	/* executions of a new flow: empty; of an unknown flow: 404 */
	flow_path(path, sizeof(path), minimal, "/executions");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	call_flow(token, "GET", GHOST, "/executions", NULL, 404, "Flow not found");
	/* delete, delete unknown */
	call_flow(token, "DELETE", minimal, NULL, NULL, 204, NULL);
	call_flow(token, "GET", minimal, NULL, NULL, 404, "Flow not found");
	call_flow(token, "DELETE", minimal, NULL, NULL, 404, "Flow not found");
	call_flow(token, "DELETE", GHOST, NULL, NULL, 404, "Flow not found");
}
END_TEST

/* Activation names the first bad step by its 0-based index. */
START_TEST(every_validation_error_names_its_step)
{
	static const struct {
		const char *steps, *detail;
	} bad[] = {
		{ "[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"},{\"type\":\"sms\"}]",
		  "Invalid step 1: unknown type 'sms'" },
		{ "[{\"type\":\"email\"}]", "Invalid step 0: an email step needs a template_id" },
		{ "[{\"type\":\"delay\",\"delay_hours\":1},{\"type\":\"email\",\"template_id\":\"" GHOST
		  "\"}]",
		  "Invalid step 1: template not found" },
		{ "[{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":5,"
		  "\"else_step\":1}]",
		  "Invalid step 0: then_step 5 is out of range (0..1)" },
		{ "[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"},{\"type\":\"condition\","
		  "\"condition_type\":\"tag_equals\",\"value\":\"vip\",\"then_step\":0,\"else_step\":2}]",
		  "Invalid step 0: a loop back to this step has no delay" },
		{ "[{\"type\":\"split\",\"branches\":[1,1],\"weights\":[50]},{\"type\":\"delay\","
		  "\"delay_minutes\":5}]",
		  "Invalid step 0: weights must give one weight per branch" },
		{ "[{\"type\":\"split\",\"branches\":[1,1],\"weights\":[50,0]},{\"type\":\"delay\","
		  "\"delay_minutes\":5}]",
		  "Invalid step 0: weights must be integers" },
		{ "[{\"type\":\"split\",\"branches\":[7,1]},{\"type\":\"delay\",\"delay_minutes\":5}]",
		  "Invalid step 0: branch 0 goes to 7" },
		{ "[{\"type\":\"delay\",\"delay_hours\":0}]", "Invalid step 0: delay_hours" },
		{ "[{\"type\":\"webhook\",\"url\":\"javascript:alert(1)\"}]", "Invalid step 0: url" },
		{ "[{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"custom_fields.n\","
		  "\"value\":\"ten\",\"then_step\":1,\"else_step\":1}]",
		  "Invalid step 0: field_gt needs a numeric value" },
	};
	char id[40], foreign_tpl[40], body[2048];
	struct http_answer a;

	e2e_new_tenant("flowval", token, sizeof(token));
	e2e_new_tenant("flowval2", other, sizeof(other));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"v%zu\",\"trigger_type\":\"signup\",\"steps\":%s}",
			 i, bad[i].steps);
		create_flow(token, body, id);
		call_flow(token, "POST", id, "/activate", NULL, 400, bad[i].detail);
		call_flow(token, "GET", id, NULL, NULL, 200, NULL); /* still a draft */
	}
	/* another tenant's template is as good as none */
	e2e_expect(other, "POST", "/api/v1/templates",
		   "{\"name\":\"mine\",\"subject\":\"s\",\"html_content\":\"<p>x</p>\"}", 201, NULL, &a);
	snprintf(foreign_tpl, sizeof(foreign_tpl), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body),
		 "{\"name\":\"f\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"email\","
		 "\"template_id\":\"%s\"}]}",
		 foreign_tpl);
	create_flow(token, body, id);
	call_flow(token, "POST", id, "/activate", NULL, 400, "Invalid step 0: template not found");
	/* shape errors are 422 at once */
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"delay\","
		   "\"delay_hours\":1,\"delay_minutes\":5}]}",
		   422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"signup\",\"steps\":{}}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"signup\",\"steps\":[1]}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"signup\",\"trigger_config\":[]}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":\"\",\"trigger_type\":\"signup\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":\"a\\u0000b\",\"trigger_type\":\"signup\"}",
		   422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":7,\"trigger_type\":\"signup\"}", 422, NULL,
		   NULL);
	e2e_expect(token, "POST", "/api/v1/flows", "{\"name\":\"x\",\"trigger_type\":[\"signup\"]}", 422,
		   NULL, NULL);
	/* trigger_config per trigger */
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"custom\",\"trigger_config\":{\"event\":5}}", 422,
		   "trigger_config.event", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"signup\",\"trigger_config\":{\"allow_reentry\":\"yes\"}}",
		   422, "allow_reentry", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"0 9 * *\"}}",
		   422, "5 fields", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"61 9 * * *\"}}",
		   422, "minute", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"0 9 * * 1\","
		   "\"timezone\":\"Mars/Olympus\"}}",
		   422, "time zone", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"0 9 * * 1\","
		   "\"list_id\":\"" GHOST "\"}}",
		   404, "Contact list not found", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"0 9 * * 1\","
		   "\"list_id\":\"nope\"}}",
		   422, "list_id", NULL);
	e2e_expect(token, "POST", "/api/v1/flows",
		   "{\"name\":\"x\",\"trigger_type\":\"scheduled\",\"trigger_config\":{\"cron\":\"*/15 9-17 * * mon-fri\","
		   "\"timezone\":\"Europe/Paris\"}}",
		   201, NULL, NULL);
	/* what a trigger needs is required on activation */
	create_flow(token,
		    "{\"name\":\"c\",\"trigger_type\":\"custom\",\"steps\":[{\"type\":\"email\","
		    "\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
		    id);
	call_flow(token, "POST", id, "/activate", NULL, 400, "A custom flow needs trigger_config.event");
	create_flow(token,
		    "{\"name\":\"s\",\"trigger_type\":\"scheduled\",\"steps\":[{\"type\":\"email\","
		    "\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
		    id);
	call_flow(token, "POST", id, "/activate", NULL, 400, "A scheduled flow needs trigger_config.cron");
	/* changing the trigger re-checks the stored config against it */
	create_flow(token,
		    "{\"name\":\"t\",\"trigger_type\":\"signup\",\"trigger_config\":{\"event\":7}}", id);
	call_flow(token, "PATCH", id, NULL, "{\"trigger_type\":\"custom\"}", 422, "trigger_config.event");
}
END_TEST

START_TEST(every_route_needs_auth_and_scope)
{
	static const char *const routes[][2] = {
		{ "GET", "/api/v1/flows" },
		{ "POST", "/api/v1/flows" },
		{ "GET", "/api/v1/flows/" GHOST },
		{ "PATCH", "/api/v1/flows/" GHOST },
		{ "DELETE", "/api/v1/flows/" GHOST },
		{ "POST", "/api/v1/flows/" GHOST "/activate" },
		{ "POST", "/api/v1/flows/" GHOST "/pause" },
		{ "GET", "/api/v1/flows/" GHOST "/executions" },
		{ "GET", "/api/v1/flows/" GHOST "/stats" },
		{ "GET", "/api/v1/flows/" GHOST "/versions" },
		{ "POST", "/api/v1/events" },
	};
	struct http_answer a;
	char key[256];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		e2e_expect(NULL, routes[i][0], routes[i][1], "{}", 401, "Not authenticated", NULL);
	/* a read key may look, not change */
	e2e_new_tenant("flowkey", token, sizeof(token));
	e2e_set_plan(token, "pro");
	e2e_expect(token, "POST", "/api/v1/api-keys", "{\"name\":\"ro\",\"scopes\":[\"read\"]}", 201, NULL,
		   &a);
	snprintf(key, sizeof(key), "%s", json_str(a.json, "key"));
	http_answer_free(&a);
	ck_assert_int_eq(http_key("GET", "/api/v1/flows", key, NULL, &a), 0);
	ck_assert_int_eq(a.status, 200);
	http_answer_free(&a);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i][0], "GET") == 0)
			continue;
		ck_assert_int_eq(http_key(routes[i][0], routes[i][1], key, "{}", &a), 0);
		ck_assert_msg(a.status == 403, "%s %s: %ld", routes[i][0], routes[i][1], a.status);
		http_answer_free(&a);
	}
	e2e_expect(token, "PUT", "/api/v1/flows", "{}", 405, NULL, NULL);
}
END_TEST

START_TEST(tenants_never_see_each_others_flows)
{
	static const char *const routes[][3] = {
		{ "GET", "", NULL },
		{ "PATCH", "", "{\"name\":\"mine now\"}" },
		{ "POST", "/activate", NULL },
		{ "POST", "/pause", NULL },
		{ "GET", "/executions", NULL },
		{ "GET", "/stats", NULL },
		{ "GET", "/versions", NULL },
		{ "DELETE", "", NULL },
	};
	char id[40];
	struct http_answer a;

	e2e_new_tenant("flowiso", token, sizeof(token));
	e2e_new_tenant("flowiso2", other, sizeof(other));
	active_flow(token, "custom", "{\"event\":\"vip\"}", id);
	new_contact(token, "iso@example.com", NULL);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		call_flow(other, routes[i][0], id, routes[i][1], routes[i][2], 404, "Flow not found");
	e2e_expect(other, "GET", "/api/v1/flows", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	/* the other tenant's event for this tenant's contact finds no contact */
	e2e_expect(other, "POST", "/api/v1/events", "{\"event\":\"vip\",\"email\":\"iso@example.com\"}",
		   404, "Contact not found", NULL);
	ck_assert_int_eq(executions_of(id), 0);
	call_flow(token, "GET", id, NULL, NULL, 200, NULL);
}
END_TEST

/* Signup: contacts created by the API, the JSON import, a big CSV import (id
 * ranges the worker enrolls) and the library without HTTP all enroll, once,
 * into active signup flows only; unsubscribed contacts do not. */
START_TEST(signup_flows_enroll_every_new_contact_once)
{
	char once[40], again[40], draft[40], paused[40], path[160], uid[40];
	struct strbuf csv = STRBUF_INIT;
	struct http_answer a;
	json_object *item;
	struct e2e_env e;

	/* Held while executions are checked at step 0; the big import needs it. */
	e2e_pause_worker(1);
	e2e_new_tenant("flowsign", token, sizeof(token));
	e2e_set_plan(token, "enterprise");
	active_flow(token, "signup", NULL, once);
	active_flow(token, "signup", "{\"allow_reentry\":true}", again);
	create_flow(token, "{\"name\":\"d\",\"trigger_type\":\"signup\"}", draft);
	active_flow(token, "signup", NULL, paused);
	call_flow(token, "POST", paused, "/pause", NULL, 200, NULL);

	new_contact(token, "new@example.com", NULL);
	ck_assert_int_eq(executions_for(once, "new@example.com"), 1);
	ck_assert_int_eq(executions_for(again, "new@example.com"), 1);
	ck_assert_int_eq(executions_of(draft), 0);
	ck_assert_int_eq(executions_of(paused), 0);
	flow_path(path, sizeof(path), once, "/executions");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	item = json_object_array_get_idx(json_object_object_get(a.json, "items"), 0);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(item, "current_step")), 0);
	ck_assert_str_eq(json_str(item, "status"), "active");
	ck_assert_ptr_nonnull(json_str(item, "next_run_at"));
	ck_assert_ptr_nonnull(json_str(item, "contact_id"));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(item, "flow_version")), 1);
	http_answer_free(&a);
	/* waiting at step 0, due now: the engine's claim picks it up */
	{
		const char *p[1] = { once };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE flow_id = $1"
						 " AND status = 'active' AND current_step = 0"
						 " AND next_run_at <= now() + interval '1 second'",
						 1, p),
				 1);
	}
	new_contact(token, "gone@example.com", ",\"is_subscribed\":false");
	ck_assert_int_eq(executions_for(once, "gone@example.com"), 0);
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"new@example.com\"}", 400, "already exists", NULL);
	ck_assert_int_eq(executions_for(once, "new@example.com"), 1);

	/* a small import enrolls in its own transaction */
	e2e_expect(token, "POST", "/api/v1/contacts/import",
		   "{\"emails\":[\"i1@example.com\",\"i2@example.com\",\"i3@example.com\","
		   "\"new@example.com\"]}",
		   200, NULL, NULL);
	ck_assert_int_eq(executions_of(once), 4);
	ck_assert_int_eq(executions_of(again), 4);

	/* a big one: ranges for the worker, none lost, none doubled */
	e2e_pause_worker(0);
	strbuf_appends(&csv, "email,first_name\n");
	for (int i = 0; i < 2500; i++)
		strbuf_appendf(&csv, "big%d@example.com,Big\n", i);
	{
		const char *h[] = { NULL, "Content-Type: text/csv", NULL };
		char auth[4200];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h[0] = auth;
		ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", h, csv.buf, csv.len, &a), 0);
		ck_assert_int_eq(a.status, 200);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "imported")), 2500);
		http_answer_free(&a);
	}
	strbuf_free(&csv);
	{
		const char *p[1] = { once };
		/* An import merged over two connections leaves two ranges per flow
		 * whose ids interleave: the first one worked may enroll every
		 * contact while the second is still queued (it then adds nothing). */
		for (int i = 0; i < 600 && (executions_of(once) < 2504 || executions_of(again) < 2504 ||
					    e2e_owner_value("SELECT count(*) FROM flow_enroll_backlog"
							    " WHERE flow_id = $1", 1, p) > 0); i++)
			usleep(100 * 1000);
		ck_assert_int_eq(executions_of(once), 2504);
		ck_assert_int_eq(executions_of(again), 2504);
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_enroll_backlog WHERE flow_id = $1",
						 1, p),
				 0);
		ck_assert_int_eq(e2e_owner_value("SELECT count(DISTINCT contact_id) FROM flow_executions"
						 " WHERE flow_id = $1", 1, p),
				 2504);
	}
	/* the worker going over a range again changes nothing */
	{
		const char *p[1] = { once };
		e2e_owner_value("INSERT INTO flow_enroll_backlog (user_id, flow_id, flow_version, first_id,"
				" last_id) SELECT user_id, id, current_version,"
				" '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'"
				" FROM flows WHERE id = $1 RETURNING 1", 1, p);
		for (int i = 0; i < 300 && e2e_owner_value("SELECT count(*) FROM flow_enroll_backlog"
							   " WHERE flow_id = $1", 1, p) > 0; i++)
			usleep(100 * 1000);
		ck_assert_int_eq(executions_of(once), 2504);
	}
	/* the library without HTTP (as forms and flowsend-batch call it) */
	e2e_user_id(token, uid);
	e2e_env_open(&e, uid, "enterprise");
	{
		struct import_source src = { 0 };
		struct import_result res;
		struct fs_error err;
		const char *text = "email\nlib1@example.com\nlib2@example.com\n";
		src.text = text;
		src.text_len = strlen(text);
		ck_assert_int_eq(contacts_import(&e.env, &src, &res, &err), FS_OK);
		ck_assert_int_eq(res.imported, 2);
		json_object_put(res.errors);
	}
	e2e_env_close(&e);
	ck_assert_int_eq(executions_for(once, "lib1@example.com"), 1);
	ck_assert_int_eq(executions_for(again, "lib2@example.com"), 1);
	flow_path(path, sizeof(path), once, "/stats");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 2506);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "active")), 2506);
	http_answer_free(&a);
}
END_TEST

#define RACERS 64

struct racer {
	pthread_mutex_t *mu;
	pthread_cond_t *go;
	int *released;
	long status;
	long enrolled;
};

static void *event_racer(void *arg)
{
	struct racer *r = arg;
	struct http_answer a;

	pthread_mutex_lock(r->mu);
	while (!*r->released)
		pthread_cond_wait(r->go, r->mu);
	pthread_mutex_unlock(r->mu);
	if (http_bearer("POST", "/api/v1/events", token,
			"{\"event\":\"race\",\"email\":\"racer@example.com\"}", &a) == 0) {
		r->status = a.status;
		if (a.json)
			r->enrolled = json_object_get_int(json_object_object_get(a.json, "enrolled"));
		http_answer_free(&a);
	}
	return NULL;
}

START_TEST(custom_events_enroll_once_unless_reentry_even_racing)
{
	char vip[40], vip_again[40], race[40];
	struct http_answer a;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t go = PTHREAD_COND_INITIALIZER;
	int released = 0;
	struct racer racers[RACERS];
	pthread_t t[RACERS];
	long total = 0;

	e2e_new_tenant("flowevt", token, sizeof(token));
	e2e_set_plan(token, "pro");
	active_flow(token, "custom", "{\"event\":\"vip\"}", vip);
	active_flow(token, "custom", "{\"event\":\"vip\",\"allow_reentry\":true}", vip_again);
	active_flow(token, "custom", "{\"event\":\"race\"}", race);
	new_contact(token, "buyer@example.com", NULL);
	new_contact(token, "racer@example.com", NULL);

	e2e_expect(token, "POST", "/api/v1/events",
		   "{\"event\":\"vip\",\"email\":\"Buyer@Example.com\",\"data\":{\"order\":42}}", 202, NULL,
		   &a);
	ck_assert_str_eq(json_str(a.json, "event"), "vip");
	ck_assert_ptr_nonnull(json_str(a.json, "contact_id"));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 2);
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"vip\",\"email\":\"buyer@example.com\"}",
		   202, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 1);
	http_answer_free(&a);
	ck_assert_int_eq(executions_of(vip), 1);
	ck_assert_int_eq(executions_of(vip_again), 2);
	{
		const char *p[1] = { vip };
		char ctx[256];
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT context->'data'->>'order' FROM flow_executions"
						     " WHERE flow_id = $1", 1, p, ctx, sizeof(ctx)));
		ck_assert_str_eq(ctx, "42");
	}
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"other\",\"email\":\"buyer@example.com\"}",
		   202, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 0);
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"vip\",\"email\":\"nobody@example.com\"}",
		   404, "Contact not found", NULL);
	e2e_expect(token, "POST", "/api/v1/events", "{\"email\":\"buyer@example.com\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"vip\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"vip\",\"email\":\"not-an-address\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/events",
		   "{\"event\":\"vip\",\"email\":\"buyer@example.com\",\"data\":[1]}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/events",
		   "{\"event\":\"a\\nb\",\"email\":\"buyer@example.com\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/events", "[]", 422, NULL, NULL);
	/* a paused flow takes nobody */
	call_flow(token, "POST", vip_again, "/pause", NULL, 200, NULL);
	e2e_expect(token, "POST", "/api/v1/events", "{\"event\":\"vip\",\"email\":\"buyer@example.com\"}",
		   202, NULL, NULL);
	ck_assert_int_eq(executions_of(vip_again), 2);

	/* 64 at once for one contact and a once-only flow: one execution */
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct racer){ &mu, &go, &released, -1, -1 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, event_racer, &racers[i]), 0);
	}
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_broadcast(&go);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(racers[i].status, 202);
		total += racers[i].enrolled;
	}
	ck_assert_int_eq(total, 1);
	ck_assert_int_eq(executions_of(race), 1);
}
END_TEST

/* Editing a paused flow leaves running executions on their version. */
START_TEST(executions_keep_the_version_they_enrolled_in)
{
	char id[40], path[160];
	struct http_answer a;

	e2e_new_tenant("flowver", token, sizeof(token));
	active_flow(token, "signup", NULL, id);
	new_contact(token, "v1@example.com", NULL);
	call_flow(token, "POST", id, "/pause", NULL, 200, NULL);
	call_flow(token, "PATCH", id, NULL,
		  "{\"steps\":[{\"type\":\"delay\",\"delay_minutes\":30},{\"type\":\"email\","
		  "\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
		  200, NULL);
	new_contact(token, "paused@example.com", NULL); /* a paused flow takes nobody */
	flow_path(path, sizeof(path), id, "/activate");
	e2e_expect(token, "POST", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "current_version")), 2);
	http_answer_free(&a);
	new_contact(token, "v2@example.com", NULL);
	{
		const char *p[2] = { id, "v1@example.com" };
		ck_assert_int_eq(e2e_owner_value("SELECT e.flow_version FROM flow_executions e JOIN contacts c"
						 " ON c.id = e.contact_id WHERE e.flow_id = $1 AND c.email = $2",
						 2, p),
				 1);
		p[1] = "v2@example.com";
		ck_assert_int_eq(e2e_owner_value("SELECT e.flow_version FROM flow_executions e JOIN contacts c"
						 " ON c.id = e.contact_id WHERE e.flow_id = $1 AND c.email = $2",
						 2, p),
				 2);
		ck_assert_int_eq(e2e_owner_value("SELECT jsonb_array_length(steps) FROM flow_versions"
						 " WHERE flow_id = $1 AND version = 1", 1, p),
				 3);
	}
	ck_assert_int_eq(executions_for(id, "paused@example.com"), 0);
	/* pausing and re-activating without an edit makes no new version */
	call_flow(token, "POST", id, "/pause", NULL, 200, NULL);
	call_flow(token, "POST", id, "/activate", NULL, 200, NULL);
	flow_path(path, sizeof(path), id, "/versions");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 2);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
				 json_object_array_get_idx(json_object_object_get(a.json, "items"), 0),
				 "version")),
			 2);
	http_answer_free(&a);
}
END_TEST

/* Soft delete stops executions and cancels pending mail; sent mail's records
 * stay with their flow. Stats come from the data. */
START_TEST(deleting_stops_executions_and_stats_come_from_data)
{
	char id[40], path[160];
	struct http_answer a;
	const char *p[1];

	/* The engine would move the executions this test sets up by hand. */
	e2e_pause_worker(1);
	e2e_new_tenant("flowdel", token, sizeof(token));
	active_flow(token, "signup", NULL, id);
	p[0] = id;
	new_contact(token, "d1@example.com", NULL);
	new_contact(token, "d2@example.com", NULL);
	new_contact(token, "d3@example.com", NULL);
	/* as the engine would leave them: one done with a sent email, one waiting
	 * with mail queued */
	e2e_owner_value("WITH d AS (UPDATE flow_executions SET status = 'completed',"
			" completed_at = now() WHERE id = (SELECT id FROM flow_executions"
			" WHERE flow_id = $1 ORDER BY started_at LIMIT 1) RETURNING *)"
			" INSERT INTO email_events (user_id, flow_id, contact_id, event_type)"
			" SELECT user_id, flow_id, contact_id, 'sent' FROM d RETURNING 1",
			1, p);
	e2e_owner_value("WITH w AS (UPDATE flow_executions SET status = 'waiting', current_step = 1"
			" WHERE id = (SELECT id FROM flow_executions WHERE flow_id = $1 AND status = 'active'"
			" ORDER BY started_at LIMIT 1) RETURNING *)"
			" INSERT INTO outbox (user_id, flow_execution_id, step_index, contact_id, to_email)"
			" SELECT w.user_id, w.id, 0, w.contact_id, 'd2@example.com' FROM w RETURNING 1",
			1, p);
	flow_path(path, sizeof(path), id, "/stats");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "enrolled")), 3);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "active")), 2);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "waiting")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "completed")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "emails_sent")), 1);
	http_answer_free(&a);
	flow_path(path, sizeof(path), id, NULL);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
				 json_object_object_get(a.json, "stats"), "emails_sent")),
			 1);
	http_answer_free(&a);
	flow_path(path, sizeof(path), id, "/executions?status=completed");
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);

	call_flow(token, "DELETE", id, NULL, NULL, 204, NULL);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE flow_id = $1"
					 " AND status IN ('active', 'waiting')", 1, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flow_executions WHERE flow_id = $1"
					 " AND status = 'cancelled'", 1, p),
			 2);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox o JOIN flow_executions e"
					 " ON e.id = o.flow_execution_id WHERE e.flow_id = $1"
					 " AND o.status = 'cancelled'", 1, p),
			 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE flow_id = $1", 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM flows WHERE id = $1"
					 " AND deleted_at IS NOT NULL", 1, p),
			 1);
	/* a deleted flow enrolls nobody and is gone from the API */
	new_contact(token, "d4@example.com", NULL);
	ck_assert_int_eq(executions_of(id), 3);
	e2e_expect(token, "GET", "/api/v1/flows", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(the_plans_active_flow_limit_holds)
{
	char ids[3][40];

	e2e_new_tenant("flowlim", token, sizeof(token));
	for (int i = 0; i < 3; i++)
		create_flow(token,
			    "{\"name\":\"l\",\"trigger_type\":\"signup\",\"steps\":[{\"type\":\"email\","
			    "\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
			    ids[i]);
	call_flow(token, "POST", ids[0], "/activate", NULL, 200, NULL);
	call_flow(token, "POST", ids[1], "/activate", NULL, 200, NULL);
	call_flow(token, "POST", ids[2], "/activate", NULL, 400, "Active flow limit reached for your plan");
	/* paused or deleted flows do not count */
	call_flow(token, "POST", ids[1], "/pause", NULL, 200, NULL);
	call_flow(token, "POST", ids[2], "/activate", NULL, 200, NULL);
	call_flow(token, "POST", ids[1], "/activate", NULL, 400, "Active flow limit reached for your plan");
	call_flow(token, "DELETE", ids[0], NULL, NULL, 204, NULL);
	call_flow(token, "POST", ids[1], "/activate", NULL, 200, NULL);
}
END_TEST

static long platform(const char *body, const char *signature, struct http_answer *a)
{
	char header[200];
	const char *headers[] = { header, "Content-Type: application/json", NULL };

	snprintf(header, sizeof(header), "X-Platform-Signature: %s", signature ? signature : "");
	ck_assert_int_eq(http_call("POST", "/api/v1/webhooks/platform-events",
				   signature ? headers : headers + 1, body, strlen(body), a),
			 0);
	return a->status;
}

static void sign(const char *body, char *out, size_t size)
{
	char hex[65];
	hmac_sha256_hex("dev-platform-bridge-secret", 26, body, strlen(body), hex);
	snprintf(out, size, "sha256=%s", hex);
}

/* Signed and answered: the action names and whether a tenant matched. */
static void platform_ok(const char *body, const char *action, int matched)
{
	struct http_answer a;
	char sig[100];
	json_object *actions;

	sign(body, sig, sizeof(sig));
	ck_assert_msg(platform(body, sig, &a) == 200, "%s: %ld %s", body, a.status, a.body);
	ck_assert_str_eq(json_str(a.json, "status"), "ok");
	actions = json_object_object_get(a.json, "actions");
	ck_assert_int_eq(json_object_array_length(actions), action ? 1 : 0);
	if (action)
		ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(actions, 0)), action);
	ck_assert_int_eq(json_object_get_boolean(json_object_object_get(a.json, "matched")), matched);
	http_answer_free(&a);
}

START_TEST(platform_events_are_signed_and_fire_their_flows)
{
	struct http_answer a;
	char sig[100], body[1024], key[256], pid[64], email[128];
	char welcome[40], purchase[40], shipped[40], cart[40], reentry[40];

	/* the original's behaviours */
	platform_ok("{\"event\":\"order.created\",\"data\":{\"email\":\"a@example.com\",\"order_id\":\"1\"}}",
		    "post_purchase_flow_queued", 0);
	platform_ok("{\"event\":\"order.shipped\",\"data\":{\"email\":\"a@example.com\",\"order_id\":\"1\"}}",
		    "shipping_notification_queued", 0);
	platform_ok("{\"event\":\"customer.created\",\"data\":{\"email\":\"a@example.com\"}}",
		    "welcome_flow_queued", 0);
	platform_ok("{\"event\":\"cart.abandoned\",\"data\":{\"email\":\"a@example.com\"}}",
		    "abandoned_cart_flow_queued", 0);
	platform_ok("{\"event\":\"refund.issued\",\"data\":{}}", NULL, 0);
	platform_ok("{}", NULL, 0);
	ck_assert_int_eq(platform("{}", "sha256=00000000000000000000000000000000000000000000000000000000"
					"00000000", &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid platform signature");
	http_answer_free(&a);
	ck_assert_int_eq(platform("{}", NULL, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid platform signature");
	http_answer_free(&a);
	sign("{}", sig, sizeof(sig));
	ck_assert_int_eq(platform("{}", sig + 7, &a), 401); /* without "sha256=" */
	http_answer_free(&a);
	ck_assert_int_eq(platform("{\"event\":\"order.created\"} ", sig, &a), 401); /* altered body */
	http_answer_free(&a);
	sign("{not json", sig, sizeof(sig));
	ck_assert_int_eq(platform("{not json", sig, &a), 400);
	ck_assert_str_eq(http_detail(&a), "Invalid JSON payload");
	http_answer_free(&a);
	sign("[1]", sig, sizeof(sig));
	ck_assert_int_eq(platform("[1]", sig, &a), 400);
	http_answer_free(&a);

	/* a provisioned merchant: its flows fire */
	e2e_unique_email("plat", email, sizeof(email));
	snprintf(pid, sizeof(pid), "shop-%d-%ld", getpid(), random());
	snprintf(body, sizeof(body),
		 "{\"email\":\"%s\",\"external_platform_id\":\"%s\",\"external_store_id\":\"st-%s\"}",
		 email, pid, pid);
	sign(body, sig, sizeof(sig));
	{
		char header[200];
		const char *headers[] = { header, "Content-Type: application/json", NULL };
		snprintf(header, sizeof(header), "X-Platform-Signature: %s", sig);
		ck_assert_int_eq(http_call("POST", "/api/v1/auth/provision", headers, body, strlen(body), &a),
				 0);
		ck_assert_int_eq(a.status, 201);
		snprintf(key, sizeof(key), "%s", json_str(a.json, "api_key"));
		http_answer_free(&a);
	}
	/* the platform's key works on the free plan: two active flows */
	{
		const char *flows[][3] = {
			{ "signup", "{}", welcome },
			{ "purchase", "{\"allow_reentry\":true}", purchase },
		};
		for (size_t i = 0; i < 2; i++) {
			snprintf(body, sizeof(body),
				 "{\"name\":\"p\",\"trigger_type\":\"%s\",\"trigger_config\":%s,\"steps\":"
				 "[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
				 flows[i][0], flows[i][1]);
			ck_assert_int_eq(http_key("POST", "/api/v1/flows", key, body, &a), 0);
			ck_assert_int_eq(a.status, 201);
			snprintf((char *)flows[i][2], 40, "%s", json_str(a.json, "id"));
			http_answer_free(&a);
			snprintf(body, sizeof(body), "/api/v1/flows/%s/activate", flows[i][2]);
			ck_assert_int_eq(http_key("POST", body, key, NULL, &a), 0);
			ck_assert_int_eq(a.status, 200);
			http_answer_free(&a);
		}
	}
	/* customer.created upserts the contact and fires signup flows */
	snprintf(body, sizeof(body),
		 "{\"event\":\"customer.created\",\"user_id\":\"%s\",\"data\":{\"email\":\"Cust@Example.com\","
		 "\"first_name\":\"Ada\",\"tags\":[\"shop\"]}}",
		 pid);
	platform_ok(body, "welcome_flow_queued", 1);
	ck_assert_int_eq(executions_for(welcome, "cust@example.com"), 1);
	platform_ok(body, "welcome_flow_queued", 1); /* again: updated, not created */
	ck_assert_int_eq(executions_for(welcome, "cust@example.com"), 1);
	{
		const char *p[1] = { "cust@example.com" };
		char name[64];
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT first_name || ':' || array_to_string(tags, ',')"
						     " FROM contacts WHERE email = $1", 1, p, name,
						     sizeof(name)));
		ck_assert_str_eq(name, "Ada:shop");
	}
	/* order.created fires purchase flows; the same order twice counts once */
	snprintf(body, sizeof(body),
		 "{\"event\":\"order.created\",\"data\":{\"user_id\":\"%s\",\"email\":\"cust@example.com\","
		 "\"order_id\":\"A-1\",\"total_cents\":4200}}",
		 pid);
	platform_ok(body, "post_purchase_flow_queued", 1);
	platform_ok(body, "post_purchase_flow_queued", 1);
	ck_assert_int_eq(executions_of(purchase), 1);
	snprintf(body, sizeof(body),
		 "{\"event\":\"order.created\",\"store_id\":\"st-%s\",\"data\":{\"email\":\"cust@example.com\","
		 "\"order_id\":\"A-2\"}}",
		 pid);
	platform_ok(body, "post_purchase_flow_queued", 1);
	ck_assert_int_eq(executions_of(purchase), 2);
	/* unknown tenant: answered, nothing done */
	platform_ok("{\"event\":\"order.created\",\"user_id\":\"nobody-here\",\"data\":{\"email\":"
		    "\"cust@example.com\",\"order_id\":\"A-3\"}}",
		    "post_purchase_flow_queued", 0);
	ck_assert_int_eq(executions_of(purchase), 2);

	/* order.shipped fires custom "order.shipped"; cart.abandoned abandoned_cart:
	 * on pro, for room */
	{
		const char *p[1] = { pid };
		e2e_owner_value("UPDATE users SET plan = 'pro' WHERE external_platform_id = $1 RETURNING 1", 1,
				p);
	}
	{
		const char *flows[][3] = {
			{ "custom", "{\"event\":\"order.shipped\"}", shipped },
			{ "abandoned_cart", "{}", cart },
			{ "custom", "{\"event\":\"order.created\"}", reentry },
		};
		for (size_t i = 0; i < 3; i++) {
			snprintf(body, sizeof(body),
				 "{\"name\":\"p\",\"trigger_type\":\"%s\",\"trigger_config\":%s,\"steps\":"
				 "[{\"type\":\"email\",\"template_id\":\"" WELCOME_TEMPLATE "\"}]}",
				 flows[i][0], flows[i][1]);
			ck_assert_int_eq(http_key("POST", "/api/v1/flows", key, body, &a), 0);
			ck_assert_int_eq(a.status, 201);
			snprintf((char *)flows[i][2], 40, "%s", json_str(a.json, "id"));
			http_answer_free(&a);
			snprintf(body, sizeof(body), "/api/v1/flows/%s/activate", flows[i][2]);
			ck_assert_int_eq(http_key("POST", body, key, NULL, &a), 0);
			ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
			http_answer_free(&a);
		}
	}
	snprintf(body, sizeof(body),
		 "{\"event\":\"order.shipped\",\"user_id\":\"%s\",\"data\":{\"email\":\"cust@example.com\","
		 "\"order_id\":\"A-1\",\"tracking_url\":\"https://t.example/1\"}}",
		 pid);
	platform_ok(body, "shipping_notification_queued", 1);
	ck_assert_int_eq(executions_of(shipped), 1);
	ck_assert_int_eq(executions_of(reentry), 0); /* custom flows match their own event only */
	snprintf(body, sizeof(body),
		 "{\"event\":\"cart.abandoned\",\"data\":{\"store_id\":\"st-%s\",\"email\":\"cust@example.com\","
		 "\"cart_url\":\"https://shop.example/cart\"}}",
		 pid);
	platform_ok(body, "abandoned_cart_flow_queued", 1);
	ck_assert_int_eq(executions_of(cart), 1);
	/* an order for an address that is not a contact enrolls nobody */
	snprintf(body, sizeof(body),
		 "{\"event\":\"cart.abandoned\",\"user_id\":\"%s\",\"data\":{\"email\":\"stranger@example.com\"}}",
		 pid);
	platform_ok(body, "abandoned_cart_flow_queued", 1);
	ck_assert_int_eq(executions_of(cart), 1);
	/* hostile values: answered, never a 500 */
	snprintf(body, sizeof(body),
		 "{\"event\":\"customer.created\",\"user_id\":\"%s\",\"data\":{\"email\":\"x\\u0000y@example.com\","
		 "\"first_name\":[1],\"tags\":[\"a;b\",7,\"ok\"]}}",
		 pid);
	platform_ok(body, "welcome_flow_queued", 1);
	platform_ok("{\"event\":7,\"user_id\":{},\"data\":\"x\"}", NULL, 0);
}
END_TEST

/* Two tenants, each with an active purchase flow (re-entry allowed) and the
 * contact buyer@example.com; the first has platform id pid and store id sid
 * (NULL: none). */
struct buyer_tenants {
	char a_tok[4096], b_tok[4096], a_id[40], b_id[40], flow_a[40], flow_b[40];
};

static void buyer_tenants(struct buyer_tenants *t, const char *name_a, const char *name_b,
			  const char *pid, const char *sid)
{
	const char *p[3] = { NULL, pid, sid };

	e2e_new_tenant(name_a, t->a_tok, sizeof(t->a_tok));
	e2e_new_tenant(name_b, t->b_tok, sizeof(t->b_tok));
	e2e_user_id(t->a_tok, t->a_id);
	e2e_user_id(t->b_tok, t->b_id);
	p[0] = t->a_id;
	e2e_owner_value("UPDATE users SET external_platform_id = $2, external_store_id = $3"
			" WHERE id = $1 RETURNING 1", 3, p);
	active_flow(t->a_tok, "purchase", "{\"allow_reentry\":true}", t->flow_a);
	active_flow(t->b_tok, "purchase", "{\"allow_reentry\":true}", t->flow_b);
	new_contact(t->a_tok, "buyer@example.com", NULL);
	new_contact(t->b_tok, "buyer@example.com", NULL);
}

/* Platform events find their tenant in each worker's principal cache; a
 * user whose platform or store id changes, who is deactivated, or a new
 * user who takes an event's platform id, is seen by the next event (the
 * users' NOTIFY, schema 0079), whichever worker serves it. */
START_TEST(platform_tenants_follow_their_ids_at_once)
{
	struct buyer_tenants t;
	char pid[80], sid[80], pid2[80], body[512];
	const char *a_id = t.a_id, *b_id = t.b_id, *flow_a = t.flow_a, *flow_b = t.flow_b, *p[3];

	snprintf(pid, sizeof(pid), "cache-%d-%ld", getpid(), random());
	snprintf(sid, sizeof(sid), "cache-st-%d-%ld", getpid(), random());
	snprintf(pid2, sizeof(pid2), "cache-2-%d-%ld", getpid(), random());
	buyer_tenants(&t, "plat-a", "plat-b", pid, sid);
#define ORDER(uid, n)                                                                              \
	snprintf(body, sizeof(body),                                                               \
		 "{\"event\":\"order.created\",\"user_id\":\"%s\",\"store_id\":\"%s\","           \
		 "\"data\":{\"email\":\"buyer@example.com\",\"order_id\":\"O-%d\"}}",                \
		 uid, sid, n)
	/* every worker learns the tenant (more events than workers) */
	for (int i = 0; i < 12; i++) {
		ORDER(pid, i);
		platform_ok(body, "post_purchase_flow_queued", 1);
	}
	ck_assert_int_eq(executions_of(flow_a), 12);
	/* another user takes the event's platform id: it outranks the store id match */
	p[0] = b_id;
	p[1] = pid2;
	e2e_owner_value("UPDATE users SET external_platform_id = $2 WHERE id = $1 RETURNING 1", 2, p);
	for (int i = 100; i < 112; i++) {
		ORDER(pid2, i);
		platform_ok(body, "post_purchase_flow_queued", 1);
	}
	ck_assert_int_eq(executions_of(flow_b), 12);
	ck_assert_int_eq(executions_of(flow_a), 12);
	/* the platform id moves away: events for it now match by store id only */
	e2e_owner_value("UPDATE users SET external_platform_id = NULL WHERE id = $1 RETURNING 1", 1, p);
	for (int i = 200; i < 212; i++) {
		ORDER(pid2, i);
		platform_ok(body, "post_purchase_flow_queued", 1);
	}
	ck_assert_int_eq(executions_of(flow_b), 12);
	ck_assert_int_eq(executions_of(flow_a), 24);
	/* a deactivated tenant matches nothing at once */
	p[0] = a_id;
	e2e_owner_value("UPDATE users SET is_active = false WHERE id = $1 RETURNING 1", 1, p);
	for (int i = 300; i < 312; i++) {
		ORDER(pid, i);
		platform_ok(body, "post_purchase_flow_queued", 0);
	}
	ck_assert_int_eq(executions_of(flow_a), 24);
#undef ORDER
}
END_TEST

/* n order.created events for platform id pid, order ids S-first onwards,
 * each matched. */
static void platform_orders(const char *pid, int first, int n)
{
	char body[512];

	for (int i = first; i < first + n; i++) {
		snprintf(body, sizeof(body),
			 "{\"event\":\"order.created\",\"user_id\":\"%s\","
			 "\"data\":{\"email\":\"buyer@example.com\",\"order_id\":\"S-%d\"}}",
			 pid, i);
		platform_ok(body, "post_purchase_flow_queued", 1);
	}
}

/* A user's platform id can move before a worker hears the users' NOTIFY;
 * the event's own transaction checks the cached tenant (schema 0096). The
 * move is made here with the notifying trigger off, so no worker hears it:
 * every event must still reach the id's new tenant, a customer.created
 * included, and none the old one. */
START_TEST(cached_platform_tenants_are_checked_in_the_event)
{
	struct buyer_tenants t;
	char pid[80], body[512], sql[512];
	const char *a_id = t.a_id, *b_id = t.b_id, *flow_a = t.flow_a, *flow_b = t.flow_b, *p[1];

	snprintf(pid, sizeof(pid), "silent-%d-%ld", getpid(), random());
	buyer_tenants(&t, "plat-c", "plat-d", pid, NULL);
	/* every worker caches the tenant (more events than workers) */
	platform_orders(pid, 0, 12);
	ck_assert_int_eq(executions_of(flow_a), 12);
	/* the ids are test-made (digits and letters): safe inside the block */
	snprintf(sql, sizeof(sql),
		 "DO $$ BEGIN ALTER TABLE users DISABLE TRIGGER users_auth_changed;"
		 " UPDATE users SET external_platform_id = NULL WHERE id = '%s';"
		 " UPDATE users SET external_platform_id = '%s' WHERE id = '%s';"
		 " ALTER TABLE users ENABLE TRIGGER users_auth_changed; END $$",
		 a_id, pid, b_id);
	e2e_owner_value(sql, 0, NULL);
	platform_orders(pid, 100, 12);
	ck_assert_int_eq(executions_of(flow_b), 12);
	ck_assert_int_eq(executions_of(flow_a), 12);
	snprintf(body, sizeof(body),
		 "{\"event\":\"customer.created\",\"user_id\":\"%s\",\"data\":{\"email\":\"new@example.com\"}}",
		 pid);
	platform_ok(body, "welcome_flow_queued", 1);
	p[0] = b_id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1"
					 " AND email = 'new@example.com'", 1, p), 1);
	p[0] = a_id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1"
					 " AND email = 'new@example.com'", 1, p), 0);
}
END_TEST

/* Enrollment runs on every event, platform event and signup: its INSERT must
 * keep one plan per connection (schema 0051). A CREATE OR REPLACE of the
 * function drops the setting unless the new definition repeats it. */
START_TEST(enrollment_plans_its_statement_once_per_connection)
{
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM pg_proc WHERE proname = 'flowsend_flow_enroll'"
					 " AND 'plan_cache_mode=force_generic_plan' = ANY (proconfig)",
					 0, NULL),
			 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM pg_proc WHERE proname = 'flowsend_flow_enroll'",
					 0, NULL),
			 1);
}
END_TEST

Suite *flows_suite(void)
{
	Suite *s = suite_create("flows");
	TCase *tc = tcase_create("flows");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, the_originals_flow_behaviours_hold);
	tcase_add_test(tc, every_validation_error_names_its_step);
	tcase_add_test(tc, every_route_needs_auth_and_scope);
	tcase_add_test(tc, tenants_never_see_each_others_flows);
	tcase_add_test(tc, signup_flows_enroll_every_new_contact_once);
	tcase_add_test(tc, custom_events_enroll_once_unless_reentry_even_racing);
	tcase_add_test(tc, executions_keep_the_version_they_enrolled_in);
	tcase_add_test(tc, deleting_stops_executions_and_stats_come_from_data);
	tcase_add_test(tc, the_plans_active_flow_limit_holds);
	tcase_add_test(tc, platform_events_are_signed_and_fire_their_flows);
	tcase_add_test(tc, enrollment_plans_its_statement_once_per_connection);
	tcase_add_test(tc, platform_tenants_follow_their_ids_at_once);
	tcase_add_test(tc, cached_platform_tenants_are_checked_in_the_event);
	suite_add_tcase(s, tc);
	return s;
}
