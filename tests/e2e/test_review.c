/* Regression tests for what the outside review of the tracking, unsubscribe,
 * bounce and sender-domain modules found (session 7). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "mail/links.h"

static struct fs_config config(void)
{
	struct fs_config cfg;
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	return cfg;
}

static long long owner_value(const char *sql, const char *a1, const char *a2)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_value(sql, a2 ? 2 : a1 ? 1 : 0, p);
}

static long form_post(const char *path, const char *body, struct http_answer *a)
{
	const char *h[] = { "Content-Type: application/x-www-form-urlencoded", NULL };

	ck_assert_int_eq(http_call("POST", path, h, body, strlen(body), a), 0);
	return a->status;
}

/* A tenant with one contact and a sent (test) mail to it: the unsubscribe
 * page's path into path. */
static void contact_with_mail(const char *prefix, char *user, char *contact, char *path,
			      size_t size)
{
	struct fs_config cfg = config();
	char token[4096], email[128], body[256], row[40], tok[LINK_TOKEN_LEN + 1];
	struct http_answer a;
	const char *p[3];

	e2e_new_tenant(prefix, token, sizeof(token));
	e2e_user_id(token, user);
	e2e_unique_email(prefix, email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	snprintf(contact, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	p[0] = user;
	p[1] = contact;
	p[2] = email;
	ck_assert_ptr_nonnull(e2e_owner_text("INSERT INTO outbox (user_id, contact_id, to_email, status,"
					     " sent_at) VALUES ($1, $2, $3, 'sent', now()) RETURNING id",
					     3, p, row, sizeof(row)));
	ck_assert_int_eq(link_token(cfg.link_secret, "u", row, tok, sizeof(tok)), 0);
	snprintf(path, size, "/u/%s", tok);
}

/* The preference center shows the first 90 public lists (by name); saving
 * the form must change only those: a list the page never showed is no list
 * the person chose to leave. */
START_TEST(preferences_save_leaves_alone_the_lists_the_page_did_not_show)
{
	char user[40], contact[40], path[160], last[40], first[40], body[256];
	struct http_answer a;
	const char *p[2];

	contact_with_mail("rev-pref", user, contact, path, sizeof(path));
	p[0] = user;
	ck_assert_int_eq(e2e_owner_value("WITH l AS (INSERT INTO contact_lists (user_id, name, list_type,"
					 " is_public) SELECT $1, 'List ' || lpad(g::text, 3, '0'),"
					 " 'static', true FROM generate_series(1, 95) g RETURNING 1)"
					 " SELECT count(*) FROM l",
					 1, p),
			 95);
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
					     " AND name = 'List 095'", 1, p, last, sizeof(last)));
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
					     " AND name = 'List 001'", 1, p, first, sizeof(first)));
	p[0] = last;
	p[1] = contact;
	ck_assert_int_eq(e2e_owner_value("WITH m AS (INSERT INTO contact_list_members (list_id, contact_id,"
					 " user_id) SELECT $1, $2, user_id FROM contacts WHERE id = $2"
					 " RETURNING 1) SELECT count(*) FROM m",
					 2, p),
			 1);

	/* The page shows List 001 to List 090, not the list the contact is in. */
	ck_assert_int_eq(http_call("GET", path, NULL, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "List 090"));
	ck_assert_ptr_null(strstr(a.body, "List 091"));
	ck_assert_ptr_null(strstr(a.body, last));
	http_answer_free(&a);

	/* Join List 001, leave nothing the page showed. */
	snprintf(body, sizeof(body), "action=preferences&list=%s&save=1", first);
	ck_assert_int_eq(form_post(path, body, &a), 200);
	{
		const char *notice = strstr(a.body, "You joined");
		ck_assert_msg(notice && strncmp(notice, "You joined 1 and left 0 lists.", 30) == 0,
			      "%.60s", notice ? notice : "(no notice)");
	}
	http_answer_free(&a);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", first, contact),
			 1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", last, contact),
			 1);
	/* Naming a list the page did not show joins nothing either. */
	p[0] = user;
	{
		char l92[40];
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM contact_lists WHERE user_id = $1"
						     " AND name = 'List 092'", 1, p, l92, sizeof(l92)));
		snprintf(body, sizeof(body), "action=preferences&list=%s&list=%s", first, l92);
		ck_assert_int_eq(form_post(path, body, &a), 200);
		http_answer_free(&a);
		ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
					     " AND contact_id = $2", l92, contact),
				 0);
	}
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1"
				     " AND contact_id = $2", last, contact),
			 1);
}
END_TEST

Suite *review_suite(void)
{
	Suite *s = suite_create("review");
	TCase *tc = tcase_create("review");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, preferences_save_leaves_alone_the_lists_the_page_did_not_show);
	suite_add_tcase(s, tc);
	return s;
}
