/* Health: one trivial query to PostgreSQL and a PING to Redis, so a load
 * balancer sees a broken dependency on the very next probe. The query is sent
 * first and read last, so both servers work on the probe at the same time. */
#include "services/health.h"

void health_check(struct fs_db *db, struct fs_redis *redis, struct health_report *out)
{
	int sent = db_ping_send(db) == 0;

	out->redis_ok = fs_redis_ping(redis) == 0;
	out->database_ok = sent ? db_ping_finish(db) == 0 : db_ping(db) == 0;
}
