/* Outbound webhooks: event subscriptions (endpoints), the webhook secret and
 * its rotation, the flow webhook step's calls, and the worker's delivery
 * pass (signed, retried with backoff, every attempt recorded). Events are
 * queued by statement triggers (schema/0034_webhooks.sql). */
#ifndef FS_WEBHOOKS_H
#define FS_WEBHOOKS_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

struct fs_db;

#define WEBHOOK_EVENT_TYPES_N 7
extern const char *const webhook_event_types[WEBHOOK_EVENT_TYPES_N];
/* 1 when name is one of webhook_event_types. */
int webhook_event_type_valid(const char *name);

struct webhook_endpoint_input {
	/* For PATCH, each set_* says whether the field was sent. */
	int set_url, set_events, set_description, set_active;
	const char *url;
	const char *const *events;   /* valid, distinct names */
	int nevents;
	const char *description;     /* NULL: none */
	int is_active;
};

/* {id, url, events, description, is_active, disabled_reason, created_at}. */
enum fs_status webhook_endpoint_create(struct fs_env *env, const struct webhook_endpoint_input *in,
				       json_object **out, struct fs_error *err);
enum fs_status webhook_endpoint_list(struct fs_env *env, const struct fs_page *page,
				     json_object **out, struct fs_error *err);
enum fs_status webhook_endpoint_get(struct fs_env *env, const char *id, json_object **out,
				    struct fs_error *err);
/* Turning an endpoint on again clears its disabled_reason and failure clock. */
enum fs_status webhook_endpoint_update(struct fs_env *env, const char *id,
				       const struct webhook_endpoint_input *in, json_object **out,
				       struct fs_error *err);
enum fs_status webhook_endpoint_delete(struct fs_env *env, const char *id, struct fs_error *err);
/* Attempts, newest first: {id, event_id, event_type, attempt, status_code, error,
 * duration_ms, created_at}, paginated. */
enum fs_status webhook_endpoint_deliveries(struct fs_env *env, const char *id,
					   const struct fs_page *page, json_object **out,
					   struct fs_error *err);

/* Attempts of the tenant's flow webhook step calls, newest first, of one
 * execution when execution_id is given (a malformed one finds nothing):
 * {id, event_id, flow_id, execution_id, step, attempt, status_code, error,
 * duration_ms, created_at}, paginated. */
enum fs_status webhook_flow_call_attempts(struct fs_env *env, const char *execution_id,
					  const struct fs_page *page, json_object **out,
					  struct fs_error *err);

/* {webhook_secret, previous_secret_expires_at}. */
enum fs_status webhook_secret_get(struct fs_env *env, json_object **out, struct fs_error *err);
/* A new secret; the one it replaces keeps signing beside it for 24 hours. */
enum fs_status webhook_secret_rotate(struct fs_env *env, json_object **out, struct fs_error *err);

/* The flow webhook step (docs/webhooks-contract.md). Queue the call of
 * execution_id's step (idempotent per execution and step) on db, in the
 * caller's transaction if one is open; db may be the tenant's or the system
 * role; visit is the engine's flow_executions.visit (0 without loops). contact_json and trigger_json are JSON texts (NULL: null). The call's
 * event id into id_out. FS_INVALID with a message when the URL is refused. */
enum fs_status webhook_flow_call_enqueue(struct fs_db *db, struct arena *a, const char *user_id,
					 const char *flow_id, const char *execution_id, int step,
					 int visit, const char *url, const char *contact_json,
					 const char *trigger_json, char id_out[37],
					 struct fs_error *err);
enum webhook_call_state {
	WEBHOOK_CALL_NONE = 0,   /* never queued */
	WEBHOOK_CALL_PENDING,    /* queued or between retries */
	WEBHOOK_CALL_DELIVERED,
	WEBHOOK_CALL_FAILED,     /* last retry failed or refused; *error says why */
	WEBHOOK_CALL_ERROR = -1, /* the database failed */
};
enum webhook_call_state webhook_flow_call_state(struct fs_db *db, struct arena *a,
						const char *execution_id, int step, int visit,
						const char **error);

struct webhook_pass_stats {
	long delivered, retried, failed, disabled;
};
/* Deliver due events and calls until none is due or deadline_ms
 * (time_monotonic_ms) passes: 0 when all due work is done, 1 when some is
 * left, -1 when the database failed. */
int webhooks_deliver(struct fs_db *sysdb, struct arena *a, double deadline_ms,
		     struct webhook_pass_stats *st);

#endif
