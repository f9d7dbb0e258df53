/* Contact JSON in C. The output matches flowsend_contact_json (schema 0003)
 * field for field; the end-to-end suites read both. */
#include "models/contact.h"

#include <string.h>
#include <strings.h>

#include "json/json.h"

/* In enum contact_column's order. */
static const char *const column_names[] = {
	"id", "user_id", "email", "first_name", "last_name", "tags", "custom_fields",
	"is_subscribed", "subscribed_at", "unsubscribed_at", "bounced_at", "created_at",
	"updated_at",
};
_Static_assert(sizeof(column_names) / sizeof(column_names[0]) == CONTACT_COL_UPDATED_AT + 1,
	       "one name per enum contact_column");

static int ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

enum contact_column contact_column_named(const char *name, size_t len)
{
	while (len && ascii_space(*name)) {
		name++;
		len--;
	}
	while (len && ascii_space(name[len - 1]))
		len--;
	/* Cheap for the usual custom field: every column name has 2-15 bytes. */
	if (len < 2 || len > 15)
		return CONTACT_COL_NONE;
	for (size_t i = 0; i < sizeof(column_names) / sizeof(column_names[0]); i++)
		if (strlen(column_names[i]) == len && strncasecmp(column_names[i], name, len) == 0)
			return (enum contact_column)i;
	return CONTACT_COL_NONE;
}

void pg_text_array_to_json(struct strbuf *out, const char *p)
{
	struct strbuf item = STRBUF_INIT;
	int first = 1;

	strbuf_appendc(out, '[');
	if (p && *p == '{')
		p++;
	while (p && *p && *p != '}') {
		strbuf_reset(&item);
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				strbuf_appendc(&item, *p);
			}
			if (*p == '"')
				p++;
		} else {
			for (; *p && *p != ',' && *p != '}'; p++)
				strbuf_appendc(&item, *p);
		}
		if (!first)
			strbuf_appendc(out, ',');
		first = 0;
		fs_json_append_string(out, strbuf_cstr(&item));
		if (*p == ',')
			p++;
	}
	strbuf_appendc(out, ']');
	strbuf_free(&item);
}

int json_string_array_to_pg(struct strbuf *out, const char *json)
{
	char err[64];
	json_object *arr = fs_json_parse(json, strlen(json), err, sizeof(err));
	int rc = 0;

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return -1;
	}
	strbuf_appendc(out, '{');
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *t = json_object_array_get_idx(arr, i);
		const char *v;
		size_t len;

		if (!t || !json_object_is_type(t, json_type_string)) {
			rc = -1;
			break;
		}
		v = json_object_get_string(t);
		len = (size_t)json_object_get_string_len(t);
		if (memchr(v, '\0', len)) { /* a parameter is a C string */
			rc = -1;
			break;
		}
		if (i)
			strbuf_appendc(out, ',');
		strbuf_appendc(out, '"');
		for (size_t k = 0; k < len; k++) {
			if (v[k] == '"' || v[k] == '\\')
				strbuf_appendc(out, '\\');
			strbuf_appendc(out, v[k]);
		}
		strbuf_appendc(out, '"');
	}
	strbuf_appendc(out, '}');
	json_object_put(arr);
	return rc;
}

/* "2026-11-25 14:27:10.989+00" -> "2026-11-25T14:27:10.989Z" (the session
 * runs in UTC, ISO style; see db_conn). */
static void append_time(struct strbuf *out, const PGresult *r, int row, int col)
{
	const char *v;
	size_t n;

	if (PQgetisnull(r, row, col)) {
		strbuf_appends(out, "null");
		return;
	}
	v = PQgetvalue(r, row, col);
	n = strlen(v);
	if (n > 3 && strcmp(v + n - 3, "+00") == 0)
		n -= 3;
	strbuf_appendc(out, '"');
	for (size_t i = 0; i < n; i++)
		strbuf_appendc(out, (i == 10 && v[i] == ' ') ? 'T' : v[i]);
	strbuf_appends(out, "Z\"");
}

static void append_text(struct strbuf *out, const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		strbuf_appends(out, "null");
	else
		fs_json_append_string(out, PQgetvalue(r, row, col));
}

void contact_json_append(struct strbuf *out, const PGresult *r, int row)
{
	strbuf_appends(out, "{\"id\":");
	append_text(out, r, row, 0);
	strbuf_appends(out, ",\"user_id\":");
	append_text(out, r, row, 1);
	strbuf_appends(out, ",\"email\":");
	append_text(out, r, row, 2);
	strbuf_appends(out, ",\"first_name\":");
	append_text(out, r, row, 3);
	strbuf_appends(out, ",\"last_name\":");
	append_text(out, r, row, 4);
	strbuf_appends(out, ",\"tags\":");
	pg_text_array_to_json(out, PQgetvalue(r, row, 5));
	/* jsonb's text form is already JSON. */
	strbuf_appends(out, ",\"custom_fields\":");
	strbuf_appends(out, PQgetvalue(r, row, 6));
	strbuf_appends(out, ",\"is_subscribed\":");
	strbuf_appends(out, PQgetvalue(r, row, 7)[0] == 't' ? "true" : "false");
	strbuf_appends(out, ",\"subscribed_at\":");
	append_time(out, r, row, 8);
	strbuf_appends(out, ",\"unsubscribed_at\":");
	append_time(out, r, row, 9);
	strbuf_appends(out, ",\"created_at\":");
	append_time(out, r, row, 10);
	strbuf_appends(out, ",\"updated_at\":");
	append_time(out, r, row, 11);
	strbuf_appendc(out, '}');
}
