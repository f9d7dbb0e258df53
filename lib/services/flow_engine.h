/* The flow engine (issue 20), in the batch worker as the cross-tenant system
 * role: claims due executions in batches (FOR UPDATE SKIP LOCKED), runs each
 * through its version's steps until it waits on a delay, completes or stops,
 * and commits every effect (outbox rows, jumps, waits) with the moves in one
 * statement; fires due scheduled flows once per due time. */
#ifndef FS_FLOW_ENGINE_H
#define FS_FLOW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "db/db.h"

#define FLOW_ENGINE_BATCH 1000
/* Steps one execution may run in one pass before it is judged to loop
 * without a delay (activation refuses such flows; this is the guard). */
#define FLOW_ENGINE_MAX_HOPS 64

struct flow_engine_counts {
	long claimed;        /* executions taken this pass */
	long steps;          /* steps run */
	long emails;         /* outbox rows queued */
	long completed;
	long stopped;        /* contact unsubscribed, bounced, suppressed or gone; flow deleted */
	long limited;        /* email steps passed over: monthly limit reached */
	long failed;         /* an unusable step */
	long schedules;      /* scheduled due times fired */
	long enrolled;       /* executions those created */
};

/* Claim up to batch due executions and run them; all effects commit at once.
 * How many were claimed, or -1 on a database error (nothing happened). */
long flow_engine_run_batch(struct fs_db *db, struct arena *a, int batch, struct flow_engine_counts *c);
/* Fire the scheduled flows that are due (each due time once, whichever
 * worker gets it) and give new ones their first due time. How many flows
 * were looked at, or -1 on a database error. */
long flow_engine_schedule_due(struct fs_db *db, struct arena *a, struct flow_engine_counts *c);

/* The split branch for a contact in a flow: a stable hash of both picks an
 * index into weights (n > 0, every weight > 0) in proportion to them. */
int flow_split_pick(const char *contact_id, const char *flow_id, const long *weights, int n);
/* The stable 64-bit hash behind it (FNV-1a, then a mixer). */
uint64_t flow_split_hash(const char *contact_id, const char *flow_id);

#endif
