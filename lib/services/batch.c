/* Batch runner. The passes over campaigns, the outbox and flow delays plug in
 * here as those capabilities land; the loop, wake-up and shutdown are final. */
#include "services/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int batch_run_once(struct fs_db *sysdb, struct fs_redis *redis, long budget_ms,
		   struct batch_stats *stats)
{
	(void)redis;
	(void)budget_ms;
	memset(stats, 0, sizeof(*stats));
	if (db_ping(sysdb) < 0)
		return -1;
	return 0;
}

int batch_worker(struct fs_db *sysdb, struct fs_redis *redis, int poll_seconds,
		 volatile int *stop)
{
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", poll_seconds);
	while (!*stop) {
		struct batch_stats st;
		const char *argv[] = { "BLPOP", BATCH_WAKE_KEY, timeout };
		redisReply *rep;

		if (batch_run_once(sysdb, redis, 10000, &st) < 0)
			log_warn("batch pass failed: database unreachable");
		if (*stop)
			break;
		rep = fs_redis_argv(redis, 3, argv, NULL);
		if (rep) {
			freeReplyObject(rep);
		} else {
			/* Redis down: fall back to polling on our own clock. */
			for (int i = 0; i < poll_seconds * 10 && !*stop; i++)
				usleep(100000);
		}
	}
	return 0;
}
