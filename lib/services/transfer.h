/* Contacts in and out as CSV: the export streams through a cursor, the
 * import streams through COPY into a staging table and one merge. */
#ifndef FS_TRANSFER_H
#define FS_TRANSFER_H

#include <json-c/json.h>

#include "http/context.h"

/* Stream every contact as CSV (columns of API.md, then one per custom field
 * the import can read back: none named like a column). Cells a spreadsheet
 * would run as formulas get a leading '. Writes the answer itself; FS_OK, or
 * a failure before anything was sent. */
enum fs_status contacts_export_csv(struct fs_ctx *ctx, struct fs_error *err);

struct import_result {
	long imported, skipped, failed, total;
	json_object *errors; /* [{row, detail}], the first 100 */
};

/* Where the CSV comes from: the request body as it arrives, or text in hand. */
struct import_source {
	const char *text;          /* CSV text, or NULL to stream the request body */
	size_t text_len;
	const char *const *emails; /* bare addresses (JSON imports), may be NULL */
	size_t nemails;
	const char *extra_tags;    /* a JSON array added to every contact, or NULL */
	const char *multipart;     /* the Content-Type of a multipart body to stream, or NULL */
};

/* Parse, stage with COPY, merge in one statement. FS_OK with the counts in
 * *res (the caller puts res->errors), or a failure for the whole import. */
enum fs_status contacts_import(struct fs_ctx *ctx, const struct import_source *src,
			       struct import_result *res, struct fs_error *err);

#endif
