/* Retention: old webhook calls and unconfirmed sign-ups deleted by the batch
 * worker (schema/0047_retention.sql). */
#ifndef FS_RETENTION_H
#define FS_RETENTION_H

#include "core/arena.h"
#include "db/db.h"

/* Days a finished webhook call, or an expired unconfirmed sign-up, is kept. */
#define RETENTION_DAYS 30
/* Rows of each kind deleted by one call, so a pass never holds long locks. */
#define RETENTION_CHUNK 1000

/* Deletes one chunk of each kind older than RETENTION_DAYS on the settable
 * clock: how many rows went (-1: the database failed, logged). */
long retention_prune(struct fs_db *sysdb, struct arena *a);

#endif
