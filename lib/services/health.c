/* Health: one trivial query to PostgreSQL and a PING to Redis, so a load
 * balancer sees a broken dependency on the very next probe. */
#include "services/health.h"

void health_check(struct fs_db *db, struct fs_redis *redis, struct health_report *out)
{
	out->database_ok = db_ping(db) == 0;
	out->redis_ok = fs_redis_ping(redis) == 0;
}
