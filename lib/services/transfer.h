/* Contacts in and out as CSV: the export streams through a cursor, the
 * import streams through COPY into a staging table and one merge. */
#ifndef FS_TRANSFER_H
#define FS_TRANSFER_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/io.h"
#include "core/status.h"

/* Stream every contact as CSV (columns of API.md, then one per custom field
 * the import can read back: none named like a column) into out. Cells a
 * spreadsheet would run as formulas get a leading '. FS_OK once streaming
 * began (a fetch that fails later cuts the stream, logged), or a failure
 * before anything was written. */
enum fs_status contacts_export_csv(struct fs_env *env, const struct fs_writer *out,
				   struct fs_error *err);

struct import_result {
	long imported, skipped, failed, total;
	json_object *errors; /* [{row, detail}], the first 100 */
};

/* Where the CSV comes from: text in hand, bare addresses, or a body that
 * arrives in pieces (the caller decodes uploads: body pumps CSV bytes). */
struct import_source {
	const char *text;          /* CSV text, or NULL */
	size_t text_len;
	const char *const *emails; /* bare addresses (JSON imports), may be NULL */
	size_t nemails;
	const char *extra_tags;    /* a JSON array added to every contact, or NULL */
	const struct fs_source *body; /* CSV bytes as they arrive, when neither of the above */
};

/* Parse, stage with COPY, merge in one statement. FS_OK with the counts in
 * *res (the caller puts res->errors), or a failure for the whole import. */
enum fs_status contacts_import(struct fs_env *env, const struct import_source *src,
			       struct import_result *res, struct fs_error *err);

#endif
