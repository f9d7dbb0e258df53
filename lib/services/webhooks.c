/* Outbound webhooks: endpoints and secret as the tenant (row-level
 * security), delivery as the worker's system role, one round trip a call to
 * record the attempt, the event's state and the endpoint's health. */
#include "services/webhooks.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "core/uuid.h"
#include "db/db.h"
#include "json/json.h"
#include "net/outbound.h"

const char *const webhook_event_types[WEBHOOK_EVENT_TYPES_N] = {
	"contact.created", "contact.unsubscribed", "email.bounced", "email.complained",
	"email.opened",    "email.clicked",        "campaign.sent",
};

int webhook_event_type_valid(const char *name)
{
	for (int i = 0; name && i < WEBHOOK_EVENT_TYPES_N; i++)
		if (strcmp(name, webhook_event_types[i]) == 0)
			return 1;
	return 0;
}

/* The process's policy, read once from the environment. */
static const struct net_policy *policy(void)
{
	static struct net_policy p;
	static int loaded;

	if (!loaded) {
		char err[200];
		if (net_policy_load(&p, err, sizeof(err)) < 0) {
			/* A broken allow-list allows nothing extra. */
			log_warn("%s; ignoring it", err);
			p.allow.n = 0;
		}
		loaded = 1;
	}
	return &p;
}

/* ---- endpoints ----------------------------------------------------------- */

#define ENDPOINT_COLUMNS                                                                           \
	"id, url, array_to_json(events)::text AS events, description, is_active, disabled_reason,"  \
	" created_at"

static json_object *endpoint_json(struct fs_env *env, const PGresult *r, int row)
{
	json_object *o = json_object_new_object();
	json_object *ev = json_tokener_parse(db_get(r, row, "events"));

	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "url", json_object_new_string(db_get(r, row, "url")));
	json_object_object_add(o, "events", ev ? ev : json_object_new_array());
	json_object_object_add(o, "description", fs_json_str_or_null(db_get(r, row, "description")));
	json_object_object_add(o, "is_active", json_object_new_boolean(db_get_bool(r, row, "is_active")));
	json_object_object_add(o, "disabled_reason",
			       fs_json_str_or_null(db_get(r, row, "disabled_reason")));
	json_object_object_add(o, "created_at",
			       fs_json_str_or_null(db_iso_time(env->arena, db_get(r, row, "created_at"))));
	return o;
}

static json_object *attempt_json(struct fs_env *env, const PGresult *r, int i, int flow);

/* events as a PostgreSQL array literal; the names come from the allow-list. */
static const char *events_array(struct arena *a, const char *const *events, int n)
{
	struct strbuf sb = STRBUF_INIT;
	char *out;

	strbuf_appendc(&sb, '{');
	for (int i = 0; i < n; i++) {
		if (i)
			strbuf_appendc(&sb, ',');
		strbuf_appends(&sb, events[i]);
	}
	strbuf_appendc(&sb, '}');
	out = sb.oom ? NULL : arena_strdup(a, strbuf_cstr(&sb));
	strbuf_free(&sb);
	return out;
}

static enum fs_status url_ok(const char *url, struct fs_error *err)
{
	const char *why = NULL;

	if (!url || net_url_check(policy(), url, strlen(url), &why) < 0)
		return fs_fail(err, FS_INVALID, "%s", why ? why : "Enter a URL");
	return FS_OK;
}

#define ENDPOINTS_PER_ACCOUNT 20

enum fs_status webhook_endpoint_create(struct fs_env *env, const struct webhook_endpoint_input *in,
				       json_object **out, struct fs_error *err)
{
	const char *events;
	PGresult *r;
	enum fs_status st = url_ok(in->url, err);

	if (st != FS_OK)
		return st;
	if (in->nevents < 1 || !(events = events_array(env->arena, in->events, in->nevents)))
		return fs_fail(err, FS_INVALID, "Choose at least one event type");
	{
		const char *p[4] = { env->user_id, in->url, events, in->description };
		r = db_tenant_query(env->db, env->arena, env->user_id,
				    "INSERT INTO webhook_endpoints (user_id, url, events, description)"
				    " SELECT $1, $2, $3::text[], $4"
				    " WHERE (SELECT count(*) FROM webhook_endpoints) < 20"
				    " RETURNING " ENDPOINT_COLUMNS,
				    4, p);
	}
	if (!r)
		return fs_fail(err, FS_ERROR, "storing the webhook endpoint failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_BAD_REQUEST,
			       "An account can have at most %d webhook endpoints; delete one first",
			       ENDPOINTS_PER_ACCOUNT);
	*out = endpoint_json(env, r, 0);
	return FS_OK;
}

enum fs_status webhook_endpoint_list(struct fs_env *env, const struct fs_page *page,
				     json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[2] = { limit, offset };
	PGresult *r;
	json_object *items;
	int64_t total = 0;

	fs_page_limits(page, limit, offset);
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT " ENDPOINT_COLUMNS ", count(*) OVER () AS total"
			    " FROM webhook_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2",
			    2, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "listing webhook endpoints failed");
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_object_array_add(items, endpoint_json(env, r, i));
		total = db_get_ll(r, i, "total", 0);
	}
	if (PQntuples(r) == 0 && page->offset > 0) {
		r = db_tenant_query(env->db, env->arena, env->user_id,
				    "SELECT count(*) AS n FROM webhook_endpoints", 0, NULL);
		total = r ? db_get_ll(r, 0, "n", 0) : 0;
	}
	*out = fs_page_json(page, items, total);
	return FS_OK;
}

static int id_ok(const char *id)
{
	return id && uuid_valid(id, strlen(id));
}

enum fs_status webhook_endpoint_get(struct fs_env *env, const char *id, json_object **out,
				    struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;

	if (!id_ok(id))
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints WHERE id = $1", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the webhook endpoint failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	*out = endpoint_json(env, r, 0);
	return FS_OK;
}

enum fs_status webhook_endpoint_update(struct fs_env *env, const char *id,
				       const struct webhook_endpoint_input *in, json_object **out,
				       struct fs_error *err)
{
	const char *events = NULL;
	PGresult *r;

	if (!id_ok(id))
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	if (in->set_url) {
		enum fs_status st = url_ok(in->url, err);
		if (st != FS_OK)
			return st;
	}
	if (in->set_events &&
	    (in->nevents < 1 || !(events = events_array(env->arena, in->events, in->nevents))))
		return fs_fail(err, FS_INVALID, "Choose at least one event type");
	{
		const char *p[8] = { id,
				     in->set_url ? "1" : "0",
				     in->url,
				     in->set_events ? "1" : "0",
				     events,
				     in->set_description ? "1" : "0",
				     in->description,
				     in->set_active ? (in->is_active ? "t" : "f") : NULL };
		r = db_tenant_query(
			env->db, env->arena, env->user_id,
			"UPDATE webhook_endpoints SET"
			" url = CASE WHEN $2 = '1' THEN $3 ELSE url END,"
			" events = CASE WHEN $4 = '1' THEN $5::text[] ELSE events END,"
			" description = CASE WHEN $6 = '1' THEN $7 ELSE description END,"
			" is_active = COALESCE($8::boolean, is_active),"
			" disabled_reason = CASE WHEN $8::boolean THEN NULL"
			"   WHEN $8::boolean = false AND is_active THEN NULL ELSE disabled_reason END,"
			" failing_since = CASE WHEN $8::boolean THEN NULL ELSE failing_since END,"
			" updated_at = flowsend_now()"
			" WHERE id = $1 RETURNING " ENDPOINT_COLUMNS,
			8, p);
	}
	if (!r)
		return fs_fail(err, FS_ERROR, "changing the webhook endpoint failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	*out = endpoint_json(env, r, 0);
	return FS_OK;
}

enum fs_status webhook_endpoint_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;

	if (!id_ok(id))
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "deleting the webhook endpoint failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	return FS_OK;
}

enum fs_status webhook_endpoint_deliveries(struct fs_env *env, const char *id,
					   const struct fs_page *page, json_object **out,
					   struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { id, limit, offset };
	PGresult *r;
	json_object *items;
	int64_t total = 0;

	if (!id_ok(id))
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	fs_page_limits(page, limit, offset);
	r = db_tenant_query(
		env->db, env->arena, env->user_id,
		"SELECT e.id AS endpoint, a.id, a.event_id, a.event_type, a.attempt, a.status_code,"
		" a.error, a.duration_ms, a.created_at,"
		" (SELECT count(*) FROM webhook_attempts c WHERE c.endpoint_id = e.id) AS total"
		" FROM webhook_endpoints e"
		" LEFT JOIN LATERAL (SELECT * FROM webhook_attempts x WHERE x.endpoint_id = e.id"
		"   ORDER BY x.created_at DESC, x.attempt DESC, x.id LIMIT $2 OFFSET $3) a ON true"
		" WHERE e.id = $1",
		3, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading webhook deliveries failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Webhook endpoint not found");
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++) {
		total = db_get_ll(r, i, "total", 0);
		if (db_get(r, i, "id"))
			json_object_array_add(items, attempt_json(env, r, i, 0));
	}
	*out = fs_page_json(page, items, total);
	return FS_OK;
}

static json_object *attempt_json(struct fs_env *env, const PGresult *r, int i, int flow)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(db_get(r, i, "id")));
	json_object_object_add(o, "event_id", json_object_new_string(db_get(r, i, "event_id")));
	if (flow) {
		json_object_object_add(o, "flow_id", fs_json_str_or_null(db_get(r, i, "flow_id")));
		json_object_object_add(o, "execution_id",
				       fs_json_str_or_null(db_get(r, i, "execution_id")));
		json_object_object_add(o, "step", json_object_new_int64(db_get_ll(r, i, "step", 0)));
	}
	json_object_object_add(o, "event_type", json_object_new_string(db_get(r, i, "event_type")));
	json_object_object_add(o, "attempt", json_object_new_int64(db_get_ll(r, i, "attempt", 0)));
	json_object_object_add(o, "status_code",
			       db_get(r, i, "status_code")
				       ? json_object_new_int64(db_get_ll(r, i, "status_code", 0))
				       : NULL);
	json_object_object_add(o, "error", fs_json_str_or_null(db_get(r, i, "error")));
	json_object_object_add(o, "duration_ms",
			       json_object_new_int64(db_get_ll(r, i, "duration_ms", 0)));
	json_object_object_add(o, "created_at",
			       fs_json_str_or_null(db_iso_time(env->arena, db_get(r, i, "created_at"))));
	return o;
}

enum fs_status webhook_flow_call_attempts(struct fs_env *env, const char *execution_id,
					  const struct fs_page *page, json_object **out,
					  struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { limit, offset, execution_id };
	PGresult *r;
	json_object *items;
	int64_t total = 0;

	if (execution_id && !id_ok(execution_id)) {
		*out = fs_page_json(page, json_object_new_array(), 0);
		return FS_OK;
	}
	fs_page_limits(page, limit, offset);
	r = db_tenant_query(
		env->db, env->arena, env->user_id,
		"SELECT a.id, a.event_id, a.event_type, a.attempt, a.status_code, a.error,"
		" a.duration_ms, a.created_at, w.flow_id, w.execution_id, w.step,"
		" count(*) OVER () AS total"
		" FROM webhook_attempts a JOIN webhook_events w ON w.id = a.event_id"
		" WHERE a.endpoint_id IS NULL AND ($3::uuid IS NULL OR w.execution_id = $3::uuid)"
		" ORDER BY a.created_at DESC, a.attempt DESC, a.id LIMIT $1 OFFSET $2",
		3, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading webhook calls failed");
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++) {
		total = db_get_ll(r, i, "total", 0);
		json_object_array_add(items, attempt_json(env, r, i, 1));
	}
	*out = fs_page_json(page, items, total);
	return FS_OK;
}

/* ---- secret -------------------------------------------------------------- */

static json_object *secret_json(struct fs_env *env, const PGresult *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "webhook_secret",
			       json_object_new_string(db_get(r, 0, "webhook_secret")));
	json_object_object_add(o, "previous_secret_expires_at",
			       fs_json_str_or_null(db_iso_time(env->arena, db_get(r, 0, "until"))));
	return o;
}

enum fs_status webhook_secret_get(struct fs_env *env, json_object **out, struct fs_error *err)
{
	const char *p[1] = { env->user_id };
	PGresult *r = db_tenant_query(
		env->db, env->arena, env->user_id,
		"SELECT webhook_secret, CASE WHEN webhook_secret_previous_until > flowsend_now()"
		" THEN webhook_secret_previous_until END AS until FROM users WHERE id = $1",
		1, p);

	if (!r)
		return fs_fail(err, FS_ERROR, "reading the webhook secret failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "User not found");
	*out = secret_json(env, r);
	return FS_OK;
}

enum fs_status webhook_secret_rotate(struct fs_env *env, json_object **out, struct fs_error *err)
{
	unsigned char rnd[32];
	char secret[65];
	const char *p[2] = { env->user_id, secret };
	PGresult *r;

	if (random_bytes(rnd, sizeof(rnd)) < 0)
		return fs_fail(err, FS_ERROR, "generating a webhook secret failed");
	hex_encode(rnd, sizeof(rnd), secret);
	secret[64] = '\0';
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "UPDATE users SET webhook_secret_previous = webhook_secret,"
			    " webhook_secret_previous_until = flowsend_now() + interval '24 hours',"
			    " webhook_secret = $2, updated_at = flowsend_now() WHERE id = $1"
			    " RETURNING webhook_secret, webhook_secret_previous_until AS until",
			    2, p);
	sodium_memzero(rnd, sizeof(rnd));
	if (!r)
		return fs_fail(err, FS_ERROR, "rotating the webhook secret failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "User not found");
	*out = secret_json(env, r);
	return FS_OK;
}

/* ---- the flow webhook step ----------------------------------------------- */

enum fs_status webhook_flow_call_enqueue(struct fs_db *db, struct arena *a, const char *user_id,
					 const char *flow_id, const char *execution_id, int step,
					 int visit, const char *url, const char *contact_json,
					 const char *trigger_json, char id_out[37],
					 struct fs_error *err)
{
	char stepbuf[16], visitbuf[16];
	PGresult *r;
	enum fs_status st = url_ok(url, err);

	id_out[0] = '\0';
	if (st != FS_OK)
		return st;
	snprintf(stepbuf, sizeof(stepbuf), "%d", step);
	snprintf(visitbuf, sizeof(visitbuf), "%d", visit);
	{
		const char *p[8] = { user_id, url, flow_id, execution_id, stepbuf, contact_json,
				     trigger_json, visitbuf };
		/* jsonb_build_object keeps the keys' order unimportant to receivers;
		 * the sender adds event, id and timestamp around it. */
		r = db_query(db, a,
			     "WITH ins AS (INSERT INTO webhook_events (user_id, url, flow_id,"
			     " execution_id, step, visit, event_type, data)"
			     " VALUES ($1, $2, $3, $4, $5::int, $8::int, 'flow.webhook',"
			     "  jsonb_build_object('flow_id', $3::uuid, 'execution_id', $4::uuid,"
			     "  'step', $5::int, 'contact', $6::jsonb, 'trigger', $7::jsonb))"
			     " ON CONFLICT (execution_id, step, visit) WHERE execution_id IS NOT NULL"
			     " DO NOTHING RETURNING id)"
			     " SELECT id FROM ins UNION ALL"
			     " SELECT id FROM webhook_events WHERE execution_id = $4 AND step = $5::int"
			     " AND visit = $8::int",
			     8, p);
	}
	if (!r || PQntuples(r) < 1)
		return fs_fail(err, FS_ERROR, "queueing the webhook call failed");
	snprintf(id_out, 37, "%s", db_get(r, 0, "id"));
	return FS_OK;
}

enum webhook_call_state webhook_flow_call_state(struct fs_db *db, struct arena *a,
						const char *execution_id, int step, int visit,
						const char **error)
{
	char stepbuf[16], visitbuf[16];
	const char *p[3] = { execution_id, stepbuf, visitbuf };
	const char *s;
	PGresult *r;

	*error = NULL;
	snprintf(stepbuf, sizeof(stepbuf), "%d", step);
	snprintf(visitbuf, sizeof(visitbuf), "%d", visit);
	if (!execution_id || !uuid_valid(execution_id, strlen(execution_id)))
		return WEBHOOK_CALL_NONE;
	r = db_query(db, a,
		     "SELECT status, last_error FROM webhook_events"
		     " WHERE execution_id = $1 AND step = $2::int AND visit = $3::int",
		     3, p);
	if (!r)
		return WEBHOOK_CALL_ERROR;
	if (PQntuples(r) == 0)
		return WEBHOOK_CALL_NONE;
	s = db_get(r, 0, "status");
	*error = db_get(r, 0, "last_error");
	if (strcmp(s, "delivered") == 0)
		return WEBHOOK_CALL_DELIVERED;
	if (strcmp(s, "failed") == 0)
		return WEBHOOK_CALL_FAILED;
	return WEBHOOK_CALL_PENDING;
}

/* ---- delivery ------------------------------------------------------------ */

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	return *end || v < min || v > max ? def : v;
}

/* Tries of one call, and the first retry's delay (doubling, at most 6 hours). */
static long max_attempts(void)
{
	return env_long("FLOWSEND_WEBHOOK_MAX_ATTEMPTS", 8, 1, 50);
}

static long retry_delay_ms(long attempt)
{
	long base = env_long("FLOWSEND_WEBHOOK_RETRY_BASE_MS", 60000, 0, 3600000);
	double d = (double)base;

	for (long i = 1; i < attempt && d < 6.0 * 3600 * 1000; i++)
		d *= 2;
	return d > 6.0 * 3600 * 1000 ? 6L * 3600 * 1000 : (long)d;
}

static CURL *handle(void)
{
	static CURL *h;

	if (!h) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		h = curl_easy_init();
	}
	return h;
}

/* What one row of a claim needs to be sent. */
struct call {
	const char *id, *user_id, *endpoint_id, *url, *type, *data, *secret, *previous;
	long attempt;
};

static void build_body(const struct call *c, struct strbuf *body)
{
	char ts[40];

	time_now_iso(ts, sizeof(ts));
	if (!c->endpoint_id) {
		/* The flow step: {event, id, timestamp, flow_id, execution_id, step,
		 * contact, trigger}. */
		size_t dl = strlen(c->data);
		strbuf_appends(body, "{\"event\":\"flow.webhook\",\"id\":\"");
		strbuf_appends(body, c->id);
		strbuf_appends(body, "\",\"timestamp\":\"");
		strbuf_appends(body, ts);
		strbuf_appendc(body, '"');
		if (dl > 2) {
			strbuf_appendc(body, ',');
			strbuf_append(body, c->data + 1, dl - 1);
		} else {
			strbuf_appendc(body, '}');
		}
		return;
	}
	strbuf_appends(body, "{\"id\":\"");
	strbuf_appends(body, c->id);
	strbuf_appends(body, "\",\"type\":\"");
	strbuf_appends(body, c->type);
	strbuf_appends(body, "\",\"timestamp\":\"");
	strbuf_appends(body, ts);
	strbuf_appends(body, "\",\"data\":");
	strbuf_appends(body, c->data);
	strbuf_appendc(body, '}');
}

/* Send one call: its outcome into *res. */
static int send_call(const struct call *c, struct net_result *res)
{
	struct strbuf body = STRBUF_INIT;
	char sig[2 * (7 + SHA256_HEX_LEN) + 40], hex[SHA256_HEX_LEN + 1], idh[80], typeh[80];
	const char *headers[4] = { sig, idh, typeh, NULL };

	build_body(c, &body);
	if (body.oom) {
		strbuf_free(&body);
		return -1;
	}
	hmac_sha256_hex(c->secret, strlen(c->secret), body.buf, body.len, hex);
	snprintf(sig, sizeof(sig), "X-FlowSend-Signature: sha256=%s", hex);
	if (c->previous && *c->previous) {
		size_t n = strlen(sig);
		hmac_sha256_hex(c->previous, strlen(c->previous), body.buf, body.len, hex);
		snprintf(sig + n, sizeof(sig) - n, ",sha256=%s", hex);
	}
	snprintf(idh, sizeof(idh), "X-FlowSend-Event-Id: %s", c->id);
	snprintf(typeh, sizeof(typeh), "X-FlowSend-Event: %s", c->type);
	net_post(handle(), policy(), c->url, headers, body.buf, body.len, res);
	strbuf_free(&body);
	return 0;
}

/* Outcomes waiting to be recorded, as PostgreSQL array literals. */
struct outcomes {
	struct strbuf ids, attempts, codes, errors, ms, states, delays;
	int n;
	const char *last_state, *last_error;
};

static void array_add(struct strbuf *sb, const char *v)
{
	strbuf_appendc(sb, sb->len ? ',' : '{');
	if (!v) {
		strbuf_appends(sb, "NULL");
		return;
	}
	strbuf_appendc(sb, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			strbuf_appendc(sb, '\\');
		strbuf_appendc(sb, *v);
	}
	strbuf_appendc(sb, '"');
}

static const char *array_done(struct strbuf *sb)
{
	if (!sb->len)
		strbuf_appendc(sb, '{');
	strbuf_appendc(sb, '}');
	return strbuf_cstr(sb);
}

static void outcomes_reset(struct outcomes *o)
{
	struct strbuf *all[] = { &o->ids, &o->attempts, &o->codes, &o->errors,
				 &o->ms, &o->states, &o->delays };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_reset(all[i]);
	o->n = 0;
}

static void outcomes_free(struct outcomes *o)
{
	struct strbuf *all[] = { &o->ids, &o->attempts, &o->codes, &o->errors,
				 &o->ms, &o->states, &o->delays };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_free(all[i]);
}

/* The state a call's outcome leaves it in. */
static const char *state_of(const struct call *c, const struct net_result *res,
			    struct webhook_pass_stats *st)
{
	if (res->outcome == NET_DELIVERED) {
		st->delivered++;
		return "delivered";
	}
	if (res->outcome == NET_RETRY && c->attempt < max_attempts()) {
		st->retried++;
		return "pending";
	}
	st->failed++;
	return "failed";
}

static void outcomes_add(struct outcomes *o, const struct call *c, const struct net_result *res,
			 const char *state)
{
	char attempt[24], code[24], ms[24], delay[24];

	snprintf(attempt, sizeof(attempt), "%ld", c->attempt);
	snprintf(code, sizeof(code), "%ld", res->status);
	snprintf(ms, sizeof(ms), "%ld", res->duration_ms);
	snprintf(delay, sizeof(delay), "%ld", retry_delay_ms(c->attempt));
	array_add(&o->ids, c->id);
	array_add(&o->attempts, attempt);
	array_add(&o->codes, res->status > 0 ? code : NULL);
	array_add(&o->errors, res->error[0] ? res->error : NULL);
	array_add(&o->ms, ms);
	array_add(&o->states, state);
	array_add(&o->delays, delay);
	o->last_state = state;
	o->last_error = res->error[0] ? res->error : NULL;
	o->n++;
}

/* Record the outcomes in one transaction: the attempts, the calls' states,
 * the flow executions to wake and the endpoint's health (judged by the last
 * outcome). Its commit need not wait for the disk: a crash loses at most
 * the last records, and the calls they record are sent again, which at
 * least once allows (receivers de-duplicate on the id). 0, 1 when the
 * endpoint was switched off, -1 when recording failed. */
static int outcomes_record(struct fs_db *db, struct arena *a, struct outcomes *o,
			   const char *endpoint_id, struct webhook_pass_stats *st)
{
	char last_error[300];
	const char *p[10];
	PGresult *r;
	int ret = -1;

	if (o->n == 0)
		return 0;
	snprintf(last_error, sizeof(last_error), "%s", o->last_error ? o->last_error : "");
	p[0] = array_done(&o->ids);
	p[1] = array_done(&o->attempts);
	p[2] = array_done(&o->codes);
	p[3] = array_done(&o->errors);
	p[4] = array_done(&o->ms);
	p[5] = array_done(&o->states);
	p[6] = array_done(&o->delays);
	p[7] = endpoint_id;
	p[8] = o->last_state;
	p[9] = last_error;
	if (o->ids.oom || o->errors.oom || db_begin(db) != FS_OK)
		goto out;
	if (!db_query_cached(db, a, "SET LOCAL synchronous_commit TO off", 0, NULL)) {
		db_rollback(db);
		goto out;
	}
	r = db_query_cached(
		db, a,
		"WITH r AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[],"
		"  $5::int[], $6::text[], $7::bigint[]) AS t(id, attempt, code, err, ms, state, delay)),"
		" att AS (INSERT INTO webhook_attempts (user_id, event_id, endpoint_id, event_type,"
		"  attempt, status_code, error, duration_ms)"
		"  SELECT w.user_id, w.id, w.endpoint_id, w.event_type, r.attempt, r.code, r.err, r.ms"
		"  FROM r JOIN webhook_events w ON w.id = r.id RETURNING 1),"
		" ev AS (UPDATE webhook_events w SET attempts = r.attempt, status = r.state,"
		"  last_status = r.code, last_error = r.err,"
		"  next_attempt_at = flowsend_now() + make_interval(secs => r.delay / 1000.0),"
		"  completed_at = CASE WHEN r.state <> 'pending' THEN flowsend_now() END"
		"  FROM r WHERE w.id = r.id RETURNING w.execution_id, r.state),"
		" fl AS (UPDATE flow_executions f SET next_run_at = flowsend_now()"
		"  FROM ev WHERE ev.state <> 'pending' AND f.id = ev.execution_id"
		"  AND f.status IN ('active', 'waiting') RETURNING f.id),"
		" ep AS (UPDATE webhook_endpoints e SET"
		"  failing_since = CASE WHEN $9 = 'delivered' THEN NULL"
		"   ELSE COALESCE(e.failing_since, flowsend_now()) END,"
		"  is_active = e.is_active AND NOT ($9 <> 'delivered' AND"
		"   COALESCE(e.failing_since <= flowsend_now() - interval '3 days', false)),"
		"  disabled_reason = CASE WHEN $9 <> 'delivered' AND"
		"   e.failing_since <= flowsend_now() - interval '3 days' THEN"
		"   'Disabled: every call failed for 3 days (since ' ||"
		"   to_char(e.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ||"
		"   '); last error: ' || $10 ELSE e.disabled_reason END"
		"  WHERE e.id = $8::uuid AND NOT ($9 = 'delivered' AND e.failing_since IS NULL)"
		"  RETURNING e.is_active)"
		" SELECT (SELECT count(*) FROM fl) AS woke, (SELECT count(*) FROM att) AS n,"
		"  COALESCE((SELECT bool_and(is_active) FROM ep), true) AS active",
		10, p);
	if (!r || db_commit(db) != FS_OK) {
		if (r)
			log_warn("recording webhook outcomes failed");
		db_rollback(db);
		goto out;
	}
	ret = 0;
	if (!db_get_bool(r, 0, "active")) {
		ret = 1;
		st->disabled++;
		log_warn("webhook endpoint %s disabled after failing for 3 days", endpoint_id);
	}
out:
	outcomes_reset(o);
	return ret;
}

#define CLAIM_ENDPOINTS "16"
#define EVENTS_BATCH "100"
#define LEASE "interval '5 minutes'"

/* One endpoint's due events, oldest first, until one must wait for a retry;
 * outcomes recorded after each fetched batch. */
static int deliver_endpoint(struct fs_db *db, const char *endpoint_id, const char *user_id,
			    const char *url, double deadline_ms, struct webhook_pass_stats *st,
			    int *more)
{
	struct outcomes o;
	struct arena local, *a = &local;
	int ret = 0;

	/* Its own arena, reset after each batch: memory stays flat however
	 * many events wait, and the caller's claim stays readable. */
	arena_init(&local, 64 * 1024);
	memset(&o, 0, sizeof(o));
	for (;;) {
		const char *p[1] = { endpoint_id };
		PGresult *r = db_query_cached(
			db, a,
			"SELECT w.id, w.event_type, w.data::text AS data, w.attempts,"
			" w.next_attempt_at <= flowsend_now() AS due, u.webhook_secret,"
			" CASE WHEN u.webhook_secret_previous_until > flowsend_now()"
			"  THEN u.webhook_secret_previous END AS previous"
			" FROM webhook_events w JOIN users u ON u.id = w.user_id"
			" WHERE w.endpoint_id = $1 AND w.status = 'pending'"
			" ORDER BY w.seq LIMIT " EVENTS_BATCH,
			1, p);
		int n, stop = 0, rec;

		if (!r) {
			ret = -1;
			break;
		}
		n = PQntuples(r);
		for (int i = 0; i < n && !stop; i++) {
			struct call c;
			struct net_result res;
			const char *state;
			if (!db_get_bool(r, i, "due"))
				break; /* the head waits for its retry; the rest wait behind it */
			if (time_monotonic_ms() >= deadline_ms) {
				*more = 1;
				stop = 1;
				break;
			}
			c.id = db_get(r, i, "id");
			c.user_id = user_id;
			c.endpoint_id = endpoint_id;
			c.url = url;
			c.type = db_get(r, i, "event_type");
			c.data = db_get(r, i, "data");
			c.secret = db_get(r, i, "webhook_secret");
			c.previous = db_get(r, i, "previous");
			c.attempt = db_get_ll(r, i, "attempts", 0) + 1;
			if (send_call(&c, &res) < 0) {
				stop = 1;
				break;
			}
			state = state_of(&c, &res, st);
			outcomes_add(&o, &c, &res, state);
			if (strcmp(state, "pending") == 0) {
				*more = 1; /* due again later */
				stop = 1;
			}
		}
		rec = outcomes_record(db, a, &o, endpoint_id, st);
		if (rec < 0)
			ret = -1;
		if (rec != 0 || stop || n < atoi(EVENTS_BATCH))
			break;
		/* A batch whose head was not due stops too: nothing was sent. */
		if (n > 0 && !db_get_bool(r, 0, "due"))
			break;
		arena_reset(a);
	}
	outcomes_free(&o);
	arena_destroy(&local);
	return ret;
}

static int deliver_endpoints(struct fs_db *db, struct arena *a, double deadline_ms,
			     struct webhook_pass_stats *st, int *more)
{
	PGresult *r = db_query_cached(
		db, a,
		"WITH heads AS (SELECT DISTINCT ON (endpoint_id) endpoint_id, next_attempt_at"
		"  FROM webhook_events WHERE status = 'pending' AND endpoint_id IS NOT NULL"
		"  ORDER BY endpoint_id, seq),"
		" pick AS (SELECT e.id FROM webhook_endpoints e JOIN heads h ON h.endpoint_id = e.id"
		"  WHERE h.next_attempt_at <= flowsend_now() AND e.is_active"
		"  AND (e.lease_until IS NULL OR e.lease_until < flowsend_now())"
		"  ORDER BY h.next_attempt_at LIMIT " CLAIM_ENDPOINTS " FOR UPDATE OF e SKIP LOCKED)"
		" UPDATE webhook_endpoints e SET lease_until = flowsend_now() + " LEASE
		" FROM pick WHERE e.id = pick.id RETURNING e.id, e.user_id, e.url",
		0, NULL);
	int n, rc = 0;

	if (!r)
		return -1;
	n = PQntuples(r);
	if (n == atoi(CLAIM_ENDPOINTS))
		*more = 1;
	for (int i = 0; i < n; i++) {
		const char *p[1] = { db_get(r, i, "id") };
		if (rc == 0 && deliver_endpoint(db, p[0], db_get(r, i, "user_id"), db_get(r, i, "url"),
						deadline_ms, st, more) < 0)
			rc = -1;
		/* Every claimed endpoint is released, whatever happened. */
		if (!db_query_cached(db, a, "UPDATE webhook_endpoints SET lease_until = NULL"
					    " WHERE id = $1", 1, p))
			rc = -1;
	}
	return rc;
}

/* Flow step calls: each on its own, no order between them. */
static int deliver_calls(struct fs_db *db, struct arena *a, double deadline_ms,
			 struct webhook_pass_stats *st, int *more)
{
	/* The calls are locked once, in an InitPlan, and leased by their row
	 * addresses (a TID scan). As `w.id IN (SELECT ... LIMIT 32 FOR UPDATE
	 * SKIP LOCKED)` a plan cached while the queue was empty ran the locking
	 * subquery again for every queued call (a nested-loop semi join): with
	 * 20,000 queued it leased all 20,000, not 32, in 44 s and 200 million
	 * buffer hits. The tenant's secrets are read per leased row: joined
	 * to users inside the UPDATE, the queue was walked by another index
	 * for a merge's order instead. A call whose row changed after this
	 * statement's snapshot is locked but not leased: it stays queued for
	 * the next pass. */
	PGresult *r = db_query_queue(
		db, a,
		"WITH leased AS ("
		"  UPDATE webhook_events w SET next_attempt_at = flowsend_now() + " LEASE
		"  WHERE w.ctid = ANY (ARRAY(SELECT ctid FROM webhook_events"
		"   WHERE status = 'pending' AND endpoint_id IS NULL AND next_attempt_at <= flowsend_now()"
		"   ORDER BY next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED))"
		"  RETURNING w.id, w.user_id, w.url, w.event_type, w.data, w.attempts)"
		" SELECT l.id, l.user_id, l.url, l.event_type, l.data::text AS data, l.attempts,"
		"  u.webhook_secret, CASE WHEN u.webhook_secret_previous_until > flowsend_now()"
		"   THEN u.webhook_secret_previous END AS previous"
		" FROM leased l CROSS JOIN LATERAL (SELECT webhook_secret, webhook_secret_previous,"
		"  webhook_secret_previous_until FROM users WHERE id = l.user_id OFFSET 0) u",
		0, NULL);
	struct outcomes o;
	int n, rc;

	if (!r)
		return -1;
	memset(&o, 0, sizeof(o));
	n = PQntuples(r);
	if (n == 32)
		*more = 1;
	for (int i = 0; i < n; i++) {
		struct call c;
		struct net_result res;
		const char *state;
		if (time_monotonic_ms() >= deadline_ms) {
			/* Give the rest back at once rather than after the lease. */
			const char *p[1] = { db_get(r, i, "id") };
			db_query(db, a, "UPDATE webhook_events SET next_attempt_at = flowsend_now()"
					" WHERE id = $1 AND status = 'pending'", 1, p);
			*more = 1;
			continue;
		}
		c.id = db_get(r, i, "id");
		c.user_id = db_get(r, i, "user_id");
		c.endpoint_id = NULL;
		c.url = db_get(r, i, "url");
		c.type = db_get(r, i, "event_type");
		c.data = db_get(r, i, "data");
		c.secret = db_get(r, i, "webhook_secret");
		c.previous = db_get(r, i, "previous");
		c.attempt = db_get_ll(r, i, "attempts", 0) + 1;
		if (send_call(&c, &res) < 0)
			break;
		state = state_of(&c, &res, st);
		outcomes_add(&o, &c, &res, state);
		if (strcmp(state, "pending") == 0)
			*more = 1; /* due again later, perhaps within this pass */
	}
	rc = outcomes_record(db, a, &o, NULL, st) < 0 ? -1 : 0;
	outcomes_free(&o);
	return rc;
}

int webhooks_deliver(struct fs_db *sysdb, struct arena *a, double deadline_ms,
		     struct webhook_pass_stats *st)
{
	int more = 0;

	memset(st, 0, sizeof(*st));
	do {
		int before = (int)(st->delivered + st->retried + st->failed);
		more = 0;
		if (deliver_calls(sysdb, a, deadline_ms, st, &more) < 0 ||
		    deliver_endpoints(sysdb, a, deadline_ms, st, &more) < 0)
			return -1;
		arena_reset(a);
		if ((int)(st->delivered + st->retried + st->failed) == before)
			break; /* nothing was due after all */
	} while (more && time_monotonic_ms() < deadline_ms);
	return more ? 1 : 0;
}
