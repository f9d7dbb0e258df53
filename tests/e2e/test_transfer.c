/* Import and export end to end: the original's import behaviours, CSV edge
 * cases over a streamed text/csv body, per-row errors, duplicates,
 * suppressions, the plan limit and an export/import round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "db/db.h"
#include "e2e.h"
#include "services/contacts.h"
#include "services/transfer.h"

static char token[4096];

static void new_tenant(void)
{
	char email[128];
	e2e_unique_email("transfer", email, sizeof(email));
	e2e_register(email, "transfer-password-1", token, sizeof(token), NULL, 0);
}

static long csv_import(const char *tok, const char *csv, size_t len, struct http_answer *a)
{
	char auth[4200];
	const char *headers[] = { auth, "Content-Type: text/csv", NULL };
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", headers, csv, len, a), 0);
	return a->status;
}

static long num(json_object *o, const char *k)
{
	return json_object_get_int(json_object_object_get(o, k));
}

static void expect_counts(struct http_answer *a, long imported, long skipped, long failed)
{
	ck_assert_msg(num(a->json, "imported") == imported && num(a->json, "skipped") == skipped &&
			      num(a->json, "failed") == failed,
		      "want %ld/%ld/%ld, got %s", imported, skipped, failed, a->body);
	ck_assert_int_eq(num(a->json, "total"), imported + skipped + failed);
}

START_TEST(json_email_lists_skip_duplicates_and_report_errors)
{
	struct http_answer a;

	new_tenant();
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", token,
				     "{\"emails\":[\"one@example.com\",\"ONE@example.com\",\"two@example.com\",\"broken\"],"
				     "\"tags\":[\"imported\"]}",
				     &a),
			 0);
	ck_assert_int_eq(a.status, 200);
	expect_counts(&a, 2, 1, 1);
	json_object *err = json_object_array_get_idx(json_object_object_get(a.json, "errors"), 0);
	ck_assert_int_eq(num(err, "row"), 4);
	ck_assert(strstr(json_str(err, "detail"), "email") != NULL);
	http_answer_free(&a);
	/* Again: everything is a duplicate now. */
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", token,
				     "{\"emails\":[\"one@example.com\",\"two@example.com\"]}", &a),
			 0);
	expect_counts(&a, 0, 2, 0);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts?tag=imported", token, NULL, &a), 0);
	ck_assert_int_eq(num(a.json, "total"), 2);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", token,
				     "{\"csv_data\":\"email,first_name\\nthree@example.com,Three\\n\"}", &a),
			 0);
	expect_counts(&a, 1, 0, 0);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", token, "{}", &a), 0);
	ck_assert_int_eq(a.status, 422);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", token,
				     "{\"emails\":[\"x@example.com\"],\"tags\":[\"a;b\"]}", &a),
			 0);
	ck_assert_int_eq(a.status, 422);
	http_answer_free(&a);
}
END_TEST

START_TEST(csv_edge_cases_stream_in)
{
	static const char csv[] =
		"\xef\xbb\xbf"
		"EMAIL,First_Name,last_name,Tags,Plan,is_subscribed\r\n"
		"quote@example.com,\"Ann \"\"The\"\" Best\",\"Smith, Jr.\",vip; beta ;,gold,true\r\n"
		"\r\n"
		"multi@example.com,\"Line1\nLine2\",,,,false\n"
		"ragged@example.com\n"
		"extra@example.com,Ex,Tra,,silver,1,unexpected,more\r\n"
		"not-an-email,x,,,,\r\n"
		"badsub@example.com,,,,,perhaps\r\n"
		"Quote@Example.com,dup,,,,\r\n"
		"emoji@example.com,\xf0\x9f\x98\x80,,\xe2\x9c\x93,,\r\n";
	struct http_answer a;

	new_tenant();
	ck_assert_int_eq(csv_import(token, csv, sizeof(csv) - 1, &a), 200);
	expect_counts(&a, 5, 1, 2);
	json_object *errs = json_object_object_get(a.json, "errors");
	ck_assert_int_eq((int)json_object_array_length(errs), 2);
	ck_assert_int_eq(num(json_object_array_get_idx(errs, 0), "row"), 5);
	ck_assert_int_eq(num(json_object_array_get_idx(errs, 1), "row"), 6);
	http_answer_free(&a);

	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts?search=quote@", token, NULL, &a), 0);
	json_object *c = json_object_array_get_idx(json_object_object_get(a.json, "items"), 0);
	ck_assert_str_eq(json_str(c, "first_name"), "Ann \"The\" Best");
	ck_assert_str_eq(json_str(c, "last_name"), "Smith, Jr.");
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(c, "tags")), 2);
	ck_assert_str_eq(json_str(json_object_object_get(c, "custom_fields"), "Plan"), "gold");
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts?search=multi@", token, NULL, &a), 0);
	c = json_object_array_get_idx(json_object_object_get(a.json, "items"), 0);
	ck_assert_str_eq(json_str(c, "first_name"), "Line1\nLine2");
	ck_assert(!json_object_get_boolean(json_object_object_get(c, "is_subscribed")));
	http_answer_free(&a);

	ck_assert_int_eq(csv_import(token, "first_name\nAnn\n", 15, &a), 422);
	ck_assert(strstr(http_detail(&a), "email column") != NULL);
	http_answer_free(&a);
	ck_assert_int_eq(csv_import(token, "email\n", 6, &a), 200);
	expect_counts(&a, 0, 0, 0);
	http_answer_free(&a);
}
END_TEST

START_TEST(suppressed_addresses_are_skipped)
{
	struct http_answer a;
	char path[160];

	new_tenant();
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token, "{\"email\":\"gone@example.com\"}", &a), 0);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s?erase=true", json_str(a.json, "id"));
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("DELETE", path, token, NULL, &a), 0);
	ck_assert_int_eq(a.status, 204);
	http_answer_free(&a);
	ck_assert_int_eq(csv_import(token, "email\nGONE@example.com\nkept@example.com\n", 40, &a), 200);
	expect_counts(&a, 1, 1, 0);
	http_answer_free(&a);
}
END_TEST

START_TEST(the_free_plan_limit_stops_the_import_exactly)
{
	struct strbuf csv = STRBUF_INIT;
	struct http_answer a;

	new_tenant();
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token, "{\"email\":\"first@limit.example\"}", &a), 0);
	http_answer_free(&a);
	strbuf_appends(&csv, "email\n");
	for (int i = 0; i < 300; i++)
		strbuf_appendf(&csv, "bulk%d@limit.example\n", i);
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 249, 51, 0);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts/count", token, NULL, &a), 0);
	ck_assert_int_eq(num(a.json, "count"), 250);
	http_answer_free(&a);
	strbuf_free(&csv);
}
END_TEST

/* Every line of an export, less its created_at column, sorted. */
static char *normalised(const char *csv)
{
	char *copy = strdup(csv), *lines[64], *save = NULL, *line;
	size_t n = 0;
	struct strbuf out = STRBUF_INIT;

	for (line = strtok_r(copy, "\r", &save); line && n < 64; line = strtok_r(NULL, "\r", &save)) {
		if (*line == '\n')
			line++;
		char *ts = strstr(line, ",20");
		if (ts) {
			char *end = strchr(ts + 1, ',');
			memmove(ts, end ? end : ts + strlen(ts), strlen(end ? end : ts + strlen(ts)) + 1);
		}
		lines[n++] = line;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (strcmp(lines[k], lines[i]) < 0) {
				char *t = lines[i];
				lines[i] = lines[k];
				lines[k] = t;
			}
	for (size_t i = 0; i < n; i++)
		strbuf_appendf(&out, "%s\n", lines[i]);
	free(copy);
	return out.buf;
}

START_TEST(export_then_import_restores_every_field)
{
	struct http_answer a, b;
	char other[4096], email[128], *first, *second;

	new_tenant();
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token,
				     "{\"email\":\"full@example.com\",\"first_name\":\"F, \\\"Quoted\\\"\","
				     "\"last_name\":\"Multi\\nLine\",\"tags\":[\"vip\",\"caf\\u00e9\"],"
				     "\"custom_fields\":{\"city\":\"Paris\",\"note\":\" padded \"},\"is_subscribed\":false}",
				     &a),
			 0);
	ck_assert_int_eq(a.status, 201);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token, "{\"email\":\"plain@example.com\"}", &a), 0);
	http_answer_free(&a);

	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts/export", token, NULL, &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert(strncmp(a.body, "email,first_name,last_name,tags,is_subscribed,created_at,city,note\r\n", 66) == 0);

	e2e_unique_email("transfer-copy", email, sizeof(email));
	e2e_register(email, "transfer-password-1", other, sizeof(other), NULL, 0);
	ck_assert_int_eq(csv_import(other, a.body, a.len, &b), 200);
	expect_counts(&b, 2, 0, 0);
	http_answer_free(&b);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts/export", other, NULL, &b), 0);
	first = normalised(a.body);
	second = normalised(b.body);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	http_answer_free(&a);
	http_answer_free(&b);
}
END_TEST

/* A browser's upload form: the CSV arrives as a file part, streamed. */
START_TEST(multipart_uploads_import_the_file_part)
{
	static const char body[] =
		"preamble to ignore\r\n"
		"--AaB03x\r\n"
		"Content-Disposition: form-data; name=\"note\"\r\n\r\n"
		"not the file\r\n"
		"--AaB03x\r\n"
		"Content-Disposition: form-data; name=\"file\"; filename=\"contacts.csv\"\r\n"
		"Content-Type: text/csv\r\n\r\n"
		"email,first_name\r\n"
		"up1@example.com,\"Has\r\n--AaB03 inside\"\r\n"
		"up2@example.com,Two\r\n"
		"\r\n--AaB03x--\r\n";
	char auth[4200];
	const char *h[] = { auth, "Content-Type: multipart/form-data; boundary=AaB03x", NULL };
	struct http_answer a;

	new_tenant();
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", h, body, sizeof(body) - 1, &a), 0);
	ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
	expect_counts(&a, 2, 0, 0);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts?search=up1", token, NULL, &a), 0);
	json_object *c = json_object_array_get_idx(json_object_object_get(a.json, "items"), 0);
	ck_assert_str_eq(json_str(c, "first_name"), "Has\r\n--AaB03 inside");
	http_answer_free(&a);
}
END_TEST

START_TEST(imports_need_auth_and_a_supported_body)
{
	struct http_answer a;
	const char *multipart[] = { "Content-Type: multipart/form-data; boundary=x", NULL };

	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts/import", NULL, "{}", &a), 0);
	ck_assert_int_eq(a.status, 401);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("GET", "/api/v1/contacts/export", NULL, NULL, &a), 0);
	ck_assert_int_eq(a.status, 401);
	http_answer_free(&a);
	new_tenant();
	char auth[4200];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *h[] = { auth, multipart[0], NULL };
	/* A form without a file part. */
	ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", h, "--x--\r\n", 7, &a), 0);
	ck_assert_int_eq(a.status, 422);
	http_answer_free(&a);
	const char *mixed[] = { auth, "Content-Type: multipart/mixed; boundary=x", NULL };
	ck_assert_int_eq(http_call("POST", "/api/v1/contacts/import", mixed, "--x--", 5, &a), 0);
	ck_assert_int_eq(a.status, 415);
	http_answer_free(&a);
}
END_TEST

/* n addresses <prefix>0..@example.com through contacts_import in this
 * process: all imported. (Signup flows enroll them inside the merge, by the
 * contacts_created trigger: see the flows suite.) */
static void import_in_process(struct fs_env *env, const char *prefix, int n)
{
	struct import_source src = { 0 };
	struct import_result res;
	struct fs_error err;
	struct strbuf csv = STRBUF_INIT;

	strbuf_appends(&csv, "email\n");
	for (int i = 0; i < n; i++)
		strbuf_appendf(&csv, "%s%d@example.com\n", prefix, i);
	src.text = csv.buf;
	src.text_len = csv.len;
	ck_assert_int_eq(contacts_import(env, &src, &res, &err), FS_OK);
	ck_assert_int_eq(res.imported, n);
	json_object_put(res.errors);
	strbuf_free(&csv);
}

START_TEST(imports_run_in_process_without_http)
{
	struct e2e_env e;
	char user_id[40];

	new_tenant();
	e2e_user_id(token, user_id);
	/* The service as flowsend-batch would call it: no HTTP context at all. */
	e2e_env_open(&e, user_id, "free");
	import_in_process(&e.env, "announce", 240);

	/* Without a limit the import is sharded over two connections. */
	e.env.auth.plan = "enterprise";
	import_in_process(&e.env, "shard", 2500);
	e2e_env_close(&e);
}
END_TEST

/* An enterprise tenant's import is split over two connections by address:
 * the counts, the first copy of an address repeated in the file, existing
 * contacts, suppressions and the maintained counters all come out as in one. */
START_TEST(enterprise_imports_merge_in_parallel_and_keep_the_first_copy)
{
	struct http_answer a;
	struct strbuf csv = STRBUF_INIT;
	char uid[40], path[160];

	new_tenant();
	/* Before the contacts responder has seen this tenant, so it reads the plan fresh. */
	e2e_set_plan(token, "enterprise");
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token,
				     "{\"email\":\"already@par.example\",\"first_name\":\"Old\"}", &a), 0);
	ck_assert_int_eq(a.status, 201);
	http_answer_free(&a);
	ck_assert_int_eq(http_bearer("POST", "/api/v1/contacts", token, "{\"email\":\"gone@par.example\"}", &a), 0);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s?erase=true", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);

	strbuf_appends(&csv, "email,first_name,tags\n");
	strbuf_appends(&csv, "Twice@Par.example,First,\n\xc3\x89mile@par.example,Accent,\n");
	for (int i = 0; i < 3000; i++)
		strbuf_appendf(&csv, "p%d@par.example,P%d,%s\n", i, i, i % 3 ? "" : "vip;news");
	strbuf_appends(&csv, "twice@par.example,Second,vip\n"
			     "ALREADY@par.example,New,\n"
			     "gone@par.example,,\n"
			     "p7@par.example,Again,\n"
			     "\xc3\xa9mile@par.example,Other,\n"); /* the same address, lower-cased */
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 3002, 5, 0);
	http_answer_free(&a);

	e2e_expect(token, "GET", "/api/v1/contacts/count", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "count"), 3003);
	http_answer_free(&a);
	e2e_expect(token, "GET", "/api/v1/contacts?tag=vip&page_size=1", NULL, 200, NULL, &a);
	ck_assert_int_eq(num(a.json, "total"), 1000);
	http_answer_free(&a);
	{
		const char *p[1] = { e2e_user_id(token, uid) };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p),
				 3003);
		ck_assert_int_eq(e2e_owner_value("SELECT sum(contacts) FROM tag_counts_all WHERE user_id = $1"
						 " AND tag = 'news'", 1, p), 1000);
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1"
						 " AND ((email = 'twice@par.example' AND first_name = 'First')"
						 "  OR (email = 'already@par.example' AND first_name = 'Old')"
						 "  OR (email = 'p7@par.example' AND first_name = 'P7'))",
						 1, p), 3);
	}
	strbuf_free(&csv);
}
END_TEST

/* A contact created by another request while the import merges: the plain
 * insert meets it (23505) and that shard merges again with ON CONFLICT. */
struct racer {
	const char *url, *user_id;
	int ready[2];   /* a byte once race5 exists, uncommitted */
	int ok;
};

/* Another writer: creates race5 and holds it uncommitted for two seconds. */
static void *race_writer(void *arg)
{
	struct racer *w = arg;
	PGconn *owner = PQconnectdb(w->url);
	const char *p[1] = { w->user_id };
	PGresult *r;

	PQclear(PQexec(owner, "BEGIN"));
	r = PQexecParams(owner, "INSERT INTO contacts (user_id, email) VALUES ($1, 'race5@race.example')",
			 1, NULL, p, NULL, NULL, 0);
	w->ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (write(w->ready[1], "r", 1) != 1)
		w->ok = 0;
	sleep(2);
	PQclear(PQexec(owner, "COMMIT"));
	PQfinish(owner);
	return NULL;
}

START_TEST(a_contact_created_during_the_merge_is_skipped)
{
	static const char csv[] = "email\nrace0@race.example\nrace1@race.example\n"
				  "race2@race.example\nrace3@race.example\nrace4@race.example\n"
				  "race5@race.example\nrace6@race.example\nrace7@race.example\n"
				  "race8@race.example\nrace9@race.example\n";
	struct fs_config cfg;
	struct http_answer a;
	struct racer w;
	char cfgerr[256], uid[40], ready;
	const char *p[1];
	pthread_t writer;

	new_tenant();
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	ck_assert_int_eq(fs_config_load(&cfg, cfgerr, sizeof(cfgerr)), 0);
	w.url = cfg.database_migrate_url;
	w.user_id = uid;
	w.ok = 0;
	ck_assert_int_eq(pipe(w.ready), 0);
	ck_assert_int_eq(pthread_create(&writer, NULL, race_writer, &w), 0);
	ck_assert_int_eq(read(w.ready[0], &ready, 1), 1);
	/* The merge waits on the uncommitted row, then meets it. */
	ck_assert_int_eq(csv_import(token, csv, sizeof(csv) - 1, &a), 200);
	expect_counts(&a, 9, 1, 0);
	http_answer_free(&a);
	pthread_join(writer, NULL);
	ck_assert(w.ok);
	close(w.ready[0]);
	close(w.ready[1]);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1", 1, p), 10);
	ck_assert_int_eq(e2e_owner_value("SELECT sum(contacts) FROM tenant_counters_all WHERE user_id = $1", 1, p),
			 10);
}
END_TEST

/* More than 1,000 contacts in one statement (3,000 over two shards): their
 * search text is queued for the worker, and searches find them before and
 * after it is indexed. */
static long search_total(const char *q)
{
	struct http_answer a;
	char path[200];
	long n;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", q);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	n = num(a.json, "total");
	http_answer_free(&a);
	return n;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Every page of a search, 100 at a time: the first come from the tenant's
 * newest contacts read directly, the later from the index; together each match
 * once, newest first. */
static void expect_pages(const char *filter, int want);

static void expect_search_pages(const char *q, int want)
{
	char filter[160];

	snprintf(filter, sizeof(filter), "search=%s", q);
	expect_pages(filter, want);
}

static void expect_pages(const char *filter, int want)
{
	char (*ids)[40] = calloc((size_t)want + 100, sizeof(*ids));
	char path[200], last[40] = "";
	struct http_answer a;
	int n = 0;

	ck_assert_ptr_nonnull(ids);
	for (int page = 1; page <= want / 100 + 2; page++) {
		json_object *items;
		snprintf(path, sizeof(path), "/api/v1/contacts?%s&page_size=100&page=%d", filter, page);
		e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
		items = json_object_object_get(a.json, "items");
		ck_assert_int_eq(num(a.json, "total"), want);
		for (size_t i = 0; i < json_object_array_length(items) && n < want + 100; i++) {
			json_object *c = json_object_array_get_idx(items, i);
			const char *at = json_str(c, "created_at");
			ck_assert_msg(!*last || strcmp(at, last) <= 0, "%s: %s after %s", path, at, last);
			snprintf(last, sizeof(last), "%s", at);
			snprintf(ids[n++], sizeof(ids[0]), "%s", json_str(c, "id"));
		}
		http_answer_free(&a);
	}
	ck_assert_int_eq(n, want);
	qsort(ids, (size_t)n, sizeof(ids[0]), cmp_id);
	for (int i = 1; i < n; i++)
		ck_assert_str_ne(ids[i - 1], ids[i]);
	free(ids);
}

/* ?tag= takes the tenant's newest contacts when they hold the page and the
 * tenant-led index otherwise (schema/0020): a common tag, a rare one among
 * the oldest contacts, one nobody has; every page newest first, each once. */
START_TEST(tag_pages_come_whole_from_the_newest_and_from_the_index)
{
	struct http_answer a;
	struct strbuf csv = STRBUF_INIT;

	new_tenant();
	e2e_set_plan(token, "enterprise");
	strbuf_appends(&csv, "email,first_name,tags\n");
	for (int i = 0; i < 2500; i++)
		strbuf_appendf(&csv, "tagged%d@tags.example,T%d,%s%s\n", i, i, i % 10 == 0 ? "common;" : "",
			       i < 120 ? "rare" : "other");
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 2500, 0, 0);
	http_answer_free(&a);
	expect_pages("tag=common", 250);
	expect_pages("tag=rare", 120);
	expect_pages("tag=nobody", 0);
	expect_pages("tag=rare&is_subscribed=true", 120);
	strbuf_free(&csv);
}
END_TEST

START_TEST(big_imports_are_searchable_before_and_after_indexing)
{
	struct http_answer a;
	struct strbuf csv = STRBUF_INIT;
	char uid[40], path[160], id[40];
	const char *p[1];

	new_tenant();
	e2e_set_plan(token, "enterprise");
	p[0] = e2e_user_id(token, uid);
	e2e_pause_worker(1);
	strbuf_appends(&csv, "email,first_name,last_name\n");
	for (int i = 0; i < 3000; i++)
		strbuf_appendf(&csv, "bulk%d@bulk.example,Name%d,Family\n", i, i);
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 3000, 0, 0);
	http_answer_free(&a);
	ck_assert_int_ge(e2e_owner_value("SELECT count(*) FROM contact_search_backlog WHERE user_id = $1",
					 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1", 1, p), 0);
	/* Found while still queued. */
	ck_assert_int_eq(search_total("bulk1234%40"), 1);
	ck_assert_int_eq(search_total("NAME149"), 11); /* Name149, Name1490..1499 */
	ck_assert_int_eq(search_total("family"), 3000);
	/* An edit indexes a queued contact at once: found once, by its new text. */
	e2e_expect(token, "GET", "/api/v1/contacts?search=bulk2999%40", NULL, 200, NULL, &a);
	snprintf(id, sizeof(id), "%s",
		 json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "PATCH", path, "{\"last_name\":\"Queued\"}", 200, NULL, NULL);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1", 1, p), 1);
	ck_assert_int_eq(search_total("bulk2999%40"), 1);
	ck_assert_int_eq(search_total("queued"), 1);
	ck_assert_int_eq(search_total("family"), 2999);
	expect_search_pages("family", 2999);

	ck_assert_int_eq(e2e_run_batch(""), 0);
	e2e_pause_worker(0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search_backlog WHERE user_id = $1",
					 1, p), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1", 1, p), 3000);
	ck_assert_int_eq(search_total("bulk1234%40"), 1);
	ck_assert_int_eq(search_total("NAME149"), 11);
	ck_assert_int_eq(search_total("family"), 2999);
	ck_assert_int_eq(search_total("queued"), 1);
	expect_search_pages("family", 2999);

	/* Edits and deletes keep the index in step at once. */
	e2e_expect(token, "GET", "/api/v1/contacts?search=bulk42%40", NULL, 200, NULL, &a);
	snprintf(id, sizeof(id), "%s",
		 json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "PATCH", path, "{\"first_name\":\"Zebedee\"}", 200, NULL, NULL);
	ck_assert_int_eq(search_total("zebedee"), 1);
	ck_assert_int_eq(search_total("name42"), 10); /* Name420..Name429 */
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	ck_assert_int_eq(search_total("zebedee"), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1", 1, p), 2999);
	strbuf_free(&csv);
}
END_TEST

/* The export's columns are the custom fields in use now: they follow
 * creates, updates (a field renamed or dropped) and deletes. */
static void expect_export_header(const char *want)
{
	struct http_answer a;
	const char *nl;

	e2e_expect(token, "GET", "/api/v1/contacts/export", NULL, 200, NULL, &a);
	nl = strstr(a.body, "\r\n"); /* RFC 4180 lines end in CRLF */
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(strncmp(a.body, want, (size_t)(nl - a.body)) == 0 && strlen(want) == (size_t)(nl - a.body),
		      "header %.*s, want %s", (int)(nl - a.body), a.body, want);
	http_answer_free(&a);
}

START_TEST(export_columns_follow_the_fields_in_use)
{
	char id[40], path[128];
	struct http_answer a;

	new_tenant();
	expect_export_header("email,first_name,last_name,tags,is_subscribed,created_at");
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"f1@fields.example\",\"custom_fields\":{\"city\":\"Oslo\",\"plan\":\"gold\"}}",
		   201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"f2@fields.example\",\"custom_fields\":{\"city\":\"Rome\"}}", 201, NULL,
		   NULL);
	expect_export_header("email,first_name,last_name,tags,is_subscribed,created_at,city,plan");
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "PATCH", path, "{\"custom_fields\":{\"city\":\"Oslo\",\"tier\":\"2\"}}", 200,
		   NULL, NULL);
	expect_export_header("email,first_name,last_name,tags,is_subscribed,created_at,city,tier");
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	expect_export_header("email,first_name,last_name,tags,is_subscribed,created_at,city");
}
END_TEST

/* The tenant's one contact whose address, name or last name contains q, as
 * JSON (the caller puts it). */
static json_object *find_contact(const char *tok, const char *q)
{
	struct http_answer a;
	char path[256];
	json_object *items, *c;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", q);
	e2e_expect(tok, "GET", path, NULL, 200, NULL, &a);
	items = json_object_object_get(a.json, "items");
	ck_assert_msg(json_object_array_length(items) == 1, "search %s: %s", q, a.body);
	c = json_object_get(json_object_array_get_idx(items, 0));
	http_answer_free(&a);
	return c;
}

static long found(const char *tok, const char *q)
{
	struct http_answer a;
	char path[256];
	long n;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", q);
	e2e_expect(tok, "GET", path, NULL, 200, NULL, &a);
	n = num(a.json, "total");
	http_answer_free(&a);
	return n;
}

/* Whether the CSV text holds cell as a whole field: between separators or
 * line ends. */
static int has_cell(const char *csv, const char *cell)
{
	size_t n = strlen(cell);

	for (const char *p = strstr(csv, cell); p; p = strstr(p + 1, cell)) {
		int starts = p == csv || p[-1] == ',' || p[-1] == '\n';
		int ends = p[n] == '\0' || p[n] == ',' || (p[n] == '\r' && p[n + 1] == '\n');
		if (starts && ends)
			return 1;
	}
	return 0;
}

static const char *custom_str(json_object *c, const char *key)
{
	return json_str(json_object_object_get(c, "custom_fields"), key);
}

/* Cells a spreadsheet would run as formulas get a leading ' (OWASP), in
 * every column, header included; the import takes it off again, so the round
 * trip is lossless, a value that really begins with ' included. */
START_TEST(exports_escape_formula_cells_and_import_them_back)
{
	struct http_answer a, b;
	char other[4096];
	json_object *c;
	char *first, *second;

	new_tenant();
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"=sum@formula.example\",\"first_name\":\"=cmd|' /C calc'!A0\","
		   "\"last_name\":\"+1+1\",\"tags\":[\"=t\",\"ok\"],\"custom_fields\":{\"minus\":\"-5\","
		   "\"at\":\"@SUM(A1)\",\"tab\":\"\\tTab\",\"cr\":\"\\rCR\",\"plain\":\"safe\","
		   "\"quoted\":\"'=kept\",\"twice\":\"''+2\",\"=name\":\"v\"}}",
		   201, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"dash@formula.example\",\"first_name\":\"-Dash\",\"last_name\":\"@home\"}",
		   201, NULL, NULL);
	e2e_expect(token, "GET", "/api/v1/contacts/export", NULL, 200, NULL, &a);
	ck_assert_msg(has_cell(a.body, "'=sum@formula.example") && has_cell(a.body, "'=cmd|' /C calc'!A0") &&
			      has_cell(a.body, "'+1+1") && has_cell(a.body, "'=t;ok") &&
			      has_cell(a.body, "'-5") && has_cell(a.body, "'@SUM(A1)") &&
			      has_cell(a.body, "'\tTab") && has_cell(a.body, "\"'\rCR\"") &&
			      has_cell(a.body, "safe") && has_cell(a.body, "''=kept") &&
			      has_cell(a.body, "'''+2") && has_cell(a.body, "'=name") &&
			      has_cell(a.body, "'-Dash") && has_cell(a.body, "'@home") &&
			      has_cell(a.body, "dash@formula.example"),
		      "export not escaped: %s", a.body);
	/* No cell starts with a formula character. */
	ck_assert_ptr_null(strstr(a.body, ",="));
	ck_assert_ptr_null(strstr(a.body, ",+"));
	ck_assert_ptr_null(strstr(a.body, ",-"));
	ck_assert_ptr_null(strstr(a.body, ",@"));
	ck_assert_ptr_null(strstr(a.body, ",\t"));
	ck_assert_ptr_null(strstr(a.body, "\n="));

	e2e_new_tenant("transfer-formula", other, sizeof(other));
	ck_assert_int_eq(csv_import(other, a.body, a.len, &b), 200);
	expect_counts(&b, 2, 0, 0);
	http_answer_free(&b);
	c = find_contact(other, "sum%40formula");
	ck_assert_str_eq(json_str(c, "email"), "=sum@formula.example");
	ck_assert_str_eq(json_str(c, "first_name"), "=cmd|' /C calc'!A0");
	ck_assert_str_eq(json_str(c, "last_name"), "+1+1");
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(json_object_object_get(c, "tags"), 0)),
			 "=t");
	ck_assert_str_eq(custom_str(c, "minus"), "-5");
	ck_assert_str_eq(custom_str(c, "at"), "@SUM(A1)");
	ck_assert_str_eq(custom_str(c, "tab"), "\tTab");
	ck_assert_str_eq(custom_str(c, "cr"), "\rCR");
	ck_assert_str_eq(custom_str(c, "quoted"), "'=kept");
	ck_assert_str_eq(custom_str(c, "twice"), "''+2");
	ck_assert_str_eq(custom_str(c, "=name"), "v");
	json_object_put(c);
	c = find_contact(other, "dash%40formula");
	ck_assert_str_eq(json_str(c, "first_name"), "-Dash");
	ck_assert_str_eq(json_str(c, "last_name"), "@home");
	json_object_put(c);
	e2e_expect(other, "GET", "/api/v1/contacts/export", NULL, 200, NULL, &b);
	first = normalised(a.body);
	second = normalised(b.body);
	ck_assert_str_eq(first, second);
	free(first);
	free(second);
	http_answer_free(&a);
	http_answer_free(&b);
}
END_TEST

static void append_repeat(struct strbuf *sb, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strbuf_appendc(sb, c);
}

static void expect_error(struct http_answer *a, size_t i, long row, const char *detail_part)
{
	json_object *e = json_object_array_get_idx(json_object_object_get(a->json, "errors"), i);
	ck_assert_msg(e && num(e, "row") == row && strstr(json_str(e, "detail"), detail_part),
		      "error %zu: want row %ld '%s', got %.2000s", i, row, detail_part, a->body);
}

/* A row the reader had to cut (over 1 MiB, over 1,024 fields, a quote never
 * closed) or over the API's caps is a row error, never stored cut; the rows
 * around it go in. */
START_TEST(overlong_and_oversized_rows_are_row_errors)
{
	struct strbuf csv = STRBUF_INIT;
	struct http_answer a;

	new_tenant();
	strbuf_appends(&csv, "email,first_name,note,tags\n"
			     "ok1@long.example,A,small,\n"
			     "big@long.example,B,");
	append_repeat(&csv, 'x', 1200 * 1000);
	strbuf_appends(&csv, "\nok2@long.example,C,,\nmid@long.example,D,");
	append_repeat(&csv, 'y', 20000);
	strbuf_appends(&csv, ",\nwide@long.example");
	for (int i = 0; i < 1100; i++)
		strbuf_appends(&csv, ",z");
	strbuf_appends(&csv, "\nmanytags@long.example,G,,");
	for (int i = 0; i <= 100; i++)
		strbuf_appendf(&csv, "%st%d", i ? ";" : "", i);
	strbuf_appends(&csv, "\nok3@long.example,E,\"quoted, fine\",\n"
			     "open@long.example,F,\"never closed,\n");
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 3, 0, 5);
	expect_error(&a, 0, 2, "1 MiB");
	expect_error(&a, 1, 4, "16 KiB");
	expect_error(&a, 2, 5, "1024 fields");
	expect_error(&a, 3, 6, "100 tags");
	expect_error(&a, 4, 8, "quote");
	http_answer_free(&a);
	ck_assert_int_eq(found(token, "long.example"), 3);
	ck_assert_int_eq(found(token, "big%40"), 0);
	ck_assert_int_eq(found(token, "mid%40"), 0);
	ck_assert_int_eq(found(token, "wide%40"), 0);

	/* At most 100 custom fields, named with 1 to 64 characters. */
	strbuf_reset(&csv);
	strbuf_appends(&csv, "email");
	for (int i = 0; i <= 100; i++)
		strbuf_appendf(&csv, ",c%d", i);
	strbuf_appendc(&csv, ',');
	append_repeat(&csv, 'n', 65);
	strbuf_appends(&csv, "\nmany@fields.example");
	for (int i = 0; i <= 100; i++)
		strbuf_appends(&csv, ",v");
	strbuf_appends(&csv, ",\nhundred@fields.example");
	for (int i = 0; i < 100; i++)
		strbuf_appends(&csv, ",v");
	strbuf_appends(&csv, ",,\nlongname@fields.example");
	for (int i = 0; i <= 100; i++)
		strbuf_appendc(&csv, ',');
	strbuf_appends(&csv, ",v\n");
	ck_assert_int_eq(csv_import(token, csv.buf, csv.len, &a), 200);
	expect_counts(&a, 1, 0, 2);
	expect_error(&a, 0, 1, "100 custom fields");
	expect_error(&a, 1, 3, "64 characters");
	http_answer_free(&a);
	ck_assert_int_eq(found(token, "hundred%40fields"), 1);
	ck_assert_int_eq(found(token, "fields.example"), 1);
	strbuf_free(&csv);
}
END_TEST

/* A header column named like a contact field (case-insensitively, spaces
 * around ignored) is that field, never a custom field; when a name repeats,
 * the first column is read, so a later column cannot change what an earlier
 * one said (the subscription least of all). */
START_TEST(a_column_named_twice_does_not_flip_subscription)
{
	static const char csv[] =
		"email,is_subscribed,first_name,IS_SUBSCRIBED, Email ,plan,plan,id,updated_at,Tags\n"
		"flip@clash.example,false,F,true,other@clash.example,gold,silver,1,x,vip\n";
	struct http_answer a;
	json_object *c, *cf;

	new_tenant();
	ck_assert_int_eq(csv_import(token, csv, sizeof(csv) - 1, &a), 200);
	expect_counts(&a, 1, 0, 0);
	http_answer_free(&a);
	ck_assert_int_eq(found(token, "other%40clash"), 0);
	c = find_contact(token, "flip%40clash");
	ck_assert(!json_object_get_boolean(json_object_object_get(c, "is_subscribed")));
	ck_assert_str_eq(json_str(c, "first_name"), "F");
	cf = json_object_object_get(c, "custom_fields");
	ck_assert_msg(json_object_object_length(cf) == 1 && strcmp(custom_str(c, "plan"), "gold") == 0,
		      "custom fields %s", json_object_to_json_string(cf));
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(c, "tags")), 1);
	json_object_put(c);
}
END_TEST

/* A custom field stored under a column's name before such names were refused
 * (here written by the owner) never makes a second header column: the export
 * leaves it out, and the unsubscribed contact comes back unsubscribed. */
START_TEST(legacy_reserved_custom_fields_stay_out_of_the_export)
{
	struct http_answer a, b;
	char other[4096], uid[40];
	const char *p[1];
	json_object *c;

	new_tenant();
	e2e_expect(token, "POST", "/api/v1/contacts",
		   "{\"email\":\"legacy@clash.example\",\"is_subscribed\":false,"
		   "\"custom_fields\":{\"city\":\"Oslo\"}}",
		   201, NULL, NULL);
	p[0] = e2e_user_id(token, uid);
	ck_assert_int_eq(e2e_owner_value("WITH u AS (UPDATE contacts SET custom_fields = custom_fields ||"
					 " '{\"is_subscribed\":\"true\",\"Email\":\"evil@clash.example\","
					 "\" tags \":\"x\",\"First_Name\":\"Mallory\",\"id\":\"1\"}'"
					 " WHERE user_id = $1 RETURNING 1) SELECT count(*) FROM u",
					 1, p),
			 1);
	expect_export_header("email,first_name,last_name,tags,is_subscribed,created_at,city");
	e2e_expect(token, "GET", "/api/v1/contacts/export", NULL, 200, NULL, &a);
	e2e_new_tenant("transfer-legacy", other, sizeof(other));
	ck_assert_int_eq(csv_import(other, a.body, a.len, &b), 200);
	expect_counts(&b, 1, 0, 0);
	http_answer_free(&a);
	http_answer_free(&b);
	c = find_contact(other, "legacy%40clash");
	ck_assert(!json_object_get_boolean(json_object_object_get(c, "is_subscribed")));
	ck_assert_ptr_null(json_str(c, "first_name"));
	ck_assert_int_eq((int)json_object_object_length(json_object_object_get(c, "custom_fields")), 1);
	ck_assert_str_eq(custom_str(c, "city"), "Oslo");
	json_object_put(c);
	ck_assert_int_eq(found(other, "evil%40clash"), 0);
}
END_TEST

Suite *transfer_suite(void)
{
	Suite *s = suite_create("transfer");
	TCase *tc = tcase_create("transfer");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, json_email_lists_skip_duplicates_and_report_errors);
	tcase_add_test(tc, csv_edge_cases_stream_in);
	tcase_add_test(tc, suppressed_addresses_are_skipped);
	tcase_add_test(tc, the_free_plan_limit_stops_the_import_exactly);
	tcase_add_test(tc, export_then_import_restores_every_field);
	tcase_add_test(tc, multipart_uploads_import_the_file_part);
	tcase_add_test(tc, imports_need_auth_and_a_supported_body);
	tcase_add_test(tc, imports_run_in_process_without_http);
	tcase_add_test(tc, export_columns_follow_the_fields_in_use);
	tcase_add_test(tc, enterprise_imports_merge_in_parallel_and_keep_the_first_copy);
	tcase_add_test(tc, big_imports_are_searchable_before_and_after_indexing);
	tcase_add_test(tc, tag_pages_come_whole_from_the_newest_and_from_the_index);
	tcase_add_test(tc, a_contact_created_during_the_merge_is_skipped);
	tcase_add_test(tc, exports_escape_formula_cells_and_import_them_back);
	tcase_add_test(tc, overlong_and_oversized_rows_are_row_errors);
	tcase_add_test(tc, a_column_named_twice_does_not_flip_subscription);
	tcase_add_test(tc, legacy_reserved_custom_fields_stay_out_of_the_export);
	suite_add_tcase(s, tc);
	return s;
}
