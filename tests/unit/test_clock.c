/* The one clock: offsets, setting it from ISO 8601 text, refusing what is not
 * a date-time, and a date decision (token expiry) following it. */
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/config.h"
#include "services/tokens.h"
#include "unit.h"

/* Every test leaves the clock as it found it: the wall clock. */
static void clock_reset(void)
{
	clock_set_offset(0);
}

/* The offset clock_now() shows right now, give or take a second boundary. */
static void expect_ahead_by(long seconds)
{
	time_t before = time(NULL), now = clock_now(), after = time(NULL);

	ck_assert_msg(now >= before + seconds && now <= after + seconds,
		      "clock_now %lld, wall %lld..%lld, want +%ld", (long long)now,
		      (long long)before, (long long)after, seconds);
}

START_TEST(clock_is_the_wall_clock_until_moved)
{
	double ms = clock_now_ms(), wall_ms = (double)time(NULL) * 1000.0;

	ck_assert_int_eq(clock_offset(), 0);
	expect_ahead_by(0);
	ck_assert(ms > wall_ms - 2000.0 && ms < wall_ms + 2000.0);
}
END_TEST

START_TEST(clock_offset_moves_now_both_ways)
{
	unsigned long gen = clock_generation();
	double ms, at;

	clock_set_offset(7 * 86400);
	ck_assert_int_eq(clock_offset(), 7 * 86400);
	ck_assert(clock_generation() != gen);
	expect_ahead_by(7 * 86400);
	ms = clock_now_ms();
	at = (double)clock_now() * 1000.0;
	ck_assert(ms >= at - 2000.0 && ms <= at + 2000.0);
	/* The same offset again is no change: sessions need not hear of it. */
	gen = clock_generation();
	clock_set_offset(7 * 86400);
	ck_assert(clock_generation() == gen);
	clock_set_offset(-3600);
	ck_assert(clock_generation() != gen);
	expect_ahead_by(-3600);
	clock_set_offset(0);
	expect_ahead_by(0);
}
END_TEST

START_TEST(clock_set_now_iso_reads_as_that_instant)
{
	/* 2031-03-04T05:06:07Z */
	const time_t want = 1930367167;
	const char *same[] = { "2031-03-04T05:06:07Z", "2031-03-04T05:06:07.999Z",
			       "2031-03-04T07:06:07+02:00", "2031-03-04T00:06:07-0500",
			       "2031-03-04 05:06:07", "2031-03-04t05:06:07z" };

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		time_t now;
		ck_assert_int_eq(clock_set_now_iso(same[i]), 0);
		now = clock_now();
		ck_assert_msg(now >= want && now <= want + 2, "%s: %lld", same[i], (long long)now);
	}
	/* Minutes only: seconds are 0. */
	ck_assert_int_eq(clock_set_now_iso("2031-03-04T05:06"), 0);
	ck_assert(clock_now() >= want - 7 && clock_now() <= want - 5);
	/* The past works too: the offset is negative. */
	ck_assert_int_eq(clock_set_now_iso("2001-01-01T00:00:00Z"), 0);
	ck_assert(clock_offset() < 0);
	ck_assert(clock_now() >= 978307200 && clock_now() <= 978307202);
}
END_TEST

START_TEST(clock_refuses_what_is_not_a_date_time)
{
	const char *bad[] = { "", "now", "next tuesday", "2031-03-04", "2031-03-04T05",
			      "2031-02-29T00:00:00Z", "2031-13-01T00:00Z", "2031-03-04T24:00Z",
			      "2031-03-04T05:60Z", "2031-03-04T05:06:07+15:00", "1969-12-31T23:59Z",
			      "2031-03-04T05:06:07Zjunk", "2031-03-04T05:06:07.Z",
			      " 2031-03-04T05:06Z", "+2031-03-04T05:06Z" };
	unsigned long gen;

	clock_set_offset(42);
	gen = clock_generation();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(clock_set_now_iso(bad[i]) == -1, "accepted '%s'", bad[i]);
		ck_assert_int_eq(clock_offset(), 42); /* unchanged */
	}
	ck_assert_int_eq(clock_set_now_iso(NULL), -1);
	ck_assert(clock_generation() == gen);
}
END_TEST

/* Access tokens expire on the service's clock: moved past exp, they are dead. */
START_TEST(access_tokens_expire_on_the_clock)
{
	struct fs_config cfg;
	char err[128], tok[TOKEN_MAX_LEN], user[37];
	const char *id = "123e4567-e89b-12d3-a456-426614174000";
	long epoch = -1;

	unsetenv("FLOWSEND_ENV");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(token_issue_access(&cfg, id, 0, tok, sizeof(tok)), 0);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_OK);
	clock_set_offset(cfg.access_token_ttl + 1);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_UNAUTHORIZED);
	/* Issued on the moved clock, it lives from there. */
	ck_assert_int_eq(token_issue_access(&cfg, id, 0, tok, sizeof(tok)), 0);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_OK);
	clock_set_offset(0);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_OK);
}
END_TEST

Suite *clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("clock");

	tcase_add_checked_fixture(tc, clock_reset, clock_reset);
	tcase_add_test(tc, clock_is_the_wall_clock_until_moved);
	tcase_add_test(tc, clock_offset_moves_now_both_ways);
	tcase_add_test(tc, clock_set_now_iso_reads_as_that_instant);
	tcase_add_test(tc, clock_refuses_what_is_not_a_date_time);
	tcase_add_test(tc, access_tokens_expire_on_the_clock);
	suite_add_tcase(s, tc);
	return s;
}
