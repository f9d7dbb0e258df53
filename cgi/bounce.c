/* flowsend-bounce: reads one message on stdin, a bounce (RFC 3464) or a
 * complaint (RFC 5965) mailed to a message's VERP address, and records it
 * (services/bounces.h). Run by Postfix's pipe transport or a .forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/env.h"
#include "core/log.h"
#include "db/db.h"
#include "services/bounces.h"

/* sysexits(3), as Postfix's pipe(8) reads them: 0 delivered, 75 try again
 * later, 67 bounce (no such user), anything else bounce too. */
#define EXIT_OK 0
#define EXIT_USAGE 64
#define EXIT_NOUSER 67
#define EXIT_TEMPFAIL 75

/* Reports are small; a larger message is read up to here (the fields
 * that matter come first) and the rest drained, so the MTA sees it taken. */
#define INPUT_MAX (4u << 20)

static void usage(FILE *to, const char *prog)
{
	fprintf(to,
		"usage: %s [--recipient ADDRESS] [--now DATE-TIME] < message\n"
		"  Records the bounce or complaint report on stdin. ADDRESS is the envelope\n"
		"  recipient it was delivered to, bounce+<token>@<FLOWSEND_BOUNCE_DOMAIN>\n"
		"  (default: $ORIGINAL_RECIPIENT, then $RECIPIENT, as Postfix's local(8) sets).\n"
		"  Exit 0: recorded, already recorded, or not a report about a message of\n"
		"  ours (ignored); 67: the address carries no token FlowSend signed; 75: try\n"
		"  again later (database unavailable, or the message's outcome is not\n"
		"  recorded yet). --now runs on a moved clock (tests).\n",
		prog);
}

/* stdin up to INPUT_MAX into a new buffer (NUL-terminated), the rest drained. */
static char *read_input(size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 1), sink[8192];

	if (!buf)
		return NULL;
	while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n == cap) {
			char *grown;
			if (cap >= INPUT_MAX)
				break;
			cap *= 2;
			if (!(grown = realloc(buf, cap + 1))) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
	}
	while (fread(sink, 1, sizeof(sink), stdin) > 0)
		;
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *outcome_name(enum bounce_outcome o)
{
	switch (o) {
	case BOUNCE_RECORDED:
		return "recorded";
	case BOUNCE_REPLAYED:
		return "already recorded";
	case BOUNCE_IGNORED:
		return "ignored";
	case BOUNCE_FORGED:
		return "refused (no valid token)";
	case BOUNCE_TOO_EARLY:
		return "deferred (outcome not recorded yet)";
	}
	return "?";
}

int main(int argc, char **argv)
{
	const char *recipient = NULL, *now = NULL;
	char err[256], *msg;
	size_t len = 0;
	struct arena arena;
	struct fs_db db, sysdb;
	struct fs_env env;
	struct bounce_result res;
	struct fs_error ferr;
	enum fs_status st;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc) {
			recipient = argv[++i];
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			now = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout, argv[0]);
			return EXIT_OK;
		} else {
			usage(stderr, argv[0]);
			return EXIT_USAGE;
		}
	}
	if (!recipient)
		recipient = getenv("ORIGINAL_RECIPIENT");
	if (!recipient || !*recipient)
		recipient = getenv("RECIPIENT");
	log_setup("bounce", LOG_INFO);
	if (now && clock_set_now_iso(now) < 0) {
		fprintf(stderr, "%s: --now: '%s' is not an ISO 8601 date-time\n", argv[0], now);
		return EXIT_USAGE;
	}
	if (fs_config_load_global(err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_TEMPFAIL; /* an operator's mistake: keep the mail queued */
	}
	if (!(msg = read_input(&len))) {
		log_error("out of memory reading the message");
		return EXIT_TEMPFAIL;
	}
	arena_init(&arena, 0);
	db_init(&db, fs_config()->database_url);
	db_init(&sysdb, fs_config()->database_system_url);
	memset(&env, 0, sizeof(env));
	env.arena = &arena;
	env.cfg = fs_config();
	env.db = &db;
	env.sysdb = &sysdb;
	env.request_id = "bounce";
	env.client_addr = "";
	st = bounce_process(&env, recipient, msg, len, &res, &ferr);
	if (st != FS_OK) {
		log_error("%s: %s", res.outbox_id[0] ? res.outbox_id : "-", ferr.detail);
		rc = EXIT_TEMPFAIL;
	} else {
		log_info("report (%s, status %s) for message %s: %s%s",
			 dsn_kind_name(res.report.kind), res.report.status[0] ? res.report.status : "-",
			 res.outbox_id[0] ? res.outbox_id : "-", outcome_name(res.outcome),
			 res.suppressed ? "; address suppressed" : "");
		rc = res.outcome == BOUNCE_FORGED      ? EXIT_NOUSER
		     : res.outcome == BOUNCE_TOO_EARLY ? EXIT_TEMPFAIL
						       : EXIT_OK;
	}
	db_close(&db);
	db_close(&sysdb);
	arena_destroy(&arena);
	free(msg);
	return rc;
}
