/* Arena, strbuf, UTF-8 and the log writer: the allocation and text primitives. */
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wctype.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "unit.h"

static int cleanup_order[4];
static int cleanup_count;

static void record_cleanup(void *p)
{
	cleanup_order[cleanup_count++] = *(int *)p;
}

START_TEST(arena_allocations_are_zeroed_and_aligned)
{
	struct arena a;
	arena_init(&a, 256);
	for (int i = 1; i < 200; i++) {
		unsigned char *p = arena_alloc(&a, (size_t)i);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		for (int k = 0; k < i; k++)
			ck_assert_uint_eq(p[k], 0);
		memset(p, 0xab, (size_t)i);
	}
	arena_destroy(&a);
}
END_TEST

START_TEST(arena_large_allocation_and_reset)
{
	struct arena a;
	arena_init(&a, 128);
	char *small = arena_strdup(&a, "hello");
	char *big = arena_alloc(&a, 100000);
	ck_assert_ptr_nonnull(big);
	big[99999] = 'x';
	ck_assert_str_eq(small, "hello");
	/* The block the small string lives in must still serve allocations. */
	char *after = arena_strdup(&a, "world");
	ck_assert_str_eq(after, "world");
	arena_reset(&a);
	char *again = arena_sprintf(&a, "%d-%s", 42, "x");
	ck_assert_str_eq(again, "42-x");
	arena_destroy(&a);
}
END_TEST

START_TEST(arena_cleanups_run_newest_first_once)
{
	struct arena a;
	static int one = 1, two = 2, three = 3;
	arena_init(&a, 0);
	cleanup_count = 0;
	arena_add_cleanup(&a, record_cleanup, &one);
	arena_add_cleanup(&a, record_cleanup, &two);
	arena_add_cleanup(&a, record_cleanup, &three);
	arena_reset(&a);
	ck_assert_int_eq(cleanup_count, 3);
	ck_assert_int_eq(cleanup_order[0], 3);
	ck_assert_int_eq(cleanup_order[2], 1);
	arena_reset(&a);
	ck_assert_int_eq(cleanup_count, 3);
	arena_destroy(&a);
}
END_TEST

START_TEST(arena_refuses_impossible_sizes)
{
	struct arena a;
	arena_init(&a, 0);
	ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 4));
	ck_assert_ptr_null(arena_strndup(&a, "x", SIZE_MAX));
	arena_destroy(&a);
}
END_TEST

Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, arena_allocations_are_zeroed_and_aligned);
	tcase_add_test(tc, arena_large_allocation_and_reset);
	tcase_add_test(tc, arena_cleanups_run_newest_first_once);
	tcase_add_test(tc, arena_refuses_impossible_sizes);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(strbuf_appends_and_formats)
{
	struct strbuf sb = STRBUF_INIT;
	ck_assert_str_eq(strbuf_cstr(&sb), "");
	for (int i = 0; i < 1000; i++)
		strbuf_appendf(&sb, "%d,", i);
	ck_assert_uint_eq(sb.len, strlen(sb.buf));
	ck_assert(strncmp(sb.buf, "0,1,2,", 6) == 0);
	ck_assert(strstr(sb.buf, ",999,") != NULL);
	strbuf_reset(&sb);
	strbuf_append(&sb, "a\0b", 3);
	ck_assert_uint_eq(sb.len, 3);
	ck_assert_int_eq(sb.buf[1], '\0');
	ck_assert_int_eq(sb.oom, 0);
	strbuf_free(&sb);
}
END_TEST

START_TEST(strbuf_escapes_html_text_and_attributes)
{
	struct strbuf sb = STRBUF_INIT;
	ck_assert_int_eq(strbuf_append_html(&sb, "<a href=\"x\" title='&'>é</a>"), 0);
	ck_assert_str_eq(strbuf_cstr(&sb), "&lt;a href=&quot;x&quot; title=&#39;&amp;&#39;&gt;é&lt;/a&gt;");
	ck_assert_int_eq(strbuf_append_html(&sb, NULL), 0);
	ck_assert_uint_eq(sb.len, strlen(sb.buf));
	strbuf_free(&sb);
}
END_TEST

START_TEST(strbuf_overflow_is_sticky)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_appends(&sb, "x");
	ck_assert_int_eq(strbuf_grow(&sb, SIZE_MAX), -1);
	ck_assert_int_eq(sb.oom, 1);
	ck_assert_int_eq(strbuf_appends(&sb, "more"), -1);
	ck_assert_str_eq(strbuf_cstr(&sb), "x");
	strbuf_free(&sb);
}
END_TEST

Suite *strbuf_suite(void)
{
	Suite *s = suite_create("strbuf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, strbuf_appends_and_formats);
	tcase_add_test(tc, strbuf_escapes_html_text_and_attributes);
	tcase_add_test(tc, strbuf_overflow_is_sticky);
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(utf8_accepts_well_formed_text)
{
	const char *ok[] = { "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
			     "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(utf8_valid(ok[i], strlen(ok[i])), "rejected case %zu", i);
	ck_assert_uint_eq(utf8_length("caf\xc3\xa9\xf0\x9f\x98\x80", 9), 5);
}
END_TEST

START_TEST(utf8_rejects_malformed_text)
{
	const char *bad[] = { "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
			      "\xff", "\xc3", "\xe2\x82", "\x80", "\xf8\x88\x80\x80\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!utf8_valid(bad[i], strlen(bad[i])), "accepted case %zu", i);
	ck_assert(!utf8_valid("a\0b", 3));
}
END_TEST

static void expect_fold(const char *in, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	ck_assert_int_eq(utf8_casefold(&sb, in, strlen(in)), 0);
	ck_assert_str_eq(strbuf_cstr(&sb), want);
	strbuf_free(&sb);
}

START_TEST(utf8_casefold_folds_beyond_ascii)
{
	expect_fold("", "");
	expect_fold("J\xc3\x96RG@Example.COM", "j\xc3\xb6rg@example.com");  /* Latin-1 */
	expect_fold("\xc5\x81\xc3\x93" "D\xc5\xb9", "\xc5\x82\xc3\xb3" "d\xc5\xba"); /* ŁÓDŹ */
	expect_fold("\xce\xa3\xce\x9f\xce\xa6\xce\x8a\xce\x91",                /* ΣΟΦΊΑ */
		    "\xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1");
	expect_fold("\xcf\x82", "\xcf\x83");                                   /* final sigma */
	expect_fold("\xd0\x96\xd0\x90\xd0\x9d\xd0\x9d\xd0\x90",                /* ЖАННА */
		    "\xd0\xb6\xd0\xb0\xd0\xbd\xd0\xbd\xd0\xb0");
	expect_fold("\xc4\xb0", "i");                                           /* İ, as glibc */
	expect_fold("\xe2\x84\xaa", "k");                                      /* Kelvin sign */
	expect_fold("\xe1\xba\x9e", "\xc3\x9f");                               /* capital sharp s */
	expect_fold("\xf0\x90\x90\x80", "\xf0\x90\x90\xa8");                    /* Deseret */
	/* Bytes that are not UTF-8 pass through; what follows still folds. */
	expect_fold("A\xff\xc3" "B\xc3\x84", "a\xff\xc3" "b\xc3\xa4");
}
END_TEST

/* PostgreSQL's lower() in a libc UTF-8 locale lowers code point by code
 * point with towlower: every pair it makes equal must fold equal, i.e.
 * fold(towlower(c)) == fold(c) for every c. Checked against this machine's
 * C.UTF-8, the locale scripts/stack.sh creates the cluster with. */
START_TEST(utf8_casefold_is_coarser_than_postgres_lower)
{
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	unsigned long lowered = 0, bad = 0;
	uint32_t first_bad = 0;

	if (!loc)
		return; /* no C.UTF-8 here: nothing to compare with */
	/* Plain comparisons in the loop: a Check assertion per code point is slow. */
	for (uint32_t c = 0; c < 0x110000; c++) {
		uint32_t l, f;
		if (c >= 0xd800 && c < 0xe000)
			continue;
		l = (uint32_t)towlower_l((wint_t)c, loc);
		f = utf8_fold_char(c);
		lowered += l != c;
		if (utf8_fold_char(l) != f || utf8_fold_char(f) != f) {
			if (!bad++)
				first_bad = c;
		}
	}
	freelocale(loc);
	ck_assert_msg(bad == 0, "%lu code points fold apart from their lower case, first U+%04X",
		      bad, (unsigned)first_bad);
	ck_assert_uint_gt(lowered, 1000); /* a real Unicode table, not ASCII only */
}
END_TEST

START_TEST(uuid_validation_and_generation)
{
	char u[UUID_STR_LEN + 1];
	ck_assert(uuid_valid("123e4567-e89b-12d3-a456-426614174000", 36));
	ck_assert(uuid_valid("123E4567-E89B-12D3-A456-426614174000", 36));
	ck_assert(!uuid_valid("123e4567e89b12d3a456426614174000", 32));
	ck_assert(!uuid_valid("123e4567-e89b-12d3-a456-42661417400g", 36));
	ck_assert(!uuid_valid("123e4567-e89b-12d3-a456_426614174000", 36));
	ck_assert_int_eq(uuid_generate(u), 0);
	ck_assert(uuid_valid(u, strlen(u)));
	ck_assert_int_eq(u[14], '4');
	/* v7: version 7, variant 10xx, the first 48 bits the time in ms; made
	 * a millisecond apart, they sort as text in the order they were made. */
	{
		char later[UUID_STR_LEN + 1], prefix[13];
		long long ms, now = (long long)time(NULL) * 1000;
		size_t o = 0;

		ck_assert_int_eq(uuid_generate_v7(u), 0);
		ck_assert(uuid_valid(u, strlen(u)));
		ck_assert_int_eq(u[14], '7');
		ck_assert(strchr("89ab", u[19]) != NULL);
		for (int i = 0; i < 13 && o < 12; i++)
			if (u[i] != '-')
				prefix[o++] = u[i];
		prefix[o] = '\0';
		ms = strtoll(prefix, NULL, 16);
		ck_assert(ms >= now - 2000 && ms <= now + 2000);
		usleep(2000);
		ck_assert_int_eq(uuid_generate_v7(later), 0);
		ck_assert_int_lt(strcmp(u, later), 0);
	}
}
END_TEST

/* What may never reach a mail header: C0, DEL, C1, U+2028/2029; line
 * breaks only where asked for (footer text). */
START_TEST(utf8_finds_control_characters)
{
	static const char *const with[] = { "a\r\nBcc: x", "a\nb", "a\rb", "tab\there", "del\x7f",
					    "nel\xc2\x85", "c1\xc2\x9f", "ls\xe2\x80\xa8", "ps\xe2\x80\xa9",
					    "\x1b[31m" };
	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++)
		ck_assert_msg(utf8_has_controls(with[i], strlen(with[i]), 0), "missed case %zu", i);
	const char *name = "Caf\xc3\xa9 \xe2\x80\x94 Shop \xc2\xa0", *postal = "1 Main St\nSpringfield\r\n";
	ck_assert(!utf8_has_controls(name, strlen(name), 0));
	ck_assert(!utf8_has_controls(postal, strlen(postal), 1));
	ck_assert(utf8_has_controls(postal, strlen(postal), 0));
	ck_assert(utf8_has_controls("1 Main St\rSpringfield", 21, 1)); /* a lone CR */
	ck_assert(utf8_has_controls("x\ty", 3, 1));
	ck_assert(!utf8_has_controls("", 0, 0));
}
END_TEST

/* The invisible characters an address may not hold: ASCII's controls and
 * DEL (the fast path), the table's ranges above, and nothing else there. */
START_TEST(utf8_finds_invisible_characters)
{
	static const uint32_t yes[] = { 0x00, 0x09, 0x1f, 0x7f, 0x80, 0x9f, 0xa0, 0xad, 0x200b,
					0x2028, 0x3000, 0xfeff, 0xe0001 };
	static const uint32_t no[] = { 0x20, 0x21, 0x40, 0x7e, 0xa1, 0xe9, 0x2010, 0x1f600 };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(utf8_is_invisible(yes[i]), "missed U+%04X", (unsigned)yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!utf8_is_invisible(no[i]), "flagged U+%04X", (unsigned)no[i]);
	for (uint32_t c = 0; c < 0x80; c++)
		ck_assert_int_eq(utf8_is_invisible(c), c < 0x20 || c == 0x7f);
}
END_TEST

Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, utf8_accepts_well_formed_text);
	tcase_add_test(tc, utf8_finds_control_characters);
	tcase_add_test(tc, utf8_finds_invisible_characters);
	tcase_add_test(tc, utf8_rejects_malformed_text);
	tcase_add_test(tc, utf8_casefold_folds_beyond_ascii);
	tcase_add_test(tc, utf8_casefold_is_coarser_than_postgres_lower);
	tcase_add_test(tc, uuid_validation_and_generation);
	suite_add_tcase(s, tc);
	return s;
}

/* What the log writer puts on stderr while fn runs, captured in a temporary
 * file; the caller frees it. */
static char *capture_stderr(void (*fn)(void), size_t *len)
{
	FILE *f = tmpfile();
	int saved;
	long n;
	char *out;

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	fn();
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	out = calloc(1, (size_t)n + 1);
	rewind(f);
	ck_assert_uint_eq(fread(out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return out;
}

static void log_hostile_values(void)
{
	log_setup("unit", LOG_INFO);
	log_warn("contact %s not found",
		 "x\nFAKE forged line\r\x1b[31m red\x7f\xff\xc3 j\xc3\xb6rg");
	log_request("rid\n1", "GET", "/api/v1/contacts/\nFAKE LINE", 401, 1.5);
	log_info("tab\there, backslash \\n stays text");
	log_info("next line\xc2\x85line separator\xe2\x80\xa8" "end"); /* C1 NEL, U+2028 */
	log_setup("flowsend", LOG_INFO);
}

/* A decoded %0a in a path or any other logged value must not start a line of
 * its own: control bytes, DEL and bytes that are not UTF-8 are escaped. */
START_TEST(log_lines_escape_control_bytes)
{
	size_t len, lines = 0;
	char *out = capture_stderr(log_hostile_values, &len);

	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(out[len - 1], '\n');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c == '\n') {
			lines++;
			ck_assert_msg(strncmp(out + i + 1, "FAKE", 4) != 0, "forged line in: %s",
				      out);
			continue;
		}
		ck_assert_msg(c >= 0x20 && c != 0x7f, "raw byte 0x%02x at %zu in: %s", c, i, out);
	}
	ck_assert_uint_eq(lines, 4);
	ck_assert(utf8_valid(out, len));
	ck_assert_ptr_nonnull(
		strstr(out, "x\\nFAKE forged line\\r\\x1b[31m red\\x7f\\xff\\xc3 j\xc3\xb6rg"));
	ck_assert_ptr_nonnull(strstr(
		out, "rid=rid\\n1 method=GET path=/api/v1/contacts/\\nFAKE LINE status=401"));
	ck_assert_ptr_nonnull(strstr(out, "tab\\there, backslash \\\\n stays text"));
	ck_assert_ptr_nonnull(
		strstr(out, "next line\\xc2\\x85line separator\\xe2\\x80\\xa8" "end"));
	free(out);
}
END_TEST

static void log_plain_requests(void)
{
	char rid[101], path[601];

	memset(rid, 'r', sizeof(rid) - 1);
	rid[sizeof(rid) - 1] = '\0';
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	log_setup("unit", LOG_INFO);
	log_request("abc", "GET", "/t/o/x.gif", 200, 1.005);
	log_request("-", "HEAD", "/", 302, 0);
	log_request("id", "POST", "/api/v1/x", 503, 12345.678);
	log_request(rid, "GET", path, 404, 0.994);
	log_request("neg", "GET", "/", 500, -3.5);
	log_setup("flowsend", LOG_INFO);
}

/* The access line, put together by hand, reads as the printf it replaced:
 * "STAMP PROGRAM[PID] request rid=%.64s method=%.32s path=%.512s status=%d
 * ms=%.2f", with a stamp of the form 2026-01-02T03:04:05.678Z. */
START_TEST(access_lines_read_as_before)
{
	size_t len;
	char *out = capture_stderr(log_plain_requests, &len), *line = out, want[1024];
	const char *tails[5];
	char rid[65], path[513];

	memset(rid, 'r', 64);
	rid[64] = '\0';
	memset(path, 'p', 512);
	path[0] = '/';
	path[512] = '\0';
	tails[0] = "request rid=abc method=GET path=/t/o/x.gif status=200 ms=1.00";
	tails[1] = "request rid=- method=HEAD path=/ status=302 ms=0.00";
	tails[2] = "request rid=id method=POST path=/api/v1/x status=503 ms=12345.68";
	snprintf(want, sizeof(want), "request rid=%s method=GET path=%s status=404 ms=0.99", rid,
		 path);
	tails[3] = want;
	tails[4] = "request rid=neg method=GET path=/ status=500 ms=-3.50";
	for (int i = 0; i < 5; i++) {
		char *nl = strchr(line, '\n'), head[64];

		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		/* 2026-11-29T18:11:05.132Z unit[8480] */
		ck_assert_msg(strlen(line) > 25 && line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
				      line[13] == ':' && line[16] == ':' && line[19] == '.' &&
				      line[23] == 'Z' && line[24] == ' ',
			      "stamp: %s", line);
		snprintf(head, sizeof(head), "unit[%d] ", (int)getpid());
		ck_assert_msg(strncmp(line + 25, head, strlen(head)) == 0, "program: %s", line);
		ck_assert_str_eq(line + 25 + strlen(head), tails[i]);
		line = nl + 1;
	}
	ck_assert_int_eq(*line, '\0');
	free(out);
}
END_TEST

/* The stamp as gmtime and printf make it, whatever it caches between calls. */
START_TEST(iso_stamps_are_utc_milliseconds)
{
	char a[32], b[64], small[8];
	struct timespec ts;
	struct tm tm;

	for (int i = 0; i < 3; i++) {
		time_now_iso(a, sizeof(a));
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min);
		ck_assert_uint_eq(strlen(a), 24);
		if (strncmp(a, b, strlen(b)) != 0) /* a minute turned between the calls */
			continue;
		ck_assert_int_eq(a[19], '.');
		ck_assert_int_eq(a[23], 'Z');
		for (int k = 20; k < 23; k++)
			ck_assert(a[k] >= '0' && a[k] <= '9');
		usleep(1100 * 1000 / 3);
	}
	time_now_iso(small, sizeof(small)); /* too small: empty, never cut or overrun */
	ck_assert_str_eq(small, "");
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, log_lines_escape_control_bytes);
	tcase_add_test(tc, access_lines_read_as_before);
	tcase_add_test(tc, iso_stamps_are_utc_milliseconds);
	suite_add_tcase(s, tc);
	return s;
}
