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

/* Append row of r (selected with CONTACT_COLUMNS) as a JSON object. */
void contact_json_append(struct strbuf *out, const PGresult *r, int row);
/* Append a PostgreSQL text[] in its text form ("{a,\"b c\"}") as a JSON array. */
void pg_text_array_to_json(struct strbuf *out, const char *pg);

#endif
