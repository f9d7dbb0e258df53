/* Sender domains end to end: every /settings/domains route, hostile domains,
 * tenant isolation, the private key sealed in the database and never in an
 * answer, and verification through a real DNS server (dnsmasq) holding the
 * TXT record the API showed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "core/strbuf.h"
#include "e2e.h"
#include "mail/dkim.h"
#include "mail/dkim_check.h"
#include "mail/message.h"
#include "services/domains.h"
#include "services/senders.h"

/* Every answer body of a test, to look for the private key afterwards. */
static struct strbuf answers;

static void keep(const struct http_answer *a)
{
	strbuf_append(&answers, a->body ? a->body : "", a->len);
	strbuf_appendc(&answers, '\n');
}

/* Send and assert the status (and a part of the detail when given); the
 * answer is kept for the key check and handed over when out is set. */
static void call(const char *token, const char *method, const char *path, const char *body,
		 long status, const char *detail_part, struct http_answer *out)
{
	struct http_answer a;

	e2e_expect(token, method, path, body, status, detail_part, &a);
	keep(&a);
	if (out)
		*out = a;
	else
		http_answer_free(&a);
}

/* POST a domain (201) and copy its id; the answer when out is set. */
static void add_domain(const char *token, const char *domain, char id[40], struct http_answer *out)
{
	char body[512];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", domain);
	call(token, "POST", "/api/v1/settings/domains", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	if (out)
		*out = a;
	else
		http_answer_free(&a);
}

static void path_of(char *out, size_t size, const char *id, const char *tail)
{
	snprintf(out, size, "/api/v1/settings/domains/%s%s", id, tail ? tail : "");
}

/* A unique domain under example (dnsmasq answers for all of it). */
static void unique_domain(const char *label, char *out, size_t size)
{
	char email[128], *at;

	e2e_unique_email(label, email, sizeof(email));
	at = strchr(email, '@');
	*at = '\0';
	for (char *p = email; *p; p++)
		if (*p == '_')
			*p = '-';
	snprintf(out, size, "%s.flowsend-e2e.example", email);
}

static json_object *record(json_object *domain, const char *purpose)
{
	json_object *recs = json_object_object_get(domain, "dns_records");

	for (size_t i = 0; i < json_object_array_length(recs); i++) {
		json_object *r = json_object_array_get_idx(recs, i);
		if (strcmp(json_str(r, "purpose"), purpose) == 0)
			return r;
	}
	ck_abort_msg("no %s record", purpose);
	return NULL;
}

/* The DKIM record's strings joined. */
static void dkim_value(json_object *domain, struct strbuf *out)
{
	json_object *strings = json_object_object_get(record(domain, "dkim"), "strings");

	for (size_t i = 0; i < json_object_array_length(strings); i++)
		strbuf_appends(out, json_object_get_string(json_object_array_get_idx(strings, i)));
}

/* A dnsmasq line publishing the DKIM record the API showed for domain. */
static void publish(struct strbuf *conf, json_object *domain)
{
	json_object *rec = record(domain, "dkim"), *strings = json_object_object_get(rec, "strings");
	const char *s[8];
	size_t n = json_object_array_length(strings);

	ck_assert_uint_le(n, 8);
	for (size_t i = 0; i < n; i++)
		s[i] = json_object_get_string(json_object_array_get_idx(strings, i));
	e2e_dns_txt_line(conf, json_str(rec, "name"), s, n);
}

START_TEST(routes_and_shapes)
{
	char token[4096], id[40], id2[40], path[256], domain[160], upper[160], body[256];
	struct http_answer a;
	json_object *dkim, *strings;
	struct strbuf v = STRBUF_INIT;

	e2e_new_tenant("domains", token, sizeof(token));
	call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	ck_assert(json_object_is_type(a.json, json_type_array));
	ck_assert_uint_eq(json_object_array_length(a.json), 0);
	http_answer_free(&a);

	/* Upper case and a trailing dot are the same domain. */
	unique_domain("routes", domain, sizeof(domain));
	for (size_t i = 0; domain[i]; i++)
		upper[i] = (char)(domain[i] >= 'a' && domain[i] <= 'z' ? domain[i] - 32 : domain[i]);
	upper[strlen(domain)] = '\0';
	snprintf(body, sizeof(body), "{\"domain\":\"%s.\"}", upper);
	call(token, "POST", "/api/v1/settings/domains", body, 201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	ck_assert_str_eq(json_str(a.json, "domain"), domain);
	ck_assert_int_eq(strlen(json_str(a.json, "dkim_selector")), 12);
	ck_assert(strncmp(json_str(a.json, "dkim_selector"), "fs", 2) == 0);
	ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "verified")));
	ck_assert(json_object_is_type(json_object_object_get(a.json, "verified_at"), json_type_null));
	ck_assert_ptr_nonnull(json_str(a.json, "created_at"));
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(a.json, "dns_records")), 3);

	/* The DKIM record: its name, strings of at most 255 bytes, the value in
	 * zone-file form, a 2048-bit key. */
	dkim = record(a.json, "dkim");
	snprintf(path, sizeof(path), "%s._domainkey.%s", json_str(a.json, "dkim_selector"), domain);
	ck_assert_str_eq(json_str(dkim, "name"), path);
	ck_assert_str_eq(json_str(dkim, "type"), "TXT");
	ck_assert(json_object_get_boolean(json_object_object_get(dkim, "required")));
	strings = json_object_object_get(dkim, "strings");
	ck_assert_uint_eq(json_object_array_length(strings), 2);
	for (size_t i = 0; i < 2; i++)
		ck_assert_uint_le(strlen(json_object_get_string(json_object_array_get_idx(strings, i))),
				  255);
	dkim_value(a.json, &v);
	ck_assert(strncmp(v.buf, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
			  62) == 0);
	ck_assert_uint_eq(v.len, 18 + 392); /* base64 of a 2048-bit SubjectPublicKeyInfo */
	{
		char want[1024];
		snprintf(want, sizeof(want), "\"%.255s\" \"%s\"", v.buf, v.buf + 255);
		ck_assert_str_eq(json_str(dkim, "value"), want);
	}
	ck_assert_str_eq(json_str(record(a.json, "spf"), "name"), domain);
	ck_assert(strncmp(json_str(record(a.json, "spf"), "value"), "\"v=spf1 ", 8) == 0);
	snprintf(path, sizeof(path), "_dmarc.%s", domain);
	ck_assert_str_eq(json_str(record(a.json, "dmarc"), "name"), path);
	ck_assert(strncmp(json_str(record(a.json, "dmarc"), "value"), "\"v=DMARC1; p=none", 17) == 0);
	http_answer_free(&a);

	/* Added already, in any spelling. */
	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", domain);
	call(token, "POST", "/api/v1/settings/domains", body, 409, "already added", NULL);
	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", upper);
	call(token, "POST", "/api/v1/settings/domains", body, 409, "already added", NULL);

	/* An internationalised domain in its punycode form. */
	add_domain(token, "xn--caf-dma.flowsend-e2e.example", id2, NULL);

	call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	ck_assert_uint_eq(json_object_array_length(a.json), 2);
	ck_assert_str_eq(json_str(json_object_array_get_idx(a.json, 0), "id"), id);
	ck_assert_str_eq(json_str(json_object_array_get_idx(a.json, 1), "id"), id2);
	http_answer_free(&a);
	path_of(path, sizeof(path), id, NULL);
	call(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "domain"), domain);
	dkim = record(a.json, "dkim");
	strbuf_reset(&v);
	dkim_value(a.json, &v);
	ck_assert(strstr(v.buf, "p=MIIB") != NULL);
	http_answer_free(&a);

	/* Removed: gone from every route. */
	call(token, "DELETE", path, NULL, 204, NULL, NULL);
	call(token, "GET", path, NULL, 404, "Sender domain not found", NULL);
	call(token, "DELETE", path, NULL, 404, "Sender domain not found", NULL);
	path_of(path, sizeof(path), id, "/verify");
	call(token, "POST", path, NULL, 404, "Sender domain not found", NULL);
	call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	ck_assert_uint_eq(json_object_array_length(a.json), 1);
	http_answer_free(&a);
	/* Malformed ids are 404, never 500. */
	call(token, "GET", "/api/v1/settings/domains/not-a-uuid", NULL, 404, NULL, NULL);
	call(token, "POST", "/api/v1/settings/domains/not-a-uuid/verify", NULL, 404, NULL, NULL);
	call(token, "DELETE", "/api/v1/settings/domains/12345", NULL, 404, NULL, NULL);
	call(token, "PUT", "/api/v1/settings/domains", "{}", 405, NULL, NULL);
	call(NULL, "GET", "/api/v1/settings/domains", NULL, 401, NULL, NULL);
	strbuf_free(&v);
}
END_TEST

START_TEST(hostile_domains_are_refused)
{
	static const struct {
		const char *body;
		const char *msg;
	} cases[] = {
		{ "{\"domain\":\"\"}", "at least 1" },
		{ "{}", "required" },
		{ "{\"domain\":null}", NULL },
		{ "{\"domain\":42}", NULL },
		{ "{\"domain\":[\"a.example\"]}", NULL },
		{ "{\"domain\":\"localhost\"}", "with a dot" },
		{ "{\"domain\":\"example\"}", "with a dot" },
		{ "{\"domain\":\".\"}", "empty label" },
		{ "{\"domain\":\"a..example\"}", "empty label" },
		{ "{\"domain\":\".a.example\"}", "empty label" },
		{ "{\"domain\":\"a.example..\"}", "empty label" },
		{ "{\"domain\":\"-a.example\"}", "hyphen" },
		{ "{\"domain\":\"a-.example\"}", "hyphen" },
		{ "{\"domain\":\"ex ample.com\"}", "letters, digits" },
		{ "{\"domain\":\"ex_ample.com\"}", "letters, digits" },
		{ "{\"domain\":\"a;b.example\"}", "letters, digits" },
		{ "{\"domain\":\"<script>.example\"}", "letters, digits" },
		{ "{\"domain\":\"shop.example\\r\\nBcc: x@y.example\"}", "letters, digits" },
		{ "{\"domain\":\"shop.example\\u0000.evil\"}", NULL },
		{ "{\"domain\":\"mail@shop.example\"}", "letters, digits" },
		{ "{\"domain\":\"https://shop.example/\"}", "letters, digits" },
		{ "{\"domain\":\"192.168.1.10\"}", "IP address" },
		{ "{\"domain\":\"caf\\u00e9.example\"}", "punycode" },
		{ "{\"domain\":\"xn--.example\"}", "hyphen" },
		{ "{\"domain\":\"xn--a-.example\"}", "hyphen" },
		{ "{\"domain\":\"xn--99999999999.example\"}", "punycode" },
		{ "{\"domain\":\"ab--cd.example\"}", "punycode" },
		{ "{\"domain\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\"}",
		  "63" },
	};
	char token[4096], body[600];

	e2e_new_tenant("hostile", token, sizeof(token));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_answer a;
		json_object *d, *first;
		call(token, "POST", "/api/v1/settings/domains", cases[i].body, 422, NULL, &a);
		/* FastAPI's shape, naming the field. */
		d = json_object_object_get(a.json, "detail");
		ck_assert_msg(d && json_object_is_type(d, json_type_array), "%s: %s", cases[i].body,
			      a.body);
		first = json_object_array_get_idx(d, 0);
		ck_assert_msg(strstr(json_object_to_json_string(json_object_object_get(first, "loc")),
				     "domain") != NULL,
			      "%s: %s", cases[i].body, a.body);
		if (cases[i].msg)
			ck_assert_msg(strstr(json_str(first, "msg"), cases[i].msg) != NULL,
				      "%s: want '%s' in %s", cases[i].body, cases[i].msg, a.body);
		http_answer_free(&a);
	}
	/* 229 characters fit "<selector>._domainkey." in front; 230 do not. */
	for (size_t extra = 29; extra <= 30; extra++) {
		size_t o = (size_t)snprintf(body, sizeof(body), "{\"domain\":\"");
		for (int l = 0; l < 3; l++) {
			memset(body + o, 'a', 63);
			o += 63;
			body[o++] = '.';
		}
		memset(body + o, 'b', extra);
		o += extra;
		snprintf(body + o, sizeof(body) - o, ".example\"}");
		call(token, "POST", "/api/v1/settings/domains", body, extra == 29 ? 201 : 422,
		     NULL, NULL);
	}
	/* Not JSON, or not an object. */
	call(token, "POST", "/api/v1/settings/domains", "{\"domain\":", 422, NULL, NULL);
	call(token, "POST", "/api/v1/settings/domains", "[]", 422, NULL, NULL);
	/* Nothing else was stored. */
	{
		struct http_answer a;
		call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
		ck_assert_uint_eq(json_object_array_length(a.json), 1);
		ck_assert_uint_eq(strlen(json_str(json_object_array_get_idx(a.json, 0), "domain")), 229);
		http_answer_free(&a);
	}
}
END_TEST

START_TEST(tenants_are_isolated)
{
	char a_token[4096], b_token[4096], id[40], path[256], domain[160], body[256];
	struct http_answer a;

	e2e_new_tenant("owner", a_token, sizeof(a_token));
	e2e_new_tenant("other", b_token, sizeof(b_token));
	unique_domain("iso", domain, sizeof(domain));
	add_domain(a_token, domain, id, NULL);

	path_of(path, sizeof(path), id, NULL);
	call(b_token, "GET", path, NULL, 404, "Sender domain not found", NULL);
	call(b_token, "DELETE", path, NULL, 404, "Sender domain not found", NULL);
	path_of(path, sizeof(path), id, "/verify");
	call(b_token, "POST", path, NULL, 404, "Sender domain not found", NULL);
	call(b_token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	ck_assert_uint_eq(json_object_array_length(a.json), 0);
	http_answer_free(&a);
	/* Another tenant may add the same domain: only DNS proves who owns it. */
	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", domain);
	call(b_token, "POST", "/api/v1/settings/domains", body, 201, NULL, NULL);

	/* The owner still has it, untouched. */
	path_of(path, sizeof(path), id, NULL);
	call(a_token, "GET", path, NULL, 200, NULL, &a);
	ck_assert_str_eq(json_str(a.json, "domain"), domain);
	http_answer_free(&a);
	call(a_token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	ck_assert_uint_eq(json_object_array_length(a.json), 1);
	http_answer_free(&a);
}
END_TEST

START_TEST(private_key_is_sealed_and_never_shown)
{
	char token[4096], id[40], domain[160], path[256], sealed[8192];
	struct http_answer a;
	struct strbuf pem = STRBUF_INIT, v = STRBUF_INIT, pub = STRBUF_INIT;
	struct fs_config cfg;
	char err[256];
	struct dkim_signer *s;
	const char *p[1];

	strbuf_reset(&answers);
	e2e_new_tenant("sealed", token, sizeof(token));
	unique_domain("sealed", domain, sizeof(domain));
	add_domain(token, domain, id, &a);
	dkim_value(a.json, &v);
	http_answer_free(&a);
	call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, NULL);
	path_of(path, sizeof(path), id, NULL);
	call(token, "GET", path, NULL, 200, NULL, NULL);
	path_of(path, sizeof(path), id, "/verify");
	call(token, "POST", path, NULL, 503, NULL, NULL); /* no DNS server running */

	/* In the database: sealed, not PEM; it opens with the instance's key and
	 * is the pair of the public key the API showed. */
	p[0] = id;
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT dkim_private_key_sealed FROM sender_domains"
					     " WHERE id = $1",
					     1, p, sealed, sizeof(sealed)));
	ck_assert(strncmp(sealed, "v1:", 3) == 0);
	ck_assert_ptr_null(strstr(sealed, "PRIVATE KEY"));
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(domain_key_open(cfg.secret_key, sealed, &pem), 0);
	ck_assert_ptr_nonnull(strstr(pem.buf, "-----BEGIN PRIVATE KEY-----"));
	s = dkim_signer_new(domain, "x", pem.buf, pem.len, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	ck_assert_int_eq(dkim_signer_public_key(s, &pub), 0);
	ck_assert_str_eq(strstr(v.buf, "p=") + 2, pub.buf);
	dkim_signer_free(s);
	/* Another key does not open it. */
	{
		unsigned char other[32];
		struct strbuf no = STRBUF_INIT;
		memcpy(other, cfg.secret_key, 32);
		other[0] ^= 1;
		ck_assert_int_eq(domain_key_open(other, sealed, &no), -1);
		strbuf_free(&no);
	}

	/* No answer held the key, in PEM, in base64 pieces, or sealed. */
	ck_assert_ptr_null(strstr(answers.buf, "PRIVATE KEY"));
	ck_assert_ptr_null(strstr(answers.buf, sealed + 3 + 20));
	{
		const char *body = strchr(pem.buf, '\n') + 1;
		for (int line = 0; line < 20 && body && *body != '-'; line++) {
			char piece[41];
			snprintf(piece, sizeof(piece), "%.40s", body);
			ck_assert_msg(strstr(answers.buf, piece) == NULL, "a piece of the key: %s", piece);
			body = strchr(body, '\n');
			body = body ? body + 1 : NULL;
		}
	}
	strbuf_free(&pem);
	strbuf_free(&v);
	strbuf_free(&pub);
}
END_TEST

START_TEST(verification_through_dns)
{
	char token[4096], good[40], missing[40], wrong[40], notdkim[40], path[256], d1[160],
		d2[160], d3[160], d4[160];
	struct http_answer a, ga, wa, na;
	struct strbuf conf = STRBUF_INIT;

	e2e_new_tenant("verify", token, sizeof(token));
	unique_domain("good", d1, sizeof(d1));
	unique_domain("missing", d2, sizeof(d2));
	unique_domain("wrong", d3, sizeof(d3));
	unique_domain("notdkim", d4, sizeof(d4));
	add_domain(token, d1, good, &ga);
	add_domain(token, d2, missing, NULL);
	add_domain(token, d3, wrong, &wa);
	add_domain(token, d4, notdkim, &na);

	/* good: the record as shown. wrong: good's key at wrong's name. notdkim:
	 * an SPF record at its DKIM name. missing: nothing. */
	publish(&conf, ga.json);
	{
		json_object *gs = json_object_object_get(record(ga.json, "dkim"), "strings");
		const char *s[2] = { json_object_get_string(json_object_array_get_idx(gs, 0)),
				     json_object_get_string(json_object_array_get_idx(gs, 1)) };
		const char *spf[1] = { "v=spf1 -all" };
		e2e_dns_txt_line(&conf, json_str(record(wa.json, "dkim"), "name"), s, 2);
		e2e_dns_txt_line(&conf, json_str(record(na.json, "dkim"), "name"), spf, 1);
	}
	e2e_dns_start(conf.buf);

	path_of(path, sizeof(path), good, "/verify");
	call(token, "POST", path, NULL, 200, NULL, &a);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "verified")));
	ck_assert_ptr_nonnull(json_str(a.json, "verified_at"));
	ck_assert_ptr_nonnull(json_str(a.json, "last_checked_at"));
	ck_assert(json_object_is_type(json_object_object_get(a.json, "last_check_error"),
				      json_type_null));
	http_answer_free(&a);

	path_of(path, sizeof(path), missing, "/verify");
	call(token, "POST", path, NULL, 400, "No DKIM record at fs", NULL);
	call(token, "POST", path, NULL, 400, "does not exist", NULL);
	path_of(path, sizeof(path), wrong, "/verify");
	call(token, "POST", path, NULL, 400, "holds another key: found p=MIIBIjANBgkqhkiG", NULL);
	path_of(path, sizeof(path), notdkim, "/verify");
	call(token, "POST", path, NULL, 400, "is not a DKIM key record: found \"v=spf1 -all\"",
	     NULL);

	/* What the list says now. */
	call(token, "GET", "/api/v1/settings/domains", NULL, 200, NULL, &a);
	for (size_t i = 0; i < json_object_array_length(a.json); i++) {
		json_object *d = json_object_array_get_idx(a.json, i);
		int is_good = strcmp(json_str(d, "id"), good) == 0;
		ck_assert_int_eq(json_object_get_boolean(json_object_object_get(d, "verified")),
				 is_good);
		ck_assert_ptr_nonnull(json_str(d, "last_checked_at"));
		if (!is_good)
			ck_assert_ptr_nonnull(strstr(json_str(d, "last_check_error"),
						     json_str(record(d, "dkim"), "name")));
	}
	http_answer_free(&a);

	/* DNS down: 503, and the domain stays verified. */
	e2e_dns_stop();
	path_of(path, sizeof(path), good, "/verify");
	call(token, "POST", path, NULL, 503, "did not answer", NULL);
	path_of(path, sizeof(path), good, NULL);
	call(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "verified")));
	ck_assert_ptr_nonnull(strstr(json_str(a.json, "last_check_error"), "did not answer"));
	http_answer_free(&a);

	/* The record taken away: the next check unverifies it. */
	e2e_dns_start(NULL);
	path_of(path, sizeof(path), good, "/verify");
	call(token, "POST", path, NULL, 400, "No DKIM record", NULL);
	path_of(path, sizeof(path), good, NULL);
	call(token, "GET", path, NULL, 200, NULL, &a);
	ck_assert(!json_object_get_boolean(json_object_object_get(a.json, "verified")));
	ck_assert(json_object_is_type(json_object_object_get(a.json, "verified_at"), json_type_null));
	http_answer_free(&a);
	/* And back. */
	strbuf_reset(&conf);
	publish(&conf, ga.json);
	e2e_dns_start(conf.buf);
	path_of(path, sizeof(path), good, "/verify");
	call(token, "POST", path, NULL, 200, NULL, NULL);
	e2e_dns_stop();

	http_answer_free(&ga);
	http_answer_free(&wa);
	http_answer_free(&na);
	strbuf_free(&conf);
}
END_TEST

START_TEST(at_most_twenty_per_account)
{
	char token[4096], uid[40], domain[160], body[256];

	e2e_new_tenant("limit", token, sizeof(token));
	e2e_user_id(token, uid);
	/* Twenty rows straight in (twenty key pairs would take a while). */
	for (int i = 0; i < DOMAINS_PER_ACCOUNT; i++) {
		char name[64];
		const char *p[2] = { uid, name };
		snprintf(name, sizeof(name), "d%d.limit.example", i);
		ck_assert_int_eq(e2e_owner_value("INSERT INTO sender_domains (user_id, domain,"
						 " dkim_selector, dkim_public_key,"
						 " dkim_private_key_sealed)"
						 " VALUES ($1, $2, 'fs0000000000', 'MIIB', 'v1:x')"
						 " RETURNING 1",
						 2, p),
				 1);
	}
	unique_domain("limit", domain, sizeof(domain));
	snprintf(body, sizeof(body), "{\"domain\":\"%s\"}", domain);
	call(token, "POST", "/api/v1/settings/domains", body, 400, "at most 20 sender domains", NULL);
}
END_TEST

/* A message as the delivery path builds it from a choice, signed when the
 * choice has a signer, judged by libopendkim with the keys in key_file. */
static struct dkim_check_result send_as(const struct sender_choice *c, const char *key_file)
{
	struct mail_message m = { 0 };
	struct strbuf msg = STRBUF_INIT, out = STRBUF_INIT;
	struct dkim_check_result r;

	m.from_name = c->from_name;
	m.from_email = c->from_email;
	m.reply_to = c->reply_to;
	m.to_email = "ann@example.com";
	m.subject = "Hello";
	m.html = "<p>Hello</p>";
	m.html_len = strlen(m.html);
	m.text = "Hello";
	m.text_len = 5;
	m.message_id = "<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee@flowsend.example>";
	m.outbox_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
	m.date = 1764599230;
	ck_assert_int_eq(mail_message_build(&m, &msg), 0);
	if (c->signer)
		ck_assert_int_eq(dkim_signer_sign(c->signer, msg.buf, msg.len, m.date, &out), 0);
	strbuf_append(&out, msg.buf, msg.len);
	ck_assert_int_eq(dkim_check(out.buf, out.len, key_file, &r), 0);
	strbuf_free(&msg);
	strbuf_free(&out);
	return r;
}

/* The key-file line libopendkim's file query method reads for a domain. */
static void key_line(FILE *f, json_object *domain)
{
	struct strbuf v = STRBUF_INIT;

	dkim_value(domain, &v);
	fprintf(f, "%s %s\n", json_str(record(domain, "dkim"), "name"), v.buf);
	strbuf_free(&v);
}

START_TEST(sender_choice_signs_with_the_verified_domain)
{
	char a_token[4096], b_token[4096], a_uid[40], b_uid[40], vid[40], uid_[40], dv[160],
		du[160], sub[200], addr[256], path[256], err[256];
	char key_file[] = "/tmp/fs-e2e-dkim-keys-XXXXXX", pem_file[] = "/tmp/fs-e2e-dkim-pem-XXXXXX";
	struct http_answer va, ua;
	struct strbuf conf = STRBUF_INIT, priv = STRBUF_INIT, pub = STRBUF_INIT;
	struct e2e_env e;
	struct fs_config cfg;
	struct senders *snd, *plain;
	struct sender_choice c;
	struct dkim_check_result r;
	long lookups, loads;
	FILE *f;
	int fd;

	e2e_new_tenant("sender-a", a_token, sizeof(a_token));
	e2e_new_tenant("sender-b", b_token, sizeof(b_token));
	e2e_user_id(a_token, a_uid);
	e2e_user_id(b_token, b_uid);
	unique_domain("verified", dv, sizeof(dv));
	unique_domain("unverified", du, sizeof(du));
	add_domain(a_token, dv, vid, &va);
	add_domain(a_token, du, uid_, &ua);
	snprintf(addr, sizeof(addr), "{\"domain\":\"%s\"}", dv);
	call(b_token, "POST", "/api/v1/settings/domains", addr, 201, NULL, NULL);
	publish(&conf, va.json);
	e2e_dns_start(conf.buf);
	path_of(path, sizeof(path), vid, "/verify");
	call(a_token, "POST", path, NULL, 200, NULL, NULL);
	e2e_dns_stop();

	/* FlowSend's own key, as FLOWSEND_DKIM_* name it. */
	ck_assert_int_eq(dkim_keygen(2048, &priv, &pub), 0);
	fd = mkstemp(pem_file);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, priv.buf, priv.len), (ssize_t)priv.len);
	close(fd);
	fd = mkstemp(key_file);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	key_line(f, va.json);
	key_line(f, ua.json);
	fprintf(f, "global._domainkey.flowsend-global.example v=DKIM1; k=rsa; p=%s\n", pub.buf);
	fclose(f);

	e2e_env_open(&e, a_uid, "free");
	cfg = e.cfg;
	cfg.dkim_domain = "flowsend-global.example";
	cfg.dkim_selector = "global";
	cfg.dkim_key_file = pem_file;
	snd = senders_new(&cfg, err, sizeof(err));
	ck_assert_msg(snd != NULL, "%s", err);
	ck_assert_str_eq(dkim_signer_domain(senders_global(snd)), "flowsend-global.example");

	/* The verified domain: its own address and key. */
	snprintf(addr, sizeof(addr), "news@%s", dv);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c), 0);
	ck_assert(c.own_domain);
	ck_assert_str_eq(c.from_email, addr);
	ck_assert_str_eq(c.from_name, "Shop");
	ck_assert_ptr_null(c.reply_to);
	ck_assert_str_eq(dkim_signer_domain(c.signer), dv);
	r = send_as(&c, key_file);
	ck_assert_msg(r.pass, "%s", r.detail);
	ck_assert_str_eq(r.domain, dv);
	/* A subdomain of it, in any case: signed d=<verified> (relaxed alignment). */
	snprintf(sub, sizeof(sub), "News@Mail.%s", dv);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", sub, "help@x.example",
					&c),
			 0);
	ck_assert(c.own_domain);
	ck_assert_str_eq(c.from_email, sub);
	ck_assert_str_eq(c.reply_to, "help@x.example");
	r = send_as(&c, key_file);
	ck_assert_msg(r.pass, "%s", r.detail);
	ck_assert_str_eq(r.domain, dv);

	/* The unverified domain: FlowSend's address with the tenant's name,
	 * replies to the tenant, FlowSend's key. */
	snprintf(addr, sizeof(addr), "news@%s", du);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c), 0);
	ck_assert(!c.own_domain);
	ck_assert_str_eq(c.from_email, "noreply@flowsend.local");
	ck_assert_str_eq(c.from_name, "Shop");
	ck_assert_str_eq(c.reply_to, addr);
	r = send_as(&c, key_file);
	ck_assert_msg(r.pass, "%s", r.detail);
	ck_assert_str_eq(r.domain, "flowsend-global.example");
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr,
					"help@x.example", &c),
			 0);
	ck_assert_str_eq(c.reply_to, "help@x.example");

	/* Another tenant that added the same domain without verifying it. */
	snprintf(addr, sizeof(addr), "news@%s", dv);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, b_uid, "B", addr, NULL, &c), 0);
	ck_assert(!c.own_domain);
	ck_assert_str_eq(c.from_email, "noreply@flowsend.local");
	ck_assert(c.signer == senders_global(snd));

	/* No sender settings: FlowSend's name and address, no Reply-To. */
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, NULL, NULL, NULL, &c), 0);
	ck_assert_str_eq(c.from_name, "FlowSend");
	ck_assert_str_eq(c.from_email, "noreply@flowsend.local");
	ck_assert_ptr_null(c.reply_to);

	/* The key was opened and parsed once, whatever the number of messages. */
	for (int i = 0; i < 200; i++) {
		snprintf(addr, sizeof(addr), "n%d@%s", i, dv);
		ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c),
				 0);
		ck_assert(c.own_domain);
	}
	senders_stats(snd, &lookups, &loads);
	ck_assert_int_eq(loads, 1);
	ck_assert_int_ge(lookups, 200);

	/* Deleted: once the answer is stale, the global address again. */
	path_of(path, sizeof(path), vid, NULL);
	call(a_token, "DELETE", path, NULL, 204, NULL, NULL);
	snprintf(addr, sizeof(addr), "news@%s", dv);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c), 0);
	ck_assert(c.own_domain); /* still trusted for SENDERS_TTL_SECONDS */
	senders_set_ttl(snd, 0);
	ck_assert_int_eq(senders_choose(snd, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c), 0);
	ck_assert(!c.own_domain);
	senders_sweep(snd);
	senders_free(snd);

	/* Without a global key: the same choice, unsigned. */
	plain = senders_new(&e.cfg, err, sizeof(err));
	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_null(senders_global(plain));
	snprintf(addr, sizeof(addr), "news@%s", du);
	ck_assert_int_eq(senders_choose(plain, &e.sysdb, &e.arena, a_uid, "Shop", addr, NULL, &c), 0);
	ck_assert_ptr_null(c.signer);
	ck_assert_str_eq(c.from_email, "noreply@flowsend.local");
	r = send_as(&c, key_file);
	ck_assert(!r.pass);
	senders_free(plain);

	/* A global key configured but unusable: the worker must not start. */
	cfg.dkim_key_file = "/nonexistent/dkim.pem";
	ck_assert_ptr_null(senders_new(&cfg, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dkim.pem"));
	cfg.dkim_key_file = "";
	ck_assert_ptr_null(senders_new(&cfg, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "go together"));

	e2e_env_close(&e);
	unlink(key_file);
	unlink(pem_file);
	http_answer_free(&va);
	http_answer_free(&ua);
	strbuf_free(&conf);
	strbuf_free(&priv);
	strbuf_free(&pub);
}
END_TEST

static void setup(void)
{
	strbuf_init(&answers);
}

static void teardown(void)
{
	e2e_dns_stop();
	strbuf_free(&answers);
}

Suite *domains_suite(void)
{
	Suite *s = suite_create("domains");
	TCase *tc = tcase_create("domains");

	/* Each POST makes a 2048-bit key pair. */
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, routes_and_shapes);
	tcase_add_test(tc, hostile_domains_are_refused);
	tcase_add_test(tc, tenants_are_isolated);
	tcase_add_test(tc, private_key_is_sealed_and_never_shown);
	tcase_add_test(tc, verification_through_dns);
	tcase_add_test(tc, at_most_twenty_per_account);
	tcase_add_test(tc, sender_choice_signs_with_the_verified_domain);
	suite_add_tcase(s, tc);
	return s;
}
