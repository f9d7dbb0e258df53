/* PostgreSQL access: one lazily opened PGconn per worker and role, parameterised
 * queries only, results released with the request arena, tenant transactions. */
#ifndef FS_DB_H
#define FS_DB_H

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/status.h"

#define DB_PREPARED_MAX 64

/* When the connection breaks. A statement runs again on a new session only
 * when the session was idle (no transaction open) and it is not COMMIT; a
 * session the server ended while idle is noticed before sending (a poll(), no
 * round trip). Inside a transaction the statement fails (SQLSTATE 08006), and
 * so does every later one of that transaction (08003, without reaching the
 * server) until db_rollback, db_commit or db_end_request ends it: on a new
 * session each would commit on its own. A COMMIT, a pipeline that was sent,
 * or a statement outside a transaction that could not be run again, whose
 * answer was lost fails with 08007: whether it committed is unknown. 08001:
 * no session could be opened. */
enum db_loss {
	DB_LOSS_NONE,
	DB_LOSS_NOT_DONE, /* the lost work was rolled back or never sent */
	DB_LOSS_UNKNOWN,  /* a commit's answer was lost: it may have taken effect */
};

/* Keep it in place once used: libpq holds its address (the notice receiver). */
struct fs_db {
	const char *url;
	PGconn *conn;
	/* Statements prepared on this connection, by the address of their
	 * (static) SQL text; forgotten whenever the connection is reset. */
	const char *prepared[DB_PREPARED_MAX];
	int nprepared;
	/* Bumped on every (re)connect: session state such as LISTEN is gone. */
	unsigned long generation;
	/* The clock offset this session holds (flowsend.clock_offset, read by
	 * flowsend_now()) and the connection and clock generations it was
	 * last brought in line at. */
	struct {
		long offset;
		unsigned long conn_gen, clock_gen;
	} clock;
	int in_tx;            /* a transaction was open after the last statement */
	int broken_in_tx;     /* the session died under it; the caller has not ended it */
	int doomed;           /* the server said FATAL while idle: it is closing the session */
	enum db_loss loss;    /* the worst loss since db_end_request */
	char sqlstate[6];     /* of the last call, "" when it succeeded */
};

/* Remember the URL; the connection opens on first use (after fork). */
void db_init(struct fs_db *db, const char *url);
void db_close(struct fs_db *db);
/* The live connection, opened or reset as needed; NULL (logged) when the server
 * cannot be reached or the open transaction was lost with the connection. */
PGconn *db_conn(struct fs_db *db);

/* Run a parameterised statement (params are text, NULL is SQL NULL). The result
 * is cleared with the arena. Returns NULL (error logged) unless the status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK. A broken connection outside a
 * transaction is reset and the statement retried once (see above). */
PGresult *db_query(struct fs_db *db, struct arena *a, const char *sql, int nparams,
		   const char *const *params);
/* db_query for a hot, constant statement (a string literal): prepared once
 * per connection, then executed without parsing or planning it again. */
PGresult *db_query_cached(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			  const char *const *params);
/* db_query_cached for a statement that takes a batch from a queue: whenever
 * PostgreSQL plans it, it plans without sequential scans or sorts (session
 * settings around it: two more round trips), so that a plan cached from
 * statistics taken while the queue was empty walks the queue's index and
 * stops at the batch instead of scanning, sorting or rescanning the whole
 * queue (README, "Queue plans"). */
PGresult *db_query_queue(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			 const char *const *params);
/* The SQLSTATE of the last call on this connection ("" if it succeeded);
 * class 08 when the connection was lost. */
const char *db_last_sqlstate(const struct fs_db *db);
/* Whether a call since db_end_request failed because the connection was lost
 * or could not be opened, and what that means for the work. */
enum db_loss db_lost(const struct fs_db *db);

enum fs_status db_begin(struct fs_db *db);
/* BEGIN and set the tenant (flowsend.user_id) for this transaction only, in one
 * round trip; policies then confine every statement to that tenant. */
enum fs_status db_begin_tenant(struct fs_db *db, const char *user_id);
/* COMMIT: FS_OK only when the server answered that it committed (a
 * transaction with a failed statement answers ROLLBACK). Ends the transaction
 * whatever the outcome; a lost answer is FS_ERROR with SQLSTATE 08007. */
enum fs_status db_commit(struct fs_db *db);
/* A statement for db_tenant_pipeline; result is filled in (cleared with the arena). */
struct db_stmt {
	const char *sql;
	int nparams;
	const char *const *params;
	int cached;        /* a constant statement: prepare once per connection */
	PGresult *result;
};

/* Set the tenant and run the statements (at most DB_PIPELINE_MAX) in one
 * round trip, with no transaction open: one transaction, the pipeline's
 * implicit one, which its Sync commits (no BEGIN or COMMIT statements). 0 when
 * every statement succeeded; -1 (logged, rolled back) otherwise. Once sent it
 * never runs again. */
#define DB_PIPELINE_MAX 16
int db_tenant_pipeline(struct fs_db *db, struct arena *a, const char *user_id,
		       struct db_stmt *stmts, int n);
/* db_tenant_pipeline, named for statements that write nothing. */
int db_tenant_read(struct fs_db *db, struct arena *a, const char *user_id, struct db_stmt *stmts,
		   int n);
/* db_tenant_read of one hot, constant statement (prepared once per connection). */
PGresult *db_tenant_read_cached(struct fs_db *db, struct arena *a, const char *user_id,
				const char *sql, int nparams, const char *const *params);
/* One statement in a transaction of its own for user_id's tenant: the result,
 * or NULL (logged, rolled back). */
PGresult *db_tenant_query(struct fs_db *db, struct arena *a, const char *user_id, const char *sql,
			  int nparams, const char *const *params);
/* db_tenant_query for a hot, constant statement: prepared once per connection. */
PGresult *db_tenant_query_cached(struct fs_db *db, struct arena *a, const char *user_id,
				 const char *sql, int nparams, const char *const *params);
/* Roll back the open transaction, or forget one lost with the connection. */
void db_rollback(struct fs_db *db);
/* Roll back whatever a handler left open and forget the request's losses;
 * called between requests. */
void db_end_request(struct fs_db *db);
/* 0 when the server answers a trivial query. */
int db_ping(struct fs_db *db);
/* The same in two halves, so the caller can do other work while the server
 * answers: send (0 when sent), then finish (0 when answered). */
int db_ping_send(struct fs_db *db);
int db_ping_finish(struct fs_db *db);

/* A hot, constant statement in two halves, so the caller can do other work
 * while the server runs it (and waits for its commit's flush): send it
 * (prepared once per connection, as db_query_cached; 0 when sent), poll
 * db_answer_ready (1: db_receive will not block, 0: not yet), then take
 * its answer with db_receive (as db_query_cached returns it). Nothing else
 * may run on the connection in between. Unlike db_query, a statement whose
 * answer was lost is never run again: the caller decides. */
int db_send_cached(struct fs_db *db, const char *sql, int nparams, const char *const *params);
int db_answer_ready(struct fs_db *db);
/* The socket to poll() for the answer. */
int db_socket(const struct fs_db *db);
PGresult *db_receive(struct fs_db *db, struct arena *a);

/* A timestamptz as PostgreSQL sends it (UTC, ISO style) turned into
 * ISO 8601 with a Z, in the arena; NULL stays NULL. */
const char *db_iso_time(struct arena *a, const char *pg);

/* Value helpers over a result row: NULL for SQL NULL, column by name. */
const char *db_get(const PGresult *res, int row, const char *column);
long long db_get_ll(const PGresult *res, int row, const char *column, long long fallback);
int db_get_bool(const PGresult *res, int row, const char *column);

#endif
