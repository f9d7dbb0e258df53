/* Flows. Every request runs as the tenant (row-level security). PostgreSQL
 * renders a flow's JSON, stats included (counted from its executions and
 * events, so they are never out of step with the data). Enrollment is
 * flowsend_flow_enroll (schema 0028), called here for events inside the
 * transaction that receives them. */
#include "services/flows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "core/crypto.h"
#include "core/email.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "db/db.h"
#include "db/tenant.h"
#include "json/json.h"
#include "models/flow_steps.h"
#include "models/plan.h"
#include "services/auth_cache.h"
#include "services/billing.h"

/* A flow as the API shows it; f is the flows row. */
#define FLOW_JSON                                                                              \
	"json_build_object('id', f.id, 'user_id', f.user_id, 'name', f.name,"                   \
	" 'description', f.description, 'trigger_type', f.trigger_type,"                        \
	" 'trigger_config', f.trigger_config, 'status', f.status, 'steps', f.steps,"            \
	" 'current_version', f.current_version,"                                                \
	" 'stats', (SELECT json_build_object('enrolled', count(*),"                             \
	"   'active', count(*) FILTER (WHERE e.status IN ('active', 'waiting')),"               \
	"   'completed', count(*) FILTER (WHERE e.status = 'completed'),"                       \
	"   'emails_sent', (SELECT count(*) FROM email_events ev"                               \
	"     WHERE ev.flow_id = f.id AND ev.event_type = 'sent'))"                             \
	"   FROM flow_executions e WHERE e.flow_id = f.id),"                                    \
	" 'created_at', flowsend_ts(f.created_at), 'updated_at', flowsend_ts(f.updated_at))::text AS j"

static const char *const triggers[] = { "signup", "purchase", "abandoned_cart", "custom",
					"scheduled" };
static const char *const statuses[] = { "draft", "active", "paused" };
static const char *const exec_statuses[] = { "active", "waiting", "completed", "failed",
					     "cancelled" };

static int one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

int flow_trigger_valid(const char *s)
{
	return one_of(s, triggers, sizeof(triggers) / sizeof(triggers[0]));
}

int flow_status_valid(const char *s)
{
	return one_of(s, statuses, sizeof(statuses) / sizeof(statuses[0]));
}

int flow_execution_status_valid(const char *s)
{
	return one_of(s, exec_statuses, sizeof(exec_statuses) / sizeof(exec_statuses[0]));
}

/* JSON text from PostgreSQL (trusted) as an object the caller owns. */
static json_object *parse_pg_json(const char *s)
{
	json_object *o = s ? json_tokener_parse(s) : NULL;
	return o ? o : json_object_new_object();
}

static enum fs_status begin(struct fs_env *env, struct fs_error *err)
{
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	return FS_OK;
}

/* A string member: 1 valid (one line, 1..max code points), 0 absent or
 * null, -1 otherwise. */
static int cfg_string(json_object *cfg, const char *key, size_t max, const char **out)
{
	json_object *v;
	size_t len;

	*out = NULL;
	if (!json_object_object_get_ex(cfg, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || !utf8_valid(*out, len) || utf8_length(*out, len) > max ||
	    utf8_has_controls(*out, len, 0))
		return -1;
	return 1;
}

/* trigger_config against its trigger, inside the tenant transaction. Values
 * given are checked always (422, or 404 for a list that is not the caller's);
 * what a trigger needs to run is required when activating (400). */
static enum fs_status check_trigger_config(struct fs_env *env, const char *trigger,
					   json_object *cfg, int activating, struct fs_error *err)
{
	json_object *v;
	const char *s;
	int r;

	if (json_object_object_get_ex(cfg, "allow_reentry", &v) && v &&
	    !json_object_is_type(v, json_type_boolean))
		return fs_fail(err, FS_INVALID, "trigger_config.allow_reentry must be a boolean");
	if (strcmp(trigger, "custom") == 0) {
		r = cfg_string(cfg, "event", 255, &s);
		if (r < 0)
			return fs_fail(err, FS_INVALID,
				       "trigger_config.event must be an event name of 1 to 255 characters");
		if (r == 0 && activating)
			return fs_fail(err, FS_BAD_REQUEST, "A custom flow needs trigger_config.event");
	}
	if (strcmp(trigger, "scheduled") == 0) {
		struct cron c;
		char why[128];
		r = cfg_string(cfg, "cron", CRON_MAX_LEN, &s);
		if (r < 0)
			return fs_fail(err, FS_INVALID,
				       "trigger_config.cron must be a cron expression (5 fields)");
		if (r == 0 && activating)
			return fs_fail(err, FS_BAD_REQUEST, "A scheduled flow needs trigger_config.cron");
		if (r == 1 && cron_parse(s, strlen(s), &c, why, sizeof(why)) < 0)
			return fs_fail(err, FS_INVALID, "trigger_config.cron: %s", why);
		r = cfg_string(cfg, "timezone", 64, &s);
		if (r < 0)
			return fs_fail(err, FS_INVALID, "trigger_config.timezone must be an IANA time zone name");
		if (r == 1) {
			const char *p[1] = { s };
			PGresult *q = db_query_cached(env->db, env->arena,
						      "SELECT 1 FROM pg_timezone_names WHERE name = $1", 1,
						      p);
			if (!q)
				return fs_fail(err, FS_ERROR, "reading time zones failed");
			if (PQntuples(q) == 0)
				return fs_fail(err, FS_INVALID,
					       "trigger_config.timezone is not a known time zone (e.g. Europe/Paris)");
		}
		if (json_object_object_get_ex(cfg, "list_id", &v) && v) {
			const char *p[1];
			PGresult *q;
			if (!json_object_is_type(v, json_type_string) ||
			    !uuid_valid(json_object_get_string(v),
					(size_t)json_object_get_string_len(v)))
				return fs_fail(err, FS_INVALID, "trigger_config.list_id must be a UUID");
			p[0] = json_object_get_string(v);
			q = db_query(env->db, env->arena, "SELECT 1 FROM contact_lists WHERE id = $1", 1, p);
			if (!q)
				return fs_fail(err, FS_ERROR, "reading the list failed");
			if (PQntuples(q) == 0)
				return fs_fail(err, FS_NOT_FOUND, "Contact list not found");
		}
	}
	return FS_OK;
}

static const char *json_text(json_object *o, const char *fallback)
{
	return o ? fs_json_string(o, NULL) : fallback;
}

enum fs_status flow_create(struct fs_env *env, const struct flow_input *in, json_object **out,
			   struct fs_error *err)
{
	const char *p[5] = { in->name, in->description, in->trigger_type,
			     json_text(in->trigger_config, "{}"), json_text(in->steps, "[]") };
	json_object *empty = NULL;
	enum fs_status st;
	PGresult *r;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!in->trigger_config)
		empty = json_object_new_object();
	st = check_trigger_config(env, in->trigger_type, in->trigger_config ? in->trigger_config : empty,
				  0, err);
	json_object_put(empty);
	if (st != FS_OK)
		return fs_rollback_with(env, st);
	r = db_query(env->db, env->arena,
		     "WITH f AS (INSERT INTO flows (user_id, name, description, trigger_type,"
		     " trigger_config, steps) VALUES (flowsend_current_user(), $1, $2, $3, $4::jsonb,"
		     " $5::jsonb) RETURNING *) SELECT " FLOW_JSON " FROM f",
		     5, p);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "creating the flow failed"));
	*out = parse_pg_json(db_get(r, 0, "j"));
	return FS_OK;
}

enum fs_status flow_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Flow not found");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT " FLOW_JSON " FROM flows f WHERE f.id = $1 AND f.deleted_at IS NULL", 1,
			    p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the flow failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Flow not found");
	*out = parse_pg_json(db_get(r, 0, "j"));
	return FS_OK;
}

enum fs_status flow_index(struct fs_env *env, const char *status, const struct fs_page *page,
			  json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { status, limit, offset };
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if (begin(env, err) != FS_OK)
		return FS_ERROR;
	rows = db_query(env->db, env->arena,
			"SELECT " FLOW_JSON " FROM flows f WHERE f.deleted_at IS NULL"
			" AND ($1::text IS NULL OR f.status = $1)"
			" ORDER BY f.created_at DESC, f.id LIMIT $2::bigint OFFSET $3::bigint",
			3, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM flows f WHERE f.deleted_at IS NULL"
			 " AND ($1::text IS NULL OR f.status = $1)",
			 1, p);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing flows failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, parse_pg_json(db_get(rows, i, "j")));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

/* Lock the live flow row: its status, trigger and config, or a failure with
 * the transaction rolled back. */
static PGresult *lock_flow(struct fs_env *env, const char *id, enum fs_status *st,
			   struct fs_error *err)
{
	const char *p[1] = { id };

	if (!id || !uuid_valid(id, strlen(id))) {
		*st = fs_rollback_with(env, fs_fail(err, FS_NOT_FOUND, "Flow not found"));
		return NULL;
	}
	return fs_query_row(env,
			    "SELECT status, trigger_type, trigger_config::text AS trigger_config,"
			    " steps::text AS steps, current_version FROM flows"
			    " WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
			    1, p, "reading the flow", "Flow not found", st, err);
}

static enum fs_status finish_with_flow(struct fs_env *env, const char *id, json_object **out,
				       struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r = db_query(env->db, env->arena,
			       "SELECT " FLOW_JSON " FROM flows f WHERE f.id = $1", 1, p);

	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "saving the flow failed"));
	*out = parse_pg_json(db_get(r, 0, "j"));
	return FS_OK;
}

enum fs_status flow_update(struct fs_env *env, const char *id, const struct flow_input *in,
			   json_object **out, struct fs_error *err)
{
	enum fs_status st = FS_OK;
	const char *trigger;
	json_object *cfg;
	PGresult *row, *r;
	const char *p[11];

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!(row = lock_flow(env, id, &st, err)))
		return st;
	if (strcmp(db_get(row, 0, "status"), "active") == 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						     "Cannot update an active flow. Pause it first."));
	trigger = in->set_trigger_type ? in->trigger_type : db_get(row, 0, "trigger_type");
	if (in->set_trigger_config) {
		st = check_trigger_config(env, trigger, in->trigger_config, 0, err);
	} else if (in->set_trigger_type) {
		cfg = parse_pg_json(db_get(row, 0, "trigger_config"));
		st = check_trigger_config(env, trigger, cfg, 0, err);
		json_object_put(cfg);
	}
	if (st != FS_OK)
		return fs_rollback_with(env, st);
	p[0] = id;
	p[1] = in->set_name ? "t" : "f";
	p[2] = in->name;
	p[3] = in->set_description ? "t" : "f";
	p[4] = in->description;
	p[5] = in->set_trigger_type ? in->trigger_type : NULL;
	p[6] = in->set_trigger_config ? json_text(in->trigger_config, "{}") : NULL;
	p[7] = in->set_steps ? json_text(in->steps, "[]") : NULL;
	r = db_query(env->db, env->arena,
		     "UPDATE flows SET name = CASE WHEN $2::boolean THEN $3 ELSE name END,"
		     " description = CASE WHEN $4::boolean THEN $5 ELSE description END,"
		     " trigger_type = COALESCE($6, trigger_type),"
		     " trigger_config = COALESCE($7::jsonb, trigger_config),"
		     " steps = COALESCE($8::jsonb, steps),"
		     " next_trigger_at = NULL, updated_at = flowsend_now() WHERE id = $1",
		     8, p);
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "updating the flow failed"));
	return finish_with_flow(env, id, out, err);
}

enum fs_status flow_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	enum fs_status st;
	PGresult *r;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!lock_flow(env, id, &st, err))
		return st;
	/* Executions stop; mail not yet handed to SMTP is cancelled, what was sent
	 * stays with its events (the flow row stays, so their flow_id does). */
	r = db_query(env->db, env->arena,
		     "WITH gone AS (UPDATE flows SET deleted_at = flowsend_now(), status = 'paused',"
		     "  updated_at = flowsend_now() WHERE id = $1 RETURNING id),"
		     " stopped AS (UPDATE flow_executions SET status = 'cancelled',"
		     "  completed_at = flowsend_now(), next_run_at = NULL"
		     "  WHERE flow_id = $1 AND status IN ('active', 'waiting') RETURNING id)"
		     " UPDATE outbox o SET status = 'cancelled' FROM stopped s"
		     "  WHERE o.flow_execution_id = s.id AND o.status = 'pending'",
		     1, p);
	if (!r || !db_query(env->db, env->arena, "DELETE FROM flow_enroll_backlog WHERE flow_id = $1",
			    1, p) ||
	    db_commit(env->db) != FS_OK)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "deleting the flow failed"));
	return FS_OK;
}

/* Every email step's template must be one the tenant can use (its own or a
 * system template): the first step whose template is missing, or -1. */
static int first_missing_template(struct fs_env *env, const struct flow_steps *steps, int *failed)
{
	struct strbuf arr = STRBUF_INIT;
	const char *p[1];
	PGresult *r;
	int idx = -1;

	*failed = 0;
	strbuf_appendc(&arr, '{');
	for (size_t i = 0; i < steps->n; i++) {
		if (i)
			strbuf_appendc(&arr, ',');
		if (steps->steps[i].type == FLOW_STEP_EMAIL)
			strbuf_append(&arr, steps->steps[i].template_id, 36);
		else
			strbuf_append(&arr, "NULL", 4);
	}
	strbuf_appendc(&arr, '}');
	p[0] = arena_strndup(env->arena, arr.buf, arr.len);
	strbuf_free(&arr);
	r = db_query(env->db, env->arena,
		     "SELECT t.i - 1 AS i FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, i)"
		     " WHERE t.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM email_templates e"
		     " WHERE e.id = t.id) ORDER BY t.i LIMIT 1",
		     1, p);
	if (!r)
		*failed = 1;
	else if (PQntuples(r) == 1)
		idx = (int)db_get_ll(r, 0, "i", -1);
	return idx;
}

enum fs_status flow_activate(struct fs_env *env, const char *id, json_object **out,
			     struct fs_error *err)
{
	enum fs_status st = FS_OK;
	struct flow_steps steps;
	json_object *arr, *cfg;
	char why[256];
	const char *p[2] = { id, NULL };
	PGresult *row, *r;
	int bad, failed, missing;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!(row = lock_flow(env, id, &st, err)))
		return st;
	if (strcmp(db_get(row, 0, "status"), "active") == 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST, "Flow is already active"));
	arr = parse_pg_json(db_get(row, 0, "steps"));
	if (json_object_is_type(arr, json_type_array) && json_object_array_length(arr) == 0) {
		json_object_put(arr);
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						     "Cannot activate a flow with no steps"));
	}
	if (flow_steps_from_json(env->arena, arr, &steps, why, sizeof(why), &bad) < 0) {
		json_object_put(arr);
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST, "%s", why));
	}
	json_object_put(arr);
	missing = first_missing_template(env, &steps, &failed);
	if (failed)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading templates failed"));
	if (missing >= 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST,
						     "Invalid step %d: template not found", missing));
	cfg = parse_pg_json(db_get(row, 0, "trigger_config"));
	st = check_trigger_config(env, db_get(row, 0, "trigger_type"), cfg, 1, err);
	json_object_put(cfg);
	if (st != FS_OK)
		return fs_rollback_with(env, st == FS_INVALID ? FS_BAD_REQUEST : st);
	/* The plan's active-flow limit, exact under concurrent activations. */
	if ((st = billing_flow_activation_allowed(env, err)) != FS_OK)
		return fs_rollback_with(env, st);
	/* A new version when the steps differ from the current one's; executions
	 * already running keep theirs. */
	r = db_query(env->db, env->arena,
		     "WITH f AS (SELECT id, user_id, steps, current_version FROM flows WHERE id = $1),"
		     " cur AS (SELECT v.steps FROM flow_versions v, f"
		     "  WHERE v.flow_id = f.id AND v.version = f.current_version),"
		     " nv AS (INSERT INTO flow_versions (user_id, flow_id, version, steps)"
		     "  SELECT f.user_id, f.id, COALESCE((SELECT max(version) FROM flow_versions"
		     "   WHERE flow_id = f.id), 0) + 1, f.steps FROM f"
		     "  WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.steps = f.steps)"
		     "  RETURNING version)"
		     " UPDATE flows SET status = 'active', next_trigger_at = NULL,"
		     "  current_version = COALESCE((SELECT version FROM nv), current_version),"
		     "  updated_at = flowsend_now() WHERE id = $1",
		     1, p);
	if (!r)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "activating the flow failed"));
	return finish_with_flow(env, id, out, err);
}

enum fs_status flow_pause(struct fs_env *env, const char *id, json_object **out,
			  struct fs_error *err)
{
	const char *p[1] = { id };
	enum fs_status st;
	PGresult *row;

	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!(row = lock_flow(env, id, &st, err)))
		return st;
	if (strcmp(db_get(row, 0, "status"), "active") != 0)
		return fs_rollback_with(env, fs_fail(err, FS_BAD_REQUEST, "Can only pause an active flow"));
	if (!db_query(env->db, env->arena,
		      "UPDATE flows SET status = 'paused', updated_at = flowsend_now() WHERE id = $1", 1,
		      p))
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "pausing the flow failed"));
	return finish_with_flow(env, id, out, err);
}

/* Open a read of one live flow's data: FS_OK with the transaction open. */
static enum fs_status begin_flow_read(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	enum fs_status st;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Flow not found");
	if ((st = begin(env, err)) != FS_OK)
		return st;
	if (!fs_query_row(env, "SELECT 1 FROM flows WHERE id = $1 AND deleted_at IS NULL", 1, p,
			  "reading the flow", "Flow not found", &st, err))
		return st;
	return FS_OK;
}

enum fs_status flow_executions(struct fs_env *env, const char *id, const char *status,
			       const struct fs_page *page, json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[4] = { id, status, limit, offset };
	enum fs_status st;
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if ((st = begin_flow_read(env, id, err)) != FS_OK)
		return st;
	rows = db_query(env->db, env->arena,
			"SELECT json_build_object('id', e.id, 'flow_id', e.flow_id,"
			" 'contact_id', e.contact_id, 'flow_version', e.flow_version,"
			" 'current_step', e.current_step, 'status', e.status,"
			" 'started_at', flowsend_ts(e.started_at),"
			" 'completed_at', flowsend_ts(e.completed_at),"
			" 'next_run_at', flowsend_ts(e.next_run_at), 'last_error', e.last_error)::text AS j"
			" FROM flow_executions e WHERE e.flow_id = $1"
			" AND ($2::text IS NULL OR e.status = $2)"
			" ORDER BY e.started_at DESC, e.id LIMIT $3::bigint OFFSET $4::bigint",
			4, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM flow_executions e WHERE e.flow_id = $1"
			 " AND ($2::text IS NULL OR e.status = $2)",
			 2, p);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing executions failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, parse_pg_json(db_get(rows, i, "j")));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

enum fs_status flow_stats(struct fs_env *env, const char *id, json_object **out,
			  struct fs_error *err)
{
	const char *p[1] = { id };
	enum fs_status st;
	PGresult *r;

	if ((st = begin_flow_read(env, id, err)) != FS_OK)
		return st;
	r = db_query(env->db, env->arena,
		     "SELECT json_build_object('flow_id', $1::uuid, 'enrolled', count(*),"
		     " 'active', count(*) FILTER (WHERE e.status IN ('active', 'waiting')),"
		     " 'waiting', count(*) FILTER (WHERE e.status = 'waiting'),"
		     " 'completed', count(*) FILTER (WHERE e.status = 'completed'),"
		     " 'failed', count(*) FILTER (WHERE e.status = 'failed'),"
		     " 'cancelled', count(*) FILTER (WHERE e.status = 'cancelled'),"
		     " 'emails_sent', (SELECT count(*) FROM email_events ev"
		     "   WHERE ev.flow_id = $1 AND ev.event_type = 'sent'),"
		     " 'pending_enrollment', (SELECT count(*) FROM flow_enroll_backlog b"
		     "   WHERE b.flow_id = $1) > 0)::text AS j"
		     " FROM flow_executions e WHERE e.flow_id = $1",
		     1, p);
	if (!r || PQntuples(r) != 1)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "reading the stats failed"));
	db_commit(env->db);
	*out = parse_pg_json(db_get(r, 0, "j"));
	return FS_OK;
}

enum fs_status flow_versions(struct fs_env *env, const char *id, const struct fs_page *page,
			     json_object **out, struct fs_error *err)
{
	char limit[24], offset[24];
	const char *p[3] = { id, limit, offset };
	enum fs_status st;
	PGresult *rows, *total;
	json_object *items;

	fs_page_limits(page, limit, offset);
	if ((st = begin_flow_read(env, id, err)) != FS_OK)
		return st;
	rows = db_query(env->db, env->arena,
			"SELECT json_build_object('flow_id', v.flow_id, 'version', v.version,"
			" 'steps', v.steps, 'created_at', flowsend_ts(v.created_at),"
			" 'executions', (SELECT count(*) FROM flow_executions e"
			"   WHERE e.flow_id = v.flow_id AND e.flow_version = v.version))::text AS j"
			" FROM flow_versions v WHERE v.flow_id = $1"
			" ORDER BY v.version DESC LIMIT $2::bigint OFFSET $3::bigint",
			3, p);
	total = db_query(env->db, env->arena,
			 "SELECT count(*) FROM flow_versions WHERE flow_id = $1", 1, p);
	if (!rows || !total)
		return fs_rollback_with(env, fs_fail(err, FS_ERROR, "listing versions failed"));
	db_commit(env->db);
	items = json_object_new_array();
	for (int i = 0; i < PQntuples(rows); i++)
		json_object_array_add(items, parse_pg_json(db_get(rows, i, "j")));
	*out = fs_page_json(page, items, strtoll(PQgetvalue(total, 0, 0), NULL, 10));
	return FS_OK;
}

/* The context an execution starts with. */
static const char *event_context(struct arena *a, const char *trigger, const char *event,
				 json_object *data)
{
	json_object *o = json_object_new_object();
	const char *s;

	json_object_object_add(o, "trigger", json_object_new_string(trigger));
	if (event)
		json_object_object_add(o, "event", json_object_new_string(event));
	if (data)
		json_object_object_add(o, "data", json_object_get(data));
	s = arena_strdup(a, fs_json_string(o, NULL));
	json_object_put(o);
	return s;
}

/* Enrolls one contact (by email) of the tenant: BEGIN, the tenant, the
 * statement and COMMIT in one round trip. Its rows tell the contact and how
 * many flows took it; no row: no such contact. A NULL key gives each
 * enrollment its own (a fresh uuid).
 *
 * Most events enroll nobody (the contact is in each once-per-flow flow
 * already, or the order's key is taken), so the statement asks first, in
 * its own plan, whether any (flow, contact) pair would be new, the same
 * test as flowsend_flow_enroll's read (schema/0064), and calls the function
 * only then: an event that enrolls nobody runs no PL/pgSQL (its call with a
 * SET clause, its own executor and plan lookups cost about as much as the
 * rest of the request in PostgreSQL). The function tests again and its
 * INSERT meets the unique key, so a concurrent enrollment that this read
 * did not see is still counted once. */
static const char enroll_sql[] =
	"SELECT c.id, CASE WHEN c.is_subscribed AND EXISTS (SELECT 1 FROM flows f"
	"  WHERE f.user_id = c.user_id AND f.trigger_type = $1 AND f.status = 'active'"
	"  AND f.deleted_at IS NULL AND f.current_version IS NOT NULL"
	"  AND ($1 <> 'custom' OR f.trigger_config ->> 'event' = $2)"
	"  AND CASE WHEN flowsend_flow_reentry(f.trigger_config)"
	"   THEN $4::text IS NULL OR NOT EXISTS (SELECT 1 FROM flow_executions e"
	"    WHERE e.flow_id = f.id AND e.contact_id = c.id AND e.enrollment_key = $4 OFFSET 0)"
	"   ELSE NOT EXISTS (SELECT 1 FROM flow_executions e"
	"    WHERE e.flow_id = f.id AND e.contact_id = c.id OFFSET 0) END)"
	" THEN flowsend_flow_enroll(flowsend_current_user(), $1, $2,"
	"  ARRAY[c.id], COALESCE($4, gen_random_uuid()::text), $5::jsonb) ELSE 0 END AS n"
	" FROM contacts c WHERE lower(c.email) = lower($3)";

/* guard, when given, runs first in the same transaction (a platform
 * event's cached tenant check). */
static PGresult *enroll_by_email(struct fs_env *env, const char *owner, const char *trigger,
				 const char *event, const char *email, const char *key,
				 const char *ctx, const struct db_stmt *guard)
{
	const char *p[5] = { trigger, event, email, key, ctx };
	struct db_stmt q[2];
	int n = 0;

	if (guard)
		q[n++] = *guard;
	q[n++] = (struct db_stmt){ enroll_sql, 5, p, 1, NULL };
	if (db_tenant_pipeline(env->db, env->arena, owner, q, n) < 0)
		return NULL;
	return q[n - 1].result;
}

enum fs_status flow_event(struct fs_env *env, const char *event, const char *email,
			  json_object *data, json_object **out, struct fs_error *err)
{
	const char *ctx = event_context(env->arena, "custom", event, data);
	PGresult *r = enroll_by_email(env, env->user_id, "custom", event, email, NULL, ctx, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "recording the event failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Contact not found");
	*out = json_object_new_object();
	json_object_object_add(*out, "event", json_object_new_string(event));
	json_object_object_add(*out, "contact_id", json_object_new_string(db_get(r, 0, "id")));
	json_object_object_add(*out, "enrolled", json_object_new_int64(db_get_ll(r, 0, "n", 0)));
	return FS_OK;
}

/* ---- platform events ---- */

struct platform_kind {
	const char *event, *action, *trigger, *custom_event;
};

static const struct platform_kind kinds[] = {
	{ "customer.created", "welcome_flow_queued", "signup", NULL },
	{ "order.created", "post_purchase_flow_queued", "purchase", NULL },
	{ "order.shipped", "shipping_notification_queued", "custom", "order.shipped" },
	{ "cart.abandoned", "abandoned_cart_flow_queued", "abandoned_cart", NULL },
};

/* A string from the top level, else from data; NULL when neither is a
 * non-empty string of at most max bytes. */
static const char *platform_id(json_object *root, json_object *data, const char *key, size_t max)
{
	json_object *v = NULL;

	if ((!json_object_object_get_ex(root, key, &v) || !v) && data)
		json_object_object_get_ex(data, key, &v);
	if (v && json_object_is_type(v, json_type_int)) {
		/* a numeric platform id compares as its text */
		return json_object_get_string(v);
	}
	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	if (json_object_get_string_len(v) == 0 || (size_t)json_object_get_string_len(v) > max ||
	    !utf8_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		return NULL;
	return json_object_get_string(v);
}

/* customer.created: insert the contact or refresh its names; a new one
 * enrolls into signup flows by the contacts trigger, in this transaction. */
static const char upsert_update_sql[] =
	"UPDATE contacts SET first_name = COALESCE($2, first_name),"
	" last_name = COALESCE($3, last_name),"
	" tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || ARRAY(SELECT"
	"  jsonb_array_elements_text($4::jsonb))) t),"
	" updated_at = flowsend_now() WHERE lower(email) = lower($1)";
static const char upsert_insert_sql[] =
	"INSERT INTO contacts (user_id, email, first_name, last_name, tags, is_subscribed,"
	" subscribed_at, unsubscribed_at)"
	" SELECT flowsend_current_user(), lower($1), $2, $3,"
	"  ARRAY(SELECT DISTINCT jsonb_array_elements_text($4::jsonb)), s.ok,"
	"  CASE WHEN s.ok THEN flowsend_now() END, CASE WHEN NOT s.ok THEN flowsend_now() END"
	" FROM (SELECT NOT EXISTS (SELECT 1 FROM opt_outs o"
	"  WHERE o.user_id = flowsend_current_user()"
	"  AND o.email_hash = flowsend_email_hash($1)) AS ok OFFSET 0) s"
	" WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE lower(c.email) = lower($1))"
	" AND ($5::bigint IS NULL OR flowsend_contacts_room($5::bigint, 1) > 0)"
	" ON CONFLICT DO NOTHING";

static enum fs_status upsert_customer(struct fs_env *env, const char *owner, const char *plan_tier,
				      json_object *data, const char *email, const struct db_stmt *guard,
				      struct fs_error *err)
{
	const struct plan *plan = plan_find_or_default(plan_tier);
	json_object *tags = json_object_new_array(), *v;
	const char *first = NULL, *last = NULL;
	char limit[24];
	const char *p[5];
	struct db_stmt q[3];
	int n = 0;

	cfg_string(data, "first_name", 255, &first);
	cfg_string(data, "last_name", 255, &last);
	if (json_object_object_get_ex(data, "tags", &v) && v && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v) && i < 50; i++) {
			json_object *t = json_object_array_get_idx(v, i);
			const char *s = t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
			size_t len = s ? (size_t)json_object_get_string_len(t) : 0;
			if (s && len && utf8_valid(s, len) && utf8_length(s, len) <= 64 && !strchr(s, ';') &&
			    !utf8_has_controls(s, len, 0))
				json_object_array_add(tags, json_object_new_string_len(s, (int)len));
		}
	}
	p[0] = email;
	p[1] = first;
	p[2] = last;
	p[3] = arena_strdup(env->arena, fs_json_string(tags, NULL));
	json_object_put(tags);
	p[4] = NULL;
	if (plan->max_contacts != PLAN_UNLIMITED) {
		snprintf(limit, sizeof(limit), "%ld", plan->max_contacts);
		p[4] = limit;
	}
	/* The insert sees the update's row in the same transaction, so only a
	 * new address is inserted; ON CONFLICT covers a concurrent insert. */
	if (guard)
		q[n++] = *guard;
	q[n++] = (struct db_stmt){ upsert_update_sql, 4, p, 1, NULL };
	q[n++] = (struct db_stmt){ upsert_insert_sql, 5, p, 1, NULL };
	if (db_tenant_pipeline(env->db, env->arena, owner, q, n) < 0)
		return fs_fail(err, FS_ERROR, "recording the customer failed");
	return FS_OK;
}

/* Fails the event's transaction with FS002 unless the cached tenant ($1) is
 * still the one the ids name (schema/0096). */
static const char tenant_holds_sql[] =
	"SELECT flowsend_platform_tenant_holds($1::uuid, $2, $3)";

/* The active user an event's platform id (else store id) names, or *owner
 * NULL. A match is kept in the worker's principal cache (auth_cache.h),
 * which the users' NOTIFY empties whenever a user's ids, activity or plan
 * change or a user is created with ids (schema/0079): a stream of events
 * then costs no lookup, nor its transaction, on the system connection. No
 * match is not kept (a platform's first events may come before its link).
 * A notification can reach this worker a moment after the change, so a
 * cached match (*cached 1) is checked again in the event's own transaction
 * (tenant_holds_sql); fresh skips the cache. */
static enum fs_status platform_tenant(struct fs_env *env, const char *uid, const char *sid, int fresh_only,
				      const char **owner, const char **tier, int *cached,
				      struct fs_error *err)
{
	const char *p[2] = { uid, sid };
	const char *ids = arena_sprintf(env->arena, "%c%s%c%c%s", uid ? 'u' : '-', uid ? uid : "",
					'\x1f', sid ? 's' : '-', sid ? sid : "");
	char hash[SHA256_HEX_LEN + 1];
	struct auth_entry fresh, *e;
	PGresult *r;

	*owner = *tier = NULL;
	*cached = 0;
	sha256_hex(ids, strlen(ids), hash);
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.key, sizeof(fresh.key), "p:%s", hash);
	auth_cache_sync(env->sysdb);
	if (!fresh_only && (e = auth_cache_get(fresh.key))) {
		*owner = arena_strdup(env->arena, e->user_id);
		*tier = arena_strdup(env->arena, e->plan);
		*cached = 1;
		return FS_OK;
	}
	r = db_query_cached(env->sysdb, env->arena,
			    "SELECT id, plan FROM users WHERE is_active AND"
			    " (external_platform_id = $1 OR external_store_id = $2)"
			    " ORDER BY (external_platform_id = $1) IS TRUE DESC, id LIMIT 1",
			    2, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "finding the tenant failed");
	if (PQntuples(r) != 1)
		return FS_OK;
	*owner = db_get(r, 0, "id");
	*tier = db_get(r, 0, "plan");
	snprintf(fresh.user_id, sizeof(fresh.user_id), "%s", *owner);
	snprintf(fresh.plan, sizeof(fresh.plan), "%s", *tier);
	fresh.is_active = 1;
	fresh.cached_at = time(NULL);
	auth_cache_put(&fresh);
	return FS_OK;
}

enum fs_status flow_platform_event(struct fs_env *env, const char *body, size_t len,
				   json_object **out, struct fs_error *err)
{
	char why[128];
	json_object *root = fs_json_parse(body, len, why, sizeof(why)), *data = NULL, *actions, *ev;
	const struct platform_kind *kind = NULL;
	const char *event = NULL, *uid, *sid, *email = NULL, *owner = NULL, *tier = NULL;
	enum fs_status st = FS_OK;
	int matched = 0;

	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return fs_fail(err, FS_BAD_REQUEST, "Invalid JSON payload");
	}
	arena_add_cleanup(env->arena, fs_json_release, root);
	if (json_object_object_get_ex(root, "event", &ev) && ev &&
	    json_object_is_type(ev, json_type_string))
		event = json_object_get_string(ev);
	if (json_object_object_get_ex(root, "data", &data) && data &&
	    !json_object_is_type(data, json_type_object))
		data = NULL;
	for (size_t i = 0; event && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(event, kinds[i].event) == 0)
			kind = &kinds[i];
	uid = platform_id(root, data, "user_id", 255);
	sid = platform_id(root, data, "store_id", 255);
	if (data)
		cfg_string(data, "email", 320, &email);
	if (email && email_invalid_reason(email, strlen(email)))
		email = NULL;
	/* Twice at most: a cached tenant the event's transaction finds moved
	 * (FS002, nothing written) is looked up afresh. Without an address no
	 * transaction runs to check it, so that answer's tenant is fresh too. */
	for (int fresh = !email; kind && (uid || sid); fresh++) {
		const char *p[3] = { NULL, uid, sid };
		struct db_stmt guard = { tenant_holds_sql, 3, p, 1, NULL };
		int cached;

		if ((st = platform_tenant(env, uid, sid, fresh, &owner, &tier, &cached, err)) != FS_OK)
			return st;
		matched = owner != NULL;
		if (matched && email) {
			const char *ctx = event_context(env->arena, kind->trigger, kind->event, data);
			const char *order = platform_id(data, NULL, "order_id", 255);
			const char *key = order ? arena_sprintf(env->arena, "%s:%s", kind->event, order) : NULL;

			p[0] = owner;
			env->user_id = owner;
			if (kind->custom_event == NULL && strcmp(kind->trigger, "signup") == 0)
				st = upsert_customer(env, owner, tier, data, email, cached ? &guard : NULL,
						     err);
			else if (!enroll_by_email(env, owner, kind->trigger, kind->custom_event, email, key,
						  ctx, cached ? &guard : NULL))
				st = fs_fail(err, FS_ERROR, "enrolling the contact failed");
			if (st != FS_OK && cached && strcmp(db_last_sqlstate(env->db), "FS002") == 0)
				continue;
			if (st != FS_OK)
				return st;
		}
		break;
	}
	*out = json_object_new_object();
	actions = json_object_new_array();
	if (kind)
		json_object_array_add(actions, json_object_new_string(kind->action));
	json_object_object_add(*out, "status", json_object_new_string("ok"));
	json_object_object_add(*out, "actions", actions);
	json_object_object_add(*out, "matched", json_object_new_boolean(matched));
	return FS_OK;
}
