/* Export: a cursor over the tenant's contacts, fetched 2,000 rows at a time,
 * so memory stays flat whatever the tenant's size. */
#include "services/transfer.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/csv.h"
#include "core/email.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "db/db.h"
#include "json/json.h"
#include "models/contact.h"
#include "models/plan.h"
#include "services/batch.h"
#include "services/contacts.h"
#include "services/search_index.h"

#define EXPORT_BATCH "2000"

static void append_iso(struct strbuf *out, const char *pg)
{
	size_t n = strlen(pg);

	if (n > 3 && strcmp(pg + n - 3, "+00") == 0)
		n -= 3;
	for (size_t i = 0; i < n; i++)
		strbuf_appendc(out, (i == 10 && pg[i] == ' ') ? 'T' : pg[i]);
	strbuf_appendc(out, 'Z');
}

/* Whether a stored custom field gets an export column: not when its name is
 * a column's (a legacy field stored before such names were refused would
 * repeat a header name, and the import would read the contact's own field
 * from it), nor when the import could not take the name back (blank, invalid
 * UTF-8, over 64 characters). GET /contacts/{id}/export still shows them. */
static int export_name_ok(const char *name)
{
	size_t len = strlen(name), blank = 0;

	while (blank < len && (name[blank] == ' ' || name[blank] == '\t'))
		blank++;
	return blank < len && contact_column_named(name, len) == CONTACT_COL_NONE &&
	       utf8_valid(name, len) && utf8_length(name, len) <= CONTACT_MAX_CUSTOM_FIELD_CHARS;
}

enum fs_status contacts_export_csv(struct fs_env *env, const struct fs_writer *out,
				   struct fs_error *err)
{
	PGresult *keys, *r;
	struct strbuf sql = STRBUF_INIT, buf = STRBUF_INIT;
	const char **params = NULL;
	int nkeys, skipped = 0, ok = 1, written = 0;
	enum fs_status ret = FS_ERROR;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	keys = db_query(env->db, env->arena,
			"SELECT field FROM field_counts_all GROUP BY field HAVING sum(contacts) > 0"
			" ORDER BY 1 LIMIT 500",
			0, NULL);
	if (!keys) {
		ret = fs_fail(err, FS_ERROR, "reading custom field names failed");
		goto out;
	}
	params = arena_alloc(env->arena, sizeof(char *) * (size_t)(PQntuples(keys) + 1));
	strbuf_appends(&sql, "DECLARE contact_export NO SCROLL CURSOR FOR SELECT email, first_name,"
			     " last_name, array_to_string(tags, ';'), is_subscribed, created_at");
	nkeys = 0;
	for (int i = 0; i < PQntuples(keys); i++) {
		const char *name = PQgetvalue(keys, i, 0);
		if (!export_name_ok(name)) {
			skipped++;
			continue;
		}
		params[nkeys++] = name;
		strbuf_appendf(&sql, ", custom_fields->>$%d", nkeys);
	}
	if (skipped)
		log_warn("rid=%s export: %d custom field name%s left out (named like a column, or"
			 " not 1 to 64 characters)",
			 env->request_id, skipped, skipped > 1 ? "s" : "");
	/* Oldest first, in the order a backward scan of (user_id, created_at DESC, id) gives. */
	strbuf_appends(&sql, " FROM contacts ORDER BY created_at, id DESC");
	if (!db_query(env->db, env->arena, strbuf_cstr(&sql), nkeys, params)) {
		ret = fs_fail(err, FS_ERROR, "opening the export cursor failed");
		goto out;
	}

	strbuf_appends(&buf, "email,first_name,last_name,tags,is_subscribed,created_at");
	for (int i = 0; i < nkeys; i++) {
		strbuf_appendc(&buf, ',');
		csv_append_field(&buf, params[i], strlen(params[i]));
	}
	strbuf_appends(&buf, "\r\n");
	for (;;) {
		int rows;

		r = db_query(env->db, NULL, "FETCH " EXPORT_BATCH " FROM contact_export", 0, NULL);
		if (!r) {
			log_error("rid=%s export stopped: fetch failed", env->request_id);
			ok = 0;
			break;
		}
		rows = PQntuples(r);
		for (int i = 0; i < rows; i++) {
			for (int c = 0; c < 6 + nkeys; c++) {
				const char *v = PQgetvalue(r, i, c);
				if (c)
					strbuf_appendc(&buf, ',');
				if (PQgetisnull(r, i, c))
					continue;
				if (c == 4)
					strbuf_appends(&buf, v[0] == 't' ? "true" : "false");
				else if (c == 5)
					append_iso(&buf, v);
				else
					csv_append_field(&buf, v, (size_t)PQgetlength(r, i, c));
			}
			strbuf_appends(&buf, "\r\n");
		}
		PQclear(r);
		if (buf.len && out->write(out->state, buf.buf, buf.len) < 0) {
			ok = 0; /* the client went away */
			break;
		}
		written = 1;
		strbuf_reset(&buf);
		if (rows == 0)
			break;
	}
	if (!ok)
		db_rollback(env->db);
	else
		db_commit(env->db);
	strbuf_free(&sql);
	strbuf_free(&buf);
	/* Nothing went out yet: the caller can still answer the failure. */
	return written || ok ? FS_OK : fs_fail(err, FS_ERROR, "reading the contacts failed");
out:
	db_rollback(env->db);
	strbuf_free(&sql);
	strbuf_free(&buf);
	return ret;
}

/* ---- import ---- */

#define IMPORT_MAX_ERRORS 100
#define IMPORT_COPY_FLUSH (256 * 1024)

/* An enterprise import (no contact limit to stop at) is split by address
 * over this many connections, each with its own staging table and merge, so
 * the inserts use every core; the same address always lands in the same
 * shard, so duplicates within the file still meet. */
#define IMPORT_SHARDS_MAX 2

struct import_shard {
	struct fs_db *db;
	PGconn *conn;
	struct strbuf copy;   /* COPY text not yet sent */
	int failed, done, committed;
	enum { SHARD_MERGING, SHARD_REWINDING, SHARD_RETRYING } stage;
	PGresult *merged;
};

struct importer {
	struct fs_env *env;
	struct import_shard shard[IMPORT_SHARDS_MAX];
	int nshards;
	struct import_result *res;
	int header_done, fatal;
	char fatal_detail[160];
	int unescape;         /* CSV: take off the export's formula escapes */
	int col_email, col_first, col_last, col_tags, col_sub;
	int custom_col[CSV_MAX_FIELDS];
	char *custom_name[CSV_MAX_FIELDS];
	unsigned char custom_bad[CSV_MAX_FIELDS]; /* a name no custom field can have */
	size_t ncustom;
	struct strbuf scratch;
	struct strbuf custom; /* one row's custom_fields as JSON */
	struct arena rowa;   /* one row's strings, emptied before the next row */
	long valid;
	int copy_failed;
	int non_ascii;        /* some address is not ASCII */
	uint64_t *prints;     /* every staged row's email_fingerprint() */
	size_t nprints, cap_prints;
};

static void import_error(struct importer *im, size_t row, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void import_error(struct importer *im, size_t row, const char *fmt, ...)
{
	char detail[200];
	va_list ap;

	im->res->failed++;
	if (json_object_array_length(im->res->errors) >= IMPORT_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_object *e = json_object_new_object();
	json_object_object_add(e, "row", json_object_new_int64((int64_t)row));
	json_object_object_add(e, "detail", json_object_new_string(detail));
	json_object_array_add(im->res->errors, e);
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static void copy_text(struct strbuf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\': strbuf_append(out, "\\\\", 2); break;
		case '\t': strbuf_append(out, "\\t", 2); break;
		case '\n': strbuf_append(out, "\\n", 2); break;
		case '\r': strbuf_append(out, "\\r", 2); break;
		default: strbuf_appendc(out, s[i]);
		}
	}
}

static void copy_flush(struct importer *im, struct import_shard *sh, int force)
{
	if (im->copy_failed || (!force && sh->copy.len < IMPORT_COPY_FLUSH) || !sh->copy.len)
		return;
	if (PQputCopyData(sh->conn, sh->copy.buf, (int)sh->copy.len) != 1) {
		log_error("COPY into the import staging table failed: %s", PQerrorMessage(sh->conn));
		im->copy_failed = sh->failed = 1;
	}
	strbuf_reset(&sh->copy);
}

/* FNV-1a, 64 bits: an address's fingerprint, for the shard it goes to and
 * for spotting a file that repeats an address. */
static uint64_t email_fingerprint(const char *email)
{
	uint64_t h = 14695981039346656037u;

	for (const unsigned char *p = (const unsigned char *)email; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether two rows may share an address: equal fingerprints. A false alarm
 * (two addresses, one fingerprint) only costs the slower merge. */
static int may_repeat(struct importer *im)
{
	if (im->nprints < 2)
		return 0;
	qsort(im->prints, im->nprints, sizeof(uint64_t), cmp_u64);
	for (size_t i = 1; i < im->nprints; i++)
		if (im->prints[i] == im->prints[i - 1])
			return 1;
	return 0;
}

static char *trimmed(struct arena *a, const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return arena_strndup(a, s, len);
}

/* A read field less the ' the export put before a formula-like cell. */
static char *unescaped(struct importer *im, char *s)
{
	return im->unescape ? s + csv_formula_escape_len(s, strlen(s)) : s;
}

/* The header: columns named like a contact field (compared like the API's
 * reserved names) are that field, and never become custom fields; when a name
 * comes twice, the first column is the one read, so a later one cannot
 * override it (exports made before such names were refused carry the real
 * column first and a legacy custom field of the same name after it). */
static int header_record(struct importer *im, const char *const *f, const size_t *lens, size_t n,
			 enum csv_error error)
{
	im->col_email = im->col_first = im->col_last = im->col_tags = im->col_sub = -1;
	if (error != CSV_OK) {
		const char *why = csv_error_text(error);
		snprintf(im->fatal_detail, sizeof(im->fatal_detail),
			 "The CSV header could not be read: %c%s", tolower((unsigned char)why[0]), why + 1);
		im->fatal = 1;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char *name = unescaped(im, trimmed(im->env->arena, f[i], lens[i]));
		size_t len = strlen(name), k;
		int *col = NULL;

		switch (contact_column_named(name, len)) {
		case CONTACT_COL_EMAIL: col = &im->col_email; break;
		case CONTACT_COL_FIRST_NAME: col = &im->col_first; break;
		case CONTACT_COL_LAST_NAME: col = &im->col_last; break;
		case CONTACT_COL_TAGS: col = &im->col_tags; break;
		case CONTACT_COL_IS_SUBSCRIBED: col = &im->col_sub; break;
		case CONTACT_COL_NONE: break;
		default: continue; /* created_at and the like: informational */
		}
		if (col) {
			if (*col < 0)
				*col = (int)i;
			continue;
		}
		if (!len)
			continue; /* an unnamed column */
		for (k = 0; k < im->ncustom && strcmp(im->custom_name[k], name) != 0; k++)
			;
		if (k < im->ncustom)
			continue;
		/* Custom fields keep the header's own spelling. */
		im->custom_col[im->ncustom] = (int)i;
		im->custom_bad[im->ncustom] = !utf8_valid(name, len) ||
					      utf8_length(name, len) > CONTACT_MAX_CUSTOM_FIELD_CHARS;
		im->custom_name[im->ncustom++] = name;
	}
	if (im->col_email < 0) {
		snprintf(im->fatal_detail, sizeof(im->fatal_detail),
			 "The CSV header must have an email column");
		im->fatal = 1;
		return 1;
	}
	im->header_done = 1;
	return 0;
}

static const char *field(const char *const *f, const size_t *lens, size_t n, int col, size_t *len)
{
	if (col < 0 || (size_t)col >= n) {
		*len = 0;
		return "";
	}
	*len = lens[col];
	return f[col];
}

/* One data row into the COPY stream, or a row error. */
static void data_row(struct importer *im, size_t row, const char *const *f, const size_t *lens,
		     size_t n, enum csv_error error)
{
	struct arena *a = &im->rowa;
	size_t len, ntags = 0, nfields = 0;
	const char *v, *why;
	char *email, *first, *last;
	int sub = -1;
	struct strbuf *tags = &im->scratch, *custom = &im->custom;

	arena_reset(a);
	im->res->total++;
	if (error != CSV_OK)
		return import_error(im, row, "%s", csv_error_text(error)); /* cut: never stored */
	for (size_t i = 0; i < n; i++)
		if (!utf8_valid(f[i], lens[i]))
			return import_error(im, row, "%s", "The row is not valid UTF-8");
	v = field(f, lens, n, im->col_email, &len);
	email = unescaped(im, trimmed(a, v, len));
	for (char *p = email; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if ((why = email_invalid_reason(email, strlen(email))))
		return import_error(im, row, "Invalid email: %s", why);
	v = field(f, lens, n, im->col_sub, &len);
	if (len) {
		char *s = trimmed(a, v, len);
		if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"))
			sub = 1;
		else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no"))
			sub = 0;
		else
			return import_error(im, row, "is_subscribed must be true or false, not '%.40s'", s);
	}
	/* tags: "a;b;c" -> {"a","b","c"} */
	strbuf_reset(tags);
	strbuf_appendc(tags, '{');
	v = field(f, lens, n, im->col_tags, &len);
	if (im->unescape) {
		size_t esc = csv_formula_escape_len(v, len);
		v += esc;
		len -= esc;
	}
	for (size_t start = 0, i = 0; i <= len; i++) {
		if (i < len && v[i] != ';')
			continue;
		char *t = trimmed(a, v + start, i - start);
		size_t tl = strlen(t);
		start = i + 1;
		if (!tl)
			continue;
		if (++ntags > CONTACT_MAX_TAGS)
			return import_error(im, row, "At most %d tags", CONTACT_MAX_TAGS);
		if (utf8_length(t, tl) > CONTACT_MAX_TAG_CHARS)
			return import_error(im, row, "Tag '%.40s...' is longer than 64 characters", t);
		for (size_t k = 0; k < tl; k++)
			if ((unsigned char)t[k] < 0x20 || t[k] == 0x7f)
				return import_error(im, row, "%s", "Tags cannot contain control characters");
		if (tags->len > 1)
			strbuf_appendc(tags, ',');
		strbuf_appendc(tags, '"');
		for (size_t k = 0; k < tl; k++) {
			if (t[k] == '"' || t[k] == '\\')
				strbuf_appendc(tags, '\\');
			strbuf_appendc(tags, t[k]);
		}
		strbuf_appendc(tags, '"');
	}
	strbuf_appendc(tags, '}');

	v = field(f, lens, n, im->col_first, &len);
	first = unescaped(im, trimmed(a, v, len));
	v = field(f, lens, n, im->col_last, &len);
	last = unescaped(im, trimmed(a, v, len));
	if (utf8_length(first, strlen(first)) > CONTACT_MAX_NAME_CHARS ||
	    utf8_length(last, strlen(last)) > CONTACT_MAX_NAME_CHARS)
		return import_error(im, row, "%s", "Names are limited to 255 characters");

	/* custom_fields, checked like the API's before anything of the row is sent */
	strbuf_reset(custom);
	strbuf_appendc(custom, '{');
	for (size_t i = 0; i < im->ncustom; i++) {
		v = field(f, lens, n, im->custom_col[i], &len);
		if (!len)
			continue;
		if (im->custom_bad[i])
			return import_error(im, row,
					    "Column %d's name cannot name a custom field (1 to 64"
					    " characters of UTF-8)",
					    im->custom_col[i] + 1);
		if (++nfields > CONTACT_MAX_CUSTOM_FIELDS)
			return import_error(im, row, "At most %d custom fields", CONTACT_MAX_CUSTOM_FIELDS);
		if (im->unescape)
			v += csv_formula_escape_len(v, len);
		if (custom->len > 1)
			strbuf_appendc(custom, ',');
		fs_json_append_string(custom, im->custom_name[i]);
		strbuf_appendc(custom, ':');
		fs_json_append_string(custom, v); /* fields are NUL-terminated */
		if (custom->len >= CONTACT_MAX_CUSTOM_FIELDS_BYTES)
			break; /* over already: the check below says so */
	}
	strbuf_appendc(custom, '}');
	if (custom->len > CONTACT_MAX_CUSTOM_FIELDS_BYTES)
		return import_error(im, row, "%s", "Custom fields are limited to 16 KiB");

	/* row_no, email, first_name, last_name, tags, custom_fields, is_subscribed */
	uint64_t print = email_fingerprint(email);
	struct import_shard *sh = &im->shard[print % (uint64_t)im->nshards];
	for (const char *c = email; *c; c++) {
		if ((unsigned char)*c >= 0x80) {
			/* Lower-cased here as ASCII only, by PostgreSQL in full: two
			 * spellings of one such address must meet in one shard, and
			 * only ON CONFLICT sees that they are one. */
			sh = &im->shard[0];
			im->non_ascii = 1;
			break;
		}
	}
	if (im->nprints == im->cap_prints) {
		size_t cap = im->cap_prints ? im->cap_prints * 2 : 4096;
		uint64_t *grown = realloc(im->prints, cap * sizeof(uint64_t));
		if (!grown) {
			im->copy_failed = 1; /* out of memory: fail the import, not the process */
			return;
		}
		im->prints = grown;
		im->cap_prints = cap;
	}
	im->prints[im->nprints++] = print;
	struct strbuf *out = &sh->copy;
	strbuf_appendf(out, "%zu\t", row);
	copy_text(out, email, strlen(email));
	strbuf_appendc(out, '\t');
	if (*first)
		copy_text(out, first, strlen(first));
	else
		strbuf_appends(out, "\\N");
	strbuf_appendc(out, '\t');
	if (*last)
		copy_text(out, last, strlen(last));
	else
		strbuf_appends(out, "\\N");
	strbuf_appendc(out, '\t');
	copy_text(out, tags->buf, tags->len);
	strbuf_appendc(out, '\t');
	copy_text(out, custom->buf, custom->len);
	strbuf_appends(out, sub < 0 ? "\t\\N\n" : (sub ? "\tt\n" : "\tf\n"));
	im->valid++;
	copy_flush(im, sh, 0);
}

static int import_record(void *ud, size_t record_no, const char *const *f, const size_t *lens,
			 size_t n, enum csv_error error)
{
	struct importer *im = ud;

	if (!im->header_done)
		return header_record(im, f, lens, n, error);
	/* Row numbers count data records, the header being record 1. */
	data_row(im, record_no - 1, f, lens, n, error);
	return im->copy_failed;
}

/* Every merge's parameters: $1 the room left under the plan's limit, $2
 * extra tags (or NULL), $3 the tenant, $4 whether it has suppressions, $5
 * whether it has opt-outs. Their types are given, so a statement need not
 * use them all. */
static const Oid merge_param_types[5] = { 20 /* int8 */, 1009 /* text[] */, 2950 /* uuid */,
					 16 /* bool */, 16 /* bool */ };
#define MERGE_PARAMS 5

/* An address that unsubscribed comes back unsubscribed, whatever the file
 * says, until its owner signs up again through a form (schema 0013). The
 * check costs a hash per row: $5 false (no opt-outs) leaves it out. */
#define IMPORT_SUBSCRIBED                                                                    \
	" (COALESCE(is_subscribed, true) AND NOT ($5::boolean AND EXISTS (SELECT 1"             \
	"  FROM opt_outs o WHERE o.user_id = $3::uuid"                                          \
	"  AND o.email_hash = flowsend_email_hash(email))))"

/* The insert every merge ends with. */
#define IMPORT_INSERT                                                                        \
	" INSERT INTO contacts (user_id, email, first_name, last_name, tags, custom_fields,"    \
	"  is_subscribed, subscribed_at, unsubscribed_at)"                                     \
	" SELECT $3::uuid, email, first_name, last_name,"                                      \
	"  CASE WHEN $2::text[] IS NULL THEN tags ELSE ARRAY(SELECT DISTINCT t FROM"            \
	"   unnest(tags || $2::text[]) t) END,"                                                 \
	"  custom_fields," IMPORT_SUBSCRIBED ","                                                \
	"  CASE WHEN" IMPORT_SUBSCRIBED " THEN flowsend_now() END,"                             \
	"  CASE WHEN NOT" IMPORT_SUBSCRIBED " THEN flowsend_now() END"
/* The suppression check costs a hash per row: $4 false (a tenant with no
 * suppressions) leaves it out. */
#define IMPORT_NOT_SUPPRESSED                                                                \
	" (NOT $4::boolean OR NOT EXISTS (SELECT 1 FROM suppressions x"                        \
	"  WHERE x.email_hash = flowsend_email_hash(s.email)))"
#define IMPORT_NOT_THERE " NOT EXISTS (SELECT 1 FROM contacts c WHERE lower(c.email) = s.email)"

/* With a contact limit to stop at: distinct addresses first, then the new
 * ones in file order up to the room left ($1), so duplicates and existing
 * contacts do not use up the limit. */
static const char merge_limited_sql[] =
	"WITH staged AS (SELECT DISTINCT ON (email) * FROM import_staging ORDER BY email, row_no),"
	" fresh AS (SELECT s.* FROM staged s WHERE" IMPORT_NOT_THERE " AND" IMPORT_NOT_SUPPRESSED
	"  ORDER BY s.row_no LIMIT $1::bigint)"
	IMPORT_INSERT " FROM fresh ON CONFLICT DO NOTHING";

/* Without one, into a tenant with no contacts yet, and no address twice in
 * the file: a plain INSERT, a third cheaper than ON CONFLICT's speculative
 * insertion. A contact created meanwhile by another request makes it fail
 * (23505); the merge then goes again as merge_open_sql. (A NOT EXISTS probe
 * per row to allow existing contacts too was tried: PostgreSQL may serve it
 * from the (user_id, created_at) index and read the other shard's new rows
 * for every probe, which took one import from 20 s to over 10 minutes.) */
static const char merge_fresh_sql[] =
	IMPORT_INSERT " FROM import_staging s WHERE" IMPORT_NOT_SUPPRESSED;

/* Without one, when an address may repeat in the file: every staged row is
 * offered in file order, and ON CONFLICT skips addresses already there,
 * including the later copies within the file. */
static const char merge_open_sql[] =
	IMPORT_INSERT " FROM import_staging s WHERE" IMPORT_NOT_SUPPRESSED
	" ORDER BY s.row_no ON CONFLICT DO NOTHING";

static int csv_sink(void *ud, const char *data, size_t len)
{
	return csv_feed(ud, data, len) < 0 ? -1 : 0;
}


/* The extra connections sharded imports use, one set per responder process,
 * opened on first use and kept like the main one. */
static struct fs_db shard_dbs[IMPORT_SHARDS_MAX - 1];
static int shard_dbs_ready;

/* BEGIN as the tenant, a staging table, COPY started: 0, or -1. */
static int shard_open(struct fs_env *env, struct import_shard *sh)
{
	PGresult *r;

	if (db_begin_tenant(sh->db, env->user_id) != FS_OK)
		return -1;
	sh->conn = db_conn(sh->db);
	/* COPY cannot write into a table with row-level security as a non-owner:
	 * stage in a temporary table, then merge with one INSERT ... SELECT. */
	if (!db_query(sh->db, env->arena,
		      "CREATE TEMP TABLE import_staging (row_no bigint, email text, first_name text,"
		      " last_name text, tags text[], custom_fields jsonb, is_subscribed boolean)"
		      " ON COMMIT DROP",
		      0, NULL) ||
	    !db_query(sh->db, env->arena, "SET LOCAL gin_pending_list_limit = '64MB'", 0, NULL))
		return -1;
	r = PQexec(sh->conn, "COPY import_staging FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		log_error("COPY failed to start: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static void shard_end_copy(struct importer *im, struct import_shard *sh)
{
	PGresult *r;

	copy_flush(im, sh, 1);
	if (PQputCopyEnd(sh->conn, im->fatal ? "import refused" : NULL) != 1)
		im->copy_failed = sh->failed = 1;
	while ((r = PQgetResult(sh->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !im->fatal) {
			log_error("COPY failed: %s", PQresultErrorMessage(r));
			im->copy_failed = sh->failed = 1;
		}
		PQclear(r);
	}
}

/* One shard's merge has answered: commit it, or roll it back. Its contacts
 * enrolled into signup flows inside the merge (the contacts_created trigger,
 * schema 0085), so they commit together. */
static void shard_finish(struct importer *im, struct import_shard *sh, int *failed)
{
	if (!sh->failed && !*failed && db_commit(sh->db) == FS_OK) {
		sh->committed = 1;
		im->res->imported += strtol(PQcmdTuples(sh->merged), NULL, 10);
		return;
	}
	db_rollback(sh->db);
	if (!*failed) {
		/* Stop the others early: what has not committed yet will not. */
		*failed = 1;
		for (int i = 0; i < im->nshards; i++) {
			char why[128];
			PGcancel *cancel;
			if (im->shard[i].done || !(cancel = PQgetCancel(im->shard[i].conn)))
				continue;
			PQcancel(cancel, why, sizeof(why));
			PQfreeCancel(cancel);
		}
	}
}

/* The merge of every shard at once, each on its own connection. Each shard
 * commits as soon as its merge is done: the count triggers of one shard wait
 * for the other's lock on the tenant's counters, so holding every shard open
 * until the last one finished would wait forever. 0, or -1 when a shard
 * failed (those already committed stay: they are in res->imported). */
static int merge_shards(struct importer *im, const char *sql, const char *const *params)
{
	struct fs_env *env = im->env;
	int failed = 0, running = 0;
	int retry = sql == merge_fresh_sql;

	for (int i = 0; i < im->nshards; i++) {
		struct import_shard *sh = &im->shard[i];
		if ((retry && !db_query(sh->db, env->arena, "SAVEPOINT import_merge", 0, NULL)) ||
		    !PQsendQueryParams(sh->conn, sql, MERGE_PARAMS, merge_param_types, params, NULL,
				       NULL, 0)) {
			log_error("import merge not sent: %s", PQerrorMessage(sh->conn));
			sh->failed = sh->done = 1;
			failed = 1;
			db_rollback(sh->db);
			continue;
		}
		running++;
	}
	while (running > 0) {
		struct pollfd fds[IMPORT_SHARDS_MAX];
		int which[IMPORT_SHARDS_MAX], n = 0;

		for (int i = 0; i < im->nshards; i++) {
			if (im->shard[i].done)
				continue;
			fds[n].fd = PQsocket(im->shard[i].conn);
			fds[n].events = POLLIN;
			which[n++] = i;
		}
		if (poll(fds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int k = 0; k < n; k++) {
			struct import_shard *sh = &im->shard[which[k]];
			PGresult *r;
			if (!(fds[k].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (!PQconsumeInput(sh->conn))
				sh->failed = 1;
			else if (PQisBusy(sh->conn))
				continue;
			/* The answer is in: reading to its end no longer blocks for long. */
			int conflict = 0, ok = 0;
			while ((r = PQgetResult(sh->conn))) {
				const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
				if (PQresultStatus(r) == PGRES_COMMAND_OK && !sh->failed && !ok) {
					ok = 1;
					if (sh->stage != SHARD_REWINDING) {
						sh->merged = r;
						continue;
					}
				} else if (retry && !failed && sh->stage == SHARD_MERGING && state &&
					   strcmp(state, "23505") == 0) {
					conflict = 1;
				} else {
					log_error("import merge failed: %s", PQresultErrorMessage(r));
					sh->failed = 1;
				}
				PQclear(r);
			}
			/* A contact created meanwhile: back to the savepoint, then the
			 * merge again with ON CONFLICT, both without blocking, for the
			 * other shards may hold locks this one's retry waits on. */
			if (conflict && !sh->failed) {
				sh->stage = SHARD_REWINDING;
				if (PQsendQuery(sh->conn, "ROLLBACK TO SAVEPOINT import_merge"))
					continue;
				sh->failed = 1;
			} else if (ok && sh->stage == SHARD_REWINDING) {
				sh->stage = SHARD_RETRYING;
				if (PQsendQueryParams(sh->conn, merge_open_sql, MERGE_PARAMS, merge_param_types, params, NULL, NULL, 0))
					continue;
				sh->failed = 1;
			}
			if (!sh->merged)
				sh->failed = 1;
			sh->done = 1;
			running--;
			shard_finish(im, sh, &failed);
		}
	}
	return failed || running ? -1 : 0;
}

enum fs_status contacts_import(struct fs_env *env, const struct import_source *src,
			       struct import_result *res, struct fs_error *err)
{
	const struct plan *plan = plan_find_or_default(env->auth.plan);
	struct importer im;
	struct csv_reader reader;
	PGresult *r;
	char remaining[32];
	const char *params[MERGE_PARAMS] = { NULL, NULL, env->user_id, "t", "t" };
	const char *merge_sql = merge_open_sql;
	enum fs_status ret = FS_ERROR;
	double start_ms = time_monotonic_ms(), staged_ms = start_ms;

	memset(res, 0, sizeof(*res));
	res->errors = json_object_new_array();
	memset(&im, 0, sizeof(im));
	im.env = env;
	im.res = res;
	/* A limit has to be counted in one transaction: one shard. */
	im.nshards = plan->max_contacts == PLAN_UNLIMITED ? IMPORT_SHARDS_MAX : 1;
	if (!shard_dbs_ready) {
		for (int i = 0; i < IMPORT_SHARDS_MAX - 1; i++)
			db_init(&shard_dbs[i], env->db->url);
		shard_dbs_ready = 1;
	}
	for (int i = 0; i < im.nshards; i++) {
		im.shard[i].db = i ? &shard_dbs[i - 1] : env->db;
		strbuf_init(&im.shard[i].copy);
	}
	strbuf_init(&im.scratch);
	strbuf_init(&im.custom);
	im.unescape = !(src->emails && src->nemails);
	arena_init(&im.rowa, 4096);
	csv_init(&reader, import_record, &im);

	for (int i = 0; i < im.nshards; i++) {
		if (shard_open(env, &im.shard[i]) == 0)
			continue;
		if (i > 0) {
			/* No extra connection to be had (max_connections?): fewer shards. */
			log_warn("rid=%s import: shard %d could not start; merging over %d connection%s",
				 env->request_id, i, i, i > 1 ? "s" : "");
			db_rollback(im.shard[i].db);
			strbuf_free(&im.shard[i].copy);
			im.nshards = i;
			break;
		}
		ret = fs_fail(err, FS_ERROR, "starting the import failed");
		goto out;
	}

	if (src->emails && src->nemails) {
		/* A bare list of addresses is a one-column CSV. */
		const char *hdr[1] = { "email" };
		size_t hl[1] = { 5 };
		header_record(&im, hdr, hl, 1, CSV_OK);
		for (size_t i = 0; i < src->nemails; i++) {
			size_t l = strlen(src->emails[i]);
			data_row(&im, i + 1, &src->emails[i], &l, 1, CSV_OK);
		}
	} else if (src->text) {
		csv_feed(&reader, src->text, src->text_len);
		csv_finish(&reader);
	} else {
		if (src->body->pump(src->body->state, csv_sink, &reader) < 0 && !im.fatal) {
			snprintf(im.fatal_detail, sizeof(im.fatal_detail),
				 "The upload has no complete file part (send the CSV as the form's "
				 "file field)");
			im.fatal = 1;
		}
		csv_finish(&reader);
	}
	for (int i = 0; i < im.nshards; i++)
		shard_end_copy(&im, &im.shard[i]);
	if (im.fatal) {
		ret = fs_fail(err, FS_INVALID, "%s", im.fatal_detail);
		goto out;
	}
	if (im.copy_failed) {
		ret = fs_fail(err, FS_ERROR, "staging the import failed");
		goto out;
	}

	/* The plan's limit: a LIMIT on the merge, exact like single creates (the
	 * import holds all the tenant's counter slots, schema 0018). */
	if (im.nshards == 1) {
		long left = contacts_room_left(env, im.valid);
		if (left == -2) {
			ret = fs_fail(err, FS_ERROR, "reading the contact count failed");
			goto out;
		}
		if (left >= 0 && left < im.valid) {
			snprintf(remaining, sizeof(remaining), "%ld", left);
			params[0] = remaining;
			merge_sql = merge_limited_sql;
		}
	}
	if (merge_sql == merge_open_sql) {
		r = db_query(env->db, env->arena,
			     "SELECT EXISTS (SELECT 1 FROM suppressions) AS s,"
			     " EXISTS (SELECT 1 FROM opt_outs) AS o,"
			     " COALESCE((SELECT sum(contacts) FROM tenant_counters_all), 0) = 0 AS empty",
			     0, NULL);
		if (!r) {
			ret = fs_fail(err, FS_ERROR, "reading suppressions failed");
			goto out;
		}
		params[3] = db_get(r, 0, "s");
		params[4] = db_get(r, 0, "o");
		if (db_get_bool(r, 0, "empty") && !im.non_ascii && !may_repeat(&im))
			merge_sql = merge_fresh_sql;
	}
	for (int i = 0; i < im.nshards && merge_sql == merge_limited_sql; i++) {
		/* Existence checks as index probes per staged row: hashing the
		 * tenant's whole table costs more (about 10% of a 300,000-row merge
		 * into a tenant with none). */
		if (!db_query(im.shard[i].db, env->arena, "SET LOCAL enable_hashjoin = off", 0, NULL) ||
		    !db_query(im.shard[i].db, env->arena, "SET LOCAL enable_mergejoin = off", 0, NULL)) {
			ret = fs_fail(err, FS_ERROR, "preparing the merge failed");
			goto out;
		}
	}
	if (src->extra_tags) {
		/* ["a","b"] -> {"a","b"}: validated by the handler. */
		params[1] = arena_sprintf(env->arena, "{%.*s}", (int)strlen(src->extra_tags) - 2,
					  src->extra_tags + 1);
	}
	staged_ms = time_monotonic_ms();
	if (merge_shards(&im, merge_sql, params) < 0) {
		if (res->imported > 0)
			ret = fs_fail(err, FS_UNAVAILABLE,
				      "The import stopped partway: %ld contacts were imported. Send the"
				      " file again to add the rest (contacts already there are skipped)",
				      res->imported);
		else
			ret = fs_fail(err, FS_ERROR, "merging the import failed");
		goto out;
	}
	res->skipped = im.valid - res->imported;
	log_info("rid=%s import: %ld rows staged over %d connection%s in %.0f ms, %ld merged in %.0f ms",
		 env->request_id, im.valid, im.nshards, im.nshards > 1 ? "s" : "",
		 staged_ms - start_ms, res->imported, time_monotonic_ms() - staged_ms);
	if (res->imported > SEARCH_INDEX_INLINE_MAX)
		batch_wake(env->redis); /* their search text waits in the backlog */
	ret = FS_OK;
out:
	for (int i = 0; i < im.nshards; i++) {
		struct import_shard *sh = &im.shard[i];
		if (ret != FS_OK && sh->conn && PQtransactionStatus(sh->conn) == PQTRANS_ACTIVE) {
			/* Still inside COPY (another shard failed to open). */
			PQputCopyEnd(sh->conn, "import abandoned");
			while ((r = PQgetResult(sh->conn)))
				PQclear(r);
		}
		if (ret != FS_OK && !sh->committed)
			db_rollback(sh->db);
		if (im.shard[i].merged)
			PQclear(im.shard[i].merged);
		strbuf_free(&im.shard[i].copy);
	}
	csv_free(&reader);
	free(im.prints);
	strbuf_free(&im.scratch);
	strbuf_free(&im.custom);
	arena_destroy(&im.rowa);
	return ret;
}
