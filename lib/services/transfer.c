/* Export: a cursor over the tenant's contacts, fetched 2,000 rows at a time,
 * so memory stays flat whatever the tenant's size. */
#include "services/transfer.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "db/db.h"

#define EXPORT_BATCH "2000"

void csv_append_field(struct strbuf *out, const char *s, size_t len)
{
	int quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');

	for (size_t i = 0; i < len && !quote; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = 1;
	if (!quote) {
		strbuf_append(out, s, len);
		return;
	}
	strbuf_appendc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			strbuf_appendc(out, '"');
		strbuf_appendc(out, s[i]);
	}
	strbuf_appendc(out, '"');
}

static void append_iso(struct strbuf *out, const char *pg)
{
	size_t n = strlen(pg);

	if (n > 3 && strcmp(pg + n - 3, "+00") == 0)
		n -= 3;
	for (size_t i = 0; i < n; i++)
		strbuf_appendc(out, (i == 10 && pg[i] == ' ') ? 'T' : pg[i]);
	strbuf_appendc(out, 'Z');
}

enum fs_status contacts_export_csv(struct fs_ctx *ctx, struct fs_error *err)
{
	PGresult *keys, *r;
	struct strbuf sql = STRBUF_INIT, buf = STRBUF_INIT;
	const char **params = NULL;
	int nkeys, ok = 1;
	enum fs_status ret = FS_ERROR;

	if (db_begin_tenant(ctx->db, ctx->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	keys = db_query(ctx->db, ctx->arena,
			"SELECT DISTINCT k FROM contacts, jsonb_object_keys(custom_fields) AS k ORDER BY 1"
			" LIMIT 500",
			0, NULL);
	if (!keys) {
		ret = fs_fail(err, FS_ERROR, "reading custom field names failed");
		goto out;
	}
	nkeys = PQntuples(keys);
	params = arena_alloc(ctx->arena, sizeof(char *) * (size_t)(nkeys + 1));
	strbuf_appends(&sql, "DECLARE contact_export NO SCROLL CURSOR FOR SELECT email, first_name,"
			     " last_name, array_to_string(tags, ';'), is_subscribed, created_at");
	for (int i = 0; i < nkeys; i++) {
		params[i] = PQgetvalue(keys, i, 0);
		strbuf_appendf(&sql, ", custom_fields->>$%d", i + 1);
	}
	strbuf_appends(&sql, " FROM contacts ORDER BY created_at, id");
	if (!db_query(ctx->db, ctx->arena, strbuf_cstr(&sql), nkeys, params)) {
		ret = fs_fail(err, FS_ERROR, "opening the export cursor failed");
		goto out;
	}

	fs_header_add(ctx, "Content-Disposition", "attachment; filename=\"contacts.csv\"");
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_stream_begin(ctx, 200, "text/csv; charset=utf-8");
	strbuf_appends(&buf, "email,first_name,last_name,tags,is_subscribed,created_at");
	for (int i = 0; i < nkeys; i++) {
		strbuf_appendc(&buf, ',');
		csv_append_field(&buf, params[i], strlen(params[i]));
	}
	strbuf_appends(&buf, "\r\n");
	for (;;) {
		int rows;

		r = db_query(ctx->db, NULL, "FETCH " EXPORT_BATCH " FROM contact_export", 0, NULL);
		if (!r) {
			log_error("rid=%s export stopped: fetch failed", ctx->req.request_id);
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
		if (buf.len && fs_stream_write(ctx, buf.buf, buf.len) < 0) {
			ok = 0; /* the client went away */
			break;
		}
		strbuf_reset(&buf);
		if (rows == 0)
			break;
	}
	if (!ok)
		db_rollback(ctx->db);
	else
		db_commit(ctx->db);
	strbuf_free(&sql);
	strbuf_free(&buf);
	return FS_OK;
out:
	db_rollback(ctx->db);
	strbuf_free(&sql);
	strbuf_free(&buf);
	return ret;
}
