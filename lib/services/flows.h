/* Flows: definitions (draft -> active <-> paused, soft delete), versions
 * snapshotted on activation, and enrollment by events (POST /events and the
 * platform's webhook). Contacts enroll into signup flows by themselves, in the
 * transaction that inserts them (schema 0028); the engine (flowsend-batch)
 * runs the executions. */
#ifndef FS_FLOWS_H
#define FS_FLOWS_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

#define FLOW_TRIGGERS "signup, purchase, abandoned_cart, custom, scheduled"
#define FLOW_STATUSES "draft, active, paused"
#define FLOW_EXECUTION_STATUSES "active, waiting, completed, failed, cancelled"

/* Fields of a create or update; set_* tells which were sent. JSON values are
 * borrowed json-c objects (trigger_config an object, steps an array). */
struct flow_input {
	int set_name, set_description, set_trigger_type, set_trigger_config, set_steps;
	const char *name;
	const char *description; /* NULL clears */
	const char *trigger_type;
	json_object *trigger_config;
	json_object *steps;
};

int flow_trigger_valid(const char *s);
int flow_status_valid(const char *s);
int flow_execution_status_valid(const char *s);

enum fs_status flow_create(struct fs_env *env, const struct flow_input *in, json_object **out,
			   struct fs_error *err);
enum fs_status flow_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err);
enum fs_status flow_index(struct fs_env *env, const char *status, const struct fs_page *page,
			  json_object **out, struct fs_error *err);
/* 400 while active ("Cannot update an active flow. Pause it first."). */
enum fs_status flow_update(struct fs_env *env, const char *id, const struct flow_input *in,
			   json_object **out, struct fs_error *err);
/* Soft delete: the flow disappears from the API, its running executions and
 * their pending mail are cancelled, what was sent stays recorded. */
enum fs_status flow_delete(struct fs_env *env, const char *id, struct fs_error *err);
/* Validate every step and the trigger, check the plan's active-flow limit,
 * snapshot the steps as a new version when they changed, and activate. */
enum fs_status flow_activate(struct fs_env *env, const char *id, json_object **out,
			     struct fs_error *err);
enum fs_status flow_pause(struct fs_env *env, const char *id, json_object **out,
			  struct fs_error *err);
enum fs_status flow_executions(struct fs_env *env, const char *id, const char *status,
			       const struct fs_page *page, json_object **out, struct fs_error *err);
enum fs_status flow_stats(struct fs_env *env, const char *id, json_object **out,
			  struct fs_error *err);
enum fs_status flow_versions(struct fs_env *env, const char *id, const struct fs_page *page,
			     json_object **out, struct fs_error *err);

/* POST /events: enroll the contact with that email into the active custom
 * flows whose trigger_config.event is event; data (a JSON object, may be
 * NULL) goes into the executions' context. 404 "Contact not found". */
enum fs_status flow_event(struct fs_env *env, const char *event, const char *email,
			  json_object *data, json_object **out, struct fs_error *err);

/* POST /webhooks/platform-events, after the signature was checked: body is the
 * raw JSON (400 "Invalid JSON payload" when it is not an object). Finds the
 * tenant (sysdb), acts as it (db), answers {status, actions, matched}. */
enum fs_status flow_platform_event(struct fs_env *env, const char *body, size_t len,
				   json_object **out, struct fs_error *err);

#endif
