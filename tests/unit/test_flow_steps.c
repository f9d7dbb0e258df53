/* The flow step validator and the cron parser: what activation accepts, and
 * the first bad step named by its 0-based index. */
#include <stdio.h>
#include <string.h>

#include "core/cron.h"
#include "models/flow_steps.h"
#include "unit.h"

#define TPL "\"template_id\":\"0b9b3f0e-1111-4a2b-9c3d-aaaaaaaaaaaa\""

static int check(const char *json, char *err, int *bi)
{
	struct arena a;
	struct flow_steps st;
	int rc;

	arena_init(&a, 0);
	rc = flow_steps_parse(&a, json, strlen(json), &st, err, 256, bi);
	arena_destroy(&a);
	return rc;
}

static void refused(const char *json, int index, const char *words)
{
	char err[256];
	int bi = -2;

	ck_assert_msg(check(json, err, &bi) == -1, "accepted: %s", json);
	ck_assert_msg(bi == index, "index %d (want %d) for %s: %s", bi, index, json, err);
	ck_assert_msg(strstr(err, words) != NULL, "'%s' lacks '%s'", err, words);
	if (index >= 0) {
		char want[32];
		snprintf(want, sizeof(want), "Invalid step %d:", index);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	}
}

START_TEST(a_welcome_series_is_accepted)
{
	struct arena a;
	struct flow_steps st;
	char err[256];
	int bi;
	const char *json =
		"[{\"type\":\"email\"," TPL ",\"subject\":\"Hi {{first_name}}\"},"
		"{\"type\":\"delay\",\"delay_hours\":48},"
		"{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":3,"
		"\"else_step\":4},"
		"{\"type\":\"email\"," TPL "},"
		"{\"type\":\"split\",\"branches\":[5,6],\"weights\":[70,30]},"
		"{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"custom_fields.orders\","
		"\"value\":\"2.5\",\"then_step\":7,\"else_step\":7},"
		"{\"type\":\"webhook\",\"url\":\"https://example.com/hook\"},"
		"{\"type\":\"delay\",\"delay_minutes\":5},"
		"{\"type\":\"condition\",\"condition_type\":\"tag_equals\",\"value\":\"vip\","
		"\"then_step\":9,\"else_step\":0}]";

	arena_init(&a, 0);
	ck_assert_int_eq(flow_steps_parse(&a, json, strlen(json), &st, err, sizeof(err), &bi), 0);
	ck_assert_uint_eq(st.n, 9);
	ck_assert_int_eq(st.steps[0].type, FLOW_STEP_EMAIL);
	ck_assert_str_eq(st.steps[0].template_id, "0b9b3f0e-1111-4a2b-9c3d-aaaaaaaaaaaa");
	ck_assert_str_eq(st.steps[0].subject, "Hi {{first_name}}");
	ck_assert_ptr_null(st.steps[3].subject);
	ck_assert_int_eq(st.steps[1].delay_seconds, 48 * 3600);
	ck_assert_int_eq(st.steps[2].condition, FLOW_COND_OPENED_PREVIOUS);
	ck_assert_int_eq(st.steps[2].then_step, 3);
	ck_assert_int_eq(st.steps[4].nbranches, 2);
	ck_assert_int_eq(st.steps[4].weights[0], 70);
	ck_assert_str_eq(st.steps[5].field, "orders");
	ck_assert(st.steps[5].number == 2.5);
	ck_assert_str_eq(st.steps[6].url, "https://example.com/hook");
	ck_assert_int_eq(st.steps[7].delay_seconds, 300);
	/* the jump back to 0 passes the delay at 7: a loop with a wait is fine */
	ck_assert_int_eq(st.steps[8].else_step, 0);
	arena_destroy(&a);
}
END_TEST

START_TEST(the_first_bad_step_is_named)
{
	refused("{}", -1, "array");
	refused("[]", -1, "at least one step");
	refused("[1]", 0, "object");
	refused("[{\"type\":\"email\"," TPL "},{\"type\":\"sms\"}]", 1, "unknown type 'sms'");
	refused("[{\"type\":7}]", 0, "unknown type");
	refused("[{}]", 0, "type is required");
	refused("[{\"type\":\"email\"}]", 0, "template_id");
	refused("[{\"type\":\"email\",\"template_id\":\"nope\"}]", 0, "UUID");
	refused("[{\"type\":\"email\"," TPL ",\"subject\":\"a\\r\\nBcc: x\"}]", 0, "subject");
	refused("[{\"type\":\"email\"," TPL ",\"subject\":\"\"}]", 0, "subject");
	refused("[{\"type\":\"delay\"}]", 0, "delay_hours or delay_minutes");
	refused("[{\"type\":\"delay\",\"delay_hours\":1,\"delay_minutes\":5}]", 0, "not both");
	refused("[{\"type\":\"delay\",\"delay_hours\":-1}]", 0, "delay_hours");
	refused("[{\"type\":\"delay\",\"delay_hours\":1.5}]", 0, "delay_hours");
	refused("[{\"type\":\"delay\",\"delay_hours\":true}]", 0, "delay_hours");
	refused("[{\"type\":\"delay\",\"delay_minutes\":99999999999999999999}]", 0, "delay_minutes");
	refused("[{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":2,"
		"\"else_step\":1}]",
		0, "then_step 2 is out of range (0..1)");
	refused("[{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":-1,"
		"\"else_step\":1}]",
		0, "out of range");
	refused("[{\"type\":\"condition\",\"condition_type\":\"opened_previous\",\"then_step\":1}]",
		0, "else_step is required");
	refused("[{\"type\":\"condition\",\"condition_type\":\"weather\",\"then_step\":1,"
		"\"else_step\":1}]",
		0, "condition_type");
	refused("[{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"orders\","
		"\"value\":1,\"then_step\":1,\"else_step\":1}]",
		0, "custom_fields.");
	refused("[{\"type\":\"condition\",\"condition_type\":\"field_gt\",\"field\":\"custom_fields.o\","
		"\"value\":\"many\",\"then_step\":1,\"else_step\":1}]",
		0, "numeric");
	refused("[{\"type\":\"condition\",\"condition_type\":\"tag_equals\",\"then_step\":1,"
		"\"else_step\":1}]",
		0, "tag");
	refused("[{\"type\":\"split\",\"branches\":[1]}]", 0, "2 to 10 branches");
	refused("[{\"type\":\"split\",\"branches\":[1,5]}]", 0, "out of range");
	refused("[{\"type\":\"split\",\"branches\":[1,\"x\"]}]", 0, "integers");
	refused("[{\"type\":\"split\",\"branches\":[1,1],\"weights\":[50]}]", 0, "one weight per");
	refused("[{\"type\":\"split\",\"branches\":[1,1],\"weights\":[50,0]}]", 0, "weights");
	refused("[{\"type\":\"split\",\"branches\":[1,1],\"weights\":[50,-5]}]", 0, "weights");
	refused("[{\"type\":\"webhook\"}]", 0, "url");
	refused("[{\"type\":\"webhook\",\"url\":\"ftp://x\"}]", 0, "http");
	refused("[{\"type\":\"webhook\",\"url\":\"https://a b\"}]", 0, "spaces");
	/* loops: back to 0 through an email only, or a condition jumping to itself */
	refused("[{\"type\":\"email\"," TPL "},{\"type\":\"condition\",\"condition_type\":"
		"\"opened_previous\",\"then_step\":0,\"else_step\":2}]",
		0, "loop");
	refused("[{\"type\":\"delay\",\"delay_hours\":1},{\"type\":\"condition\",\"condition_type\":"
		"\"opened_previous\",\"then_step\":1,\"else_step\":2}]",
		1, "loop");
	refused("[{\"type\":\"email\"," TPL "},{\"type\":\"split\",\"branches\":[2,1]}]", 1, "loop");
	refused("not json", -1, "JSON");
	refused("[{\"type\":\"email\"," TPL "}] x", -1, "JSON");
}
END_TEST

START_TEST(draft_steps_get_the_light_check)
{
	char err[256];
	int bi;
	json_object *ok = json_tokener_parse("[{\"type\":\"anything\"},{}]");
	json_object *both = json_tokener_parse("[{},{\"delay_hours\":1,\"delay_minutes\":1}]");
	json_object *many = json_object_new_array();

	for (int i = 0; i <= FLOW_STEPS_MAX; i++)
		json_object_array_add(many, json_object_new_object());
	ck_assert_int_eq(flow_steps_check_draft(ok, err, sizeof(err), &bi), 0);
	ck_assert_int_eq(flow_steps_check_draft(both, err, sizeof(err), &bi), -1);
	ck_assert_int_eq(bi, 1);
	ck_assert_int_eq(flow_steps_check_draft(many, err, sizeof(err), &bi), -1);
	ck_assert(strstr(err, "at most") != NULL);
	json_object_put(ok);
	json_object_put(both);
	json_object_put(many);
}
END_TEST

static int cron_ok(const char *s, struct cron *c)
{
	char err[128];
	return cron_parse(s, strlen(s), c, err, sizeof(err));
}

START_TEST(cron_expressions_parse)
{
	struct cron c;
	char err[128];
	static const char *const badones[] = {
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "1,,2 * * * *", "1, * * * *",
		"a * * * *", "* * * foo *", "@daily", "1-2-3 * * * *", "*/ * * * *", "? * * * *",
		"99999999999 * * * *",
	};

	ck_assert_int_eq(cron_ok("*/15 9-17 * * mon-fri", &c), 0);
	ck_assert(c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
	ck_assert_uint_eq(c.hours, 0x3fe00u);
	ck_assert_uint_eq(c.wdays, 0x3eu);
	ck_assert(c.dom_any && !c.dow_any);
	ck_assert_int_eq(cron_ok("0 0 1 JAN,jul 7", &c), 0);
	ck_assert_uint_eq(c.months, (1u << 1) | (1u << 7));
	ck_assert_uint_eq(c.wdays, 1u);
	ck_assert_int_eq(cron_ok("  5/20   0  * * *  ", &c), 0);
	ck_assert(c.minutes == ((1ull << 5) | (1ull << 25) | (1ull << 45)));
	for (size_t i = 0; i < sizeof(badones) / sizeof(badones[0]); i++)
		ck_assert_msg(cron_parse(badones[i], strlen(badones[i]), &c, err, sizeof(err)) == -1,
			      "accepted '%s'", badones[i]);
	ck_assert(strstr(err, "minute") != NULL);
}
END_TEST

START_TEST(cron_finds_the_next_minute)
{
	struct cron c;
	struct cron_time t = { 2026, 3, 28, 23, 59 }, n;

	/* every day at 02:30: the next one after Saturday 23:59 is Sunday 02:30 */
	ck_assert_int_eq(cron_ok("30 2 * * *", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), 0);
	ck_assert_int_eq(n.mday, 29);
	ck_assert_int_eq(n.hour, 2);
	ck_assert_int_eq(n.minute, 30);
	/* Mondays at 9: 2026-03-30 is a Monday */
	ck_assert_int_eq(cron_ok("0 9 * * 1", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), 0);
	ck_assert_int_eq(n.month, 3);
	ck_assert_int_eq(n.mday, 30);
	ck_assert(cron_matches(&c, &n, 1));
	ck_assert(!cron_matches(&c, &n, 2));
	/* day 1 or Friday when both are restricted (Vixie's OR) */
	ck_assert_int_eq(cron_ok("0 0 1 * 5", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), 0);
	ck_assert_int_eq(n.month, 4);
	ck_assert_int_eq(n.mday, 1);
	/* February 29th: next leap year; the 31st of February: never */
	ck_assert_int_eq(cron_ok("0 12 29 2 *", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), 0);
	ck_assert_int_eq(n.year, 2028);
	ck_assert_int_eq(cron_ok("0 0 31 2 *", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), -1);
	/* year end */
	t = (struct cron_time){ 2026, 12, 31, 23, 59 };
	ck_assert_int_eq(cron_ok("* * * * *", &c), 0);
	ck_assert_int_eq(cron_next(&c, &t, &n), 0);
	ck_assert_int_eq(n.year, 2027);
	ck_assert_int_eq(n.month, 1);
	ck_assert_int_eq(n.minute, 0);
}
END_TEST

Suite *flow_steps_suite(void)
{
	Suite *s = suite_create("flow_steps");
	TCase *tc = tcase_create("flow_steps");
	tcase_add_test(tc, a_welcome_series_is_accepted);
	tcase_add_test(tc, the_first_bad_step_is_named);
	tcase_add_test(tc, draft_steps_get_the_light_check);
	tcase_add_test(tc, cron_expressions_parse);
	tcase_add_test(tc, cron_finds_the_next_minute);
	suite_add_tcase(s, tc);
	return s;
}
