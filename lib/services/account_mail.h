/* Mail FlowSend sends to account holders themselves: the address check after
 * registration and the links that set a password. Queued through the outbox
 * like any mail, so it leaves the way campaigns do, and never counted
 * against the plan (payload key "account_mail", schema 0012). */
#ifndef FS_ACCOUNT_MAIL_H
#define FS_ACCOUNT_MAIL_H

#include "core/arena.h"
#include "core/config.h"
#include "db/db.h"

#define VERIFY_TOKEN_PREFIX "fsv_"
#define RESET_TOKEN_PREFIX "fsp_"
#define VERIFY_TOKEN_HOURS 48
#define RESET_TOKEN_MINUTES 60
/* forgot-password mails an address at most once in this many minutes. */
#define RESET_MAIL_MINUTES 10

enum account_link {
	ACCOUNT_LINK_RESET,   /* forgot-password: "someone asked to reset" */
	ACCOUNT_LINK_CLAIMED, /* provisioning took an unverified account over */
};

/* In the transaction open on db (the tenant's, or the system role's while
 * registering): a new single-use verification token for user_id's address
 * `to`, and the mail carrying its link. 0, or -1 (logged). */
int account_mail_verification(struct fs_db *db, struct arena *a, const struct fs_config *cfg,
			      const char *user_id, const char *to);
/* Same for a password link (reset or claim), valid RESET_TOKEN_MINUTES; 1
 * (nothing stored or mailed) when the account no longer holds address `to`. */
int account_mail_password_link(struct fs_db *db, struct arena *a, const struct fs_config *cfg,
			       const char *user_id, const char *to, enum account_link why);

/* 1 when token has the shape of one of ours with prefix (bounded length,
 * base64url): refused before any hashing or lookup. */
int account_token_shape_ok(const char *token, const char *prefix);

#endif
