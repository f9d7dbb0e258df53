/* What comes back after a message left: bounces and complaints, recorded
 * once per message and kind. The report's address (VERP, mail/links.h) names
 * the outbox row; the row's tenant is found as system, then everything is
 * written as that tenant, so a report can touch no other. */
#ifndef FS_BOUNCES_H
#define FS_BOUNCES_H

#include <stddef.h>

#include "core/env.h"
#include "core/status.h"
#include "mail/dsn.h"

enum bounce_outcome {
	BOUNCE_RECORDED,  /* this call recorded it */
	BOUNCE_REPLAYED,  /* already recorded for this message: nothing changed */
	BOUNCE_IGNORED,   /* no report, one that says nothing failed, a message that
			   * no longer exists or was never accepted, or a returned
			   * message that names another row */
	BOUNCE_FORGED,    /* no token, or one FlowSend did not sign */
	BOUNCE_TOO_EARLY, /* the row's outcome is not committed yet: try again later */
};

/* Soft bounces in a row (the contact's latest messages) that suppress it. */
#define BOUNCE_SOFT_LIMIT 3

struct bounce_result {
	enum bounce_outcome outcome;
	struct dsn_report report;
	char outbox_id[37];
	char user_id[37];
	int suppressed;   /* the address was suppressed by this call */
	long long soft_in_a_row; /* soft bounces among the contact's latest messages */
};

/* Record what the report msg[0..len), mailed to recipient (the VERP
 * address it was delivered to), says. env->db (tenant role) and env->sysdb
 * are used; env->user_id is ignored. FS_OK with out->outcome, or FS_ERROR
 * when the database failed (nothing recorded; try again). */
enum fs_status bounce_process(struct fs_env *env, const char *recipient, const char *msg,
			      size_t len, struct bounce_result *out, struct fs_error *err);

/* Record kind for the outbox row outbox_id (already authenticated by the
 * caller: a VERP token, or a provider's signed notification), with the
 * report's fields as metadata; source is "dsn", "ses" or "sendgrid". With
 * message_id, the row must have been sent with exactly that Message-ID
 * (else BOUNCE_IGNORED). */
enum fs_status bounce_record(struct fs_env *env, const char *outbox_id, const char *message_id,
			     enum dsn_kind kind, const struct dsn_report *report, const char *source,
			     struct bounce_result *out, struct fs_error *err);

/* Provider webhooks' outcome. */
struct provider_result {
	int confirmed;   /* an SNS SubscriptionConfirmation was confirmed */
	int events;      /* events read */
	int recorded;    /* of which recorded now */
	int ignored;     /* no news, not our message, or already recorded */
};

/* POST /webhooks/ses-events: an SNS message (body), its signature checked
 * against the certificate at SigningCertURL (an sns.<region>.amazonaws.com
 * URL; fetched from FLOWSEND_SNS_BASE_URL instead when set; cached), then a
 * SubscriptionConfirmation confirmed or a Notification's SES bounce or
 * complaint recorded. FS_UNAUTHORIZED when unverified, FS_UNAVAILABLE when
 * the certificate or the confirmation URL could not be fetched. */
enum fs_status bounce_ses_notification(struct fs_env *env, const char *body, size_t len,
				       struct provider_result *out, struct fs_error *err);
/* POST /webhooks/sendgrid-events: the body's signature (the two
 * X-Twilio-Email-Event-Webhook-* headers) checked with
 * FLOWSEND_SENDGRID_WEBHOOK_KEY, then each bounce or complaint recorded.
 * FS_UNAUTHORIZED when unverified (or no key is configured). */
enum fs_status bounce_sendgrid_events(struct fs_env *env, const char *signature,
				      const char *timestamp, const char *body, size_t len,
				      struct provider_result *out, struct fs_error *err);

#endif
