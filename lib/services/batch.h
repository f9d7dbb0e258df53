/* The batch runner behind flowsend-batch: one pass over due work (--once, for
 * cron) or a long-lived loop woken through Redis (--worker). */
#ifndef FS_BATCH_H
#define FS_BATCH_H

#include "db/db.h"
#include "queue/redis.h"

/* Redis list the API pushes to when there is new work; the worker BLPOPs it. */
#define BATCH_WAKE_KEY "flowsend:wake"

struct batch_stats {
	long campaigns_started;
	long campaigns_finished;
	long messages_sent;
	long messages_failed;
	long messages_skipped;
	long flow_steps_advanced;
	long contacts_indexed;   /* for ?search=, after a big import */
};

/* Tell a sleeping worker there is work (best effort: it also polls). */
void batch_wake(struct fs_redis *redis);

/* One pass over due work, for at most budget_ms and (when max_messages > 0)
 * at most that many messages: 0 when it is all done, 1 when it stopped with
 * mail still queued, -1 when the database failed. */
int batch_run_once(struct fs_db *sysdb, struct fs_redis *redis, long budget_ms, long max_messages,
		   struct batch_stats *stats);
/* Run passes until *stop becomes non-zero, sleeping on the wake list between
 * them (poll_seconds is the fallback when no wake-up comes). */
int batch_worker(struct fs_db *sysdb, struct fs_redis *redis, int poll_seconds,
		 volatile int *stop);

#endif
