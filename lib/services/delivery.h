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

/* The SMTP side of a worker process, kept across passes so its connections
 * carry many messages. NULL everywhere means mock mode (no FLOWSEND_SMTP_URL). */
struct delivery_sender;

struct delivery_counts {
	long campaigns_started;
	long campaigns_failed;   /* could not start (over the limit, no template) */
	long campaigns_finished;
	long sent;
	long failed;
	long skipped;            /* unsubscribed or suppressed after the send was queued */
	long bounced;            /* a 5xx for the recipient */
	long retried;            /* a 4xx or no connection: queued again with a delay */
	long interrupted;        /* handed to SMTP by a worker that died: failed, never sent again */
};

/* Open the SMTP sender for one of `processes` worker processes: it takes
 * that share of FLOWSEND_SMTP_CONCURRENCY and FLOWSEND_SMTP_RATE. NULL with
 * err empty in mock mode, NULL with a message in err when the settings are
 * unusable. Open it after fork: it starts threads. */
struct delivery_sender *delivery_sender_open(const struct fs_config *cfg, int processes, char *err,
					     size_t errlen);
/* Finish what is in flight, say QUIT, stop the threads. */
void delivery_sender_close(struct delivery_sender *s);
/* "SMTP to <url> (N in flight...)" or "mock mode ...", for the log. */
const char *delivery_sender_describe(const struct delivery_sender *s, char *buf, size_t size);

/* Start every scheduled campaign that is due. 0, or -1 on a database error. */
int delivery_start_due(struct fs_db *db, const struct fs_config *cfg, struct arena *a,
		       struct delivery_counts *c);
/* Claim up to batch queued messages and deliver them through sender (NULL:
 * mock mode); how many were claimed, or -1 on a database error. With SMTP,
 * no message is handed over after deadline_ms (monotonic; 0: none): claimed
 * rows not reached by then go back to the queue. */
long delivery_run_batch(struct fs_db *db, const struct fs_config *cfg, struct arena *a, int batch,
			struct delivery_sender *sender, double deadline_ms,
			struct delivery_counts *c);
/* Put back mail whose worker died holding a claim; mark mail it had handed
 * to SMTP failed ("interrupted": it may have gone out, so it is never sent
 * again); mark campaigns with nothing left to send as sent. 0, or -1. */
int delivery_tidy(struct fs_db *db, struct arena *a, struct delivery_counts *c);

#endif
