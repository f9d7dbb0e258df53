/* A streaming CSV reader (RFC 4180, forgiving where spreadsheets are): feed
 * it bytes as they arrive, it calls back once per record. Quotes, escaped
 * quotes, commas and newlines inside quotes, CRLF or LF, a UTF-8 BOM, blank
 * lines skipped. Memory is bounded by the longest record. */
#ifndef FS_CSV_H
#define FS_CSV_H

#include <stddef.h>

#include "core/strbuf.h"

#define CSV_MAX_FIELDS 1024
#define CSV_MAX_RECORD (1024 * 1024)

/* fields[i] points at fields_len[i] bytes (NUL-terminated); return non-zero to stop. */
typedef int (*csv_record_fn)(void *ud, size_t record_no, const char *const *fields,
			     const size_t *lens, size_t n);

struct csv_reader {
	csv_record_fn cb;
	void *ud;
	int state;
	int after_cr;
	int started;         /* BOM checked */
	int field_quoted;
	int stopped;
	int error;           /* record too long or too many fields */
	size_t record_no;    /* 1-based number of the record being read */
	struct strbuf record;      /* field bytes, each followed by a NUL */
	size_t starts[CSV_MAX_FIELDS];
	size_t nfields;
	const char *views[CSV_MAX_FIELDS];
	size_t lens[CSV_MAX_FIELDS];
};

void csv_init(struct csv_reader *r, csv_record_fn cb, void *ud);
/* Feed the next bytes; 0, or -1 once the callback asked to stop. */
int csv_feed(struct csv_reader *r, const char *data, size_t len);
/* End of input: deliver a last record without a newline. */
int csv_finish(struct csv_reader *r);
void csv_free(struct csv_reader *r);

#endif
