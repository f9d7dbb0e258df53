/* The preference center behind /u/{token}: the tenant's public lists with
 * the contact's memberships, which the contact may change (issue 17). The
 * token is the unsubscribe link's; the page and one-click unsubscribing stay
 * services/unsubscribe.h's. */
#ifndef FS_PREFERENCES_H
#define FS_PREFERENCES_H

#include <stddef.h>

#include "core/env.h"
#include "core/status.h"

/* The lists a page offers: their form stays within the 4 KiB a POST to /u/ may carry. */
#define PREFERENCES_MAX_LISTS 90

struct pref_list {
	const char *id;
	const char *name;
	const char *description; /* or NULL */
	int member;
};

struct preferences {
	const char *sender;    /* the tenant's name, for the page */
	int unsubscribed;      /* from everything */
	int has_contact;       /* mail to a contact (not a bare address): lists apply */
	struct pref_list *lists; /* public static lists, by name (arena) */
	size_t nlists;
	long long joined, left; /* what preferences_save changed */
};

/* What the token's contact sees. FS_OK, FS_NOT_FOUND (forged or altered
 * token, mail gone), FS_ERROR. */
enum fs_status preferences_show(struct fs_env *env, const char *token, struct preferences *out,
				struct fs_error *err);
/* Make the contact a member of exactly the public lists among ids (UUID
 * text, n of them): joins the listed ones, leaves the others. Ids that are
 * no public static list of the tenant are ignored. Then as preferences_show. */
enum fs_status preferences_save(struct fs_env *env, const char *token, const char *const *ids,
				size_t n, struct preferences *out, struct fs_error *err);

#endif
