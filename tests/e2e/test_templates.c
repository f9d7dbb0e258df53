/* Templates end to end: the original's CRUD behaviours, the system templates,
 * parse errors with their position, hostile values in previews, and tenants
 * kept apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static char token[4096];

static const char *const categories[] = { "welcome", "cart", "promo", "newsletter",
					  "transactional" };

/* POST /templates with body; the new id into id. */
static void create(const char *body, char *id)
{
	struct http_answer a;

	e2e_expect(token, "POST", "/api/v1/templates", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static long total_of(const char *path)
{
	struct http_answer a;
	long n;

	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	n = json_object_get_int(json_object_object_get(a.json, "total"));
	http_answer_free(&a);
	return n;
}

START_TEST(create_read_update_delete)
{
	char id[40], path[128];
	struct http_answer a;

	e2e_new_tenant("tpl", token, sizeof(token));
	/* An empty list of the caller's own; the system ones are there besides. */
	ck_assert_int_eq(total_of("/api/v1/templates?is_system=false"), 0);
	ck_assert_int_ge(total_of("/api/v1/templates"), 5);

	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"Full\",\"subject\":\"Hello {{first_name|there}}\","
		   "\"html_content\":\"<p>Hi {{first_name}}</p>\",\"text_content\":\"Hi {{first_name}}\","
		   "\"thumbnail_url\":\"https://img.test/t.png\",\"category\":\"welcome\"}",
		   201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "name"), "Full");
	ck_assert_str_eq(json_str(a.json, "category"), "welcome");
	ck_assert_str_eq(json_str(a.json, "text_content"), "Hi {{first_name}}");
	ck_assert_str_eq(json_str(a.json, "thumbnail_url"), "https://img.test/t.png");
	ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "is_system")));
	ck_assert_ptr_nonnull(json_str(a.json, "user_id"));
	http_answer_free(&a);

	/* Minimal: the category defaults to newsletter, no text part. */
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"Min\",\"subject\":\"S\",\"html_content\":\"<p>x</p>\"}", 201, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "category"), "newsletter");
	ck_assert_ptr_null(json_object_object_get(a.json, "text_content"));
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/templates/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "html_content"), "<p>Hi {{first_name}}</p>");
	http_answer_free(&a);

	/* Partial update keeps the rest; null clears the text part. */
	e2e_expect(token, "PATCH", path, "{\"name\":\"Renamed\",\"text_content\":null}", 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "name"), "Renamed");
	ck_assert_str_eq(json_str(a.json, "subject"), "Hello {{first_name|there}}");
	ck_assert_ptr_null(json_object_object_get(a.json, "text_content"));
	http_answer_free(&a);
	e2e_expect(token, "PATCH", path, "{\"category\":\"promo\",\"subject\":\"New\"}", 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "category"), "promo");
	ck_assert_str_eq(json_str(a.json, "name"), "Renamed");
	http_answer_free(&a);

	ck_assert_int_eq(total_of("/api/v1/templates?is_system=false"), 2);
	ck_assert_int_eq(total_of("/api/v1/templates?is_system=false&category=promo"), 1);
	ck_assert_int_eq(total_of("/api/v1/templates?is_system=false&page=1&page_size=1"), 2);
	e2e_expect(token, "GET", "/api/v1/templates?is_system=false&page=2&page_size=1", NULL, 200,
		   NULL, &a);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(a.json, "items")), 1);
	http_answer_free(&a);
	/* The caller's own come first. */
	e2e_expect(token, "GET", "/api/v1/templates?page_size=1", NULL, 200, NULL, &a);
	ck_assert(!json_object_get_boolean(json_object_object_get(
		json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "is_system")));
	http_answer_free(&a);

	/* Not while a scheduled campaign will send it. */
	{
		char body[256], campaign[160];
		snprintf(body, sizeof(body),
			 "{\"name\":\"C\",\"subject\":\"S\",\"template_id\":\"%s\","
			 "\"scheduled_at\":\"2099-01-01T00:00:00Z\"}",
			 id);
		e2e_expect(token, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
		snprintf(campaign, sizeof(campaign), "/api/v1/campaigns/%s", json_str(a.json, "id"));
		http_answer_free(&a);
		e2e_expect(token, "DELETE", path, NULL, 400,
			   "Template is used by a scheduled or sending campaign", NULL);
		e2e_expect(token, "DELETE", campaign, NULL, 204, NULL, NULL);
	}
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	e2e_expect(token, "GET", path, NULL, 404, "Template not found", NULL);
	e2e_expect(token, "DELETE", path, NULL, 404, "Template not found", NULL);
	e2e_expect(token, "PATCH", path, "{\"name\":\"x\"}", 404, "Template not found", NULL);
	e2e_expect(token, "GET", "/api/v1/templates/not-a-uuid", NULL, 404, NULL, NULL);
}
END_TEST

START_TEST(bad_input_is_422)
{
	e2e_new_tenant("tpl", token, sizeof(token));
	e2e_expect(token, "POST", "/api/v1/templates", "{\"name\":\"x\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates", "{\"subject\":\"s\",\"html_content\":\"h\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"\",\"subject\":\"s\",\"html_content\":\"h\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"h\",\"category\":\"spam\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":42}", 422, NULL, NULL);
	e2e_expect(token, "GET", "/api/v1/templates?category=spam", NULL, 422, NULL, NULL);
	e2e_expect(token, "GET", "/api/v1/templates?is_system=maybe", NULL, 422, NULL, NULL);
	e2e_expect(token, "GET", "/api/v1/templates?page=0", NULL, 422, NULL, NULL);
}
END_TEST

START_TEST(parse_errors_name_line_and_column)
{
	char id[40], path[128];

	e2e_new_tenant("tpl", token, sizeof(token));
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"<p>\\n  Hi {{first_name</p>\"}",
		   422, "Template error at line 2, column 18: expected '}}'", NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"Hi {{\",\"html_content\":\"ok\"}", 422,
		   "Template error at line 1, column 4: '{{' is never closed with '}}' (in subject)",
		   NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"ok\",\"text_content\":\"{{}}\"}",
		   422, "Template error at line 1, column 3: expected a variable name", NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"two\\nlines\",\"html_content\":\"ok\"}", 422,
		   "Template error at line 1, column 4: a subject is one line", NULL);
	create("{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"ok\"}", id);
	snprintf(path, sizeof(path), "/api/v1/templates/%s", id);
	e2e_expect(token, "PATCH", path, "{\"html_content\":\"a {{custom.}} b\"}", 422,
		   "Template error at line 1, column 12", NULL);
	e2e_expect(token, "POST", "/api/v1/templates/preview",
		   "{\"subject\":\"s\",\"html_content\":\"{{first_name|a{{b}}\"}", 422,
		   "Template error at line 1, column 15", NULL);
	/* Entities can spell "{{" in the text derived from the HTML: caught at save. */
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"<p>&#123;&#123;</p>\"}", 422,
		   "(in the text derived from html_content)", NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"n\",\"subject\":\"s\",\"html_content\":\"<p>&#123;&#123;</p>\","
		   "\"text_content\":\"plain\"}",
		   201, NULL, NULL);
}
END_TEST

START_TEST(system_templates_are_shared_and_read_only)
{
	char other[4096], path[160];
	struct http_answer a;

	e2e_new_tenant("tpl", token, sizeof(token));
	for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++) {
		json_object *items, *t;
		char query[128];

		snprintf(query, sizeof(query), "/api/v1/templates?is_system=true&category=%s",
			 categories[i]);
		e2e_expect(token, "GET", query, NULL, 200, NULL, &a);
		items = json_object_object_get(a.json, "items");
		ck_assert_msg(json_object_array_length(items) >= 1, "no system %s template",
			      categories[i]);
		t = json_object_array_get_idx(items, 0);
		ck_assert(json_object_get_boolean(json_object_object_get(t, "is_system")));
		ck_assert_ptr_null(json_object_object_get(t, "user_id"));
		ck_assert_str_eq(json_str(t, "category"), categories[i]);
		/* CAN-SPAM: every one carries the unsubscribe link and the postal address. */
		ck_assert_ptr_nonnull(strstr(json_str(t, "html_content"), "{{unsubscribe_url}}"));
		ck_assert_ptr_nonnull(strstr(json_str(t, "html_content"), "{{postal_address}}"));
		ck_assert_ptr_nonnull(strstr(json_str(t, "html_content"), "#f43f5e"));
		ck_assert_ptr_nonnull(strstr(json_str(t, "text_content"), "{{unsubscribe_url}}"));
		snprintf(path, sizeof(path), "/api/v1/templates/%s", json_str(t, "id"));
		http_answer_free(&a);

		e2e_expect(token, "GET", path, NULL, 200, NULL, NULL);
		e2e_expect(token, "PATCH", path, "{\"name\":\"mine now\"}", 400,
			   "Cannot modify system templates", NULL);
		e2e_expect(token, "DELETE", path, NULL, 400, "Cannot delete system templates", NULL);
		/* Every system template renders, with the footer filled in. */
		strcat(path, "/preview");
		e2e_expect(token, "POST", path, NULL, 200, NULL, &a);
		ck_assert_ptr_null(strstr(json_str(a.json, "html"), "{{"));
		ck_assert_ptr_nonnull(strstr(json_str(a.json, "html"), "/u/preview"));
		ck_assert_ptr_nonnull(strstr(json_str(a.json, "text"), "/u/preview"));
		http_answer_free(&a);
	}
	/* Another tenant sees the same system templates. */
	e2e_new_tenant("tpl", other, sizeof(other));
	e2e_expect(other, "GET", "/api/v1/templates/00000000-0000-4000-8000-000000000001", NULL, 200,
		   NULL, NULL);
}
END_TEST

START_TEST(previews_escape_hostile_values)
{
	char id[40], contact_id[40], path[160], body[1024];
	struct http_answer a;

	e2e_new_tenant("tpl", token, sizeof(token));
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"postal_address\":\"Ünïcode Str. 5 <Berlin>\"}", 200, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"hostile@example.com\",\"first_name\":\"<script>alert('x')</script>\","
		   "\"last_name\":\"O\\\"Neil & 🎉\",\"custom_fields\":{\"company\":\"<b>Acme</b>\"}}",
		   201, NULL, &a);
	snprintf(contact_id, sizeof(contact_id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	create("{\"name\":\"<script>n</script> ünï 🎉\",\"subject\":\"Hi {{first_name}} {{last_name}}\","
	       "\"html_content\":\"<p>{{first_name}} {{last_name}} {{company}}</p>"
	       "<a href=\\\"{{unsubscribe_url}}\\\">Unsubscribe</a> {{postal_address}}\"}",
	       id);
	snprintf(path, sizeof(path), "/api/v1/templates/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "name"), "<script>n</script> ünï 🎉");
	http_answer_free(&a);

	snprintf(path, sizeof(path), "/api/v1/templates/%s/preview", id);
	snprintf(body, sizeof(body), "{\"contact_id\":\"%s\"}", contact_id);
	e2e_expect(token, "POST", path, body, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "subject"), "Hi <script>alert('x')</script> O\"Neil & 🎉");
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "html"),
				     "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; O&quot;Neil &amp; "
				     "🎉 &lt;b&gt;Acme&lt;/b&gt;</p>"));
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "html"), "Ünïcode Str. 5 &lt;Berlin&gt;"));
	ck_assert_ptr_null(strstr(json_str(a.json, "html"), "<script>"));
	/* The derived text part has the raw values and the link spelled out. */
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "text"),
				     "<script>alert('x')</script> O\"Neil & 🎉 <b>Acme</b>"));
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "text"), "Unsubscribe (http"));
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "text"), "Ünïcode Str. 5 <Berlin>"));
	http_answer_free(&a);

	/* Sample data without a contact; unsaved content too. */
	e2e_expect(token, "POST", path, "{}", 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "subject"), "Hi Alex Morgan");
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/templates/preview",
		   "{\"subject\":\"Yo {{first_name|you}}\",\"html_content\":\"<h1>{{email}}</h1>\","
		   "\"text_content\":\"T {{email}}\"}",
		   200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "subject"), "Yo Alex");
	ck_assert_str_eq(json_str(a.json, "html"), "<h1>alex@example.com</h1>");
	ck_assert_str_eq(json_str(a.json, "text"), "T alex@example.com");
	http_answer_free(&a);
	e2e_expect(token, "POST", path, "{\"contact_id\":\"00000000-0000-4000-8000-00000000abcd\"}", 404,
		   "Contact not found", NULL);
	e2e_expect(token, "POST", path, "{\"contact_id\":\"nope\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates/00000000-0000-4000-8000-00000000abcd/preview",
		   NULL, 404, "Template not found", NULL);
	e2e_expect(token, "POST", "/api/v1/templates/preview", "{\"subject\":\"s\"}", 422, NULL, NULL);
}
END_TEST

START_TEST(tenants_never_see_each_other)
{
	char other[4096], id[40], path[128], contact_id[40], body[256];
	struct http_answer a;

	e2e_new_tenant("tpl", token, sizeof(token));
	create("{\"name\":\"private\",\"subject\":\"s\",\"html_content\":\"h\"}", id);
	e2e_new_tenant("tpl", other, sizeof(other));
	snprintf(path, sizeof(path), "/api/v1/templates/%s", id);
	e2e_expect(other, "GET", path, NULL, 404, "Template not found", NULL);
	e2e_expect(other, "PATCH", path, "{\"name\":\"mine\"}", 404, "Template not found", NULL);
	e2e_expect(other, "DELETE", path, NULL, 404, "Template not found", NULL);
	strcat(path, "/preview");
	e2e_expect(other, "POST", path, NULL, 404, "Template not found", NULL);
	e2e_expect(other, "GET", "/api/v1/templates?is_system=false", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 0);
	http_answer_free(&a);
	/* Nor each other's contacts through a preview. */
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"secret@example.com\"}", 201, NULL,
		   &a);
	snprintf(contact_id, sizeof(contact_id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body),
		 "{\"subject\":\"s\",\"html_content\":\"{{email}}\",\"contact_id\":\"%s\"}", contact_id);
	e2e_expect(other, "POST", "/api/v1/templates/preview", body, 404, "Contact not found", NULL);
	/* The owner still has it. */
	snprintf(path, sizeof(path), "/api/v1/templates/%s", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, NULL);
}
END_TEST

START_TEST(every_template_route_needs_auth)
{
	static const char *routes[][2] = {
		{ "GET", "/api/v1/templates" },
		{ "POST", "/api/v1/templates" },
		{ "POST", "/api/v1/templates/preview" },
		{ "GET", "/api/v1/templates/00000000-0000-4000-8000-000000000001" },
		{ "PATCH", "/api/v1/templates/00000000-0000-4000-8000-000000000001" },
		{ "DELETE", "/api/v1/templates/00000000-0000-4000-8000-000000000001" },
		{ "POST", "/api/v1/templates/00000000-0000-4000-8000-000000000001/preview" },
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		e2e_expect(NULL, routes[i][0], routes[i][1], "{}", 401, "Not authenticated", NULL);
}
END_TEST

Suite *templates_suite(void)
{
	Suite *s = suite_create("templates");
	TCase *tc = tcase_create("templates");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, create_read_update_delete);
	tcase_add_test(tc, bad_input_is_422);
	tcase_add_test(tc, parse_errors_name_line_and_column);
	tcase_add_test(tc, system_templates_are_shared_and_read_only);
	tcase_add_test(tc, previews_escape_hostile_values);
	tcase_add_test(tc, tenants_never_see_each_other);
	tcase_add_test(tc, every_template_route_needs_auth);
	suite_add_tcase(s, tc);
	return s;
}
