/* The streaming CSV reader on RFC 4180's cases and spreadsheet habits, fed
 * whole and one byte at a time; records it had to cut reach the callback with
 * their error; the writer's quoting and formula escaping. */
#include <string.h>

#include "core/csv.h"
#include "core/strbuf.h"
#include "unit.h"

struct capture {
	struct strbuf out; /* records as "a|b|c" lines, errors marked with ! */
};

static int capture_record(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n,
			  enum csv_error error)
{
	struct capture *c = ud;
	(void)no;
	if (error)
		strbuf_appendc(&c->out, '!');
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_appendc(&c->out, '|');
		strbuf_append(&c->out, f[i], lens[i]);
	}
	strbuf_appendc(&c->out, '\n');
	return 0;
}

static void parse(const char *in, size_t len, int bytewise, struct strbuf *out)
{
	struct capture c;
	struct csv_reader r;

	strbuf_init(&c.out);
	csv_init(&r, capture_record, &c);
	if (bytewise)
		for (size_t i = 0; i < len; i++)
			csv_feed(&r, in + i, 1);
	else
		csv_feed(&r, in, len);
	csv_finish(&r);
	csv_free(&r);
	*out = c.out;
}

START_TEST(rfc4180_cases_whole_and_bytewise)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "a,b,c\n1,2,3\n", "a|b|c\n1|2|3\n" },
		{ "a,b\r\n1,2\r\n", "a|b\n1|2\n" },
		{ "a,b\r1,2", "a|b\n1|2\n" },
		{ "\"x, y\",\"he said \"\"hi\"\"\"\n", "x, y|he said \"hi\"\n" },
		{ "\"line1\nline2\",z\n", "line1\nline2|z\n" },
		{ "\xef\xbb\xbf" "email\nA@B.co\n", "email\nA@B.co\n" },
		{ "a\n\n\r\nb\n", "a\nb\n" },
		{ "a,b,c\n1\n1,2,3,4\n", "a|b|c\n1\n1|2|3|4\n" },
		{ ",,\n", "||\n" },
		{ "\"ab\"c,d\n", "abc|d\n" },
		{ "x\"y,z\n", "x\"y|z\n" },
		{ "caf\xc3\xa9,\xf0\x9f\x98\x80\n", "caf\xc3\xa9|\xf0\x9f\x98\x80\n" },
		{ "", "" },
		{ "\xef\xbb", "\xef\xbb\n" },
		{ "no newline at end", "no newline at end\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct strbuf out;
			parse(cases[i].in, strlen(cases[i].in), bytewise, &out);
			ck_assert_msg(strcmp(strbuf_cstr(&out), cases[i].want) == 0,
				      "case %zu (bytewise %d): got [%s]", i, bytewise, strbuf_cstr(&out));
			strbuf_free(&out);
		}
	}
}
END_TEST

/* What the reader delivered: per record its number, error, field count and
 * fields, kept whole (the callback's views die with the record). */
struct seen {
	size_t records;
	size_t no[8], n[8];
	enum csv_error error[8];
	struct strbuf fields[8]; /* the fields joined with '|' */
};

static int note_records(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n,
			enum csv_error error)
{
	struct seen *s = ud;
	size_t k = s->records++;

	ck_assert_uint_lt(k, 8);
	s->no[k] = no;
	s->n[k] = n;
	s->error[k] = error;
	strbuf_init(&s->fields[k]);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(strlen(f[i]), lens[i]); /* no NUL inside a field */
		if (i)
			strbuf_appendc(&s->fields[k], '|');
		strbuf_append(&s->fields[k], f[i], lens[i]);
	}
	return 0;
}

static void read_all(const char *in, size_t len, int bytewise, struct seen *s)
{
	struct csv_reader r;

	memset(s, 0, sizeof(*s));
	csv_init(&r, note_records, s);
	if (bytewise)
		for (size_t i = 0; i < len; i++)
			csv_feed(&r, in + i, 1);
	else
		csv_feed(&r, in, len);
	csv_finish(&r);
	csv_free(&r);
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->records; i++)
		strbuf_free(&s->fields[i]);
}

START_TEST(unterminated_quotes_and_numbering)
{
	const char *in = "h\nok\n\"open quote never closed\n";
	struct seen s;

	read_all(in, strlen(in), 0, &s);
	ck_assert_uint_eq(s.records, 3);
	ck_assert_uint_eq(s.no[2], 3);
	ck_assert_int_eq(s.error[0], CSV_OK);
	ck_assert_int_eq(s.error[1], CSV_OK);
	ck_assert_int_eq(s.error[2], CSV_OPEN_QUOTE);
	ck_assert_ptr_nonnull(strstr(csv_error_text(CSV_OPEN_QUOTE), "quote"));
	seen_free(&s);
}
END_TEST

/* A field over the record cap: that record comes with CSV_TOO_LONG (its
 * text cut, for the caller to refuse, never to store), the next ones whole. */
START_TEST(an_overlong_record_is_reported_and_the_next_one_read)
{
	struct strbuf in = STRBUF_INIT;
	struct seen s;

	strbuf_appends(&in, "email,note\nok@x.example,a\nbig@x.example,\"");
	for (size_t i = 0; i < CSV_MAX_RECORD + 200 * 1000; i++)
		strbuf_appendc(&in, i % 100 ? 'x' : '\n'); /* line breaks inside the quotes too */
	strbuf_appends(&in, "\",tail\nnext@x.example,b\n");
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		read_all(in.buf, in.len, bytewise, &s);
		ck_assert_uint_eq(s.records, 4);
		ck_assert_int_eq(s.error[1], CSV_OK);
		ck_assert_str_eq(strbuf_cstr(&s.fields[1]), "ok@x.example|a");
		ck_assert_int_eq(s.error[2], CSV_TOO_LONG);
		ck_assert_uint_eq(s.no[2], 3);
		ck_assert_uint_le(s.fields[2].len, CSV_MAX_RECORD + s.n[2]); /* and the separators */
		ck_assert_int_eq(s.error[3], CSV_OK);
		ck_assert_uint_eq(s.no[3], 4);
		ck_assert_str_eq(strbuf_cstr(&s.fields[3]), "next@x.example|b");
		seen_free(&s);
	}
	ck_assert_ptr_nonnull(strstr(csv_error_text(CSV_TOO_LONG), "1 MiB"));
	strbuf_free(&in);
}
END_TEST

/* CSV_MAX_FIELDS fields are a record; one more is CSV_TOO_MANY_FIELDS, with
 * the first CSV_MAX_FIELDS fields as they were (nothing merged into the last). */
START_TEST(too_many_fields_are_reported_not_merged)
{
	struct strbuf in = STRBUF_INIT, want = STRBUF_INIT;
	struct seen s;

	for (int i = 0; i < CSV_MAX_FIELDS; i++)
		strbuf_appendf(&in, "%sf%d", i ? "," : "", i);
	strbuf_appendc(&in, '\n');
	for (int i = 0; i < CSV_MAX_FIELDS + 50; i++)
		strbuf_appendf(&in, "%sg%d", i ? "," : "", i);
	strbuf_appends(&in, "\nlast,one\n");
	for (int i = 0; i < CSV_MAX_FIELDS; i++)
		strbuf_appendf(&want, "%sg%d", i ? "|" : "", i);
	read_all(in.buf, in.len, 0, &s);
	ck_assert_uint_eq(s.records, 3);
	ck_assert_int_eq(s.error[0], CSV_OK);
	ck_assert_uint_eq(s.n[0], CSV_MAX_FIELDS);
	ck_assert_int_eq(s.error[1], CSV_TOO_MANY_FIELDS);
	ck_assert_uint_eq(s.n[1], CSV_MAX_FIELDS);
	ck_assert_str_eq(strbuf_cstr(&s.fields[1]), strbuf_cstr(&want));
	ck_assert_int_eq(s.error[2], CSV_OK);
	ck_assert_str_eq(strbuf_cstr(&s.fields[2]), "last|one");
	ck_assert_ptr_nonnull(strstr(csv_error_text(CSV_TOO_MANY_FIELDS), "1024"));
	seen_free(&s);
	strbuf_free(&in);
	strbuf_free(&want);
}
END_TEST

/* OWASP's rule: a cell that begins with =, +, -, @, tab or CR gets a leading
 * '; one that already begins with ' before such a character gets one more,
 * so the reader's side (csv_formula_escape_len) gives every value back. */
START_TEST(formula_cells_are_escaped_and_read_back)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0" },
		{ "=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"" },
		{ "+1", "'+1" },
		{ "-5", "'-5" },
		{ "@SUM(A1)", "'@SUM(A1)" },
		{ "\tTab", "'\tTab" },
		{ "\rCR", "\"'\rCR\"" },
		{ "=a,b", "\"'=a,b\"" },
		{ "=ends ", "\"'=ends \"" },
		{ "'=kept", "''=kept" },
		{ "''-2", "'''-2" },
		{ "'plain", "'plain" },
		{ "'", "'" },
		{ "''", "''" },
		{ "a=b", "a=b" },
		{ " =x", "\" =x\"" },
		{ "safe", "safe" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf out = STRBUF_INIT, line = STRBUF_INIT;
		struct seen s;
		const char *got;
		size_t esc;

		csv_append_field(&out, cases[i].in, strlen(cases[i].in));
		ck_assert_msg(strcmp(strbuf_cstr(&out), cases[i].want) == 0, "case %zu: got [%s]", i,
			      strbuf_cstr(&out));
		/* Back through the reader: the value less its escape is the input. */
		strbuf_appends(&line, "x,");
		strbuf_append(&line, out.buf, out.len);
		strbuf_appends(&line, "\r\n");
		read_all(line.buf, line.len, 0, &s);
		ck_assert_uint_eq(s.records, 1);
		got = strbuf_cstr(&s.fields[0]) + 2;
		esc = csv_formula_escape_len(got, strlen(got));
		ck_assert_msg(strcmp(got + esc, cases[i].in) == 0, "case %zu: read back [%s]", i, got + esc);
		seen_free(&s);
		strbuf_free(&out);
		strbuf_free(&line);
	}
	ck_assert_uint_eq(csv_formula_escape_len("'=x", 3), 1);
	ck_assert_uint_eq(csv_formula_escape_len("''@", 3), 1);
	ck_assert_uint_eq(csv_formula_escape_len("'\t", 2), 1);
	ck_assert_uint_eq(csv_formula_escape_len("'x", 2), 0);
	ck_assert_uint_eq(csv_formula_escape_len("'", 1), 0);
	ck_assert_uint_eq(csv_formula_escape_len("=x", 2), 0);
	ck_assert_uint_eq(csv_formula_escape_len("", 0), 0);
}
END_TEST

static int stop_after_first(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n,
			    enum csv_error error)
{
	(void)error;
	(void)ud;
	(void)f;
	(void)lens;
	(void)n;
	return no == 1;
}

START_TEST(a_callback_can_stop_the_reader)
{
	struct csv_reader r;
	csv_init(&r, stop_after_first, NULL);
	ck_assert_int_eq(csv_feed(&r, "a\nb\nc\n", 6), -1);
	ck_assert_int_eq(csv_feed(&r, "d\n", 2), -1);
	csv_free(&r);
}
END_TEST

Suite *csv_suite(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("csv");
	tcase_add_test(tc, rfc4180_cases_whole_and_bytewise);
	tcase_add_test(tc, unterminated_quotes_and_numbering);
	tcase_add_test(tc, a_callback_can_stop_the_reader);
	tcase_add_test(tc, an_overlong_record_is_reported_and_the_next_one_read);
	tcase_add_test(tc, too_many_fields_are_reported_not_merged);
	tcase_add_test(tc, formula_cells_are_escaped_and_read_back);
	suite_add_tcase(s, tc);
	return s;
}
