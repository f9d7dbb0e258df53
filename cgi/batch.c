/* flowsend-batch: sends queued mail, starts scheduled campaigns, advances flow
 * delays. --once for cron, --worker to stay up and be woken through Redis;
 * --now runs either as if it were another instant (tests, staging). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/batch.h"

static volatile int batch_stop;
static pid_t siblings[16];
static int nsiblings;

/* --worker runs FLOWSEND_BATCH_WORKERS processes, one per core by default;
 * SKIP LOCKED keeps them off each other's mail. Each opens its own
 * connections after the fork. Over SMTP too: one process has one database
 * step in flight at a time and builds every message in its one main
 * thread, so it uses at most about one core, and a signed message costs
 * ~0.6 ms of CPU (session 11: 2 processes on 2 cores, see README). Over
 * SMTP the processes share FLOWSEND_SMTP_CONCURRENCY and FLOWSEND_SMTP_RATE
 * (delivery_sender_open), so there are never more processes than slots:
 * what a kill -9 of them all can leave in doubt stays within the
 * concurrency. */
static long start_siblings(void)
{
	const char *env = getenv("FLOWSEND_BATCH_WORKERS");
	const struct fs_config *cfg = fs_config();
	long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);

	if (*cfg->smtp_url && n > cfg->smtp_concurrency)
		n = cfg->smtp_concurrency;
	if (n < 1)
		n = 1;
	if (n > 16)
		n = 16;
	for (long i = 1; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			nsiblings = 0;
			return n;
		}
		if (pid > 0)
			siblings[nsiblings++] = pid;
	}
	return n;
}

static void usage(FILE *to, const char *prog)
{
	fprintf(to,
		"usage: %s --once [--limit MESSAGES] | --worker [--poll SECONDS]"
		" [--now DATE-TIME]\n"
		"  --now  run as if it were DATE-TIME (ISO 8601, e.g. 2026-11-25T10:00:00Z; no\n"
		"         offset means UTC): due campaigns, delays and expiries are judged,\n"
		"         and new rows stamped, on a clock moved to it, and it runs on from\n"
		"         there. For tests and staging; it acts on the whole database.\n",
		prog);
}

static void on_term(int sig)
{
	(void)sig;
	batch_stop = 1;
}

int main(int argc, char **argv)
{
	int once = 0, worker = 0, poll = 5, rc = 0, help = 0;
	long limit = 0;
	const char *now = NULL;
	char err[256];
	struct fs_db sysdb;
	struct fs_redis redis;
	struct sigaction sa;
	struct delivery_sender *sender;
	long processes = 1;
	char how[256];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			once = 1;
		else if (strcmp(argv[i], "--worker") == 0)
			worker = 1;
		else if (strcmp(argv[i], "--poll") == 0 && i + 1 < argc)
			poll = atoi(argv[++i]);
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = atol(argv[++i]);
		else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
			now = argv[++i];
		else if (strcmp(argv[i], "--help") == 0)
			help = 1;
		else
			once = worker = -1;
	}
	if (help) {
		usage(stdout, argv[0]);
		return 0;
	}
	/* The clock moves before anything reads it (and before the fork, so
	 * every worker process shares it). */
	if (now && clock_set_now_iso(now) < 0) {
		fprintf(stderr, "%s: --now: '%s' is not an ISO 8601 date-time\n", argv[0], now);
		once = worker = -1;
	}
	if (once + worker != 1 || poll < 1 || poll > 3600 || limit < 0 || (limit && !once)) {
		usage(stderr, argv[0]);
		return 2;
	}
	log_setup("batch", LOG_INFO);
	if (now)
		log_info("clock moved to %s (%+ld s from the wall clock)", now, clock_offset());
	if (fs_config_load_global(err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (worker)
		processes = start_siblings();
	/* After the fork: the sender runs threads, and each process has its own
	 * share of the SMTP concurrency and rate. */
	sender = delivery_sender_open(fs_config(), (int)processes, err, sizeof(err));
	if (!sender && *err) {
		log_error("delivery: %s", err);
		for (int i = 0; i < nsiblings; i++)
			kill(siblings[i], SIGTERM);
		return 1;
	}
	db_init(&sysdb, fs_config()->database_system_url);
	fs_redis_init(&redis, fs_config()->redis_url);
	/* BLPOP blocks for up to poll seconds: give the socket more than that. */
	redis.timeout_ms = (poll + 2) * 1000;
	if (once) {
		/* Passes until nothing is due or 50 s are spent (a pass yields to
		 * mail every half second while it indexes contacts for search). */
		struct batch_stats st, sum = { 0 };
		double end = time_monotonic_ms() + 50000;
		long left = limit;
		int rc_once;
		do {
			rc_once = batch_run_once(&sysdb, &redis, sender, (long)(end - time_monotonic_ms()),
						 left, &st);
			sum.campaigns_started += st.campaigns_started;
			sum.campaigns_finished += st.campaigns_finished;
			sum.messages_sent += st.messages_sent;
			sum.messages_failed += st.messages_failed;
			sum.messages_skipped += st.messages_skipped;
			sum.messages_bounced += st.messages_bounced;
			sum.messages_retried += st.messages_retried;
			sum.contacts_indexed += st.contacts_indexed;
			if (limit > 0) {
				left -= st.messages_sent + st.messages_failed + st.messages_skipped;
				if (left <= 0)
					break;
			}
		} while (rc_once > 0 && time_monotonic_ms() < end);
		if (rc_once < 0) {
			log_error("batch pass failed: database unreachable");
			rc = 1;
		} else {
			log_info("pass done: %ld campaigns started, %ld finished, %ld messages sent"
				 " (%ld bounced), %ld to retry later, %ld failed, %ld skipped; %ld contacts"
				 " indexed for search%s",
				 sum.campaigns_started, sum.campaigns_finished, sum.messages_sent,
				 sum.messages_bounced, sum.messages_retried, sum.messages_failed,
				 sum.messages_skipped, sum.contacts_indexed,
				 rc_once > 0 ? "; more work waits for the next run" : "");
		}
	} else {
		log_info("worker started (poll every %ds); delivery: %s", poll,
			 delivery_sender_describe(sender, how, sizeof(how)));
		batch_worker(&sysdb, &redis, sender, poll, &batch_stop);
		log_info("worker stopped");
		for (int i = 0; i < nsiblings; i++) {
			kill(siblings[i], SIGTERM);
			waitpid(siblings[i], NULL, 0);
		}
	}
	delivery_sender_close(sender);
	db_close(&sysdb);
	fs_redis_close(&redis);
	return rc;
}
