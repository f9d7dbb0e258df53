/* libpq wrapper. Connections are opened after fork (a PGconn must never be
 * shared between processes) and reset on failure, so a PostgreSQL restart
 * costs the next request one reconnect rather than a broken responder. */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

static char db_sqlstate[6];

void db_init(struct fs_db *db, const char *url)
{
	db->url = url;
	db->conn = NULL;
	db->nprepared = 0;
	db->generation = 0;
	memset(&db->clock, 0, sizeof(db->clock));
}

void db_close(struct fs_db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

static void db_notice_quiet(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

PGconn *db_conn(struct fs_db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return db->conn;
	if (db->conn) {
		db->nprepared = 0;
		db->generation++;
		PQreset(db->conn);
		if (PQstatus(db->conn) == CONNECTION_OK)
			return db->conn;
		log_error("database reconnect failed: %s", PQerrorMessage(db->conn));
		return NULL;
	}
	db->conn = PQconnectdb(db->url);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		log_error("database connection failed: %s",
			  db->conn ? PQerrorMessage(db->conn) : "out of memory");
		if (db->conn)
			PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	PQsetNoticeReceiver(db->conn, db_notice_quiet, NULL);
	db->generation++;
	/* Timestamps come back as ISO 8601 in UTC, ready for db_iso_time. */
	PQclear(PQexec(db->conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'"));
	return db->conn;
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

PGresult *db_query(struct fs_db *db, struct arena *a, const char *sql, int nparams,
		   const char *const *params)
{
	PGconn *c = db_conn(db);
	PGresult *res;

	db_sqlstate[0] = '\0';
	if (!c)
		return NULL;
	db_clock_sync(db, c);
	res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!result_ok(res) && PQstatus(c) == CONNECTION_BAD) {
		/* The server went away between requests: one retry on a fresh
		 * connection, which cannot have had a transaction open. */
		PQclear(res);
		db->nprepared = 0;
		db->generation++;
		PQreset(c);
		if (PQstatus(c) != CONNECTION_OK) {
			log_error("database reconnect failed: %s", PQerrorMessage(c));
			return NULL;
		}
		db_clock_sync(db, c);
		res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	if (!result_ok(res)) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		snprintf(db_sqlstate, sizeof(db_sqlstate), "%s", state ? state : "");
		/* Constraint violations (class 23) are answers the caller expects and
		 * maps to 400/409; only the rest are errors worth an operator's eye. */
		log_msg(strncmp(db_sqlstate, "23", 2) == 0 ? LOG_INFO : LOG_ERROR, "query failed (%s): %s",
			db_sqlstate, res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	if (a)
		arena_add_cleanup(a, clear_result, res);
	return res;
}

PGresult *db_query_cached(struct fs_db *db, struct arena *a, const char *sql, int nparams,
			  const char *const *params)
{
	char name[16];
	int idx = -1;
	PGconn *c = db_conn(db);
	PGresult *res;

	if (!c)
		return NULL;
	db_clock_sync(db, c);
	for (int i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == sql) {
			idx = i;
			break;
		}
	if (idx < 0) {
		if (db->nprepared == DB_PREPARED_MAX)
			return db_query(db, a, sql, nparams, params);
		idx = db->nprepared;
		snprintf(name, sizeof(name), "fs_%d", idx);
		res = PQprepare(c, name, sql, nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_error("prepare failed: %s", PQresultErrorMessage(res));
			PQclear(res);
			/* Fall back to the unprepared path (it also handles a dead connection). */
			return db_query(db, a, sql, nparams, params);
		}
		PQclear(res);
		db->prepared[db->nprepared++] = sql;
	}
	snprintf(name, sizeof(name), "fs_%d", idx);
	res = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
	if (!result_ok(res)) {
		int bad = PQstatus(c) == CONNECTION_BAD;
		PQclear(res);
		if (bad) {
			/* A fresh session has no prepared statements: start over once. */
			db->nprepared = 0;
			db->generation++;
			PQreset(c);
			if (PQstatus(c) == CONNECTION_OK)
				return db_query(db, a, sql, nparams, params);
			return NULL;
		}
		/* Report the error the usual way (same statement, same failure). */
		return db_query(db, a, sql, nparams, params);
	}
	if (a)
		arena_add_cleanup(a, clear_result, res);
	return res;
}

const char *db_last_sqlstate(const struct fs_db *db)
{
	(void)db;
	return db_sqlstate;
}

static enum fs_status db_simple(struct fs_db *db, const char *sql)
{
	PGresult *res = db_query(db, NULL, sql, 0, NULL);

	if (!res)
		return FS_ERROR;
	PQclear(res);
	return FS_OK;
}

enum fs_status db_begin(struct fs_db *db)
{
	return db_simple(db, "BEGIN");
}

static enum fs_status db_begin_tenant_once(struct fs_db *db, const char *user_id)
{
	static const char set_tenant[] = "SELECT set_config('flowsend.user_id', $1, true)";
	PGconn *c = db_conn(db);
	PGresult *res;
	enum fs_status ret = FS_ERROR;
	int ok = 0;
	const char *params[1] = { user_id };

	if (!c)
		return FS_ERROR;
	db_clock_sync(db, c);
	/* Pipeline both statements: one round trip instead of two. */
	if (!PQenterPipelineMode(c))
		return FS_ERROR;
	if (!PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(c, set_tenant, 1, NULL, params, NULL, NULL, 0) ||
	    !PQpipelineSync(c)) {
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
		else
			log_error("tenant begin failed: %s", PQresultErrorMessage(res));
		PQclear(res);
		if (PQstatus(c) == CONNECTION_BAD)
			break;
	}
	if (ok == 2)
		ret = FS_OK;
out:
	PQexitPipelineMode(c);
	if (ret != FS_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		db_rollback(db);
	return ret;
}

enum fs_status db_begin_tenant(struct fs_db *db, const char *user_id)
{
	enum fs_status st = db_begin_tenant_once(db, user_id);

	/* A connection that died while idle fails here first: reset, retry once. */
	if (st != FS_OK && db->conn && PQstatus(db->conn) == CONNECTION_BAD) {
		db->nprepared = 0;
		db->generation++;
		PQreset(db->conn);
		st = db_begin_tenant_once(db, user_id);
	}
	return st;
}

/* The prepared name of a constant statement, preparing it if need be. */
static int prepared_index(struct fs_db *db, PGconn *c, const char *sql, int nparams)
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
		PQclear(res);
		return -1;
	}
	PQclear(res);
	db->prepared[db->nprepared] = sql;
	return db->nprepared++;
}

static int pipeline_once(struct fs_db *db, struct arena *a, const char *user_id,
			 struct db_stmt *stmts, int n)
{
	static const char set_tenant[] = "SELECT set_config('flowsend.user_id', $1, true)";
	const char *tenant[1] = { user_id };
	PGconn *c = db_conn(db);
	int ok = 1, slot = 0, total = n + 3;

	db_sqlstate[0] = '\0';
	if (!c)
		return -1;
	db_clock_sync(db, c);
	for (int i = 0; i < n; i++)
		stmts[i].result = NULL;
	/* Preparing happens once per connection, before the pipeline. */
	int idx[16];
	if (n > 16)
		return -1;
	for (int i = 0; i < n; i++)
		idx[i] = stmts[i].cached ? prepared_index(db, c, stmts[i].sql, stmts[i].nparams) : -1;
	if (!PQenterPipelineMode(c))
		return -1;
	ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
	     PQsendQueryParams(c, set_tenant, 1, NULL, tenant, NULL, NULL, 0);
	for (int i = 0; ok && i < n; i++) {
		if (idx[i] >= 0) {
			char name[16];
			snprintf(name, sizeof(name), "fs_%d", idx[i]);
			ok = PQsendQueryPrepared(c, name, stmts[i].nparams, stmts[i].params, NULL, NULL, 0);
		} else {
			ok = PQsendQueryParams(c, stmts[i].sql, stmts[i].nparams, NULL, stmts[i].params,
					       NULL, NULL, 0);
		}
	}
	ok = ok && PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
	if (!ok) {
		log_error("pipeline send failed: %s", PQerrorMessage(c));
		PQexitPipelineMode(c);
		return -1;
	}
	for (;;) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st;

		if (!r) {
			if (PQstatus(c) == CONNECTION_BAD) {
				ok = 0;
				break;
			}
			continue;
		}
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (ok && st != PGRES_PIPELINE_ABORTED) {
				const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
				snprintf(db_sqlstate, sizeof(db_sqlstate), "%s", state ? state : "");
				log_msg(strncmp(db_sqlstate, "23", 2) == 0 ? LOG_INFO : LOG_ERROR,
					"query failed (%s): %s", db_sqlstate, PQresultErrorMessage(r));
			}
			ok = 0;
		}
		if (ok && slot >= 2 && slot < 2 + n) {
			stmts[slot - 2].result = r;
			if (a)
				arena_add_cleanup(a, clear_result, r);
		} else {
			PQclear(r);
		}
		slot++;
	}
	PQexitPipelineMode(c);
	if (!ok || slot != total) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

int db_tenant_pipeline(struct fs_db *db, struct arena *a, const char *user_id,
		       struct db_stmt *stmts, int n)
{
	int r = pipeline_once(db, a, user_id, stmts, n);

	/* A connection that died while idle fails here first: reset, retry once. */
	if (r < 0 && db->conn && PQstatus(db->conn) == CONNECTION_BAD) {
		db->nprepared = 0;
		db->generation++;
		PQreset(db->conn);
		r = pipeline_once(db, a, user_id, stmts, n);
	}
	return r;
}

PGresult *db_tenant_query(struct fs_db *db, struct arena *a, const char *user_id, const char *sql,
			  int nparams, const char *const *params)
{
	struct db_stmt s = { sql, nparams, params, 0, NULL };

	return db_tenant_pipeline(db, a, user_id, &s, 1) == 0 ? s.result : NULL;
}

enum fs_status db_commit(struct fs_db *db)
{
	return db_simple(db, "COMMIT");
}

void db_rollback(struct fs_db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGresult *res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
	}
}

void db_end_request(struct fs_db *db)
{
	db_rollback(db);
}

int db_ping(struct fs_db *db)
{
	PGconn *c = db_conn(db);
	PGresult *res;
	int ok;

	if (!c)
		return -1;
	/* A constant statement: the simple protocol costs the server one message
	 * instead of parse, bind, describe and execute. */
	res = PQexec(c, "SELECT 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQstatus(c) == CONNECTION_BAD) {
		PQclear(res);
		db->nprepared = 0;
		db->generation++;
		PQreset(c);
		res = PQexec(c, "SELECT 1");
	}
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok ? 0 : -1;
}

int db_ping_send(struct fs_db *db)
{
	PGconn *c = db_conn(db);

	if (!c || PQtransactionStatus(c) != PQTRANS_IDLE)
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
