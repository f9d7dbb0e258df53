/* API keys: fs_live_ + 32 random bytes, shown once, stored as SHA-256. */
#ifndef FS_APIKEYS_H
#define FS_APIKEYS_H

#include <json-c/json.h>
#include <stddef.h>

#include "db/db.h"
#include "core/env.h"
#include "core/status.h"

#define APIKEY_PREFIX "fs_live_"
#define APIKEY_SHOWN_PREFIX_LEN 12

/* 1 when key looks like one of ours (prefix, length, alphabet): anything else
 * is refused without a database lookup. */
int apikey_shape_ok(const char *key, size_t len);
/* Create a key for user_id on db (a tenant transaction is opened when db is the
 * tenant connection). scopes is a PostgreSQL array literal ("{read,write}").
 * The raw key goes to key_out; the stored row to *row when row is not NULL. */
enum fs_status apikey_issue(struct fs_env *env, struct fs_db *db, const char *user_id,
			    const char *name, const char *scopes, int is_platform, char *key_out,
			    size_t key_size, json_object **row, struct fs_error *err);
/* The caller's keys, newest first, without the key itself. */
enum fs_status apikey_list(struct fs_env *env, json_object **items, struct fs_error *err);
/* Revoke one of the caller's keys; effective for the very next request. */
enum fs_status apikey_revoke(struct fs_env *env, const char *id, struct fs_error *err);

#endif
