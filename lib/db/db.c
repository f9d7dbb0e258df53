/* libpq wrapper. Connections are opened after fork (a PGconn must never be
 * shared between processes) and replaced when they break, so a PostgreSQL
 * restart costs the next request one reconnect rather than a broken
 * responder; a transaction the break cut short is never continued elsewhere. */
#include "db/db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

/* Class 08 (connection exception) SQLSTATEs for what libpq reports without one. */
#define STATE_NO_SESSION "08001" /* sqlclient_unable_to_establish_sqlconnection */
#define STATE_TX_GONE "08003"    /* connection_does_not_exist */
#define STATE_BROKEN "08006"     /* connection_failure */
#define STATE_UNKNOWN "08007"    /* transaction_resolution_unknown */

/* How db_run sends its statement. */
#define RUN_CACHED 1 /* prepared once per connection */
#define RUN_SIMPLE 2 /* PQexec: a constant statement, one message */

static const char set_tenant[] = "SELECT set_config('flowsend.user_id', $1, true)";

void db_init(struct fs_db *db, const char *url)
{
	memset(db, 0, sizeof(*db));
	db->url = url;
}

void db_close(struct fs_db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->nprepared = 0;
	db->in_tx = db->broken_in_tx = db->doomed = 0;
}

/* Notices are not shown. A FATAL one arrives while idle as the server's last
 * word before it closes the session (restart, pg_terminate_backend). */
static void db_notice(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		((struct fs_db *)arg)->doomed = 1;
}

static void set_state(struct fs_db *db, const char *state)
{
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
}

/* A failure because the connection is gone: remembered for db_lost too. */
static void lose(struct fs_db *db, const char *state)
{
	enum db_loss l = strcmp(state, STATE_UNKNOWN) == 0 ? DB_LOSS_UNKNOWN : DB_LOSS_NOT_DONE;

	set_state(db, state);
	if (l > db->loss)
		db->loss = l;
}

/* A new session (the first, or one replacing a broken one): 0, or -1 logged. */
static int db_connect(struct fs_db *db)
{
	int fresh = !db->conn;
	PGresult *res;

	if (!fresh) {
		PQreset(db->conn);
	} else {
		db->conn = PQconnectdb(db->url);
		if (db->conn)
			PQsetNoticeReceiver(db->conn, db_notice, db);
	}
	db->nprepared = 0;
	db->in_tx = db->doomed = 0;
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		log_error("database connection failed: %s",
			  db->conn ? PQerrorMessage(db->conn) : "out of memory");
		goto fail;
	}
	db->generation++;
	/* Timestamps come back as ISO 8601 in UTC, ready for db_iso_time. No
	 * JIT: our statements run in milliseconds, and one whose estimate passes
	 * jit_above_cost (a claim with 100,000 rows queued) spent 54-575 ms
	 * compiling for a few ms of work (session 13). */
	res = PQexec(db->conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET jit = off");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_error("database session setup failed: %s", PQerrorMessage(db->conn));
		PQclear(res);
		db->doomed = 1; /* never used as it is: the next call starts over */
		goto fail;
	}
	PQclear(res);
	return 0;
fail:
	/* A failed reset keeps its PGconn (callers may hold it) for the next try. */
	if (fresh && db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	lose(db, STATE_NO_SESSION);
	return -1;
}

/* Remember whether a transaction is open, from libpq's (local) answer while
 * the connection lives; a broken one answers UNKNOWN and the memory stays. */
static int tx_open(struct fs_db *db)
{
	PGTransactionStatusType t = db->conn ? PQtransactionStatus(db->conn) : PQTRANS_UNKNOWN;

	if (t != PQTRANS_UNKNOWN)
		db->in_tx = t != PQTRANS_IDLE;
	return db->in_tx;
}

/* Whether the server ended this idle session behind our back (restart,
 * pg_terminate_backend, idle timeout): a poll() and, only when something
 * arrived, a read of it. No round trip. */
static int session_gone(struct fs_db *db)
{
	struct pollfd p = { PQsocket(db->conn), POLLIN, 0 };

	if (!db->doomed && poll(&p, 1, 0) <= 0)
		return 0;
	if (!PQconsumeInput(db->conn))
		return 1;
	PQisBusy(db->conn); /* parses what came: a FATAL notice, or a NOTIFY kept for later */
	return db->doomed || PQstatus(db->conn) != CONNECTION_OK;
}

/* The session died under an open transaction: the server rolled it back.
 * Its later statements are refused until the caller ends it. */
static void tx_lost(struct fs_db *db)
{
	db->broken_in_tx = 1;
	lose(db, STATE_BROKEN);
	log_error("database connection lost inside a transaction: nothing of it was committed,"
		  " and its remaining statements will fail until it is rolled back");
}

/* The connection to send the next statement on, replaced first if it died
 * while idle; *idle says whether no transaction is open (a statement may then
 * run again on a new session). NULL, logged with the SQLSTATE set, when the
 * transaction was lost or no session can be opened. */
static PGconn *db_ready(struct fs_db *db, int *idle)
{
	*idle = 0;
	if (db->broken_in_tx) {
		lose(db, STATE_TX_GONE);
		log_warn("statement refused: its transaction was lost with the database connection");
		return NULL;
	}
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
		if (tx_open(db))
			return db->conn;
		*idle = 1;
		if (!session_gone(db))
			return db->conn;
		log_warn("the database ended the idle session; reconnecting");
	} else if (db->conn && db->in_tx) {
		/* It broke under a transaction outside these functions (COPY). */
		tx_lost(db);
		return NULL;
	}
	*idle = 1;
	return db_connect(db) == 0 ? db->conn : NULL;
}

PGconn *db_conn(struct fs_db *db)
{
	int idle;

	return db_ready(db, &idle);
}

/* Give the session the process's clock offset before a statement runs. Free
 * while neither the connection nor the offset changed, and no round trip
 * while the offset is 0: a new session starts without the setting, which
 * flowsend_now() reads as 0. Inside a transaction the setting would be undone
 * by a rollback, so it is sent but not recorded, and sent again next time. */
static void db_clock_sync(struct fs_db *db, PGconn *c)
{
	static const char set_offset[] = "SELECT set_config('flowsend.clock_offset', $1, false)";
	unsigned long gen = clock_generation();
	char value[24];
	const char *params[1] = { value };
	PGresult *res;
	int idle;

	if (db->clock.conn_gen == db->generation && db->clock.clock_gen == gen)
		return;
	if (db->clock.conn_gen != db->generation)
		db->clock.offset = 0;
	idle = PQtransactionStatus(c) == PQTRANS_IDLE;
	if (clock_offset() != db->clock.offset) {
		snprintf(value, sizeof(value), "%ld", clock_offset());
		res = PQexecParams(c, set_offset, 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			/* The statement runs on the session's old clock and the next
			 * one tries again; a dead connection is the statement's to report. */
			if (PQstatus(c) != CONNECTION_BAD)
				log_error("setting the clock offset failed: %s",
					  PQresultErrorMessage(res));
			PQclear(res);
			return;
		}
		PQclear(res);
		if (!idle)
			return;
		db->clock.offset = clock_offset();
	}
	db->clock.conn_gen = db->generation;
	db->clock.clock_gen = gen;
}

static void clear_result(void *p)
{
	PQclear(p);
}

static int result_ok(PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Log a failed statement and keep its SQLSTATE (state when the server sent none). */
static void report(struct fs_db *db, const PGresult *res, const char *state)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	enum log_level level = LOG_ERROR;

	set_state(db, s && *s ? s : state);
	/* Constraint violations (class 23) are answers the caller expects and
	 * maps to 400/409, as are our own FSnnn (a cached tenant found moved:
	 * the caller looks it up afresh); a broken connection is logged with
	 * what it cost. */
	if (strncmp(db->sqlstate, "23", 2) == 0 || strncmp(db->sqlstate, "FS", 2) == 0)
		level = LOG_INFO;
	else if (PQstatus(db->conn) != CONNECTION_OK)
		level = LOG_WARN;
	log_msg(level, "query failed (%s): %s", db->sqlstate,
		res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
}

/* The prepared name of a constant statement, preparing it if need be: its
 * index, or -1 (all slots taken, or the prepare failed: *failed then holds
 * the result when failed is not NULL). */
static int prepared_index(struct fs_db *db, PGconn *c, const char *sql, int nparams,
			  PGresult **failed)
{
	char name[16];
	PGresult *res;

	for (int i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == sql)
			return i;
	if (db->nprepared == DB_PREPARED_MAX)
		return -1;
	snprintf(name, sizeof(name), "fs_%d", db->nprepared);
	res = PQprepare(c, name, sql, nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (failed)
			*failed = res;
		else
			PQclear(res);
		return -1;
	}
	PQclear(res);
	db->prepared[db->nprepared] = sql;
	return db->nprepared++;
}

static PGresult *send_one(struct fs_db *db, PGconn *c, const char *sql, int nparams,
			  const char *const *params, int how)
{
	PGresult *failed = NULL;
	char name[16];
	int idx;

	if (how & RUN_SIMPLE)
		return PQexec(c, sql);
	if (how & RUN_CACHED) {
		idx = prepared_index(db, c, sql, nparams, &failed);
		if (failed)
			return failed;
		if (idx >= 0) {
			snprintf(name, sizeof(name), "fs_%d", idx);
			return PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
		}
	}
	return PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* An answer that arrived: a result (kept in the arena) or a statement error
 * on a live session (NULL). Returns 1 when it settled, 0 when the answer was
 * lost with the connection (the caller decides what that means). */
static int answer_settle(struct fs_db *db, struct arena *a, PGconn *c, PGresult *res, PGresult **out)
{
	*out = NULL;
	if (result_ok(res)) {
		db->sqlstate[0] = '\0';
		tx_open(db);
		if (a)
			arena_add_cleanup(a, clear_result, res);
		*out = res;
		return 1;
	}
	if (PQstatus(c) == CONNECTION_OK) {
		report(db, res, "");
		PQclear(res);
		tx_open(db);
		return 1;
	}
	report(db, res, STATE_BROKEN);
	PQclear(res);
	return 0;
}

/* One statement, with the rules of db.h for a broken connection. */
static PGresult *db_run(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			const char *const *params, int how)
{
	int resent = 0; /* its first answer was lost: it may have taken effect */

	db->sqlstate[0] = '\0';
	for (;;) {
		int idle;
		PGconn *c = db_ready(db, &idle);
		PGresult *res, *settled;

		if (!c) {
			if (resent)
				lose(db, STATE_UNKNOWN);
			return NULL;
		}
		db_clock_sync(db, c);
		res = send_one(db, c, sql, nparams, params, how);
		if (answer_settle(db, a, c, res, &settled))
			return settled;
		if (idle && !resent) {
			/* Nothing was open on the session: the statement alone is lost. */
			log_warn("database connection lost; running the statement again on a new"
				 " session");
			resent = 1;
			continue;
		}
		if (idle)
			lose(db, STATE_UNKNOWN);
		else
			tx_lost(db);
		return NULL;
	}
}

PGresult *db_query(struct fs_db *db, struct arena *a, const char *sql, int nparams,
		   const char *const *params)
{
	return db_run(db, a, sql, nparams, params, 0);
}

PGresult *db_query_cached(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			  const char *const *params)
{
	return db_run(db, a, sql, nparams, params, RUN_CACHED);
}

PGresult *db_query_queue(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			 const char *const *params)
{
	PGresult *res, *set;
	char state[sizeof(db->sqlstate)];

	set = db_run(db, NULL, "SET enable_seqscan = off; SET enable_sort = off", 0, NULL, RUN_SIMPLE);
	if (!set)
		return NULL;
	PQclear(set);
	res = db_run(db, a, sql, nparams, params, RUN_CACHED);
	/* A failed transaction takes the settings back with it at its rollback;
	 * so does a session lost with it. */
	if (!res && (db->in_tx || db->broken_in_tx))
		return NULL;
	memcpy(state, db->sqlstate, sizeof(state));
	PQclear(db_run(db, NULL, "RESET enable_seqscan; RESET enable_sort", 0, NULL, RUN_SIMPLE));
	if (!res)
		memcpy(db->sqlstate, state, sizeof(state));
	return res;
}

const char *db_last_sqlstate(const struct fs_db *db)
{
	return db->sqlstate;
}

enum db_loss db_lost(const struct fs_db *db)
{
	return db->loss;
}

enum fs_status db_begin(struct fs_db *db)
{
	PGresult *res = db_run(db, NULL, "BEGIN", 0, NULL, RUN_SIMPLE);

	if (!res)
		return FS_ERROR;
	PQclear(res);
	return FS_OK;
}

/* BEGIN and set the tenant in one round trip: FS_OK, or FS_ERROR with the
 * failure reported (the caller looks at the connection to tell why). */
static enum fs_status begin_tenant_once(struct fs_db *db, PGconn *c, const char *user_id)
{
	const char *params[1] = { user_id };
	enum fs_status ret = FS_ERROR;
	PGresult *res;
	int ok = 0;

	db_clock_sync(db, c);
	if (!PQenterPipelineMode(c))
		return FS_ERROR;
	if (!PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(c, set_tenant, 1, NULL, params, NULL, NULL, 0) || !PQpipelineSync(c)) {
		log_error("pipeline send failed: %s", PQerrorMessage(c));
		goto out;
	}
	for (;;) {
		res = PQgetResult(c);
		if (!res) {
			if (PQstatus(c) == CONNECTION_BAD)
				goto out;
			continue; /* end of one statement's results */
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			ok++;
		else if (st != PGRES_PIPELINE_ABORTED && !db->sqlstate[0])
			report(db, res, PQstatus(c) == CONNECTION_OK ? "" : STATE_BROKEN);
		PQclear(res);
		if (PQstatus(c) == CONNECTION_BAD)
			break;
	}
	if (ok == 2)
		ret = FS_OK;
out:
	PQexitPipelineMode(c);
	return ret;
}

enum fs_status db_begin_tenant(struct fs_db *db, const char *user_id)
{
	db->sqlstate[0] = '\0';
	for (int attempt = 0;; attempt++) {
		int idle;
		PGconn *c = db_ready(db, &idle);

		if (!c)
			return FS_ERROR;
		if (begin_tenant_once(db, c, user_id) == FS_OK) {
			db->in_tx = 1;
			return FS_OK;
		}
		if (PQstatus(c) == CONNECTION_OK) {
			if (PQtransactionStatus(c) != PQTRANS_IDLE)
				db_rollback(db);
			return FS_ERROR;
		}
		/* BEGIN and set_config change nothing: from an idle session both
		 * can simply run again on a new one. */
		if (idle && attempt == 0) {
			log_warn("database connection lost; beginning the transaction on a new"
				 " session");
			db->sqlstate[0] = '\0';
			continue;
		}
		if (idle)
			lose(db, STATE_BROKEN);
		else
			tx_lost(db);
		return FS_ERROR;
	}
}

/* Send a pipeline and read its answers; results go into stmts. 0, or -1 (logged). */
/* Queue one statement: by name when it was prepared (idx >= 0), else parsed. */
static int pipeline_send(PGconn *c, int idx, const char *sql, int nparams,
			 const char *const *params)
{
	char name[16];

	if (idx < 0)
		return PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	snprintf(name, sizeof(name), "fs_%d", idx);
	return PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0);
}

/* No BEGIN and COMMIT statements: the statements up to the Sync run in the
 * extended protocol's implicit transaction (the tenant setting, local to the
 * transaction, holds until the Sync), which the Sync commits, or rolls back
 * when one of them failed (the rest are then skipped). Two statements fewer
 * for the server on every request: about 16,000 instructions of a create's
 * 1,000,000 (callgrind of a single-user backend, 1,000 creates). */
static int pipeline_run(struct fs_db *db, struct arena *a, PGconn *c, const char *user_id,
			struct db_stmt *stmts, int n, const int *idx, int tenant_idx)
{
	const char *tenant[1] = { user_id };
	int first = 1, total = n + 1, commit_slot = n + 1;
	int ok, sent, slot = 0, refused_at = -1;

	db_clock_sync(db, c);
	if (!PQenterPipelineMode(c))
		return -1;
	sent = pipeline_send(c, tenant_idx, set_tenant, 1, tenant);
	for (int i = 0; sent && i < n; i++)
		sent = pipeline_send(c, idx[i], stmts[i].sql, stmts[i].nparams, stmts[i].params);
	sent = sent && PQpipelineSync(c);
	if (!sent)
		log_error("pipeline send failed: %s", PQerrorMessage(c));
	/* From here on the pipeline may have committed: it never runs again. */
	ok = sent;
	while (sent) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st;

		if (!r) {
			if (PQstatus(c) == CONNECTION_BAD)
				break;
			continue; /* end of one statement's results */
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			/* The server's own refusal (it carries a SQLSTATE): neither
			 * this statement nor any after it, COMMIT included, ran. */
			if (refused_at < 0 && state && *state)
				refused_at = slot;
			if (ok && st != PGRES_PIPELINE_ABORTED)
				report(db, r, PQstatus(c) == CONNECTION_OK ? "" : STATE_BROKEN);
			ok = 0;
		}
		if (ok && slot >= first && slot < first + n) {
			stmts[slot - first].result = r;
			if (a)
				arena_add_cleanup(a, clear_result, r);
		} else {
			PQclear(r);
		}
		slot++;
	}
	PQexitPipelineMode(c);
	if (ok && slot == total) {
		tx_open(db);
		return 0;
	}
	if (PQstatus(c) == CONNECTION_OK) {
		db_rollback(db);
		return -1;
	}
	db->in_tx = 0; /* the session is gone, and its transaction with it */
	if (refused_at >= 0 && refused_at < commit_slot) {
		lose(db, STATE_BROKEN);
		log_error("database connection lost during a pipeline: nothing of it was committed");
	} else {
		lose(db, STATE_UNKNOWN);
		log_error("database connection lost after a pipeline was sent: whether it committed"
			  " is unknown");
	}
	return -1;
}

int db_tenant_pipeline(struct fs_db *db, struct arena *a, const char *user_id,
		       struct db_stmt *stmts, int n)
{
	int idx[DB_PIPELINE_MAX], tenant_idx;

	db->sqlstate[0] = '\0';
	for (int i = 0; i < n; i++)
		stmts[i].result = NULL;
	if (n > DB_PIPELINE_MAX) {
		log_error("a pipeline of %d statements (at most %d)", n, DB_PIPELINE_MAX);
		return -1;
	}
	for (int attempt = 0;; attempt++) {
		int idle;
		PGconn *c = db_ready(db, &idle);

		if (!c)
			return -1;
		/* Preparing happens once per connection, before the pipeline; the
		 * tenant's statement runs on every request, so it is prepared too. */
		tenant_idx = prepared_index(db, c, set_tenant, 1, NULL);
		for (int i = 0; i < n; i++) {
			const struct db_stmt *st = &stmts[i];
			idx[i] = st->cached ? prepared_index(db, c, st->sql, st->nparams, NULL) : -1;
		}
		if (PQstatus(c) == CONNECTION_OK)
			return pipeline_run(db, a, c, user_id, stmts, n, idx, tenant_idx);
		/* It broke while preparing, before anything of the pipeline was sent. */
		if (idle && attempt == 0) {
			log_warn("database connection lost; sending the pipeline on a new session");
			continue;
		}
		if (idle)
			lose(db, STATE_BROKEN);
		else
			tx_lost(db);
		return -1;
	}
}

int db_tenant_read(struct fs_db *db, struct arena *a, const char *user_id, struct db_stmt *stmts,
		   int n)
{
	return db_tenant_pipeline(db, a, user_id, stmts, n);
}

PGresult *db_tenant_read_cached(struct fs_db *db, struct arena *a, const char *user_id,
				const char *sql, int nparams, const char *const *params)
{
	struct db_stmt s = { sql, nparams, params, 1, NULL };

	return db_tenant_read(db, a, user_id, &s, 1) == 0 ? s.result : NULL;
}

PGresult *db_tenant_query(struct fs_db *db, struct arena *a, const char *user_id, const char *sql,
			  int nparams, const char *const *params)
{
	struct db_stmt s = { sql, nparams, params, 0, NULL };

	return db_tenant_pipeline(db, a, user_id, &s, 1) == 0 ? s.result : NULL;
}

PGresult *db_tenant_query_cached(struct fs_db *db, struct arena *a, const char *user_id,
				 const char *sql, int nparams, const char *const *params)
{
	struct db_stmt s = { sql, nparams, params, 1, NULL };

	return db_tenant_pipeline(db, a, user_id, &s, 1) == 0 ? s.result : NULL;
}

enum fs_status db_commit(struct fs_db *db)
{
	enum fs_status ret = FS_ERROR;
	PGresult *res;

	db->sqlstate[0] = '\0';
	if (db->broken_in_tx) {
		/* The server rolled the transaction back when the session died. */
		db->broken_in_tx = db->in_tx = 0;
		lose(db, STATE_TX_GONE);
		log_error("COMMIT refused: the transaction was lost with the database connection;"
			  " nothing of it was committed");
		return FS_ERROR;
	}
	if (!tx_open(db)) {
		/* No transaction: COMMIT only warns, wherever it runs. */
		res = db_run(db, NULL, "COMMIT", 0, NULL, RUN_SIMPLE);
		PQclear(res);
		return res ? FS_OK : FS_ERROR;
	}
	if (PQstatus(db->conn) != CONNECTION_OK || session_gone(db)) {
		/* Known dead before COMMIT was sent: the transaction died with it. */
		db->in_tx = 0;
		lose(db, STATE_BROKEN);
		log_error("database connection lost before COMMIT: nothing was committed");
		return FS_ERROR;
	}
	res = PQexec(db->conn, "COMMIT");
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		/* A transaction that had failed answers COMMIT with ROLLBACK. */
		if (strcmp(PQcmdStatus(res), "COMMIT") == 0) {
			ret = FS_OK;
		} else {
			set_state(db, "25P02");
			log_error("COMMIT rolled back: a statement of the transaction had failed");
		}
	} else if (PQstatus(db->conn) == CONNECTION_OK) {
		report(db, res, "");
	} else {
		report(db, res, STATE_UNKNOWN);
		lose(db, STATE_UNKNOWN);
		log_error("database connection lost during COMMIT: whether the transaction committed"
			  " is unknown");
	}
	PQclear(res);
	db->in_tx = 0;
	tx_open(db);
	return ret;
}

void db_rollback(struct fs_db *db)
{
	/* One lost with the connection was rolled back by the server. */
	db->broken_in_tx = 0;
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(PQexec(db->conn, "ROLLBACK"));
	db->in_tx = 0;
	tx_open(db);
}

void db_end_request(struct fs_db *db)
{
	db_rollback(db);
	db->loss = DB_LOSS_NONE;
	db->sqlstate[0] = '\0';
}

int db_ping(struct fs_db *db)
{
	/* A constant statement: the simple protocol costs the server one message
	 * instead of parse, bind, describe and execute. */
	PGresult *res = db_run(db, NULL, "SELECT 1", 0, NULL, RUN_SIMPLE);

	PQclear(res);
	return res ? 0 : -1;
}

int db_ping_send(struct fs_db *db)
{
	int idle;
	PGconn *c = db_ready(db, &idle);

	if (!c || !idle)
		return -1;
	return PQsendQuery(c, "SELECT 1") ? 0 : -1;
}

int db_ping_finish(struct fs_db *db)
{
	PGresult *res;
	int ok = 0, results = 0;

	while ((res = PQgetResult(db->conn))) {
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		results++;
		PQclear(res);
	}
	if (results == 0 || !ok) {
		/* The connection died while idle: one fresh try. */
		return db_ping(db);
	}
	return 0;
}

int db_send_cached(struct fs_db *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *failed = NULL;
	char name[16];
	int idle, idx;
	PGconn *c;

	db->sqlstate[0] = '\0';
	c = db_ready(db, &idle);
	if (!c)
		return -1;
	db_clock_sync(db, c);
	idx = prepared_index(db, c, sql, nparams, &failed);
	if (failed) {
		report(db, failed, PQstatus(c) == CONNECTION_OK ? "" : STATE_BROKEN);
		PQclear(failed);
		return -1;
	}
	if (idx >= 0) {
		snprintf(name, sizeof(name), "fs_%d", idx);
		if (PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0))
			return 0;
	} else if (PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) {
		return 0;
	}
	report(db, NULL, STATE_BROKEN);
	if (!idle)
		tx_lost(db);
	return -1;
}

int db_answer_ready(struct fs_db *db)
{
	if (!PQconsumeInput(db->conn))
		return 1; /* broken: db_receive says so without blocking */
	return !PQisBusy(db->conn);
}

int db_socket(const struct fs_db *db)
{
	return PQsocket(db->conn);
}

PGresult *db_receive(struct fs_db *db, struct arena *a)
{
	PGresult *res = PQgetResult(db->conn), *extra, *settled;

	/* One statement, one result: read up to the end of the answer. */
	while ((extra = PQgetResult(db->conn)))
		PQclear(extra);
	if (answer_settle(db, a, db->conn, res, &settled))
		return settled;
	/* Its answer was lost: whether it committed is unknown. */
	if (db->in_tx)
		tx_lost(db);
	else
		lose(db, STATE_UNKNOWN);
	return NULL;
}

const char *db_iso_time(struct arena *a, const char *pg)
{
	size_t n;
	char *out;

	if (!pg)
		return NULL;
	n = strlen(pg);
	out = arena_alloc(a, n + 2);
	if (!out)
		return NULL;
	memcpy(out, pg, n + 1);
	/* "2026-11-25 14:27:10.989+00" -> "2026-11-25T14:27:10.989Z" */
	if (n > 10 && out[10] == ' ')
		out[10] = 'T';
	if (n > 3 && strcmp(out + n - 3, "+00") == 0)
		strcpy(out + n - 3, "Z");
	return out;
}

const char *db_get(const PGresult *res, int row, const char *column)
{
	int col = PQfnumber(res, column);

	if (col < 0 || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

long long db_get_ll(const PGresult *res, int row, const char *column, long long fallback)
{
	const char *v = db_get(res, row, column);
	return v ? strtoll(v, NULL, 10) : fallback;
}

int db_get_bool(const PGresult *res, int row, const char *column)
{
	const char *v = db_get(res, row, column);
	return v && v[0] == 't';
}
