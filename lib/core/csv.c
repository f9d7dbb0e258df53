/* The CSV state machine. A record longer than CSV_MAX_RECORD, with more than
 * CSV_MAX_FIELDS fields or cut by the end of the input is delivered with its
 * error, so the caller can report that row and go on with the next. */
#include "core/csv.h"

#include <string.h>

enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };

void csv_init(struct csv_reader *r, csv_record_fn cb, void *ud)
{
	memset(r, 0, sizeof(*r));
	r->cb = cb;
	r->ud = ud;
	r->record_no = 1;
	strbuf_init(&r->record);
}

void csv_free(struct csv_reader *r)
{
	strbuf_free(&r->record);
}

static void record_error(struct csv_reader *r, enum csv_error e)
{
	if (r->error == CSV_OK)
		r->error = e;
}

static void field_byte(struct csv_reader *r, char c)
{
	/* Past the last field kept, bytes are dropped, not counted: a short
	 * record with too many fields is that, not too long. */
	if (r->nfields >= CSV_MAX_FIELDS)
		return;
	if (r->record.len >= CSV_MAX_RECORD) {
		record_error(r, CSV_TOO_LONG);
		return;
	}
	strbuf_appendc(&r->record, c);
}

static void end_field(struct csv_reader *r)
{
	r->field_quoted = 0;
	if (r->nfields >= CSV_MAX_FIELDS) {
		record_error(r, CSV_TOO_MANY_FIELDS);
		return;
	}
	strbuf_appendc(&r->record, '\0');
	r->nfields++;
	r->starts[r->nfields] = r->record.len;
}

static int end_record(struct csv_reader *r)
{
	int stop = 0;

	end_field(r);
	/* A line with nothing on it is no record. */
	if (!(r->nfields == 1 && r->record.len == 1 && !r->error)) {
		for (size_t i = 0; i < r->nfields; i++) {
			r->views[i] = r->record.buf + r->starts[i];
			r->lens[i] = r->starts[i + 1] - r->starts[i] - 1;
		}
		stop = r->cb(r->ud, r->record_no, r->views, r->lens, r->nfields, r->error);
		r->record_no++;
	}
	strbuf_reset(&r->record);
	r->nfields = 0;
	r->starts[0] = 0;
	r->error = CSV_OK;
	r->state = FIELD_START;
	if (stop)
		r->stopped = 1;
	return stop;
}

/* A byte outside quotes: a separator, a line end or field text. -1 when the
 * callback asked to stop. */
static int plain_byte(struct csv_reader *r, char c)
{
	r->state = UNQUOTED;
	if (c == ',') {
		end_field(r);
		r->state = FIELD_START;
	} else if (c == '\n' || c == '\r') {
		r->after_cr = c == '\r';
		if (end_record(r))
			return -1;
	} else {
		field_byte(r, c);
	}
	return 0;
}

int csv_feed(struct csv_reader *r, const char *data, size_t len)
{
	size_t i = 0;

	if (r->stopped)
		return -1;
	if (!r->started) {
		/* The BOM may arrive split over calls: wait for three bytes. */
		static const char bom[] = "\xef\xbb\xbf";
		size_t have = r->record.len;
		while (have < 3 && i < len && (unsigned char)data[i] == (unsigned char)bom[have]) {
			strbuf_appendc(&r->record, data[i]);
			have++;
			i++;
		}
		if (have == 3) {
			strbuf_reset(&r->record);
			r->started = 1;
		} else if (i == len && have > 0) {
			return 0; /* still could be a BOM */
		} else {
			/* Not a BOM: whatever was held back is data. */
			char held[3];
			memcpy(held, r->record.buf ? r->record.buf : "", have);
			strbuf_reset(&r->record);
			r->started = 1;
			if (have && csv_feed(r, held, have) < 0)
				return -1;
		}
	}
	for (; i < len; i++) {
		char c = data[i];

		if (r->after_cr) {
			r->after_cr = 0;
			if (c == '\n')
				continue;
		}
		switch (r->state) {
		case FIELD_START:
			if (c == '"') {
				r->state = QUOTED;
				r->field_quoted = 1;
				continue;
			}
			/* fall through */
		case UNQUOTED:
			if (plain_byte(r, c) < 0)
				return -1;
			break;
		case QUOTED:
			if (c == '"')
				r->state = QUOTE_IN_QUOTED;
			else
				field_byte(r, c);
			break;
		case QUOTE_IN_QUOTED:
			if (c == '"') {
				field_byte(r, '"');
				r->state = QUOTED;
			} else if (plain_byte(r, c) < 0) {
				/* after the closing quote: a separator, a line end, or
				 * ("ab"c) plain text that goes on, as spreadsheets do */
				return -1;
			}
			break;
		}
	}
	return 0;
}

int csv_finish(struct csv_reader *r)
{
	if (r->stopped)
		return -1;
	if (!r->started && r->record.len) {
		/* Fewer than three bytes of input that began like a BOM. */
		char held[3];
		size_t n = r->record.len;
		memcpy(held, r->record.buf, n);
		strbuf_reset(&r->record);
		r->started = 1;
		csv_feed(r, held, n);
	}
	if (r->state == QUOTED)
		record_error(r, CSV_OPEN_QUOTE);
	if (r->state != FIELD_START || r->nfields > 0 || r->record.len > 0)
		return end_record(r) ? -1 : 0;
	return 0;
}

const char *csv_error_text(enum csv_error error)
{
	switch (error) {
	case CSV_OK:
		break;
	case CSV_TOO_LONG:
		return "The row is longer than 1 MiB";
	case CSV_TOO_MANY_FIELDS:
		return "The row has more than 1024 fields";
	case CSV_OPEN_QUOTE:
		return "The row ends inside a quoted field (a quote is never closed)";
	}
	return "The row could not be read";
}

/* ---- writing ---- */

/* Whether s, past any leading ', begins with a character that makes a
 * spreadsheet read the cell as a formula (OWASP's CSV injection list). */
static int formula_after_quotes(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] == '\'')
		i++;
	if (i == len)
		return 0;
	switch (s[i]) {
	case '=': case '+': case '-': case '@': case '\t': case '\r':
		return 1;
	default:
		return 0;
	}
}

size_t csv_formula_escape_len(const char *s, size_t len)
{
	return len > 1 && s[0] == '\'' && formula_after_quotes(s, len) ? 1 : 0;
}

void csv_append_field(struct strbuf *out, const char *s, size_t len)
{
	/* Values that already begin with ' before such a character get one more,
	 * so that taking one off on import is never a loss. */
	int escape = formula_after_quotes(s, len);
	int quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');

	for (size_t i = 0; i < len && !quote; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = 1;
	if (quote)
		strbuf_appendc(out, '"');
	if (escape)
		strbuf_appendc(out, '\'');
	if (!quote) {
		strbuf_append(out, s, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			strbuf_appendc(out, '"');
		strbuf_appendc(out, s[i]);
	}
	strbuf_appendc(out, '"');
}
