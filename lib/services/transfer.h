/* Contacts in and out as CSV: the export streams through a cursor, the
 * import streams through COPY into a staging table and one merge. */
#ifndef FS_TRANSFER_H
#define FS_TRANSFER_H

#include "http/context.h"

/* Stream every contact as CSV (columns of API.md, then one per custom field).
 * Writes the answer itself; FS_OK, or a failure before anything was sent. */
enum fs_status contacts_export_csv(struct fs_ctx *ctx, struct fs_error *err);

/* CSV-quote s into out when it needs quoting. */
void csv_append_field(struct strbuf *out, const char *s, size_t len);

#endif
