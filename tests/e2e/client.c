/* A small libcurl client for the end-to-end tests. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "db/db.h"
#include "e2e.h"
#include "json/json.h"

const char *e2e_base(void)
{
	const char *u = getenv("FLOWSEND_TEST_URL");
	return u ? u : "http://127.0.0.1:18080";
}

const char *e2e_bin(void)
{
	const char *b = getenv("FLOWSEND_TEST_BIN");
	return b ? b : "build/bin";
}

static size_t collect(char *data, size_t size, size_t n, void *sb)
{
	strbuf_append(sb, data, size * n);
	return size * n;
}

int http_call(const char *method, const char *path, const char *const *headers,
	      const char *body, size_t body_len, struct http_answer *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct strbuf b = STRBUF_INIT, h = STRBUF_INIT;
	char url[8192];
	CURLcode rc;
	char err[64];

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	snprintf(url, sizeof(url), "%s%s", e2e_base(), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	for (const char *const *p = headers; p && *p; p++)
		hl = curl_slist_append(hl, *p);
	if (body && !headers)
		hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		strbuf_free(&b);
		strbuf_free(&h);
		return -1;
	}
	strbuf_append(&b, "", 0);
	strbuf_append(&h, "", 0);
	out->body = b.buf;
	out->len = b.len;
	out->headers = h.buf;
	if (out->len)
		out->json = fs_json_parse(out->body, out->len, err, sizeof(err));
	return 0;
}

void http_answer_free(struct http_answer *a)
{
	free(a->body);
	free(a->headers);
	json_object_put(a->json);
	memset(a, 0, sizeof(*a));
}

const char *http_header(const struct http_answer *a, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	const char *line = a->headers;

	while (line && *line) {
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t len = (size_t)(eol - v);
			if (len >= size)
				len = size - 1;
			memcpy(buf, v, len);
			buf[len] = '\0';
			return buf;
		}
		line = eol + 2;
	}
	return NULL;
}

const char *http_detail(const struct http_answer *a)
{
	json_object *d;

	if (!a->json || !json_object_object_get_ex(a->json, "detail", &d) ||
	    !json_object_is_type(d, json_type_string))
		return NULL;
	return json_object_get_string(d);
}

void e2e_unique_email(const char *prefix, char *out, size_t size)
{
	static unsigned counter;
	unsigned char r[6];
	char hex[13];

	random_bytes(r, sizeof(r));
	hex_encode(r, sizeof(r), hex);
	snprintf(out, size, "%s-%s-%u@example.com", prefix, hex, counter++);
}

const char *json_str(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void e2e_register(const char *email, const char *password, char *access, size_t asize,
		  char *refresh, size_t rsize)
{
	char body[512];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	ck_assert_int_eq(http_call("POST", "/api/v1/auth/register", NULL, body, strlen(body), &a), 0);
	ck_assert_msg(a.status == 201, "register %s: %ld %s", email, a.status, a.body);
	if (access)
		snprintf(access, asize, "%s", json_str(a.json, "access_token"));
	if (refresh)
		snprintf(refresh, rsize, "%s", json_str(a.json, "refresh_token"));
	http_answer_free(&a);
}

static int http_with(const char *method, const char *path, const char *header, const char *body,
		     struct http_answer *out)
{
	const char *headers[] = { header, "Content-Type: application/json", NULL };
	return http_call(method, path, header ? headers : headers + 1, body, body ? strlen(body) : 0,
			 out);
}

int http_bearer(const char *method, const char *path, const char *token, const char *body,
		struct http_answer *out)
{
	char h[4200];
	if (!token)
		return http_with(method, path, NULL, body, out);
	snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
	return http_with(method, path, h, body, out);
}

int http_key(const char *method, const char *path, const char *key, const char *body,
	     struct http_answer *out)
{
	char h[512];
	snprintf(h, sizeof(h), "X-API-Key: %s", key);
	return http_with(method, path, h, body, out);
}

void e2e_expect(const char *token, const char *method, const char *path, const char *body,
		long status, const char *detail_part, struct http_answer *out)
{
	struct http_answer a;

	ck_assert_msg(http_bearer(method, path, token, body, &a) == 0, "%s %s: no answer", method, path);
	ck_assert_msg(a.status == status, "%s %s %.300s: want %ld, got %ld: %.500s", method, path,
		      body ? body : "", status, a.status, a.body);
	if (detail_part)
		ck_assert_msg(http_detail(&a) && strstr(http_detail(&a), detail_part),
			      "%s %s: want '%s' in %.500s", method, path, detail_part, a.body);
	if (out)
		*out = a;
	else
		http_answer_free(&a);
}

void e2e_new_tenant(const char *prefix, char *token, size_t size)
{
	char email[128];

	e2e_unique_email(prefix, email, sizeof(email));
	e2e_register(email, "tenant-password-1", token, size, NULL, 0);
}

const char *e2e_owner_text(const char *sql, int nparams, const char *const *params, char *out,
			   size_t size)
{
	struct fs_config cfg;
	struct fs_db owner;
	struct arena arena;
	char err[256];
	const char *ret = NULL;
	PGresult *r;

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	arena_init(&arena, 0);
	db_init(&owner, cfg.database_migrate_url);
	r = db_query(&owner, &arena, sql, nparams, params);
	ck_assert_msg(r != NULL, "owner query failed: %s", sql);
	if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
		ret = out;
	}
	db_close(&owner);
	arena_destroy(&arena);
	return ret;
}

long long e2e_owner_value(const char *sql, int nparams, const char *const *params)
{
	char text[64];
	return e2e_owner_text(sql, nparams, params, text, sizeof(text)) ? strtoll(text, NULL, 10) : -1;
}

/* The stack's batch worker, by its pid file. */
static pid_t worker_pid(void)
{
	char path[256];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/pid/batch.pid",
		 getenv("FLOWSEND_TEST_STATE") ? getenv("FLOWSEND_TEST_STATE") : "/var/tmp/flowsend-18080");
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

void e2e_pause_worker(int pause)
{
	pid_t pid = worker_pid();

	ck_assert_msg(pid > 0, "no batch worker pid file");
	/* The worker runs one process per core in its own process group. */
	ck_assert_int_eq(kill(-pid, pause ? SIGSTOP : SIGCONT), 0);
}

int e2e_run_batch(const char *extra_args)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s/flowsend-batch --once %s >>/tmp/flowsend-e2e-batch.log 2>&1",
		 e2e_bin(), extra_args ? extra_args : "");
	return system(cmd);
}

const char *e2e_user_id(const char *token, char *out)
{
	struct http_answer a;

	e2e_expect(token, "GET", "/api/v1/auth/me", NULL, 200, NULL, &a);
	snprintf(out, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	return out;
}

void e2e_set_plan(const char *token, const char *plan)
{
	char uid[40];
	const char *p[2] = { plan, e2e_user_id(token, uid) };

	ck_assert_int_eq(e2e_owner_value("UPDATE users SET plan = $1 WHERE id = $2 RETURNING 1", 2, p),
			 1);
	/* The responders learn of it by NOTIFY, within moments: wait until they have. */
	for (int i = 0; i < 50; i++) {
		struct http_answer a;
		int seen;
		e2e_expect(token, "GET", "/api/v1/auth/me", NULL, 200, NULL, &a);
		seen = strcmp(json_str(a.json, "plan"), plan) == 0;
		http_answer_free(&a);
		if (seen)
			return;
		usleep(100000);
	}
	ck_abort_msg("the plan change never reached the responders");
}

void e2e_env_open(struct e2e_env *e, const char *user_id, const char *plan)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(fs_config_load(&e->cfg, err, sizeof(err)), 0);
	arena_init(&e->arena, 0);
	db_init(&e->db, e->cfg.database_url);
	db_init(&e->sysdb, e->cfg.database_system_url);
	fs_redis_init(&e->redis, e->cfg.redis_url);
	e->env.arena = &e->arena;
	e->env.cfg = &e->cfg;
	e->env.db = &e->db;
	e->env.sysdb = &e->sysdb;
	e->env.redis = &e->redis;
	e->env.user_id = user_id;
	e->env.auth.user_id = user_id;
	e->env.auth.plan = plan;
	e->env.request_id = "e2e";
	e->env.client_addr = "";
}

void e2e_env_close(struct e2e_env *e)
{
	db_close(&e->db);
	db_close(&e->sysdb);
	fs_redis_close(&e->redis);
	arena_destroy(&e->arena);
}

void e2e_counters_match_events(const char *campaign_id, const char *const (*pairs)[2], size_t n)
{
	const char *p[1] = { campaign_id };

	for (size_t i = 0; i < n; i++) {
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT %s FROM campaigns WHERE id = $1) - (SELECT count(*) FROM"
			 " email_events WHERE campaign_id = $1 AND event_type = '%s')",
			 pairs[i][1], pairs[i][0]);
		ck_assert_msg(e2e_owner_value(sql, 1, p) == 0, "%s differs from its events", pairs[i][1]);
	}
}

struct race {
	pthread_mutex_t mu;
	pthread_cond_t go;
	int released;
	unsigned char *items;
	size_t n, next, size;
	void (*send)(void *item);
};

static void *race_thread(void *arg)
{
	struct race *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->released)
		pthread_cond_wait(&r->go, &r->mu);
	pthread_mutex_unlock(&r->mu);
	for (;;) {
		void *item;

		pthread_mutex_lock(&r->mu);
		item = r->next < r->n ? r->items + r->next++ * r->size : NULL;
		pthread_mutex_unlock(&r->mu);
		if (!item)
			break;
		r->send(item);
	}
	return NULL;
}

void e2e_race(void *items, size_t n, size_t size, int threads, void (*send)(void *item))
{
	struct race r = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, items, n, 0, size,
			  send };
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < threads; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race_thread, &r), 0);
	pthread_mutex_lock(&r.mu);
	r.released = 1;
	pthread_cond_broadcast(&r.go);
	pthread_mutex_unlock(&r.mu);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
}
