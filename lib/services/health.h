/* Health of the service's dependencies, asked afresh on every call. */
#ifndef FS_HEALTH_H
#define FS_HEALTH_H

#include "db/db.h"
#include "queue/redis.h"

struct health_report {
	int database_ok;
	int redis_ok;
};

void health_check(struct fs_db *db, struct fs_redis *redis, struct health_report *out);

#endif
