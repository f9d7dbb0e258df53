/* A per-worker cache of authenticated principals, so a request with a known
 * token or key costs no database round trip. PostgreSQL NOTIFY (schema 0002)
 * empties it whenever access could have been revoked. */
#ifndef FS_AUTH_CACHE_H
#define FS_AUTH_CACHE_H

#include <time.h>

#include "db/db.h"

#define AUTH_CACHE_TTL 60 /* seconds: a backstop, NOTIFY is the real invalidation */

struct auth_entry {
	char key[72];          /* "u:<user id>" or "k:<sha256 of the API key>" */
	time_t cached_at;
	time_t key_used_at;    /* when last_used_at was last written, for keys */
	char user_id[37];
	char email[256];
	char plan[16];
	char created_at[40];
	int is_active;
	char key_id[37];
	unsigned scopes;
	int key_is_platform;
	int email_verified;
	long session_epoch;      /* access tokens of an older epoch are refused */
};

/* Listen on sysdb (again after a reconnect) and drop everything when a
 * notification arrived. Costs one non-blocking read. */
void auth_cache_sync(struct fs_db *sysdb);
/* The live entry for key, or NULL. */
struct auth_entry *auth_cache_get(const char *key);
/* Store (a copy of) e under e->key. */
void auth_cache_put(const struct auth_entry *e);

#endif
