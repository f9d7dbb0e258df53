/* Batch runner: due campaigns and scheduled flows first, then flow
 * executions that are due (their email steps queue mail), then the outbox in
 * batches until it is empty or the pass's time is up. */
#include "services/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/delivery.h"
#include "services/flow_engine.h"
#include "services/search_index.h"
#include "services/flow_enroll.h"
#include "services/retention.h"
#include "services/webhooks.h"

void batch_wake(struct fs_redis *redis)
{
	const char *argv[] = { "LPUSH", BATCH_WAKE_KEY, "1" };
	redisReply *rep = redis ? fs_redis_argv(redis, 3, argv, NULL) : NULL;

	if (rep)
		freeReplyObject(rep);
}

/* Counters written to several slots by concurrent writers go back to one row
 * per key (schema/0018_counter_slots.sql); sums never change. */
#define COUNTER_FOLD_ROWS "10000"

/* A running worker lets single creates settle in the search queue
 * (SEARCH_INDEX_SETTLE_MS); a --once pass indexes everything queued. Set by
 * batch_worker for the life of its process. */
static int search_settle_ms;
/* The last pass left single creates settling: the worker sleeps a second at
 * most instead of its poll interval. */
static int search_settling;

/* The fold also indexes single creates for search (schema 0103), letting
 * them settle as the search queue does: -1 when it left them settling and
 * did nothing else. */
static long fold_counters(struct fs_db *db, struct arena *a)
{
	char settle[32];
	const char *params[1] = { settle };
	PGresult *r;

	snprintf(settle, sizeof(settle), "%d milliseconds", search_settle_ms > 0 ? search_settle_ms : 0);
	r = db_query_cached(db, a, "SELECT flowsend_counters_fold(" COUNTER_FOLD_ROWS ", $1::interval) AS n",
			    1, params);
	return r ? (long)db_get_ll(r, 0, "n", 0) : -2;
}

int batch_run_once(struct fs_db *sysdb, struct fs_redis *redis, struct delivery_sender *sender,
		   long budget_ms, long max_messages, struct batch_stats *stats)
{
	long left = max_messages > 0 ? max_messages : -1;
	double deadline = time_monotonic_ms() + (double)budget_ms;
	struct delivery_counts c;
	struct arena a;
	struct flow_engine_counts fc;
	long claimed = 0, indexed = 0, pruned;
	int rc = 0, woke_others = 0, flows_more = 0;

	memset(stats, 0, sizeof(*stats));
	memset(&c, 0, sizeof(c));
	memset(&fc, 0, sizeof(fc));
	arena_init(&a, 64 * 1024);
	/* Mail already queued goes out even when starting campaigns failed. */
	if (delivery_start_due(sysdb, fs_config(), &a, &c) < 0)
		log_warn("starting due campaigns failed; queued mail is still sent");
	if (delivery_tidy(sysdb, &a, &c) < 0) {
		rc = -1;
		goto out;
	}
	/* Issue 20: flows. Each batch commits its executions' moves with the
	 * mail they queue; the mail goes out below in this same pass. At most
	 * half the pass, so queued mail never waits behind a big wave. */
	arena_reset(&a);
	if (flow_engine_schedule_due(sysdb, &a, &fc) < 0)
		log_warn("firing scheduled flows failed; due executions still run");
	{
		double flow_end = time_monotonic_ms() + (double)budget_ms / 2;
		long got;
		do {
			arena_reset(&a);
			got = flow_engine_run_batch(sysdb, &a, FLOW_ENGINE_BATCH, &fc);
		} while (got == FLOW_ENGINE_BATCH && time_monotonic_ms() < flow_end);
		if (got < 0)
			log_warn("running flow executions failed; queued mail is still sent");
		else if (got == FLOW_ENGINE_BATCH)
			flows_more = 1;
	}
	do {
		arena_reset(&a);
		claimed = delivery_run_batch(sysdb, fs_config(), &a,
					     left >= 0 && left < DELIVERY_BATCH ? (int)left : DELIVERY_BATCH,
					     sender, deadline, &c);
		if (claimed < 0 || delivery_tidy(sysdb, &a, &c) < 0) {
			rc = -1;
			goto out;
		}
		if (left >= 0)
			left -= claimed;
		if (claimed == DELIVERY_BATCH && !woke_others) {
			/* A big send: wake the other workers to share it. */
			batch_wake(redis);
			woke_others = 1;
		}
	} while (claimed > 0 && left != 0 && time_monotonic_ms() < deadline);
	rc = claimed > 0 || flows_more ? 1 : 0; /* time ran out with work still due */
	{
		/* Outbound webhooks (event subscriptions and flow step calls) due
		 * now, within what is left of the pass. */
		struct webhook_pass_stats ws;
		int w;
		arena_reset(&a);
		w = webhooks_deliver(sysdb, &a, deadline, &ws);
		if (w < 0)
			log_warn("webhook delivery failed: database unreachable");
		else if (w > 0)
			rc = 1;
		if (ws.delivered || ws.retried || ws.failed)
			log_info("pass: webhooks %ld delivered, %ld to retry, %ld failed, %ld endpoints"
				 " disabled",
				 ws.delivered, ws.retried, ws.failed, ws.disabled);
	}
	{
		/* Then contacts imported in bulk are indexed for search, a slice of
		 * half a second per pass even while mail is queued, so neither
		 * waits long for the other. */
		int more = 0;
		double slice = time_monotonic_ms() + SEARCH_INDEX_SLICE_MS;
		arena_reset(&a);
		indexed = search_index_catch_up(sysdb, &a, search_settle_ms,
						slice < deadline ? slice : deadline, &more);
		if (indexed < 0) {
			rc = -1;
			goto out;
		}
		if (more > 0)
			rc = 1;
		search_settling = more < 0;
	}
	{
		/* Contacts imported in bulk enroll into signup flows the same way. */
		int more = 0;
		double slice = time_monotonic_ms() + FLOW_ENROLL_SLICE_MS;
		long enrolled;
		arena_reset(&a);
		enrolled = flow_enroll_catch_up(sysdb, &a, slice < deadline ? slice : deadline, &more);
		if (enrolled < 0) {
			rc = -1;
			goto out;
		}
		/* New executions are due at once: another pass runs them. */
		if (more || enrolled > 0)
			rc = 1;
		if (enrolled > 0)
			log_info("pass: %ld imported contacts enrolled into signup flows", enrolled);
	}
	arena_reset(&a);
	{
		long folded = fold_counters(sysdb, &a);
		if (folded < -1)
			log_warn("folding counter slots failed; sums are still exact");
		else if (folded == -1)
			search_settling = 1;
	}
	arena_reset(&a);
	pruned = retention_prune(sysdb, &a);
	if (pruned < 0)
		log_warn("deleting old webhook calls and sign-ups failed; tried again next pass");
	else if (pruned > 0)
		log_info("pass: %ld webhook calls and unconfirmed sign-ups older than %d days deleted",
			 pruned, RETENTION_DAYS);
out:
	stats->campaigns_started = c.campaigns_started;
	stats->messages_sent = c.sent;
	stats->messages_failed = c.failed;
	stats->messages_skipped = c.skipped;
	stats->messages_bounced = c.bounced;
	stats->messages_retried = c.retried;
	stats->campaigns_finished = c.campaigns_finished;
	if (c.sent || c.failed || c.skipped || c.retried || c.campaigns_started || c.campaigns_failed)
		log_info("pass: %ld campaigns started, %ld could not start, %ld finished; %ld sent"
			 " (%ld of them bounced), %ld to retry later, %ld failed (%ld interrupted),"
			 " %ld skipped",
			 c.campaigns_started, c.campaigns_failed, c.campaigns_finished, c.sent, c.bounced,
			 c.retried, c.failed, c.interrupted, c.skipped);
	if (indexed > 0)
		log_info("pass: %ld contacts indexed for search", indexed);
	stats->contacts_indexed = indexed > 0 ? indexed : 0;
	stats->flow_steps_advanced = fc.steps;
	if (fc.claimed || fc.schedules)
		log_info("pass: flows: %ld executions run, %ld steps, %ld emails queued, %ld completed,"
			 " %ld stopped, %ld over the monthly limit, %ld failed; %ld scheduled times fired"
			 " (%ld enrolled)",
			 fc.claimed, fc.steps, fc.emails, fc.completed, fc.stopped, fc.limited, fc.failed,
			 fc.schedules, fc.enrolled);
	arena_destroy(&a);
	return rc;
}

int batch_worker(struct fs_db *sysdb, struct fs_redis *redis, struct delivery_sender *sender,
		 int poll_seconds, volatile int *stop)
{
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", poll_seconds);
	search_settle_ms = SEARCH_INDEX_SETTLE_MS;
	while (!*stop) {
		struct batch_stats st;
		const char *argv[] = { "BLPOP", BATCH_WAKE_KEY, timeout };
		const char *settling_argv[] = { "BLPOP", BATCH_WAKE_KEY, "1" };
		redisReply *rep;

		int rc = batch_run_once(sysdb, redis, sender, 10000, 0, &st);
		if (rc < 0)
			log_warn("batch pass failed: database unreachable");
		if (*stop)
			break;
		if (rc > 0)
			continue; /* more mail is waiting: no sleep */
		rep = fs_redis_argv(redis, 3, search_settling ? settling_argv : argv, NULL);
		if (rep) {
			freeReplyObject(rep);
		} else {
			/* Redis down: fall back to polling on our own clock. */
			for (int i = 0; i < (search_settling ? 10 : poll_seconds * 10) && !*stop; i++)
				usleep(100000);
		}
	}
	return 0;
}
