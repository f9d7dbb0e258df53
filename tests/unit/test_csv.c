/* The streaming CSV reader on RFC 4180's cases and spreadsheet habits, fed
 * whole and one byte at a time. */
#include <string.h>

#include "core/csv.h"
#include "core/strbuf.h"
#include "unit.h"

struct capture {
	struct strbuf out; /* records as "a|b|c" lines, errors marked with ! */
};

static int capture_record(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n)
{
	struct capture *c = ud;
	(void)no;
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

static size_t seen_error_record;

static int note_errors(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n)
{
	struct csv_reader *r = ud;
	(void)f;
	(void)lens;
	(void)n;
	if (r->error)
		seen_error_record = no;
	return 0;
}

START_TEST(unterminated_quotes_and_numbering)
{
	struct csv_reader r;
	const char *in = "h\nok\n\"open quote never closed\n";

	seen_error_record = 0;
	csv_init(&r, note_errors, &r);
	csv_feed(&r, in, strlen(in));
	csv_finish(&r);
	ck_assert_uint_eq(seen_error_record, 3);
	csv_free(&r);
}
END_TEST

static int stop_after_first(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n)
{
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
	suite_add_tcase(s, tc);
	return s;
}
