/* Services called the way flowsend-batch and later workers call them: an
 * fs_env of their own (arena, configuration, connections, tenant), no HTTP
 * request, no FastCGI stream, against the test instance's database. */
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "services/campaigns.h"
#include "services/contacts.h"
#include "services/transfer.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000003"

/* An fs_source over bytes in memory, handed out in small pieces so the CSV
 * reader sees records split across them. */
struct memory_body {
	const char *data;
	size_t len, piece;
};

static int memory_pump(void *state, fs_sink_fn sink, void *ud)
{
	struct memory_body *m = state;

	for (size_t at = 0; at < m->len; at += m->piece) {
		size_t n = m->len - at < m->piece ? m->len - at : m->piece;
		if (sink(ud, m->data + at, n) < 0)
			return -1;
	}
	return 0;
}

START_TEST(services_run_without_a_request)
{
	char token[4096], user_id[40], campaign_id[40];
	struct e2e_env e;
	struct fs_error err;
	enum fs_status st;
	const char *json;
	json_object *out = NULL;

	e2e_new_tenant("nohttp", token, sizeof(token));
	e2e_user_id(token, user_id);
	e2e_env_open(&e, user_id, "free");

	/* A contact create. */
	struct contact_input in = { .set_email = 1, .email = "Solo@Example.com", .set_first_name = 1,
				    .first_name = "Solo" };
	st = contact_create(&e.env, &in, &json, &err);
	ck_assert_msg(st == FS_OK, "contact_create: %s", err.detail);
	ck_assert_ptr_nonnull(strstr(json, "\"solo@example.com\""));

	/* An import from a memory reader, 7 bytes at a time. */
	static const char csv[] = "email,first_name,tags\n"
				  "ann@example.com,Ann,vip;new\n"
				  "\"bob@example.com\",\"Bob, Jr.\",\n"
				  "not-an-address,X,\n"
				  "solo@example.com,Again,\n";
	struct memory_body body = { csv, sizeof(csv) - 1, 7 };
	struct fs_source source = { memory_pump, &body };
	struct import_source src = { .body = &source };
	struct import_result res;
	st = contacts_import(&e.env, &src, &res, &err);
	ck_assert_msg(st == FS_OK, "contacts_import: %s", err.detail);
	ck_assert_int_eq(res.imported, 2);
	ck_assert_int_eq(res.failed, 1);
	ck_assert_int_eq(res.skipped, 1);
	json_object_put(res.errors);

	/* A campaign created and started: its recipients go into the outbox. */
	struct campaign_input ci = { .set_name = 1, .name = "No HTTP", .set_subject = 1,
				     .subject = "Hi {{first_name|there}}", .set_template = 1,
				     .template_id = WELCOME_TEMPLATE };
	st = campaign_create(&e.env, &ci, &out, &err);
	ck_assert_msg(st == FS_OK, "campaign_create: %s", err.detail);
	snprintf(campaign_id, sizeof(campaign_id), "%s", json_str(out, "id"));
	json_object_put(out);
	out = NULL;
	st = campaign_send(&e.env, campaign_id, &out, &err);
	ck_assert_msg(st == FS_OK, "campaign_send: %s", err.detail);
	ck_assert_str_eq(json_str(out, "status"), "sending");
	json_object_put(out);
	{
		const char *p[1] = { campaign_id };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE campaign_id = $1", 1,
						 p),
				 3);
	}
	e2e_env_close(&e);
}
END_TEST

Suite *services_suite(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("services");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, services_run_without_a_request);
	suite_add_tcase(s, tc);
	return s;
}
