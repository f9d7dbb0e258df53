/* Per-account sender settings, falling back to FLOWSEND_MAIL_FROM and
 * FLOWSEND_POSTAL_ADDRESS for what the account left unset. */
#ifndef FS_SETTINGS_H
#define FS_SETTINGS_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"

struct sender_update {
	/* For each field: set = 0 leaves it, set = 1 with NULL value resets it. */
	int set_from_name, set_from_email, set_reply_to, set_postal_address;
	const char *from_name, *from_email, *reply_to, *postal_address;
};

/* {from_name, from_email, reply_to, postal_address} with fallbacks applied. */
enum fs_status sender_get(struct fs_env *env, json_object **out, struct fs_error *err);
enum fs_status sender_update(struct fs_env *env, const struct sender_update *u,
			     json_object **out, struct fs_error *err);
/* Split "Name <addr@host>" (or a bare address) into name and address. */
void sender_parse_mailbox(struct arena *a, const char *mailbox, const char **name,
			  const char **address);

#endif
