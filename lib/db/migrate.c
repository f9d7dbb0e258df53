/* Migration runner. Files are trusted SQL from the release, run whole with
 * PQexec (the one place we send SQL text that is not parameterised); the
 * bookkeeping around them uses parameters as everywhere else. */
#include "db/migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static int is_migration_name(const char *n)
{
	size_t len = strlen(n);

	if (len < 10 || strcmp(n + len - 4, ".sql") != 0)
		return 0;
	for (int i = 0; i < 4; i++)
		if (n[i] < '0' || n[i] > '9')
			return 0;
	return n[4] == '_';
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		}
		if (buf)
			buf[size] = '\0';
	}
	fclose(f);
	return buf;
}

static int exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_error("%s failed: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

static int apply_one(PGconn *c, const char *dir, const char *name)
{
	char path[4096], version[5];
	const char *params[2] = { version, name };
	char *sql;
	PGresult *r;
	int ok;

	memcpy(version, name, 4);
	version[4] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sql = read_file(path);
	if (!sql) {
		log_error("cannot read %s", path);
		return -1;
	}
	ok = exec_ok(c, "BEGIN", "BEGIN") && exec_ok(c, sql, name);
	free(sql);
	if (ok) {
		r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				 2, NULL, params, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			log_error("recording %s failed: %s", name, PQresultErrorMessage(r));
		PQclear(r);
	}
	if (ok)
		ok = exec_ok(c, "COMMIT", "COMMIT");
	if (!ok) {
		exec_ok(c, "ROLLBACK", "ROLLBACK");
		return -1;
	}
	log_info("applied %s", name);
	return 0;
}

int db_migrate(struct fs_db *db, const char *dir, int *applied)
{
	PGconn *c = db_conn(db);
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;

	*applied = 0;
	if (!c)
		return -1;
	if (!exec_ok(c,
		     "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     " version text PRIMARY KEY, name text NOT NULL,"
		     " applied_at timestamptz NOT NULL DEFAULT now())",
		     "creating schema_migrations"))
		return -1;
	/* Two runners started at once (make run twice) must not both apply a file. */
	if (!exec_ok(c, "SELECT pg_advisory_lock(7410001)", "taking the migration lock"))
		return -1;
	d = opendir(dir);
	if (!d) {
		log_error("cannot open migrations folder %s", dir);
		goto out;
	}
	while ((e = readdir(d))) {
		if (!is_migration_name(e->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	ret = 0;
	for (size_t i = 0; i < n; i++) {
		char version[5];
		const char *params[1] = { version };
		PGresult *r;
		int done;

		memcpy(version, names[i], 4);
		version[4] = '\0';
		r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
				 params, NULL, NULL, 0);
		done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			log_error("reading schema_migrations failed: %s", PQresultErrorMessage(r));
			ret = -1;
		}
		PQclear(r);
		if (ret < 0)
			break;
		if (done)
			continue;
		if (apply_one(c, dir, names[i]) < 0) {
			ret = -1;
			break;
		}
		(*applied)++;
	}
out:
	exec_ok(c, "SELECT pg_advisory_unlock(7410001)", "releasing the migration lock");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}
