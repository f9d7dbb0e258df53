/* The batch runner behind flowsend-batch: one pass over due work (--once, for
 * cron) or a long-lived loop woken through Redis (--worker). */
#ifndef FS_BATCH_H
#define FS_BATCH_H

#include "db/db.h"
#include "queue/redis.h"
#include "services/delivery.h"

/* Redis list the API pushes to when there is new work; the worker BLPOPs it. */
#define BATCH_WAKE_KEY "flowsend:wake"

struct batch_stats {
	long campaigns_started;
	long campaigns_finished;
	long messages_sent;
	long messages_failed;
	long messages_skipped;
	long messages_bounced;
	long messages_retried;   /* a 4xx or no connection: queued again with a delay */
	long flow_steps_advanced;
	long contacts_indexed;   /* for ?search=, after a big import */
};

/* Tell a sleeping worker there is work (best effort: it also polls). */
void batch_wake(struct fs_redis *redis);

/* One pass over due work, for at most budget_ms and (when max_messages > 0)
 * at most that many messages, sending through sender (NULL: mock mode): 0
 * when it is all done, 1 when it stopped with mail still queued, -1 when the
 * database failed. */
int batch_run_once(struct fs_db *sysdb, struct fs_redis *redis, struct delivery_sender *sender,
		   long budget_ms, long max_messages, struct batch_stats *stats);
/* Run passes until *stop becomes non-zero, sleeping on the wake list between
 * them (poll_seconds is the fallback when no wake-up comes). */
int batch_worker(struct fs_db *sysdb, struct fs_redis *redis, struct delivery_sender *sender,
		 int poll_seconds, volatile int *stop);

#endif
