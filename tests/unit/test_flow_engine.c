/* The flow engine's pure part (issue 20): the split's stable hash and its
 * pick by weight. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "services/flow_engine.h"
#include "unit.h"

/* uuid7-like ids: a shared time prefix, as contacts imported together have. */
static void fake_id(int i, char *out, size_t size)
{
	snprintf(out, size, "019ad2f1-7c3e-7%03x-8%03x-%012x", (i >> 12) & 0xfff, i & 0xfff, i * 7919);
}

START_TEST(split_pick_is_stable)
{
	const long w[] = { 30, 70 };
	char id[40];

	for (int i = 0; i < 100; i++) {
		fake_id(i, id, sizeof(id));
		ck_assert_int_eq(flow_split_pick(id, "flow-a", w, 2), flow_split_pick(id, "flow-a", w, 2));
		ck_assert_uint_eq(flow_split_hash(id, "flow-a"), flow_split_hash(id, "flow-a"));
	}
	/* the flow takes part: the same contact may go elsewhere in another flow */
	ck_assert_uint_ne(flow_split_hash("019ad2f1-7c3e-7000-8000-000000000001", "flow-a"),
			  flow_split_hash("019ad2f1-7c3e-7000-8000-000000000001", "flow-b"));
}
END_TEST

START_TEST(split_pick_follows_the_weights)
{
	const long w2[] = { 30, 70 }, w3[] = { 1, 1, 2 }, w1[] = { 5 };
	int n2[2] = { 0 }, n3[3] = { 0 };
	char id[40];

	for (int i = 0; i < 20000; i++) {
		int p;
		fake_id(i, id, sizeof(id));
		p = flow_split_pick(id, "0198f00d-0000-7000-8000-000000000000", w2, 2);
		ck_assert(p >= 0 && p < 2);
		n2[p]++;
		p = flow_split_pick(id, "0198f00d-0000-7000-8000-000000000000", w3, 3);
		ck_assert(p >= 0 && p < 3);
		n3[p]++;
		ck_assert_int_eq(flow_split_pick(id, "f", w1, 1), 0);
	}
	ck_assert_msg(n2[0] > 5600 && n2[0] < 6400, "30%% branch took %d of 20000", n2[0]);
	ck_assert_msg(n3[2] > 9600 && n3[2] < 10400, "half branch took %d of 20000", n3[2]);
	ck_assert_msg(n3[0] > 4600 && n3[0] < 5400, "quarter branch took %d of 20000", n3[0]);
}
END_TEST

START_TEST(split_pick_survives_hostile_input)
{
	const long zero[] = { 0, 0 }, neg[] = { -5, 10 };

	ck_assert_int_eq(flow_split_pick(NULL, NULL, neg, 2), 1);
	ck_assert_int_eq(flow_split_pick("x", "y", zero, 2), 0);
	ck_assert_int_eq(flow_split_pick("x", "y", zero, 0), 0);
	ck_assert_int_eq(flow_split_pick("", "", neg, -1), 0);
}
END_TEST

Suite *flow_engine_unit_suite(void)
{
	Suite *s = suite_create("flow_engine");
	TCase *tc = tcase_create("split");

	tcase_add_test(tc, split_pick_is_stable);
	tcase_add_test(tc, split_pick_follows_the_weights);
	tcase_add_test(tc, split_pick_survives_hostile_input);
	suite_add_tcase(s, tc);
	return s;
}
