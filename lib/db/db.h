/* PostgreSQL access: one lazily opened PGconn per worker and role, parameterised
 * queries only, results released with the request arena, tenant transactions. */
#ifndef FS_DB_H
#define FS_DB_H

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/status.h"

#define DB_PREPARED_MAX 64

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
};

/* Remember the URL; the connection opens on first use (after fork). */
void db_init(struct fs_db *db, const char *url);
void db_close(struct fs_db *db);
/* The live connection, opened or reset as needed; NULL (logged) when the server
 * cannot be reached. */
PGconn *db_conn(struct fs_db *db);

/* Run a parameterised statement (params are text, NULL is SQL NULL). The result
 * is cleared with the arena. Returns NULL (error logged) unless the status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK. A broken connection outside a
 * transaction is reset and the statement retried once. */
PGresult *db_query(struct fs_db *db, struct arena *a, const char *sql, int nparams,
		   const char *const *params);
/* db_query for a hot, constant statement (a string literal): prepared once
 * per connection, then executed without parsing or planning it again. */
PGresult *db_query_cached(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			  const char *const *params);
/* The SQLSTATE of the last failed db_query on this connection ("" if none). */
const char *db_last_sqlstate(const struct fs_db *db);

enum fs_status db_begin(struct fs_db *db);
/* BEGIN and set the tenant (flowsend.user_id) for this transaction only, in one
 * round trip; policies then confine every statement to that tenant. */
enum fs_status db_begin_tenant(struct fs_db *db, const char *user_id);
enum fs_status db_commit(struct fs_db *db);
/* A statement for db_tenant_pipeline; result is filled in (cleared with the arena). */
struct db_stmt {
	const char *sql;
	int nparams;
	const char *const *params;
	int cached;        /* a constant statement: prepare once per connection */
	PGresult *result;
};

/* BEGIN, set the tenant, run the statements, COMMIT: all in one round trip.
 * 0 when every statement succeeded; -1 (logged, rolled back) otherwise. */
int db_tenant_pipeline(struct fs_db *db, struct arena *a, const char *user_id,
		       struct db_stmt *stmts, int n);
/* One statement in a transaction of its own for user_id's tenant: the result,
 * or NULL (logged, rolled back). */
PGresult *db_tenant_query(struct fs_db *db, struct arena *a, const char *user_id, const char *sql,
			  int nparams, const char *const *params);
void db_rollback(struct fs_db *db);
/* Roll back whatever a handler left open; called between requests. */
void db_end_request(struct fs_db *db);
/* 0 when the server answers a trivial query. */
int db_ping(struct fs_db *db);
/* The same in two halves, so the caller can do other work while the server
 * answers: send (0 when sent), then finish (0 when answered). */
int db_ping_send(struct fs_db *db);
int db_ping_finish(struct fs_db *db);

/* A timestamptz as PostgreSQL sends it (UTC, ISO style) turned into
 * ISO 8601 with a Z, in the arena; NULL stays NULL. */
const char *db_iso_time(struct arena *a, const char *pg);

/* Value helpers over a result row: NULL for SQL NULL, column by name. */
const char *db_get(const PGresult *res, int row, const char *column);
long long db_get_ll(const PGresult *res, int row, const char *column, long long fallback);
int db_get_bool(const PGresult *res, int row, const char *column);

#endif
