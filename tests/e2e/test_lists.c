/* Lists end to end: static members, every rule operator through preview and
 * dynamic lists, live evaluation, invalid rules, tenant isolation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static char token[4096];

static long req(const char *method, const char *path, const char *body, struct http_answer *a)
{
	ck_assert_int_eq(http_bearer(method, path, token, body, a), 0);
	return a->status;
}

static void expect(const char *method, const char *path, const char *body, long status,
		   const char *detail_part)
{
	struct http_answer a;
	long got = req(method, path, body, &a);
	ck_assert_msg(got == status, "%s %s %s: want %ld, got %ld: %s", method, path, body ? body : "",
		      status, got, a.body);
	if (detail_part)
		ck_assert_msg(http_detail(&a) && strstr(http_detail(&a), detail_part),
			      "%s %s: want '%s' in %s", method, path, detail_part, a.body);
	http_answer_free(&a);
}

static void new_tenant(void)
{
	char email[128];
	e2e_unique_email("lists", email, sizeof(email));
	e2e_register(email, "lists-password-1", token, sizeof(token), NULL, 0);
}

static void contact(const char *body, char *id)
{
	struct http_answer a;
	ck_assert_msg(req("POST", "/api/v1/contacts", body, &a) == 201, "%s", a.body);
	if (id)
		snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

/* The preview count for one condition (match all). */
static long preview(const char *condition)
{
	char body[512];
	struct http_answer a;
	long n;

	snprintf(body, sizeof(body), "{\"rules\":{\"match\":\"all\",\"conditions\":[%s]}}", condition);
	ck_assert_msg(req("POST", "/api/v1/contacts/lists/preview", body, &a) == 200, "%s: %s",
		      condition, a.body);
	n = json_object_get_int(json_object_object_get(a.json, "count"));
	ck_assert_int_le((int)json_object_array_length(json_object_object_get(a.json, "sample")), 5);
	http_answer_free(&a);
	return n;
}

static void seed(void)
{
	contact("{\"email\":\"ann@shop.example\",\"first_name\":\"Ann\",\"last_name\":\"Archer\","
		"\"tags\":[\"vip\",\"newsletter\"],\"custom_fields\":{\"orders\":12,\"city\":\"Paris\","
		"\"since\":\"2023-05-01\"}}", NULL);
	contact("{\"email\":\"bob@mail.example\",\"first_name\":\"Bob\",\"tags\":[\"newsletter\"],"
		"\"custom_fields\":{\"orders\":\"3\",\"city\":\"Berlin\",\"since\":\"2024-06-01\"}}", NULL);
	contact("{\"email\":\"cid@shop.example\",\"first_name\":\"Cid\",\"is_subscribed\":false,"
		"\"custom_fields\":{\"orders\":\"many\",\"since\":\"not a date\"}}", NULL);
	contact("{\"email\":\"dee_x@other.example\"}", NULL);
}

START_TEST(every_operator_selects_the_right_contacts)
{
	new_tenant();
	seed();
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"eq\",\"value\":\"ANN@shop.example\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"neq\",\"value\":\"ann@shop.example\"}"), 3);
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"contains\",\"value\":\"shop\"}"), 2);
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"contains\",\"value\":\"_x\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"not_contains\",\"value\":\"shop\"}"), 2);
	ck_assert_int_eq(preview("{\"field\":\"first_name\",\"op\":\"starts_with\",\"value\":\"b\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"email\",\"op\":\"ends_with\",\"value\":\".example\"}"), 4);
	ck_assert_int_eq(preview("{\"field\":\"last_name\",\"op\":\"exists\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"first_name\",\"op\":\"neq\",\"value\":\"Ann\"}"), 3);
	ck_assert_int_eq(preview("{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"newsletter\"}"), 2);
	ck_assert_int_eq(preview("{\"field\":\"tags\",\"op\":\"not_contains\",\"value\":\"vip\"}"), 3);
	ck_assert_int_eq(preview("{\"field\":\"is_subscribed\",\"op\":\"eq\",\"value\":false}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"is_subscribed\",\"op\":\"neq\",\"value\":false}"), 3);
	ck_assert_int_eq(preview("{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"2000-01-01\"}"), 4);
	ck_assert_int_eq(preview("{\"field\":\"created_at\",\"op\":\"before\",\"value\":\"2000-01-01\"}"), 0);
	ck_assert_int_eq(preview("{\"field\":\"created_at\",\"op\":\"exists\"}"), 4);
	/* Numbers compare as numbers (12 > 5 although "12" < "5" as text)... */
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.orders\",\"op\":\"gt\",\"value\":5}"), 2);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.orders\",\"op\":\"lt\",\"value\":5}"), 1);
	/* ...and text as text: "many" > "5". */
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.city\",\"op\":\"lt\",\"value\":\"C\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.city\",\"op\":\"eq\",\"value\":\"paris\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.city\",\"op\":\"contains\",\"value\":\"er\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.city\",\"op\":\"exists\"}"), 2);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.since\",\"op\":\"after\",\"value\":\"2024-01-01\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.since\",\"op\":\"before\",\"value\":\"2024-01-01\"}"), 1);
	ck_assert_int_eq(preview("{\"field\":\"custom_fields.nothing\",\"op\":\"exists\"}"), 0);

	/* match any */
	struct http_answer a;
	ck_assert_int_eq(req("POST", "/api/v1/contacts/lists/preview",
			     "{\"rules\":{\"match\":\"any\",\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"},"
			     "{\"field\":\"first_name\",\"op\":\"eq\",\"value\":\"cid\"}]}}",
			     &a),
			 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "count")), 2);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(a.json, "sample")), 2);
	http_answer_free(&a);
}
END_TEST

START_TEST(invalid_rules_are_422_naming_the_condition)
{
	new_tenant();
	expect("POST", "/api/v1/contacts/lists/preview",
	       "{\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"eq\",\"value\":\"x\"},"
	       "{\"field\":\"tags\",\"op\":\"gt\",\"value\":\"x\"}]}}",
	       422, "conditions[1]");
	expect("POST", "/api/v1/contacts/lists/preview", "{\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"password\",\"op\":\"eq\",\"value\":\"x\"}]}}",
	       422, "unknown field");
	expect("POST", "/api/v1/contacts/lists/preview", "{}", 422, NULL);
	expect("POST", "/api/v1/contacts/lists",
	       "{\"name\":\"Bad\",\"list_type\":\"dynamic\",\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"created_at\",\"op\":\"after\",\"value\":\"2024-02-30\"}]}}",
	       422, "conditions[0]");
	expect("POST", "/api/v1/contacts/lists", "{\"name\":\"NoRules\",\"list_type\":\"dynamic\"}", 422, NULL);
	expect("POST", "/api/v1/contacts/lists", "{\"name\":\"X\",\"list_type\":\"smart\"}", 422, NULL);
	expect("POST", "/api/v1/contacts/lists", "{\"list_type\":\"static\"}", 422, NULL);
}
END_TEST

START_TEST(static_lists_hold_members)
{
	char a_id[40], b_id[40], list[40], path[160], body[256], other[4096], foreign[40];
	struct http_answer a;

	new_tenant();
	contact("{\"email\":\"m1@example.com\"}", a_id);
	contact("{\"email\":\"m2@example.com\"}", b_id);
	ck_assert_int_eq(req("POST", "/api/v1/contacts/lists", "{\"name\":\"Customers\",\"description\":\"All buyers\",\"is_public\":true}", &a), 201);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "list_type"), "static");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 0);
	http_answer_free(&a);

	/* A contact of another tenant cannot be added. */
	char email[128];
	e2e_unique_email("lists-foreign", email, sizeof(email));
	e2e_register(email, "lists-password-1", other, sizeof(other), NULL, 0);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", other, "{\"email\":\"theirs@example.com\"}", &a), 0);
	snprintf(foreign, sizeof(foreign), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/members", list);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\",\"%s\",\"%s\"]}", a_id, b_id, foreign);
	ck_assert_int_eq(req("POST", path, body, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "added")), 2);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 2);
	http_answer_free(&a);
	/* Adding again changes nothing. */
	ck_assert_int_eq(req("POST", path, body, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "added")), 0);
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\"]}", a_id);
	ck_assert_int_eq(req("DELETE", path, body, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "removed")), 1);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 1);
	http_answer_free(&a);
	expect("POST", path, "{\"contact_ids\":[\"not-a-uuid\"]}", 422, NULL);
	expect("POST", path, "{\"contact_ids\":[]}", 422, NULL);

	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/contacts", list);
	ck_assert_int_eq(req("GET", path, NULL, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "email"),
			 "m2@example.com");
	http_answer_free(&a);

	/* Deleting a contact leaves the list's count right. */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", b_id);
	expect("DELETE", path, NULL, 204, NULL);
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s", list);
	ck_assert_int_eq(req("GET", path, NULL, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 0);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "is_public")));
	http_answer_free(&a);

	ck_assert_int_eq(req("PATCH", path, "{\"name\":\"Buyers\",\"description\":null}", &a), 200);
	ck_assert_str_eq(json_str(a.json, "name"), "Buyers");
	ck_assert_ptr_null(json_str(a.json, "description"));
	http_answer_free(&a);
	expect("PATCH", path, "{\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"exists\"}]}}", 400, NULL);

	/* The other tenant sees none of it. */
	ck_assert_int_eq(http_bearer("GET", path, other, NULL, &a), 0);
	ck_assert_int_eq(a.status, 404);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("DELETE", path, other, NULL, &a), 0);
	ck_assert_int_eq(a.status, 404);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts/lists", other, NULL, &a), 0);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);

	ck_assert_int_eq(req("GET", "/api/v1/contacts/lists", NULL, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
	expect("DELETE", path, NULL, 204, NULL);
	expect("DELETE", path, NULL, 404, "Contact list not found");
	expect("GET", "/api/v1/contacts/lists/00000000-0000-4000-8000-000000000000", NULL, 404, "Contact list not found");
}
END_TEST

START_TEST(dynamic_lists_are_evaluated_live)
{
	char list[40], path[160];
	struct http_answer a;

	new_tenant();
	seed();
	ck_assert_int_eq(req("POST", "/api/v1/contacts/lists",
			     "{\"name\":\"Newsletter\",\"list_type\":\"dynamic\",\"rules\":{\"match\":\"all\","
			     "\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"newsletter\"}]}}",
			     &a),
			 201);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 2);
	ck_assert_str_eq(json_str(json_object_object_get(a.json, "rules"), "match"), "all");
	http_answer_free(&a);

	contact("{\"email\":\"late@example.com\",\"tags\":[\"newsletter\"]}", NULL);
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/contacts", list);
	ck_assert_int_eq(req("GET", path, NULL, &a), 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 3);
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "email"),
			 "late@example.com");
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/members", list);
	expect("POST", path, "{\"contact_ids\":[\"00000000-0000-4000-8000-000000000000\"]}", 400, "static");

	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s", list);
	ck_assert_int_eq(req("PATCH", path,
			     "{\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}]}}",
			     &a),
			 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 1);
	http_answer_free(&a);
	expect("PATCH", path, "{\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"nope\",\"op\":\"eq\",\"value\":1}]}}", 422, "conditions[0]");
}
END_TEST

/* The index counts every dynamic list of the page in one statement: each
 * list's parameters must land on its own filter, beside a static list. */
START_TEST(the_index_counts_each_dynamic_list_with_its_own_rules)
{
	static const struct {
		const char *name, *rules;
		int count;
	} lists[] = {
		{ "VIP", "{\"match\":\"all\",\"conditions\":[{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}]}", 1 },
		{ "Shop", "{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"ends_with\",\"value\":\"@shop.example\"}]}", 2 },
		{ "Big or Berlin", "{\"match\":\"any\",\"conditions\":[{\"field\":\"custom_fields.orders\",\"op\":\"gt\",\"value\":10},"
		  "{\"field\":\"custom_fields.city\",\"op\":\"eq\",\"value\":\"Berlin\"}]}", 3 }, /* "many" > "10" as text */
		{ "Nobody", "{\"match\":\"all\",\"conditions\":[{\"field\":\"first_name\",\"op\":\"eq\",\"value\":\"Zed\"}]}", 0 },
	};
	char body[512];
	struct http_answer a;
	json_object *items;
	int seen = 0;

	new_tenant();
	seed();
	ck_assert_int_eq(req("POST", "/api/v1/contacts/lists", "{\"name\":\"Static\"}", &a), 201);
	http_answer_free(&a);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"%s\",\"list_type\":\"dynamic\",\"rules\":%s}",
			 lists[i].name, lists[i].rules);
		ck_assert_int_eq(req("POST", "/api/v1/contacts/lists", body, &a), 201);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")),
				 lists[i].count);
		http_answer_free(&a);
	}
	ck_assert_int_eq(req("GET", "/api/v1/contacts/lists", NULL, &a), 200);
	items = json_object_object_get(a.json, "items");
	ck_assert_int_eq((int)json_object_array_length(items), 5);
	for (size_t j = 0; j < json_object_array_length(items); j++) {
		json_object *l = json_object_array_get_idx(items, j);
		const char *name = json_str(l, "name");
		int count = json_object_get_int(json_object_object_get(l, "contact_count"));

		if (strcmp(name, "Static") == 0) {
			ck_assert_int_eq(count, 0);
			seen++;
		}
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			if (strcmp(name, lists[i].name) == 0) {
				ck_assert_msg(count == lists[i].count, "%s: %d, not %d", name, count,
					      lists[i].count);
				seen++;
			}
	}
	ck_assert_int_eq(seen, 5);
	http_answer_free(&a);
}
END_TEST

START_TEST(every_list_route_needs_auth_and_stays_in_its_tenant)
{
	/* method, whether the list id follows /lists, what comes after */
	static const struct {
		const char *method;
		int with_id;
		const char *suffix;
	} routes[] = {
		{ "POST", 0, "" },          { "GET", 0, "" },         { "POST", 0, "/preview" },
		{ "GET", 1, "" },           { "PATCH", 1, "" },       { "DELETE", 1, "" },
		{ "POST", 1, "/members" },  { "DELETE", 1, "/members" }, { "GET", 1, "/contacts" },
	};
	char list[40], contact_id[40], path[200], other[4096], email[128], body[128];
	struct http_answer a;

	new_tenant();
	contact("{\"email\":\"owner@example.com\"}", contact_id);
	ck_assert_int_eq(req("POST", "/api/v1/contacts/lists", "{\"name\":\"Mine\"}", &a), 201);
	snprintf(list, sizeof(list), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_unique_email("lists-intruder", email, sizeof(email));
	e2e_register(email, "lists-password-1", other, sizeof(other), NULL, 0);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\"],\"name\":\"x\"}", contact_id);

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/contacts/lists%s%s%s", routes[i].with_id ? "/" : "",
			 routes[i].with_id ? list : "", routes[i].suffix);
		ck_assert_int_eq(http_bearer(routes[i].method, path, NULL, "{}", &a), 0);
		ck_assert_msg(a.status == 401, "%s %s without credentials: %ld", routes[i].method, path,
			      a.status);
		http_answer_free(&a);
		if (routes[i].with_id) {
			ck_assert_int_eq(http_bearer(routes[i].method, path, other, body, &a), 0);
			ck_assert_msg(a.status == 404, "%s %s from another tenant: %ld %s", routes[i].method,
				      path, a.status, a.body);
			http_answer_free(&a);
		}
	}
	/* The list and its members are untouched. */
	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s", list);
	ck_assert_int_eq(req("GET", path, NULL, &a), 200);
	ck_assert_str_eq(json_str(a.json, "name"), "Mine");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "contact_count")), 0);
	http_answer_free(&a);
}
END_TEST

Suite *lists_suite(void)
{
	Suite *s = suite_create("lists");
	TCase *tc = tcase_create("lists");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_operator_selects_the_right_contacts);
	tcase_add_test(tc, invalid_rules_are_422_naming_the_condition);
	tcase_add_test(tc, static_lists_hold_members);
	tcase_add_test(tc, dynamic_lists_are_evaluated_live);
	tcase_add_test(tc, the_index_counts_each_dynamic_list_with_its_own_rules);
	tcase_add_test(tc, every_list_route_needs_auth_and_stays_in_its_tenant);
	suite_add_tcase(s, tc);
	return s;
}
