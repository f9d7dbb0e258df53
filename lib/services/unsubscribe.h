/* Unsubscribing from the link a message carries (/u/{token}, RFC 8058
 * one-click): the token names one outbox row, and only that row's tenant and
 * contact are read or changed. */
#ifndef FS_UNSUBSCRIBE_H
#define FS_UNSUBSCRIBE_H

#include "core/env.h"
#include "core/status.h"

/* Where an unsubscribe came from, as unsubscribes.source records it. */
#define UNSUBSCRIBE_ONE_CLICK "one_click" /* the RFC 8058 POST a mail client sends */
#define UNSUBSCRIBE_LINK "link"           /* the confirm button of the page */

struct unsubscribe_state {
	const char *sender;   /* the tenant's sender name, for the page */
	int unsubscribed;     /* the contact (or the address) is unsubscribed */
	int recorded;         /* this call recorded it (0 when it already was) */
	long long cancelled;  /* the contact's queued mail this call cancelled */
};

/* The outbox row (id_out, 37 bytes) a /u/ token names, with env->user_id
 * set to its tenant. FS_OK, FS_NOT_FOUND, FS_ERROR. */
enum fs_status unsubscribe_resolve(struct fs_env *env, const char *token, char *id_out,
				   struct fs_error *err);
/* What the token names, changing nothing (a GET). FS_OK, FS_NOT_FOUND for a
 * forged, altered or malformed token or mail that no longer exists, FS_ERROR. */
enum fs_status unsubscribe_show(struct fs_env *env, const char *token,
				struct unsubscribe_state *out, struct fs_error *err);
/* Unsubscribe at once (a POST): the contact unsubscribed, an unsubscribes
 * row and an 'unsubscribed' event naming the mail and its campaign, the
 * campaign's and the day's counts, and the contact's pending mail cancelled,
 * in one transaction. Idempotent: when it already was, nothing is recorded.
 * source is UNSUBSCRIBE_ONE_CLICK or UNSUBSCRIBE_LINK. Statuses as above. */
enum fs_status unsubscribe_confirm(struct fs_env *env, const char *token, const char *source,
				   struct unsubscribe_state *out, struct fs_error *err);

#endif
