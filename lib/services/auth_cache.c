/* Direct-mapped cache: 1024 slots, a collision simply replaces the older
 * entry. Small, allocation-free, and right for a worker that serves a few
 * merchants' keys over and over. */
#include "services/auth_cache.h"

#include <stdint.h>
#include <string.h>

#include "core/log.h"

#define AUTH_CACHE_SLOTS 1024

static struct auth_entry slots[AUTH_CACHE_SLOTS];
static unsigned long listening_generation;
static int listening;

static uint32_t slot_of(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % AUTH_CACHE_SLOTS;
}

static void auth_cache_clear(void)
{
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++)
		slots[i].key[0] = '\0';
}

void auth_cache_sync(struct fs_db *sysdb)
{
	PGconn *c = db_conn(sysdb);
	PGnotify *n;
	int dropped = 0;

	if (!c) {
		auth_cache_clear();
		listening = 0;
		return;
	}
	if (!listening || listening_generation != sysdb->generation) {
		/* A new session heard nothing that happened while we were away. */
		PGresult *r = PQexec(c, "LISTEN flowsend_auth");
		listening = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		listening_generation = sysdb->generation;
		auth_cache_clear();
		if (!listening)
			log_warn("LISTEN flowsend_auth failed: the auth cache stays off");
		return;
	}
	if (!PQconsumeInput(c)) {
		auth_cache_clear();
		listening = 0;
		return;
	}
	while ((n = PQnotifies(c))) {
		dropped = 1;
		PQfreemem(n);
	}
	if (dropped)
		auth_cache_clear();
}

struct auth_entry *auth_cache_get(const char *key)
{
	struct auth_entry *e = &slots[slot_of(key)];

	if (!listening || !e->key[0] || strcmp(e->key, key) != 0)
		return NULL;
	if (time(NULL) - e->cached_at >= AUTH_CACHE_TTL) {
		e->key[0] = '\0';
		return NULL;
	}
	return e;
}

void auth_cache_put(const struct auth_entry *e)
{
	if (!listening)
		return;
	slots[slot_of(e->key)] = *e;
}
