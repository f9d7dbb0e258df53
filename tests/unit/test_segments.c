/* The rules compiler: SQL shape, parameters, and the errors that name the
 * bad condition. */
#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "models/contact.h"
#include "services/contacts.h"
#include "services/segments.h"
#include "unit.h"

static struct arena arena;

static int compile(const char *rules, struct segment *seg, char *err)
{
	return segment_compile_text(&arena, rules, strlen(rules), 1, seg, err, 256);
}

START_TEST(conditions_become_parameterised_sql)
{
	struct segment seg;
	char err[256];

	arena_init(&arena, 0);
	ck_assert_int_eq(compile("{\"match\":\"any\",\"conditions\":["
				 "{\"field\":\"email\",\"op\":\"contains\",\"value\":\"50%_off'--\"},"
				 "{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"},"
				 "{\"field\":\"is_subscribed\",\"op\":\"eq\",\"value\":true}]}",
				 &seg, err),
			 0);
	ck_assert_int_eq(seg.nparams, 2);
	ck_assert_str_eq(seg.params[0], "%50\\%\\_off'--%");
	ck_assert_str_eq(seg.params[1], "vip");
	ck_assert(strstr(strbuf_cstr(&seg.where), " OR ") != NULL);
	ck_assert(strstr(strbuf_cstr(&seg.where), "off") == NULL);
	strbuf_free(&seg.where);

	ck_assert_int_eq(compile("{\"match\":\"all\",\"conditions\":["
				 "{\"field\":\"custom_fields.orders\",\"op\":\"gt\",\"value\":5},"
				 "{\"field\":\"custom_fields.vip\",\"op\":\"exists\"},"
				 "{\"field\":\"created_at\",\"op\":\"before\",\"value\":\"2030-02-28T10:00:00Z\"}]}",
				 &seg, err),
			 0);
	ck_assert_int_eq(seg.nparams, 4);
	ck_assert_str_eq(seg.params[0], "orders");
	ck_assert_str_eq(seg.params[1], "5");
	ck_assert(strstr(strbuf_cstr(&seg.where), "::numeric") != NULL);
	ck_assert(strstr(strbuf_cstr(&seg.where), " AND ") != NULL);
	strbuf_free(&seg.where);
	arena_destroy(&arena);
}
END_TEST

START_TEST(bad_rules_name_the_condition)
{
	struct segment seg;
	char err[256];
	static const struct {
		const char *rules, *needle;
	} cases[] = {
		{ "[]", "object" },
		{ "{\"match\":\"some\",\"conditions\":[]}", "match" },
		{ "{\"match\":\"all\",\"conditions\":[]}", "conditions" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"age\",\"op\":\"eq\",\"value\":1}]}", "conditions[0]: unknown field" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"eq\",\"value\":\"a\"},{\"field\":\"email\",\"op\":\"like\",\"value\":1}]}", "conditions[1]: unknown op" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"tags\",\"op\":\"eq\",\"value\":\"x\"}]}", "only contains" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"eq\"}]}", "needs a value" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"2024-02-30\"}]}", "ISO 8601" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"yesterday\"}]}", "ISO 8601" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"is_subscribed\",\"op\":\"eq\",\"value\":\"yes\"}]}", "true or false" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"custom_fields.\",\"op\":\"exists\"}]}", "custom field" },
		{ "{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"eq\",\"value\":[1]}]}", "value" },
		{ "{\"match\":\"all\",\"conditions\":[5]}", "object" },
	};
	arena_init(&arena, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(compile(cases[i].rules, &seg, err) == -1, "accepted case %zu", i);
		ck_assert_msg(strstr(err, cases[i].needle) != NULL, "case %zu: %s", i, err);
	}
	arena_destroy(&arena);
}
END_TEST

START_TEST(dates_are_checked_fully)
{
	struct segment seg;
	char err[256], rules[256];
	static const char *good[] = { "2024-02-29", "2024-01-01T00:00", "2024-01-01T23:59:59.123456Z",
				      "2024-01-01T10:00:00+05:30" };
	static const char *bad[] = { "2023-02-29", "2024-13-01", "2024-01-01T24:00", "2024-1-1",
				     "2024-01-01T10:00:00+99:00", "2024-01-01T10:00:00.1234567" };
	arena_init(&arena, 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(rules, sizeof(rules),
			 "{\"match\":\"all\",\"conditions\":[{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"%s\"}]}",
			 good[i]);
		ck_assert_msg(compile(rules, &seg, err) == 0, "%s: %s", good[i], err);
		strbuf_free(&seg.where);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(rules, sizeof(rules),
			 "{\"match\":\"all\",\"conditions\":[{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"%s\"}]}",
			 bad[i]);
		ck_assert_msg(compile(rules, &seg, err) == -1, "accepted %s", bad[i]);
	}
	arena_destroy(&arena);
}
END_TEST

Suite *segments_suite(void)
{
	Suite *s = suite_create("segments");
	TCase *tc = tcase_create("segments");
	tcase_add_test(tc, conditions_become_parameterised_sql);
	tcase_add_test(tc, bad_rules_name_the_condition);
	tcase_add_test(tc, dates_are_checked_fully);
	suite_add_tcase(s, tc);
	return s;
}


/* A search goes to the trigram index only with three letters or digits in a
 * row; otherwise pg_trgm may find no trigram and PostgreSQL would read every
 * tenant's rows. A UTF-8 character counts once, whatever its length. */
START_TEST(searches_with_a_trigram_use_the_index)
{
	ck_assert(contacts_search_indexable("ada"));
	ck_assert(contacts_search_indexable("x.ada@"));
	ck_assert(contacts_search_indexable("100%"));
	ck_assert(contacts_search_indexable("J\xc3\xb6r"));                          /* Jör */
	ck_assert(contacts_search_indexable("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e")); /* 日本語 */
	ck_assert(!contacts_search_indexable(""));
	ck_assert(!contacts_search_indexable("ad"));
	ck_assert(!contacts_search_indexable("a.b"));
	ck_assert(!contacts_search_indexable("ab.cd@ef"));
	ck_assert(!contacts_search_indexable("%_%"));
	ck_assert(!contacts_search_indexable("J\xc3\xb6"));             /* Jö: two characters */
	ck_assert(!contacts_search_indexable("\xe6\x97\xa5\xe6\x9c\xac")); /* 日本 */
}
END_TEST

START_TEST(contact_json_from_postgres_text)
{
	struct strbuf sb = STRBUF_INIT;
	pg_text_array_to_json(&sb, "{}");
	ck_assert_str_eq(strbuf_cstr(&sb), "[]");
	strbuf_reset(&sb);
	pg_text_array_to_json(&sb, "{vip,\"a b\",\"q\\\"x\",\"c,d\",\"{}\",caf\xc3\xa9}");
	ck_assert_str_eq(strbuf_cstr(&sb), "[\"vip\",\"a b\",\"q\\\"x\",\"c,d\",\"{}\",\"caf\xc3\xa9\"]");
	strbuf_reset(&sb);
	fs_json_append_string(&sb, "a\"b\\c\n\x01\xf0\x9f\x98\x80");
	ck_assert_str_eq(strbuf_cstr(&sb), "\"a\\\"b\\\\c\\n\\u0001\xf0\x9f\x98\x80\"");
	strbuf_free(&sb);
}
END_TEST

/* Tags go to PostgreSQL as a text[] literal; every element quoted, so "NULL",
 * commas, braces, quotes and backslashes come back as they were. */
START_TEST(tags_as_a_postgres_array_literal)
{
	struct strbuf sb = STRBUF_INIT;

	ck_assert_int_eq(json_string_array_to_pg(&sb, "[]"), 0);
	ck_assert_str_eq(strbuf_cstr(&sb), "{}");
	strbuf_reset(&sb);
	ck_assert_int_eq(json_string_array_to_pg(&sb, "[\"vip\", \"NULL\", \"a,b\", \"{x}\", \"q\\\"x\","
						     " \"s\\\\l\", \" \", \"caf\u00e9\"]"),
			 0);
	ck_assert_str_eq(strbuf_cstr(&sb),
			 "{\"vip\",\"NULL\",\"a,b\",\"{x}\",\"q\\\"x\",\"s\\\\l\",\" \",\"caf\xc3\xa9\"}");
	/* And back, as PostgreSQL would print it. */
	strbuf_reset(&sb);
	pg_text_array_to_json(&sb, "{vip,\"NULL\",\"a,b\",\"{x}\",\"q\\\"x\",\"s\\\\l\",\" \",caf\xc3\xa9}");
	ck_assert_str_eq(strbuf_cstr(&sb),
			 "[\"vip\",\"NULL\",\"a,b\",\"{x}\",\"q\\\"x\",\"s\\\\l\",\" \",\"caf\xc3\xa9\"]");
	strbuf_reset(&sb);
	ck_assert_int_eq(json_string_array_to_pg(&sb, "[\"a\", 1]"), -1);
	strbuf_reset(&sb);
	ck_assert_int_eq(json_string_array_to_pg(&sb, "{\"a\": 1}"), -1);
	strbuf_reset(&sb);
	ck_assert_int_eq(json_string_array_to_pg(&sb, "[\"a\\u0000b\"]"), -1);
	strbuf_reset(&sb);
	ck_assert_int_eq(json_string_array_to_pg(&sb, "[\"unterminated"), -1);
	strbuf_free(&sb);
}
END_TEST

Suite *contacts_unit_suite(void)
{
	Suite *s = suite_create("contacts");
	TCase *tc = tcase_create("contacts");
	tcase_add_test(tc, searches_with_a_trigram_use_the_index);
	tcase_add_test(tc, contact_json_from_postgres_text);
	tcase_add_test(tc, tags_as_a_postgres_array_literal);
	suite_add_tcase(s, tc);
	return s;
}
