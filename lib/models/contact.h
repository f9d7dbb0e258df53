/* A contact as the API shows it, built in C from the raw columns: cheaper for
 * PostgreSQL than building fifty JSON objects per page itself. */
#ifndef FS_CONTACT_MODEL_H
#define FS_CONTACT_MODEL_H

#include <libpq-fe.h>

#include "core/strbuf.h"

/* The columns contact_json_append reads, for "SELECT " CONTACT_COLUMNS " FROM contacts c". */
#define CONTACT_COLUMNS                                                                        \
	"c.id, c.user_id, c.email, c.first_name, c.last_name, c.tags, c.custom_fields,"        \
	" c.is_subscribed, c.subscribed_at, c.unsubscribed_at, c.created_at, c.updated_at"

/* The caps on a contact's fields, the same for the API and for imports. */
#define CONTACT_MAX_NAME_CHARS 255          /* first_name, last_name */
#define CONTACT_MAX_TAGS 100
#define CONTACT_MAX_TAG_CHARS 64
#define CONTACT_MAX_CUSTOM_FIELDS 100
#define CONTACT_MAX_CUSTOM_FIELD_CHARS 64   /* a custom field's name */
#define CONTACT_MAX_CUSTOM_FIELDS_BYTES 16384 /* custom_fields as JSON text */

/* The contact's own fields, by the names of its columns. */
enum contact_column {
	CONTACT_COL_NONE = -1,
	CONTACT_COL_ID,
	CONTACT_COL_USER_ID,
	CONTACT_COL_EMAIL,
	CONTACT_COL_FIRST_NAME,
	CONTACT_COL_LAST_NAME,
	CONTACT_COL_TAGS,
	CONTACT_COL_CUSTOM_FIELDS,
	CONTACT_COL_IS_SUBSCRIBED,
	CONTACT_COL_SUBSCRIBED_AT,
	CONTACT_COL_UNSUBSCRIBED_AT,
	CONTACT_COL_BOUNCED_AT,
	CONTACT_COL_CREATED_AT,
	CONTACT_COL_UPDATED_AT,
};

/* The column that name (len bytes) names, compared case-insensitively with
 * surrounding white space ignored, or CONTACT_COL_NONE. These names are
 * reserved: no custom field may carry one, since the export's header and the
 * import's columns would then mean two things. */
enum contact_column contact_column_named(const char *name, size_t len);

/* Append row of r (selected with CONTACT_COLUMNS) as a JSON object. */
void contact_json_append(struct strbuf *out, const PGresult *r, int row);
/* Append a PostgreSQL text[] in its text form ("{a,\"b c\"}") as a JSON array. */
void pg_text_array_to_json(struct strbuf *out, const char *pg);
/* Append a JSON array of strings as a text[] literal, every element quoted
 * ("[\"a\", \"b c\"]" -> {"a","b c"}): 0, or -1 when json is not such an
 * array. The literal goes to PostgreSQL as a parameter ($n::text[]), cheaper
 * there than unpacking JSON with a subquery. */
int json_string_array_to_pg(struct strbuf *out, const char *json);

#endif
