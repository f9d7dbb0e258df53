/* What a service runs with, in a FastCGI request or not: the arena its
 * results live in, the configuration, the worker's connections and who is
 * asking. The HTTP context embeds one; flowsend-batch and tests build their
 * own. Time comes from core/clock, one settable clock for the process. */
#ifndef FS_ENV_H
#define FS_ENV_H

#include "core/arena.h"
#include "core/config.h"

struct fs_db;
struct fs_redis;

/* API key scopes: read (GET) within write (mutations) within admin (keys). */
#define FS_SCOPE_READ 1u
#define FS_SCOPE_WRITE 2u
#define FS_SCOPE_ADMIN 4u

/* Who is calling, filled by authentication (strings live in the arena). */
struct fs_principal {
	const char *user_id;
	const char *email;
	const char *plan;
	const char *created_at;  /* ISO 8601 UTC */
	int is_active;
	int via_api_key;
	const char *key_id;
	unsigned scopes;         /* all scopes for a dashboard JWT */
	int key_is_platform;     /* issued by /auth/provision */
	int email_verified;
	long session_epoch;      /* the user's, when authenticated: account writes check it */
};

struct fs_env {
	struct arena *arena;
	const struct fs_config *cfg;
	struct fs_db *db;          /* tenant role: row-level security applies */
	struct fs_db *sysdb;       /* narrow cross-tenant role */
	struct fs_redis *redis;
	const char *user_id;       /* the tenant, once known */
	struct fs_principal auth;  /* filled by authentication; zero outside requests */
	const char *request_id;    /* names log lines ("-" outside a request) */
	const char *client_addr;   /* the caller's address, for throttles ("" when none) */
};

#endif
