/* Arena, strbuf and UTF-8: the allocation and text primitives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/strbuf.h"
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

Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, utf8_accepts_well_formed_text);
	tcase_add_test(tc, utf8_finds_control_characters);
	tcase_add_test(tc, utf8_rejects_malformed_text);
	tcase_add_test(tc, uuid_validation_and_generation);
	suite_add_tcase(s, tc);
	return s;
}
