/* Billing's pure parts: the Stripe-Signature parser (elements, spaces,
 * unknown schemes, duplicates, limits) and its check (several v1, case,
 * wrong secret, other body or timestamp, tolerance both ways), and the
 * plan table's api_access and limits as billing reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/stripe_sig.h"
#include "models/plan.h"
#include "services/analytics.h"
#include "services/billing.h"
#include "unit.h"

#define SECRET "whsec_unit"
#define BODY "{\"id\":\"evt_1\",\"type\":\"invoice.paid\"}"
#define T 1700000000LL

static void good_hex(const char *body, long long t, char hex[SHA256_HEX_LEN + 1])
{
	char payload[512];
	int n = snprintf(payload, sizeof(payload), "%lld.%s", t, body);

	hmac_sha256_hex(SECRET, strlen(SECRET), payload, (size_t)n, hex);
}

static enum stripe_sig_result check(const char *header, long long now)
{
	return stripe_sig_verify(header, strlen(header), BODY, strlen(BODY), SECRET, (time_t)now,
				 STRIPE_SIG_TOLERANCE);
}

START_TEST(parse_reads_t_and_every_v1)
{
	struct stripe_sig s;
	const char *h = " t=1700000000 , v1=abc,v0=zzz, v1=def ,scheme9=x";

	ck_assert_int_eq(stripe_sig_parse(h, strlen(h), &s), 0);
	ck_assert_int_eq(s.t, T);
	ck_assert_int_eq(s.nv1, 2);
	ck_assert_int_eq(s.v1_len[0], 3);
	ck_assert_int_eq(memcmp(s.v1[0], "abc", 3), 0);
	ck_assert_int_eq(memcmp(s.v1[1], "def", 3), 0);
	/* order does not matter; empty elements are skipped */
	ck_assert_int_eq(stripe_sig_parse("v1=a,,t=5,", 10, &s), 0);
	ck_assert_int_eq(s.t, 5);
	/* a length shorter than the string: only that much is read */
	ck_assert_int_eq(stripe_sig_parse("t=12,v1=ab", 4, &s), -1);
	ck_assert_int_eq(stripe_sig_parse("t=12,v1=ab", 10, &s), 0);
}
END_TEST

START_TEST(parse_refuses_the_malformed)
{
	static const char *const bad[] = {
		"", "t=1", "v1=aa", "t=,v1=aa", "t=1a,v1=aa", "t=-1,v1=aa", "t=1,t=1,v1=aa", "t=1,v1=",
		"t=1,v1", "t=1234567890123,v1=aa", "garbage", "t 1,v1=aa", ",", "t=1;v1=aa",
	};
	struct stripe_sig s;
	char big[STRIPE_SIG_HEADER_MAX + 16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(stripe_sig_parse(bad[i], strlen(bad[i]), &s) == -1, "%s", bad[i]);
	ck_assert_int_eq(stripe_sig_parse(NULL, 0, &s), -1);
	memset(big, 'a', sizeof(big));
	memcpy(big, "t=1,v1=", 7);
	ck_assert_int_eq(stripe_sig_parse(big, sizeof(big), &s), -1);
	/* a NUL inside is just a byte of a value, never an end */
	ck_assert_int_eq(stripe_sig_parse("t=1\0,v1=aa", 10, &s), -1);
	/* more v1 than kept: the first ones are kept, no overflow */
	{
		char many[512] = "t=1";
		for (int i = 0; i < 20; i++)
			strcat(many, ",v1=ab");
		ck_assert_int_eq(stripe_sig_parse(many, strlen(many), &s), 0);
		ck_assert_int_eq(s.nv1, STRIPE_SIG_MAX_V1);
	}
}
END_TEST

START_TEST(verify_accepts_any_matching_v1_within_the_tolerance)
{
	char hex[SHA256_HEX_LEN + 1], up[SHA256_HEX_LEN + 1], h[512];

	good_hex(BODY, T, hex);
	snprintf(h, sizeof(h), "t=%lld,v1=%s", T, hex);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_OK);
	ck_assert_int_eq(check(h, T + 300), STRIPE_SIG_OK);
	ck_assert_int_eq(check(h, T - 300), STRIPE_SIG_OK);
	ck_assert_int_eq(check(h, T + 301), STRIPE_SIG_STALE);
	ck_assert_int_eq(check(h, T - 301), STRIPE_SIG_STALE);
	/* several v1: the right one anywhere */
	snprintf(h, sizeof(h), "t=%lld,v1=%064d,v1=%s,v1=zz", T, 0, hex);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_OK);
	snprintf(h, sizeof(h), "t=%lld,v1=%064d,v1=%064d", T, 0, 7);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_MISMATCH);
	/* upper-case hex is the same digest */
	for (int i = 0; i <= SHA256_HEX_LEN; i++)
		up[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 32) : hex[i];
	snprintf(h, sizeof(h), "t=%lld,v1=%s", T, up);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_OK);
	/* a digest cut short or made longer */
	snprintf(h, sizeof(h), "t=%lld,v1=%.63s", T, hex);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_MISMATCH);
	snprintf(h, sizeof(h), "t=%lld,v1=%s0", T, hex);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_MISMATCH);
	/* the timestamp is signed too */
	snprintf(h, sizeof(h), "t=%lld,v1=%s", T + 1, hex);
	ck_assert_int_eq(check(h, T), STRIPE_SIG_MISMATCH);
	/* another body, another secret, no secret */
	snprintf(h, sizeof(h), "t=%lld,v1=%s", T, hex);
	ck_assert_int_eq(stripe_sig_verify(h, strlen(h), "{}", 2, SECRET, T, 300), STRIPE_SIG_MISMATCH);
	ck_assert_int_eq(stripe_sig_verify(h, strlen(h), BODY, strlen(BODY), "whsec_other", T, 300),
			 STRIPE_SIG_MISMATCH);
	ck_assert_int_eq(stripe_sig_verify(h, strlen(h), BODY, strlen(BODY), "", T, 300),
			 STRIPE_SIG_MISMATCH);
	ck_assert_int_eq(check("nonsense", T), STRIPE_SIG_MALFORMED);
	ck_assert_int_eq(stripe_sig_verify(NULL, 0, BODY, strlen(BODY), SECRET, T, 300),
			 STRIPE_SIG_MALFORMED);
	/* what sign makes, verify takes; a body with a NUL inside is all signed */
	ck_assert_int_eq(stripe_sig_sign("a\0b", 3, SECRET, T, h, sizeof(h)), 0);
	ck_assert_int_eq(stripe_sig_verify(h, strlen(h), "a\0b", 3, SECRET, T, 300), STRIPE_SIG_OK);
	ck_assert_int_eq(stripe_sig_verify(h, strlen(h), "a\0c", 3, SECRET, T, 300), STRIPE_SIG_MISMATCH);
	ck_assert_int_eq(stripe_sig_sign(BODY, strlen(BODY), SECRET, T, h, 10), -1);
}
END_TEST

START_TEST(api_access_and_limits_come_from_the_plan_table)
{
	struct fs_env env;

	memset(&env, 0, sizeof(env));
	env.auth.plan = "free";
	ck_assert(billing_api_access(&env)); /* a JWT */
	env.auth.via_api_key = 1;
	ck_assert(!billing_api_access(&env));
	env.auth.key_is_platform = 1;
	ck_assert(billing_api_access(&env));
	env.auth.key_is_platform = 0;
	env.auth.plan = "pro";
	ck_assert(billing_api_access(&env));
	ck_assert_int_eq(billing_plan(&env)->max_flows, 20);
	env.auth.plan = "nonsense";
	ck_assert_str_eq(billing_plan(&env)->tier, "free");
	env.auth.plan = NULL;
	ck_assert_str_eq(billing_plan(&env)->tier, "free");
	ck_assert(plan_allows(PLAN_UNLIMITED, 1L << 40, 1));
	ck_assert(plan_allows(2, 1, 1));
	ck_assert(!plan_allows(2, 2, 1));
	ck_assert(!plan_allows(250, 600, 0));
}
END_TEST

/* The analytics series' dates, written by hand: days since 1970-01-01 as
 * PostgreSQL's ISO dates, leap days and century rules included. */
START_TEST(analytics_day_text_is_the_iso_date)
{
	static const struct {
		long long day;
		const char *text;
	} cases[] = {
		{ 0, "1970-01-01" },      { -1, "1969-12-31" },     { 59, "1970-03-01" },
		{ 10957, "2000-01-01" },  { 11016, "2000-02-29" },  { 11017, "2000-03-01" },
		{ 19782, "2024-02-29" },  { 20421, "2025-11-29" },  { 20786, "2026-11-29" },
		{ 47540, "2100-02-28" },  { 47541, "2100-03-01" },  { 2932896, "9999-12-31" },
		{ -719162, "0001-01-01" },
	};
	char out[ANALYTICS_DAY_TEXT];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		analytics_day_text(cases[i].day, out);
		ck_assert_str_eq(out, cases[i].text);
	}
	/* every day of 1968-2106 (2000 a leap year, 2100 not) follows the one before */
	for (long long d = -731; d < 50000; d++) {
		char next[ANALYTICS_DAY_TEXT];
		int y, m, dd, y2, m2, d2;
		analytics_day_text(d, out);
		analytics_day_text(d + 1, next);
		ck_assert_uint_eq(strlen(out), 10);
		y = atoi(out), m = atoi(out + 5), dd = atoi(out + 8);
		y2 = atoi(next), m2 = atoi(next + 5), d2 = atoi(next + 8);
		if (d2 == dd + 1 && m2 == m && y2 == y)
			continue;
		ck_assert_int_eq(d2, 1);
		ck_assert(m2 == m + 1 || (m == 12 && m2 == 1 && y2 == y + 1));
		/* the last day of its month */
		ck_assert_int_eq(dd, m == 2 ? ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28)
					    : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31);
	}
}
END_TEST

Suite *billing_unit_suite(void)
{
	Suite *s = suite_create("billing");
	TCase *tc = tcase_create("billing");

	tcase_add_test(tc, parse_reads_t_and_every_v1);
	tcase_add_test(tc, parse_refuses_the_malformed);
	tcase_add_test(tc, verify_accepts_any_matching_v1_within_the_tolerance);
	tcase_add_test(tc, api_access_and_limits_come_from_the_plan_table);
	tcase_add_test(tc, analytics_day_text_is_the_iso_date);
	suite_add_tcase(s, tc);
	return s;
}
