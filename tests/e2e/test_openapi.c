/* The OpenAPI document and the served routes must name the same set: every
 * responder's route table (fs-* --routes) against the document's paths. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "e2e.h"

#define MAX_ROUTES 512

struct route_set {
	char *items[MAX_ROUTES]; /* "get /api/v1/contacts/{id}" */
	size_t n;
};

static void set_add(struct route_set *s, const char *method, const char *path)
{
	char buf[1024];
	size_t o = 0;

	o += (size_t)snprintf(buf, sizeof(buf), "%s ", method);
	for (size_t i = 0; method[i]; i++)
		buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
	/* ":id" and "*token" segments become "{id}" and "{token}". */
	for (const char *p = path; *p && o < sizeof(buf) - 3; p++) {
		if ((*p == ':' || *p == '*') && p[-1] == '/') {
			buf[o++] = '{';
			p++;
			while (*p && *p != '/' && o < sizeof(buf) - 3)
				buf[o++] = *p++;
			buf[o++] = '}';
			p--;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i], buf) == 0)
			return;
	ck_assert_uint_lt(s->n, MAX_ROUTES);
	s->items[s->n++] = strdup(buf);
}

static int set_has(const struct route_set *s, const char *item)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i], item) == 0)
			return 1;
	return 0;
}

static void set_free(struct route_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	s->n = 0;
}

static void served_routes(struct route_set *s)
{
	DIR *d = opendir(e2e_bin());
	struct dirent *e;
	int responders = 0;

	ck_assert_msg(d != NULL, "cannot open %s", e2e_bin());
	while ((e = readdir(d))) {
		char cmd[2048], line[1024], method[16], path[900];
		FILE *p;

		if (strncmp(e->d_name, "fs-", 3) != 0)
			continue;
		snprintf(cmd, sizeof(cmd), "%s/%s --routes", e2e_bin(), e->d_name);
		p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		while (fgets(line, sizeof(line), p))
			if (sscanf(line, "%15s %899s", method, path) == 2)
				set_add(s, method, path);
		ck_assert_int_eq(pclose(p), 0);
		responders++;
	}
	closedir(d);
	ck_assert_int_gt(responders, 0);
}

static json_object *fetch_document(struct http_answer *a)
{
	ck_assert_int_eq(http_call("GET", "/api/v1/openapi.json", NULL, NULL, 0, a), 0);
	ck_assert_int_eq(a->status, 200);
	ck_assert_ptr_nonnull(a->json);
	return a->json;
}

static void documented_routes(json_object *doc, struct route_set *s)
{
	json_object *paths;

	ck_assert(json_object_object_get_ex(doc, "paths", &paths));
	json_object_object_foreach(paths, path, ops)
	{
		json_object_object_foreach(ops, method, op)
		{
			(void)op;
			if (strcmp(method, "parameters") == 0 || strcmp(method, "summary") == 0 ||
			    strcmp(method, "description") == 0)
				continue;
			set_add(s, method, path);
		}
	}
}

START_TEST(document_is_openapi_3_1)
{
	struct http_answer a;
	json_object *doc = fetch_document(&a), *v;

	ck_assert(json_object_object_get_ex(doc, "openapi", &v));
	ck_assert_str_eq(json_object_get_string(v), "3.1.0");
	ck_assert(json_object_object_get_ex(doc, "info", &v));
	ck_assert(json_object_object_get_ex(doc, "components", &v));
	http_answer_free(&a);
}
END_TEST

START_TEST(document_and_served_routes_match)
{
	struct http_answer a;
	struct route_set served = { 0 }, documented = { 0 };
	struct strbuf diff = STRBUF_INIT;

	served_routes(&served);
	documented_routes(fetch_document(&a), &documented);
	for (size_t i = 0; i < served.n; i++)
		if (!set_has(&documented, served.items[i]))
			strbuf_appendf(&diff, "\n  served but not documented: %s", served.items[i]);
	for (size_t i = 0; i < documented.n; i++)
		if (!set_has(&served, documented.items[i]))
			strbuf_appendf(&diff, "\n  documented but not served: %s",
				       documented.items[i]);
	ck_assert_msg(diff.len == 0, "OpenAPI document and routes differ:%s", strbuf_cstr(&diff));
	strbuf_free(&diff);
	set_free(&served);
	set_free(&documented);
	http_answer_free(&a);
}
END_TEST

/* An operation with "security": [] needs no credentials. */
static int operation_is_public(json_object *doc, const char *path, const char *method)
{
	json_object *paths, *item, *op, *sec;
	char lower[16];
	size_t i;

	for (i = 0; method[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
	lower[i] = '\0';
	return json_object_object_get_ex(doc, "paths", &paths) &&
	       json_object_object_get_ex(paths, path, &item) &&
	       json_object_object_get_ex(item, lower, &op) &&
	       json_object_object_get_ex(op, "security", &sec) &&
	       json_object_is_type(sec, json_type_array) && json_object_array_length(sec) == 0;
}

/* nginx must forward every documented route to a responder: an answer from a
 * responder carries X-Request-Id, nginx's own error pages do not. */
START_TEST(every_documented_route_reaches_a_responder_and_checks_credentials)
{
	struct http_answer a, r;
	struct route_set documented = { 0 };

	documented_routes(fetch_document(&a), &documented);
	for (size_t i = 0; i < documented.n; i++) {
		char method[16], path[1024], concrete[1024], hdr[128];
		size_t o = 0;

		ck_assert_int_eq(sscanf(documented.items[i], "%15s %1023s", method, path), 2);
		for (char *m = method; *m; m++)
			*m = (char)(*m >= 'a' && *m <= 'z' ? *m - 32 : *m);
		for (const char *p = path; *p && o < sizeof(concrete) - 40; p++) {
			if (*p == '{') {
				o += (size_t)snprintf(concrete + o, sizeof(concrete) - o, "%s",
						      "00000000-0000-4000-8000-000000000000");
				while (*p && *p != '}')
					p++;
			} else {
				concrete[o++] = *p;
			}
		}
		concrete[o] = '\0';
		ck_assert_int_eq(http_call(method, concrete, NULL, strcmp(method, "GET") ? "{}" : NULL,
					   2, &r),
				 0);
		ck_assert_msg(http_header(&r, "X-Request-Id", hdr, sizeof(hdr)) != NULL,
			      "%s %s did not reach a responder (status %ld)", method, concrete,
			      r.status);
		ck_assert_int_lt(r.status, 500);
		/* Without credentials, whatever the document does not mark public is 401. */
		if (!operation_is_public(a.json, path, method))
			ck_assert_msg(r.status == 401 && http_detail(&r) &&
					      strcmp(http_detail(&r), "Not authenticated") == 0,
				      "%s %s without credentials: %ld %s", method, concrete, r.status,
				      r.body);
		http_answer_free(&r);
	}
	set_free(&documented);
	http_answer_free(&a);
}
END_TEST

Suite *openapi_suite(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = tcase_create("openapi");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, document_is_openapi_3_1);
	tcase_add_test(tc, document_and_served_routes_match);
	tcase_add_test(tc, every_documented_route_reaches_a_responder_and_checks_credentials);
	suite_add_tcase(s, tc);
	return s;
}
