/* Campaigns: the lifecycle (draft -> scheduled -> sending -> sent | failed |
 * cancelled), the send that freezes the recipients into the outbox, test
 * sends, analytics and the event log. The batch worker (delivery.h) does the
 * sending and starts scheduled campaigns through campaign_start. */
#ifndef FS_CAMPAIGNS_H
#define FS_CAMPAIGNS_H

#include <json-c/json.h>

#include "db/db.h"
#include "core/env.h"
#include "core/status.h"
#include "json/page.h"
#include "models/plan.h"

#define CAMPAIGN_STATUSES "draft, scheduled, sending, sent, failed, cancelled"
#define EVENT_TYPES "sent, delivered, opened, clicked, bounced, unsubscribed, complained, failed"

struct campaign_input {
	int set_name, set_subject, set_template, set_list, set_scheduled;
	const char *name;
	const char *subject;
	const char *template_id;  /* NULL clears */
	const char *list_id;      /* NULL: every subscribed contact */
	const char *scheduled_at; /* canonical UTC text, or NULL */
};

int campaign_status_valid(const char *s);
int campaign_event_type_valid(const char *s);

enum fs_status campaign_create(struct fs_env *env, const struct campaign_input *in,
			       json_object **out, struct fs_error *err);
enum fs_status campaign_get(struct fs_env *env, const char *id, json_object **out,
			    struct fs_error *err);
enum fs_status campaign_index(struct fs_env *env, const char *status, const struct fs_page *page,
			      json_object **out, struct fs_error *err);
enum fs_status campaign_update(struct fs_env *env, const char *id, const struct campaign_input *in,
			       json_object **out, struct fs_error *err);
enum fs_status campaign_delete(struct fs_env *env, const char *id, struct fs_error *err);
/* Freeze the recipients and hand the campaign to the worker (202). */
enum fs_status campaign_send(struct fs_env *env, const char *id, json_object **out,
			     struct fs_error *err);
/* Queue one rendered copy to email, outside the campaign's figures. */
enum fs_status campaign_test(struct fs_env *env, const char *id, const char *email,
			     struct fs_error *err);
enum fs_status campaign_cancel(struct fs_env *env, const char *id, json_object **out,
			       struct fs_error *err);
enum fs_status campaign_analytics(struct fs_env *env, const char *id, json_object **out,
				  struct fs_error *err);
enum fs_status campaign_events(struct fs_env *env, const char *id, const char *event_type,
			       const struct fs_page *page, json_object **out, struct fs_error *err);

/* Inside an open transaction on db with the campaign row locked and found
 * ready (a draft or scheduled campaign with a template): copy its recipients
 * into the outbox, check the plan's monthly limit and mark it sending. On
 * FS_BAD_REQUEST (over the limit) err says why and the caller rolls back. */
enum fs_status campaign_start(struct fs_db *db, struct arena *a, const char *id,
			      const char *user_id, const char *list_id, const struct plan *plan,
			      long long *recipients, struct fs_error *err);


#endif
