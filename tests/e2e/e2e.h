/* End-to-end tests: real HTTP through nginx to the responders, against the
 * test instance's PostgreSQL and Redis (scripts/test.sh starts them). */
#ifndef FS_E2E_H
#define FS_E2E_H

#include <check.h>
#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/env.h"
#include "db/db.h"
#include "queue/redis.h"

struct http_answer {
	long status;
	char *body;
	size_t len;
	char *headers;      /* raw response header block */
	json_object *json;  /* parsed body when it is JSON, else NULL */
};

/* FLOWSEND_TEST_URL, e.g. http://127.0.0.1:18080 */
const char *e2e_base(void);
/* The folder with the fs-* responder binaries (FLOWSEND_TEST_BIN). */
const char *e2e_bin(void);
/* Send one request; headers is a NULL-terminated list of "Name: value" or NULL.
 * Returns 0, or -1 when no HTTP answer came. */
int http_call(const char *method, const char *path, const char *const *headers,
	      const char *body, size_t body_len, struct http_answer *out);
void http_answer_free(struct http_answer *a);
/* The answer's header value (case-insensitive name) copied into buf, or NULL. */
const char *http_header(const struct http_answer *a, const char *name, char *buf, size_t size);
/* The string "detail" of a JSON error answer, or NULL. */
const char *http_detail(const struct http_answer *a);

/* A fresh address nobody registered yet: prefix + random + @example.com. */
void e2e_unique_email(const char *prefix, char *out, size_t size);
/* Register (asserting 201) and copy both tokens out. */
void e2e_register(const char *email, const char *password, char *access, size_t asize,
		  char *refresh, size_t rsize);
/* A request with "Authorization: Bearer <token>" (token NULL: none). */
/* Call send(items + i * size) for every i < n from threads threads released
 * together, each taking the next item until none is left: the requests
 * reach nginx at once. send runs off the test's thread: no ck_assert there;
 * it records what it got for the test to check afterwards. */
void e2e_race(void *items, size_t n, size_t size, int threads, void (*send)(void *item));
int http_bearer(const char *method, const char *path, const char *token, const char *body,
		struct http_answer *out);
/* A request with "X-API-Key: <key>". */
int http_key(const char *method, const char *path, const char *key, const char *body,
	     struct http_answer *out);
/* Send with a bearer token (NULL: none) and assert the status and, when
 * detail_part is set, that the detail contains it. With out, the answer is
 * handed over for more checks (the caller frees it). */
void e2e_expect(const char *token, const char *method, const char *path, const char *body,
		long status, const char *detail_part, struct http_answer *out);
/* Register a fresh tenant and copy its access token. */
void e2e_new_tenant(const char *prefix, char *token, size_t size);
/* Run sql as the schema owner (no row-level security); the first column of
 * the first row as a number, or -1 when there is none. */
long long e2e_owner_value(const char *sql, int nparams, const char *const *params);
/* The tests' SMTP sink (tests/e2e/sink.c): started on port, storing what it
 * receives in dir (emptied first); extra: more words for its command line
 * (--tls-port, chosen replies), or NULL. */
struct e2e_sink {
	pid_t pid;
	int port, tls_port;
	char dir[512];
};
void e2e_sink_start(struct e2e_sink *s, const char *dir, int port, const char *extra);
void e2e_sink_stop(struct e2e_sink *s);
int e2e_port_open(int port);
/* Waits until something listens on the port, up to 30 s (a stand-in's start
 * on a loaded machine): 1 when it does. */
int e2e_wait_port(int port);
/* Debian's python3 when present: a version manager's shim in PATH can take
 * seconds to start under load. */
const char *e2e_python(void);
/* How many stored messages went to addr (case-insensitive) and hold needle
 * (NULL: any); the last one's text into *raw when raw is given (the caller
 * frees it). */
int e2e_sink_find(const struct e2e_sink *s, const char *addr, const char *needle, char **raw);
/* A whole file, NUL-terminated (its length into *len when len is not NULL); NULL when unreadable. */
char *e2e_slurp(const char *path, size_t *len);
/* Each campaign counter equals the count of its events: pairs of {event_type,
 * counter column}, n of them. */
void e2e_counters_match_events(const char *campaign_id, const char *const (*pairs)[2], size_t n);
/* Same, the first column of the first row as text copied into out, or NULL. */
const char *e2e_owner_text(const char *sql, int nparams, const char *const *params, char *out,
			   size_t size);
/* Stop (pause = 1) or continue the test instance's batch worker, so a test
 * can drive delivery itself with e2e_run_batch. */
void e2e_pause_worker(int pause);
/* Run flowsend-batch --once with extra arguments; its exit status. */
int e2e_run_batch(const char *extra_args);
/* The tenant's user id (36 characters and a NUL into out), from /auth/me. */
const char *e2e_user_id(const char *token, char *out);
/* Put the tenant on plan (owner SQL) and wait until /auth/me shows it. */
void e2e_set_plan(const char *token, const char *plan);
/* What a service needs, built the way flowsend-batch builds it: its own
 * connections (tenant and system roles, Redis) and arena, no HTTP at all. */
struct e2e_env {
	struct fs_config cfg;
	struct arena arena;
	struct fs_db db, sysdb;
	struct fs_redis redis;
	struct fs_env env;
};
/* Open one for the tenant user_id on plan; close it with e2e_env_close. */
void e2e_env_open(struct e2e_env *e, const char *user_id, const char *plan);
void e2e_env_close(struct e2e_env *e);
/* Start dnsmasq on FLOWSEND_DNS_SERVER's port (tests/e2e/dns.c) answering
 * for *.example from records, dnsmasq configuration lines (NULL: none; only
 * its own probe name); waits until it answers. Stops the one running. */
void e2e_dns_start(const char *records);
void e2e_dns_stop(void);
/* Append a txt-record line for name with n strings (quoted for dnsmasq). */
struct strbuf;
void e2e_dns_txt_line(struct strbuf *conf, const char *name, const char *const *strings,
		      size_t n);
/* A string member of the answer's JSON object, or NULL. */
const char *json_str(json_object *o, const char *key);

Suite *health_suite(void);
Suite *accounts_suite(void);
Suite *contacts_suite(void);
Suite *lists_suite(void);
Suite *transfer_suite(void);
Suite *openapi_suite(void);
Suite *errors_suite(void);
Suite *database_suite(void);
Suite *templates_suite(void);
Suite *campaigns_suite(void);
Suite *security_suite(void);
Suite *login_guard_suite(void);
Suite *logs_suite(void);
Suite *services_suite(void);
Suite *edge_suite(void);
Suite *concurrency_suite(void);
Suite *delivery_suite(void);
Suite *unsubscribe_suite(void);
Suite *domains_suite(void);
Suite *tracking_suite(void);
Suite *bounces_suite(void);
Suite *review_suite(void);
Suite *flow_engine_suite(void);
Suite *flows_suite(void);
Suite *outbound_webhooks_suite(void);
Suite *forms_suite(void);
Suite *billing_suite(void);
Suite *analytics_suite(void);
Suite *stripe_suite(void);
Suite *queue_plans_suite(void);
Suite *batched_creates_suite(void);

#endif
