/* The batch worker's delivery work, all as the cross-tenant system role:
 * start scheduled campaigns that are due, claim queued mail in batches
 * (FOR UPDATE SKIP LOCKED, so any number of workers can run), render and
 * send it, record the outcome with its events and figures in one
 * statement, and mark campaigns sent once nothing of theirs is left. */
#ifndef FS_DELIVERY_H
#define FS_DELIVERY_H

#include "core/arena.h"
#include "core/config.h"
#include "db/db.h"

#define DELIVERY_BATCH 1000

struct delivery_counts {
	long campaigns_started;
	long campaigns_failed;   /* could not start (over the limit, no template) */
	long campaigns_finished;
	long sent;
	long failed;
	long skipped;            /* unsubscribed or suppressed after the send was queued */
};

/* Start every scheduled campaign that is due. 0, or -1 on a database error. */
int delivery_start_due(struct fs_db *db, const struct fs_config *cfg, struct arena *a,
		       struct delivery_counts *c);
/* Claim up to batch queued messages and deliver them; how many were claimed,
 * or -1 on a database error. */
long delivery_run_batch(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			struct delivery_counts *c);
/* Put back mail whose worker died holding it, and mark campaigns with nothing
 * left to send as sent. 0, or -1. */
int delivery_tidy(struct fs_db *db, struct arena *a, struct delivery_counts *c);

#endif
