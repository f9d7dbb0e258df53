/* A streaming CSV reader (RFC 4180, forgiving where spreadsheets are): feed
 * it bytes as they arrive, it calls back once per record. Quotes, escaped
 * quotes, commas and newlines inside quotes, CRLF or LF, a UTF-8 BOM, blank
 * lines skipped. Memory is bounded by the longest record. Also the writer's
 * side: quoting and spreadsheet-formula escaping of one field. */
#ifndef FS_CSV_H
#define FS_CSV_H

#include <stddef.h>

#include "core/strbuf.h"

#define CSV_MAX_FIELDS 1024
#define CSV_MAX_RECORD (1024 * 1024)

/* Why a record could not be read whole; the first problem of a record wins. */
enum csv_error {
	CSV_OK = 0,
	CSV_TOO_LONG,        /* over CSV_MAX_RECORD bytes: the rest was dropped */
	CSV_TOO_MANY_FIELDS, /* over CSV_MAX_FIELDS fields: the extra ones were dropped */
	CSV_OPEN_QUOTE,      /* the input ended inside a quoted field */
};

/* fields[i] points at lens[i] bytes (NUL-terminated). A record with error set
 * was cut: report it, never store it. Return non-zero to stop. */
typedef int (*csv_record_fn)(void *ud, size_t record_no, const char *const *fields,
			     const size_t *lens, size_t n, enum csv_error error);

struct csv_reader {
	csv_record_fn cb;
	void *ud;
	int state;
	int after_cr;
	int started;         /* BOM checked */
	int field_quoted;
	int stopped;
	enum csv_error error; /* of the record being read */
	size_t record_no;    /* 1-based number of the record being read */
	struct strbuf record;      /* field bytes, each followed by a NUL */
	size_t starts[CSV_MAX_FIELDS + 1];
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
/* A sentence for a row error ("The row is longer than 1 MiB"). */
const char *csv_error_text(enum csv_error error);

/* Append one field: a ' before a cell a spreadsheet would run as a formula
 * (one that begins with =, +, -, @, tab or CR, after any ' already there:
 * OWASP's rule), then quoted per RFC 4180 when it needs to be. */
void csv_append_field(struct strbuf *out, const char *s, size_t len);
/* How many leading bytes of a read field are such an escape: 1 when s is
 * ' followed (after any more ') by one of those characters, else 0. Dropping
 * them gives back exactly what csv_append_field was given. */
size_t csv_formula_escape_len(const char *s, size_t len);

#endif
