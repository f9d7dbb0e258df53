/* The form-encoded body parser of the public sign-up (http/form.c). */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "http/form.h"
#include "unit.h"

static json_object *parse(struct arena *a, const char *body, char *err, size_t errlen)
{
	json_object *o = NULL;

	if (fs_form_to_json(a, body, strlen(body), &o, err, errlen) < 0)
		return NULL;
	return o;
}

static const char *member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

START_TEST(form_decodes_a_browser_post)
{
	struct arena a;
	char err[96];
	json_object *o;

	arena_init(&a, 0);
	o = parse(&a, "email=ann%40example.com&first_name=Ann+Marie&website=&last_name=%C3%89lise", err,
		  sizeof(err));
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(member(o, "email"), "ann@example.com");
	ck_assert_str_eq(member(o, "first_name"), "Ann Marie");
	ck_assert_str_eq(member(o, "website"), "");
	ck_assert_str_eq(member(o, "last_name"), "\xc3\x89lise");
	ck_assert_int_eq(json_object_object_length(o), 4);
	json_object_put(o);
	/* An empty body is an empty object; a field without '=' is empty. */
	o = parse(&a, "", err, sizeof(err));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_object_object_length(o), 0);
	json_object_put(o);
	o = parse(&a, "email&&x=1", err, sizeof(err));
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(member(o, "email"), "");
	json_object_put(o);
	/* Line breaks may be in a value (a textarea). */
	o = parse(&a, "note=a%0D%0Ab", err, sizeof(err));
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	arena_destroy(&a);
}
END_TEST

START_TEST(form_refuses_hostile_bodies)
{
	const char *bad[] = {
		"email=a%00b",              /* NUL in a value */
		"email%00x=evil",           /* NUL cutting a name short */
		"email=a&email=b",          /* a repeated field */
		"=x",                       /* an empty name */
		"email=%FF%FE",             /* not UTF-8 */
		"email=%C0%80",             /* an overlong NUL */
		"na%0Ame=x",                /* a control character in a name */
		"email=a%1Bb",              /* an escape character in a value */
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1", /* 65 */
	};
	struct arena a;
	char err[96];

	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(&a, bad[i], err, sizeof(err)) == NULL, "accepted %s", bad[i]);
		ck_assert_msg(strlen(err) > 0, "no reason for %s", bad[i]);
	}
	arena_destroy(&a);
}
END_TEST

START_TEST(form_caps_the_number_of_fields)
{
	char body[1024];
	size_t o = 0;
	struct arena a;
	char err[96];
	json_object *j;

	arena_init(&a, 0);
	for (int i = 0; i < FS_FORM_MAX_FIELDS; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%sf%d=%d", i ? "&" : "", i, i);
	j = parse(&a, body, err, sizeof(err));
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_object_object_length(j), FS_FORM_MAX_FIELDS);
	json_object_put(j);
	snprintf(body + o, sizeof(body) - o, "&one=more");
	ck_assert_ptr_null(parse(&a, body, err, sizeof(err)));
	ck_assert_str_eq(err, "Too many form fields");
	arena_destroy(&a);
}
END_TEST

Suite *form_suite(void)
{
	Suite *s = suite_create("form");
	TCase *tc = tcase_create("form");
	tcase_add_test(tc, form_decodes_a_browser_post);
	tcase_add_test(tc, form_refuses_hostile_bodies);
	tcase_add_test(tc, form_caps_the_number_of_fields);
	suite_add_tcase(s, tc);
	return s;
}
