/* Outbound webhooks end to end (issue 21): a receiver the tests run on the
 * allowed loopback port, deliveries by flowsend-batch --once, signatures
 * checked with the secret the API shows, retries, refusals, the events of a
 * real send, and tenant isolation on every route. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/strbuf.h"
#include "e2e.h"
#include "services/webhooks.h"

#define WELCOME_TEMPLATE "00000000-0000-4000-8000-000000000001"
#define HITS_MAX 512

struct hit {
	char path[256];
	char sig[300];
	char *body;
};

static struct {
	int fd, port;
	pthread_mutex_t mu;
	struct hit hits[HITS_MAX];
	int n;
} rx = { .fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

/* The receiver's port: the one FLOWSEND_WEBHOOK_ALLOW lets through. */
static int rx_port(void)
{
	const char *allow = getenv("FLOWSEND_WEBHOOK_ALLOW");
	const char *colon = allow ? strrchr(allow, ':') : NULL;

	ck_assert_msg(colon, "FLOWSEND_WEBHOOK_ALLOW is not 127.0.0.1:<port>");
	return atoi(colon + 1);
}

static int header_value(const char *head, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);

	for (const char *p = head; p && *p; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end = strstr(v, "\r\n");
			size_t len;
			while (*v == ' ')
				v++;
			len = end ? (size_t)(end - v) : strlen(v);
			if (len >= size)
				len = size - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return 1;
		}
	}
	return 0;
}

static int seen_path(const char *path)
{
	int k = 0;

	for (int i = 0; i < rx.n; i++)
		k += strcmp(rx.hits[i].path, path) == 0;
	return k;
}

/* One request per connection; the answer depends on the path. */
static void *rx_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536], path[256] = "", sig[300] = "", clen[32] = "";
	size_t got = 0;
	char *end = NULL, *body;
	long want = 0;
	int prior;
	const char *answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

	while (got < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			header_value(buf, "Content-Length", clen, sizeof(clen));
			want = atol(clen);
		}
		if (end && (long)(got - (size_t)(end + 4 - buf)) >= want)
			break;
	}
	if (!end) {
		close(fd);
		return NULL;
	}
	*end = '\0';
	sscanf(buf, "POST %255s", path);
	header_value(buf, "X-FlowSend-Signature", sig, sizeof(sig));
	body = strndup(end + 4, (size_t)want);
	pthread_mutex_lock(&rx.mu);
	prior = seen_path(path);
	if (rx.n < HITS_MAX) {
		snprintf(rx.hits[rx.n].path, sizeof(rx.hits[rx.n].path), "%s", path);
		snprintf(rx.hits[rx.n].sig, sizeof(rx.hits[rx.n].sig), "%s", sig);
		rx.hits[rx.n++].body = body;
	} else {
		free(body);
	}
	pthread_mutex_unlock(&rx.mu);
	if (strstr(path, "/500"))
		answer = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	else if (strstr(path, "/400"))
		answer = "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	else if (strstr(path, "/flaky") && prior == 0)
		answer = "HTTP/1.1 503 Later\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	else if (strstr(path, "/redirect"))
		answer = "HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/inside\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n";
	else if (strstr(path, "/slow"))
		usleep(1500 * 1000);
	if (send(fd, answer, strlen(answer), MSG_NOSIGNAL) < 0) {
		/* the caller gave up (a timeout): fine */
	}
	close(fd);
	return NULL;
}

static void *rx_loop(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t t;
		int c = accept(rx.fd, NULL, NULL);
		if (c < 0)
			return NULL;
		if (pthread_create(&t, NULL, rx_conn, (void *)(long)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
}

static void rx_start(void)
{
	struct sockaddr_in sa;
	pthread_t t;
	int one = 1;

	rx.port = rx_port();
	rx.fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(rx.fd, 0);
	setsockopt(rx.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)rx.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(rx.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(rx.fd, 64), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, rx_loop, NULL), 0);
	pthread_detach(t);
}

static int rx_count(const char *path)
{
	int k;

	pthread_mutex_lock(&rx.mu);
	k = seen_path(path);
	pthread_mutex_unlock(&rx.mu);
	return k;
}

/* The i-th hit at path (0-based), or NULL. */
static const struct hit *rx_hit(const char *path, int i)
{
	const struct hit *h = NULL;

	pthread_mutex_lock(&rx.mu);
	for (int k = 0; k < rx.n && !h; k++)
		if (strcmp(rx.hits[k].path, path) == 0 && i-- == 0)
			h = &rx.hits[k];
	pthread_mutex_unlock(&rx.mu);
	return h;
}

static void url_of(const char *path, char *out, size_t size)
{
	snprintf(out, size, "http://127.0.0.1:%d%.200s", rx.port, path);
}

/* A unique path under the receiver for one test. */
static void path_of(const char *name, char *out, size_t size)
{
	static int serial;

	snprintf(out, size, "/t%d-%d/%s", (int)getpid(), serial++, name);
}

static void endpoint(const char *token, const char *url, const char *events, char *id)
{
	char body[1024];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"url\":\"%.300s\",\"events\":%.600s}", url, events);
	e2e_expect(token, "POST", "/api/v1/webhooks/endpoints", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void contact(const char *token, const char *email, char *id)
{
	char body[256];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"email\":\"%.200s\"}", email);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	if (id)
		snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void secret_of(const char *token, char *out)
{
	struct http_answer a;

	e2e_expect(token, "GET", "/api/v1/settings/webhook-secret", NULL, 200, NULL, &a);
	snprintf(out, 65, "%s", json_str(a.json, "webhook_secret"));
	http_answer_free(&a);
}

/* The n-th "sha256=<hex>" value of a signature header equals the HMAC of body. */
static int signed_with(const char *sig, int n, const char *secret, const char *body)
{
	char hex[SHA256_HEX_LEN + 1];
	const char *p = sig;

	for (int i = 0; i < n && p; i++)
		if ((p = strchr(p, ',')))
			p++;
	if (!p || strncmp(p, "sha256=", 7) != 0)
		return 0;
	hmac_sha256_hex(secret, strlen(secret), body, strlen(body), hex);
	return strncmp(p + 7, hex, SHA256_HEX_LEN) == 0 &&
	       (p[7 + SHA256_HEX_LEN] == '\0' || p[7 + SHA256_HEX_LEN] == ',');
}

static void batch(void)
{
	ck_assert_int_eq(e2e_run_batch(NULL), 0);
}

/* Deliveries of an endpoint: the answer's total; items into *out when given. */
static long long deliveries(const char *token, const char *id, struct http_answer *out)
{
	char path[160];
	struct http_answer a;
	long long total;

	snprintf(path, sizeof(path), "/api/v1/webhooks/endpoints/%s/deliveries?page_size=100", id);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	total = json_object_get_int64(json_object_object_get(a.json, "total"));
	if (out)
		*out = a;
	else
		http_answer_free(&a);
	return total;
}

static const char *item_str(const struct http_answer *a, int i, const char *key)
{
	json_object *items = json_object_object_get(a->json, "items");
	return json_str(json_object_array_get_idx(items, (size_t)i), key);
}

static void quick_retries(const char *attempts)
{
	setenv("FLOWSEND_WEBHOOK_MAX_ATTEMPTS", attempts, 1);
	setenv("FLOWSEND_WEBHOOK_RETRY_BASE_MS", "0", 1);
	setenv("FLOWSEND_WEBHOOK_TIMEOUT_MS", "400", 1);
}

/* ---- the tests ---- */

START_TEST(endpoints_validate_refuse_inside_addresses_and_stay_tenant_scoped)
{
	char a[4096], b[4096], id[40], path[200], url[300], body[4096];
	struct http_answer ans;
	static const char *const refused[] = {
		"http://127.0.0.1/hook",          "http://127.0.0.1:1/hook",
		"http://10.0.0.1/hook",           "http://169.254.169.254/latest/meta-data",
		"http://[::1]/x",                 "http://[::ffff:127.0.0.1]/x",
		"http://[fe80::1]/x",             "http://[fd00:ec2::254]/x",
		"http://0x7f.1/x",                "http://2130706433/x",
		"http://017.0.0.1/x",             "http://224.0.0.1/x",
		"http://192.168.1.1/x",           "http://100.100.100.200/x",
		"ftp://example.com/x",            "http://user:pw@example.com/x",
		"http://exa mple.com/x",          "http://example.com:0/x",
		"http://example.com:65536/x",     "https://",
		"http://[::ffff:a9fe:a9fe]/x",    "http://0.0.0.0/x",
	};

	rx.port = rx_port();
	e2e_new_tenant("hooks-a", a, sizeof(a));
	e2e_new_tenant("hooks-b", b, sizeof(b));
	url_of("/crud", url, sizeof(url));
	snprintf(body, sizeof(body),
		 "{\"url\":\"%s\",\"events\":[\"contact.created\",\"email.clicked\","
		 "\"contact.created\"],\"description\":\"CRM\"}",
		 url);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints", body, 201, NULL, &ans);
	snprintf(id, sizeof(id), "%s", json_str(ans.json, "id"));
	ck_assert_str_eq(json_str(ans.json, "url"), url);
	ck_assert_str_eq(json_str(ans.json, "description"), "CRM");
	ck_assert_int_eq(json_object_array_length(json_object_object_get(ans.json, "events")), 2);
	ck_assert(json_object_get_boolean(json_object_object_get(ans.json, "is_active")));
	ck_assert_ptr_null(json_object_object_get(ans.json, "disabled_reason"));
	http_answer_free(&ans);

	/* Hostile values: 422 with a detail, never a 500. */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(body, sizeof(body), "{\"url\":\"%s\",\"events\":[\"campaign.sent\"]}",
			 refused[i]);
		e2e_expect(a, "POST", "/api/v1/webhooks/endpoints", body, 422, NULL, NULL);
	}
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/x\",\"events\":[]}", 422, NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/x\",\"events\":[\"contact.deleted\"]}", 422,
		   NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/x\",\"events\":\"contact.created\"}", 422, NULL,
		   NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":42,\"events\":[\"contact.created\"]}", 422, NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/\\u0000x\",\"events\":[\"contact.created\"]}", 422,
		   NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://ex\\u00e4mple.com/\",\"events\":[\"contact.created\"]}", 422,
		   NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints", "{\"events\":[\"contact.created\"]}",
		   422, NULL, NULL);
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://example.com/x\",\"events\":[\"contact.created\"],"
		   "\"description\":7}",
		   422, NULL, NULL);
	{
		struct strbuf big = STRBUF_INIT;
		strbuf_appends(&big, "{\"url\":\"https://example.com/");
		for (int i = 0; i < 3000; i++)
			strbuf_appendc(&big, 'a');
		strbuf_appends(&big, "\",\"events\":[\"contact.created\"]}");
		e2e_expect(a, "POST", "/api/v1/webhooks/endpoints", big.buf, 422, NULL, NULL);
		strbuf_free(&big);
	}
	/* Public names are accepted (their addresses are checked at each call). */
	e2e_expect(a, "POST", "/api/v1/webhooks/endpoints",
		   "{\"url\":\"https://hooks.example.com/in?x=1\",\"events\":[\"campaign.sent\"]}",
		   201, NULL, NULL);

	e2e_expect(a, "GET", "/api/v1/webhooks/endpoints?page_size=1", NULL, 200, NULL, &ans);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 2);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(ans.json, "items")), 1);
	http_answer_free(&ans);
	e2e_expect(a, "GET", "/api/v1/webhooks/endpoints?page_size=0", NULL, 422, NULL, NULL);

	/* Tenant B sees none of it, by list or by id. */
	e2e_expect(b, "GET", "/api/v1/webhooks/endpoints", NULL, 200, NULL, &ans);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 0);
	http_answer_free(&ans);
	snprintf(path, sizeof(path), "/api/v1/webhooks/endpoints/%s", id);
	e2e_expect(b, "GET", path, NULL, 404, "not found", NULL);
	e2e_expect(b, "PATCH", path, "{\"description\":\"mine\"}", 404, NULL, NULL);
	e2e_expect(b, "DELETE", path, NULL, 404, NULL, NULL);
	snprintf(path, sizeof(path), "/api/v1/webhooks/endpoints/%s/deliveries", id);
	e2e_expect(b, "GET", path, NULL, 404, NULL, NULL);
	e2e_expect(a, "GET", "/api/v1/webhooks/endpoints/not-a-uuid", NULL, 404, NULL, NULL);
	e2e_expect(a, "GET", "/api/v1/webhooks/endpoints/not-a-uuid/deliveries", NULL, 404, NULL,
		   NULL);
	e2e_expect(NULL, "GET", "/api/v1/webhooks/endpoints", NULL, 401, NULL, NULL);

	/* PATCH: fields one at a time; the URL is checked again. */
	snprintf(path, sizeof(path), "/api/v1/webhooks/endpoints/%s", id);
	e2e_expect(a, "PATCH", path, "{\"url\":\"http://10.0.0.1/\"}", 422, NULL, NULL);
	e2e_expect(a, "PATCH", path, "{\"events\":[\"campaign.sent\"],\"description\":null}", 200,
		   NULL, &ans);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(ans.json, "events")), 1);
	ck_assert_ptr_null(json_object_object_get(ans.json, "description"));
	ck_assert_str_eq(json_str(ans.json, "url"), url);
	http_answer_free(&ans);
	e2e_expect(a, "PATCH", path, "{\"is_active\":\"yes\"}", 422, NULL, NULL);
	e2e_expect(a, "PATCH", path, "{\"is_active\":false}", 200, NULL, &ans);
	ck_assert(!json_object_get_boolean(json_object_object_get(ans.json, "is_active")));
	http_answer_free(&ans);
	e2e_expect(a, "DELETE", path, NULL, 204, NULL, NULL);
	e2e_expect(a, "GET", path, NULL, 404, NULL, NULL);
}
END_TEST

START_TEST(webhook_secret_is_shown_rotated_and_scoped)
{
	char a[4096], b[4096], s1[65], s2[65], sb[65];
	struct http_answer ans;

	e2e_new_tenant("secret-a", a, sizeof(a));
	e2e_new_tenant("secret-b", b, sizeof(b));
	secret_of(a, s1);
	secret_of(b, sb);
	ck_assert_uint_eq(strlen(s1), 64);
	ck_assert_str_ne(s1, sb);
	e2e_expect(a, "GET", "/api/v1/settings/webhook-secret", NULL, 200, NULL, &ans);
	ck_assert_ptr_null(json_object_object_get(ans.json, "previous_secret_expires_at"));
	http_answer_free(&ans);
	e2e_expect(a, "POST", "/api/v1/settings/webhook-secret", NULL, 200, NULL, &ans);
	snprintf(s2, sizeof(s2), "%s", json_str(ans.json, "webhook_secret"));
	ck_assert_uint_eq(strlen(s2), 64);
	ck_assert_str_ne(s1, s2);
	ck_assert_ptr_nonnull(json_str(ans.json, "previous_secret_expires_at"));
	http_answer_free(&ans);
	secret_of(a, s1);
	ck_assert_str_eq(s1, s2);
	secret_of(b, s1);
	ck_assert_str_eq(s1, sb);
	e2e_expect(NULL, "POST", "/api/v1/settings/webhook-secret", NULL, 401, NULL, NULL);
}
END_TEST

START_TEST(deliveries_are_signed_ordered_retried_and_recorded)
{
	char tok[4096], secret[65], old[65], id_ok[40], id_500[40], id_400[40], id_slow[40];
	char id_flaky[40], id_redir[40], p_ok[200], p_500[200], p_400[200], p_slow[200];
	char p_flaky[200], p_redir[200], url[300], email[3][128];
	struct http_answer ans;
	const char *ev = "[\"contact.created\"]";

	e2e_pause_worker(1);
	rx_start();
	quick_retries("3");
	e2e_new_tenant("deliver", tok, sizeof(tok));
	path_of("ok", p_ok, sizeof(p_ok));
	path_of("500", p_500, sizeof(p_500));
	path_of("400", p_400, sizeof(p_400));
	path_of("slow", p_slow, sizeof(p_slow));
	path_of("flaky", p_flaky, sizeof(p_flaky));
	path_of("redirect", p_redir, sizeof(p_redir));
	url_of(p_ok, url, sizeof(url));
	endpoint(tok, url, ev, id_ok);
	url_of(p_500, url, sizeof(url));
	endpoint(tok, url, ev, id_500);
	url_of(p_400, url, sizeof(url));
	endpoint(tok, url, ev, id_400);
	url_of(p_slow, url, sizeof(url));
	endpoint(tok, url, ev, id_slow);
	url_of(p_flaky, url, sizeof(url));
	endpoint(tok, url, ev, id_flaky);
	url_of(p_redir, url, sizeof(url));
	endpoint(tok, url, ev, id_redir);
	for (int i = 0; i < 3; i++) {
		e2e_unique_email("order", email[i], sizeof(email[i]));
		contact(tok, email[i], NULL);
	}
	batch();

	/* In order, each once, signed with the secret the API shows. */
	secret_of(tok, secret);
	ck_assert_int_eq(rx_count(p_ok), 3);
	for (int i = 0; i < 3; i++) {
		const struct hit *h = rx_hit(p_ok, i);
		json_object *o = json_tokener_parse(h->body), *data, *c;
		ck_assert_ptr_nonnull(o);
		ck_assert_msg(signed_with(h->sig, 0, secret, h->body), "bad signature %s", h->sig);
		ck_assert_ptr_null(strchr(h->sig, ','));
		ck_assert_str_eq(json_str(o, "type"), "contact.created");
		ck_assert_uint_eq(strlen(json_str(o, "id")), 36);
		ck_assert_ptr_nonnull(json_str(o, "timestamp"));
		data = json_object_object_get(o, "data");
		c = json_object_object_get(data, "contact");
		ck_assert_str_eq(json_str(c, "email"), email[i]);
		json_object_put(o);
	}
	ck_assert_int_eq(deliveries(tok, id_ok, &ans), 3);
	ck_assert_str_eq(item_str(&ans, 0, "event_type"), "contact.created");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
				 json_object_array_get_idx(json_object_object_get(ans.json, "items"), 0),
				 "status_code")),
			 200);
	http_answer_free(&ans);

	/* 500: three tries of the first event, then the next ones, each tried
	 * three times too (the head blocks the rest while it is retried). */
	ck_assert_int_eq(rx_count(p_500), 9);
	ck_assert_int_eq(deliveries(tok, id_500, &ans), 9);
	ck_assert_str_eq(item_str(&ans, 0, "error"), "HTTP 500");
	http_answer_free(&ans);
	/* 400: no retry. */
	ck_assert_int_eq(rx_count(p_400), 3);
	ck_assert_int_eq(deliveries(tok, id_400, NULL), 3);
	/* Timeouts are retried. */
	ck_assert_int_eq(rx_count(p_slow), 9);
	ck_assert_int_eq(deliveries(tok, id_slow, &ans), 9);
	ck_assert_str_eq(item_str(&ans, 0, "error"), "Timed out");
	ck_assert_ptr_null(json_object_object_get(
		json_object_array_get_idx(json_object_object_get(ans.json, "items"), 0),
		"status_code"));
	http_answer_free(&ans);
	/* 503 once, then 200: the first event arrives on its second try, in order. */
	ck_assert_int_eq(rx_count(p_flaky), 4);
	{
		const struct hit *h0 = rx_hit(p_flaky, 0), *h1 = rx_hit(p_flaky, 1);
		json_object *o0 = json_tokener_parse(h0->body), *o1 = json_tokener_parse(h1->body);
		ck_assert_str_eq(json_str(o0, "id"), json_str(o1, "id"));
		json_object_put(o0);
		json_object_put(o1);
	}
	/* A redirect is not followed: one call each, the error says so. */
	ck_assert_int_eq(rx_count(p_redir), 3);
	ck_assert_int_eq(deliveries(tok, id_redir, &ans), 3);
	ck_assert_ptr_nonnull(strstr(item_str(&ans, 0, "error"), "Redirects are not followed"));
	http_answer_free(&ans);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events w JOIN users u"
					 " ON u.id = w.user_id WHERE u.email LIKE 'deliver%'"
					 " AND w.status = 'pending'",
					 0, NULL),
			 0);

	/* Rotation: both secrets sign for a day, the new one first. */
	snprintf(old, sizeof(old), "%s", secret);
	e2e_expect(tok, "POST", "/api/v1/settings/webhook-secret", NULL, 200, NULL, NULL);
	secret_of(tok, secret);
	e2e_unique_email("rotated", email[0], sizeof(email[0]));
	contact(tok, email[0], NULL);
	batch();
	ck_assert_int_eq(rx_count(p_ok), 4);
	{
		const struct hit *h = rx_hit(p_ok, 3);
		ck_assert_msg(signed_with(h->sig, 0, secret, h->body), "new secret: %s", h->sig);
		ck_assert_msg(signed_with(h->sig, 1, old, h->body), "old secret: %s", h->sig);
		ck_assert(!signed_with(h->sig, 0, old, h->body));
	}
	e2e_pause_worker(0);
}
END_TEST

START_TEST(inside_addresses_are_refused_at_call_time)
{
	char tok[4096], id_name[40], id_deep[40], url[300];
	struct http_answer ans;

	e2e_pause_worker(1);
	rx_start();
	quick_retries("3");
	e2e_dns_start("address=/inside.example/10.0.0.1\n"
		      "address=/meta.example/169.254.169.254\n"
		      "address=/loop.example/127.0.0.1\n");
	e2e_new_tenant("inside", tok, sizeof(tok));
	/* Names are stored; what they resolve to is judged at each call. */
	snprintf(url, sizeof(url), "http://inside.example:%d/x", rx.port);
	endpoint(tok, url, "[\"contact.created\"]", id_name);
	endpoint(tok, "http://meta.example/latest/meta-data", "[\"contact.created\"]", id_deep);
	contact(tok, "someone@inside-test.example", NULL);
	batch();
	ck_assert_int_eq(deliveries(tok, id_name, &ans), 1);
	ck_assert_msg(strstr(item_str(&ans, 0, "error"), "10.0.0.1, a private address"), "%s",
		      item_str(&ans, 0, "error"));
	http_answer_free(&ans);
	ck_assert_int_eq(deliveries(tok, id_deep, &ans), 1);
	ck_assert_ptr_nonnull(strstr(item_str(&ans, 0, "error"), "cloud metadata"));
	http_answer_free(&ans);
	/* Loopback through a name on a port the allow-list does not name. */
	{
		char id[40];
		endpoint(tok, "http://loop.example:1/x", "[\"contact.created\"]", id);
		contact(tok, "another@inside-test.example", NULL);
		batch();
		ck_assert_int_eq(deliveries(tok, id, &ans), 1);
		ck_assert_ptr_nonnull(strstr(item_str(&ans, 0, "error"), "loopback"));
		http_answer_free(&ans);
	}
	ck_assert_int_eq(rx.n, 0);
	e2e_dns_stop();
	e2e_pause_worker(0);
}
END_TEST

static int sink_port(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return 12025 + 10 * (port >= 18080 && port < 18090 ? port - 18080 : 0) + 9;
}

static int count_type(const char *path, const char *type, const char *needle)
{
	int k = 0;

	for (int i = 0;; i++) {
		const struct hit *h = rx_hit(path, i);
		json_object *o;
		if (!h)
			break;
		o = json_tokener_parse(h->body);
		if (o && strcmp(json_str(o, "type"), type) == 0 && (!needle || strstr(h->body, needle)))
			k++;
		json_object_put(o);
	}
	return k;
}

START_TEST(events_of_a_real_send_unsubscribe_and_bounce_arrive)
{
	char tok[4096], tok_b[4096], uid[40], path[200], path_b[200], url[300], id[40], cid[40];
	char camp[40], cmd[1024], dir[512], body[512];
	const char *p[1];
	struct e2e_sink s;
	struct http_answer ans;

	e2e_pause_worker(1);
	rx_start();
	quick_retries("2");
	e2e_new_tenant("events-b", tok_b, sizeof(tok_b));
	path_of("b", path_b, sizeof(path_b));
	url_of(path_b, url, sizeof(url));
	endpoint(tok_b, url,
		 "[\"contact.created\",\"contact.unsubscribed\",\"email.bounced\","
		 "\"email.complained\",\"email.opened\",\"email.clicked\",\"campaign.sent\"]",
		 id);
	e2e_new_tenant("events", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	path_of("all", path, sizeof(path));
	url_of(path, url, sizeof(url));
	endpoint(tok, url,
		 "[\"contact.created\",\"contact.unsubscribed\",\"email.bounced\","
		 "\"email.complained\",\"email.opened\",\"email.clicked\",\"campaign.sent\"]",
		 id);
	contact(tok, "ann@ev.example", NULL);
	contact(tok, "bob+bounce@ev.example", NULL);
	contact(tok, "cy@ev.example", cid);

	/* A real send through the SMTP sink: bob's address gets a 550. */
	snprintf(body, sizeof(body),
		 "{\"name\":\"Hooks\",\"subject\":\"Hello\",\"template_id\":\"%s\"}",
		 WELCOME_TEMPLATE);
	e2e_expect(tok, "POST", "/api/v1/campaigns", body, 201, NULL, &ans);
	snprintf(camp, sizeof(camp), "%s", json_str(ans.json, "id"));
	http_answer_free(&ans);
	snprintf(cmd, sizeof(cmd), "/api/v1/campaigns/%s/send", camp);
	e2e_expect(tok, "POST", cmd, NULL, 202, NULL, NULL);
	snprintf(dir, sizeof(dir), "%s/sink/hooks-%d", getenv("FLOWSEND_TEST_STATE"), (int)getpid());
	e2e_sink_start(&s, dir, sink_port(), NULL);
	snprintf(cmd, sizeof(cmd),
		 "env FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d %s/flowsend-batch --once"
		 " >>/tmp/flowsend-e2e-batch.log 2>&1",
		 s.port, e2e_bin());
	ck_assert_int_eq(system(cmd), 0);
	e2e_sink_stop(&s);
	p[0] = camp;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM campaigns WHERE id = $1"
					 " AND status = 'sent'",
					 1, p),
			 1);

	/* An unsubscribe through the API, and tracking hits: one human open,
	 * one bot click (bots are left out, as in analytics). */
	snprintf(cmd, sizeof(cmd), "/api/v1/contacts/%s", cid);
	e2e_expect(tok, "PATCH", cmd, "{\"is_subscribed\":false}", 200, NULL, NULL);
	{
		const char *q[2] = { uid, camp };
		ck_assert_int_eq(e2e_owner_value(
					 "WITH c AS (SELECT id FROM contacts WHERE user_id = $1"
					 "  AND email = 'ann@ev.example'),"
					 " i AS (INSERT INTO email_events (user_id, campaign_id, contact_id,"
					 "  event_type, url, is_bot) SELECT $1, $2, c.id, t.k, t.u, t.b FROM c,"
					 "  (VALUES ('opened', NULL, false),"
					 "   ('clicked', 'https://shop.example/', true)) t(k, u, b)"
					 "  RETURNING 1) SELECT count(*) FROM i",
					 2, q),
				 2);
	}
	batch();

	ck_assert_int_eq(count_type(path, "contact.created", NULL), 3);
	ck_assert_int_eq(count_type(path, "email.bounced", "bob+bounce@ev.example"), 1);
	ck_assert_int_eq(count_type(path, "campaign.sent", camp), 1);
	ck_assert_int_eq(count_type(path, "contact.unsubscribed", "cy@ev.example"), 1);
	ck_assert_int_eq(count_type(path, "email.opened", "ann@ev.example"), 1);
	ck_assert_int_eq(count_type(path, "email.clicked", NULL), 0);
	/* Tenant B heard nothing of A. */
	ck_assert_int_eq(rx_count(path_b), 0);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(an_endpoint_failing_for_three_days_is_disabled_and_says_so)
{
	char tok[4096], id[40], path[200], url[300], api[200], when[64], arg[128];
	struct http_answer ans;
	time_t t = time(NULL) + 4 * 86400;

	e2e_pause_worker(1);
	rx_start();
	quick_retries("1");
	e2e_new_tenant("disable", tok, sizeof(tok));
	path_of("500", path, sizeof(path));
	url_of(path, url, sizeof(url));
	endpoint(tok, url, "[\"contact.created\"]", id);
	contact(tok, "first@disable.example", NULL);
	batch();
	ck_assert_int_eq(rx_count(path), 1);
	contact(tok, "second@disable.example", NULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	snprintf(arg, sizeof(arg), "--now %s", when);
	ck_assert_int_eq(e2e_run_batch(arg), 0);
	ck_assert_int_eq(rx_count(path), 2);
	snprintf(api, sizeof(api), "/api/v1/webhooks/endpoints/%s", id);
	e2e_expect(tok, "GET", api, NULL, 200, NULL, &ans);
	ck_assert(!json_object_get_boolean(json_object_object_get(ans.json, "is_active")));
	ck_assert_ptr_nonnull(strstr(json_str(ans.json, "disabled_reason"), "3 days"));
	http_answer_free(&ans);
	/* Switched off: nothing more goes out until it is turned on again. */
	contact(tok, "third@disable.example", NULL);
	ck_assert_int_eq(e2e_run_batch(arg), 0);
	ck_assert_int_eq(rx_count(path), 2);
	e2e_expect(tok, "PATCH", api, "{\"is_active\":true}", 200, NULL, &ans);
	ck_assert(json_object_get_boolean(json_object_object_get(ans.json, "is_active")));
	ck_assert_ptr_null(json_object_object_get(ans.json, "disabled_reason"));
	http_answer_free(&ans);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(flow_step_calls_are_signed_and_report_their_outcome)
{
	char tok[4096], uid[40], p_ok[200], p_bad[200], url[300], eid[37], secret[65];
	const char *why = NULL;
	struct e2e_env e;
	struct fs_error err;
	const char *exec_ok = "11111111-1111-4111-8111-111111111111";
	const char *exec_bad = "22222222-2222-4222-8222-222222222222";
	const char *flow = "33333333-3333-4333-8333-333333333333";

	e2e_pause_worker(1);
	rx_start();
	quick_retries("2");
	e2e_new_tenant("flowstep", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	e2e_env_open(&e, uid, "free");
	path_of("ok", p_ok, sizeof(p_ok));
	path_of("500", p_bad, sizeof(p_bad));
	url_of(p_ok, url, sizeof(url));
	ck_assert_int_eq(webhook_flow_call_enqueue(e.env.sysdb, e.env.arena, uid, flow, exec_ok, 2, 0, url,
						   "{\"email\":\"x@y.example\"}",
						   "{\"type\":\"signup\"}", eid, &err),
			 FS_OK);
	ck_assert_int_eq(webhook_flow_call_state(e.env.sysdb, e.env.arena, exec_ok, 2, 0, &why),
			 WEBHOOK_CALL_PENDING);
	url_of(p_bad, url, sizeof(url));
	ck_assert_int_eq(webhook_flow_call_enqueue(e.env.sysdb, e.env.arena, uid, flow, exec_bad, 0, 0, url,
						   NULL, NULL, eid, &err),
			 FS_OK);
	ck_assert_int_eq(webhook_flow_call_enqueue(e.env.sysdb, e.env.arena, uid, flow, exec_bad, 1, 0,
						   "http://169.254.169.254/", NULL, NULL, eid, &err),
			 FS_INVALID);
	batch();
	ck_assert_int_eq(webhook_flow_call_state(e.env.sysdb, e.env.arena, exec_ok, 2, 0, &why),
			 WEBHOOK_CALL_DELIVERED);
	ck_assert_int_eq(webhook_flow_call_state(e.env.sysdb, e.env.arena, exec_bad, 0, 0, &why),
			 WEBHOOK_CALL_FAILED);
	ck_assert_str_eq(why, "HTTP 500");
	ck_assert_int_eq(rx_count(p_bad), 2);
	ck_assert_int_eq(rx_count(p_ok), 1);
	secret_of(tok, secret);
	{
		const struct hit *h = rx_hit(p_ok, 0);
		json_object *o = json_tokener_parse(h->body);
		ck_assert(signed_with(h->sig, 0, secret, h->body));
		ck_assert_str_eq(json_str(o, "event"), "flow.webhook");
		ck_assert_str_eq(json_str(o, "flow_id"), flow);
		ck_assert_str_eq(json_str(o, "execution_id"), exec_ok);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "step")), 2);
		ck_assert_str_eq(json_str(json_object_object_get(o, "contact"), "email"),
				 "x@y.example");
		ck_assert_ptr_nonnull(json_str(o, "timestamp"));
		json_object_put(o);
	}
	/* Idempotent per execution, step and visit: the same call comes back. */
	{
		char again[37], first[37];
		url_of(p_ok, url, sizeof(url));
		ck_assert_int_eq(webhook_flow_call_enqueue(e.env.sysdb, e.env.arena, uid, flow, exec_ok,
							   2, 1, url, NULL, NULL, first, &err),
				 FS_OK);
		ck_assert_int_eq(webhook_flow_call_enqueue(e.env.sysdb, e.env.arena, uid, flow, exec_ok,
							   2, 1, url, NULL, NULL, again, &err),
				 FS_OK);
		ck_assert_str_eq(first, again);
	}
	/* Every attempt is visible through the API, to this tenant only. */
	{
		char path[200], other[4096];
		struct http_answer ans;
		snprintf(path, sizeof(path), "/api/v1/webhooks/flow-calls?execution_id=%s", exec_bad);
		e2e_expect(tok, "GET", path, NULL, 200, NULL, &ans);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 2);
		ck_assert_str_eq(item_str(&ans, 0, "error"), "HTTP 500");
		ck_assert_str_eq(item_str(&ans, 0, "execution_id"), exec_bad);
		http_answer_free(&ans);
		e2e_expect(tok, "GET", "/api/v1/webhooks/flow-calls", NULL, 200, NULL, &ans);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 3);
		http_answer_free(&ans);
		e2e_expect(tok, "GET", "/api/v1/webhooks/flow-calls?execution_id=nope", NULL, 200, NULL,
			   &ans);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 0);
		http_answer_free(&ans);
		e2e_new_tenant("flowstep-b", other, sizeof(other));
		e2e_expect(other, "GET", path, NULL, 200, NULL, &ans);
		ck_assert_int_eq(json_object_get_int64(json_object_object_get(ans.json, "total")), 0);
		http_answer_free(&ans);
	}
	e2e_env_close(&e);
	e2e_pause_worker(0);
}
END_TEST

/* ---- the webhook step run by the flow engine (issue 20 + 21) ---- */

static void hook_flow(const char *token, const char *trigger, const char *url, const char *tpl, char *id)
{
	char body[1024], path[128];
	struct http_answer a;

	snprintf(body, sizeof(body),
		 "{\"name\":\"Hook flow\",%s,"
		 "\"steps\":[{\"type\":\"webhook\",\"url\":\"%.300s\"},"
		 "{\"type\":\"email\",\"template_id\":\"%s\",\"subject\":\"After the hook\"}]}",
		 trigger, url, tpl);
	e2e_expect(token, "POST", "/api/v1/flows", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/flows/%s/activate", id);
	e2e_expect(token, "POST", path, NULL, 200, NULL, NULL);
}

static const char *exec_text(const char *sql, const char *exec, char *out, size_t size)
{
	const char *p[1] = { exec };

	if (!e2e_owner_text(sql, 1, p, out, size))
		snprintf(out, size, "(null)");
	return out;
}

static long long exec_value(const char *sql, const char *exec)
{
	const char *p[1] = { exec };
	return e2e_owner_value(sql, 1, p);
}

static int batch_at_offset(long seconds)
{
	char when[64], arg[128];
	time_t t = time(NULL) + seconds;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	snprintf(arg, sizeof(arg), "--now %s", when);
	return e2e_run_batch(arg);
}

START_TEST(flow_webhook_step_waits_for_its_call_and_moves_on)
{
	char tok[4096], uid[40], tpl[40], cid[40], secret[65], buf[512], ctx[512];
	char p_ok[200], p_bad[200], p_flaky[200], url[300];
	char f_ok[40], f_bad[40], f_flaky[40], e_ok[40], e_bad[40], e_flaky[40], f_in[40], e_in[40];
	const char *p[2];
	struct http_answer ans;

	e2e_pause_worker(1);
	rx_start();
	quick_retries("3");
	e2e_new_tenant("hookflow", tok, sizeof(tok));
	e2e_set_plan(tok, "pro"); /* more active flows than free */
	e2e_user_id(tok, uid);
	e2e_expect(tok, "POST", "/api/v1/templates",
		   "{\"name\":\"Hook mail\",\"subject\":\"S\",\"html_content\":\"<p>Hi {{first_name}}</p>\","
		   "\"text_content\":\"Hi\"}",
		   201, NULL, &ans);
	snprintf(tpl, sizeof(tpl), "%s", json_str(ans.json, "id"));
	http_answer_free(&ans);
	path_of("ok", p_ok, sizeof(p_ok));
	path_of("500", p_bad, sizeof(p_bad));
	url_of(p_ok, url, sizeof(url));
	hook_flow(tok, "\"trigger_type\":\"signup\",\"trigger_config\":{}", url, tpl, f_ok);
	url_of(p_bad, url, sizeof(url));
	hook_flow(tok, "\"trigger_type\":\"signup\",\"trigger_config\":{}", url, tpl, f_bad);
	/* One signup enrolls the contact in both flows. */
	e2e_expect(tok, "POST", "/api/v1/contacts",
		   "{\"email\":\"hook@flow.example\",\"first_name\":\"Hana\",\"tags\":[\"vip\"]}", 201,
		   NULL, &ans);
	snprintf(cid, sizeof(cid), "%s", json_str(ans.json, "id"));
	http_answer_free(&ans);
	p[1] = cid;
	p[0] = f_ok;
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM flow_executions WHERE flow_id = $1"
					     " AND contact_id = $2", 2, p, e_ok, sizeof(e_ok)));
	p[0] = f_bad;
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM flow_executions WHERE flow_id = $1"
					     " AND contact_id = $2", 2, p, e_bad, sizeof(e_bad)));

	/* Pass 1: the engine queues both calls and parks the executions on the
	 * step (no email yet); the webhooks pass sends them and wakes both. */
	batch();
	ck_assert_int_eq(rx_count(p_ok), 1);
	ck_assert_int_eq(rx_count(p_bad), 3); /* the last retry */
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_ok, buf,
				   sizeof(buf)), "waiting");
	ck_assert_int_eq(exec_value("SELECT current_step FROM flow_executions WHERE id = $1", e_ok), 0);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1", e_ok), 0);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM flow_executions WHERE id = $1"
				    " AND next_run_at <= flowsend_now()", e_ok), 1);
	/* The signed call with the documented body. */
	secret_of(tok, secret);
	exec_text("SELECT context::text FROM flow_executions WHERE id = $1", e_ok, ctx, sizeof(ctx));
	{
		const struct hit *h = rx_hit(p_ok, 0);
		json_object *o = json_tokener_parse(h->body), *c, *want = json_tokener_parse(ctx);
		ck_assert_msg(signed_with(h->sig, 0, secret, h->body), "bad signature %s", h->sig);
		ck_assert_ptr_nonnull(o);
		ck_assert_str_eq(json_str(o, "event"), "flow.webhook");
		ck_assert_str_eq(json_str(o, "flow_id"), f_ok);
		ck_assert_str_eq(json_str(o, "execution_id"), e_ok);
		ck_assert_ptr_nonnull(json_str(o, "id"));
		ck_assert_ptr_nonnull(json_str(o, "timestamp"));
		ck_assert(json_object_is_type(json_object_object_get(o, "step"), json_type_int));
		ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "step")), 0);
		c = json_object_object_get(o, "contact");
		ck_assert_str_eq(json_str(c, "id"), cid);
		ck_assert_str_eq(json_str(c, "email"), "hook@flow.example");
		ck_assert_str_eq(json_str(c, "first_name"), "Hana");
		ck_assert_str_eq(json_object_get_string(
					 json_object_array_get_idx(json_object_object_get(c, "tags"), 0)),
				 "vip");
		ck_assert(json_object_equal(json_object_object_get(o, "trigger"), want));
		json_object_put(want);
		json_object_put(o);
	}

	/* Pass 2: delivered → the email; failed after the last retry → the
	 * failure on the execution, and the email all the same. */
	batch();
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_ok, buf,
				   sizeof(buf)), "completed");
	ck_assert_str_eq(exec_text("SELECT coalesce(last_error, '') FROM flow_executions WHERE id = $1",
				   e_ok, buf, sizeof(buf)), "");
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_bad, buf,
				   sizeof(buf)), "completed");
	ck_assert_str_eq(exec_text("SELECT last_error FROM flow_executions WHERE id = $1", e_bad, buf,
				   sizeof(buf)), "step 0: webhook failed: HTTP 500");
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1"
				    " AND step_index = 1 AND status = 'sent'", e_ok), 1);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1"
				    " AND step_index = 1 AND status = 'sent'", e_bad), 1);
	/* Nothing more: no call again, no second email. */
	batch();
	ck_assert_int_eq(rx_count(p_ok), 1);
	ck_assert_int_eq(rx_count(p_bad), 3);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1", e_ok), 1);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1", e_bad), 1);

	/* A call between retries: woken early, the execution waits on (no
	 * second call, no email); after the retry succeeds it moves on. */
	setenv("FLOWSEND_WEBHOOK_RETRY_BASE_MS", "3600000", 1);
	path_of("flaky", p_flaky, sizeof(p_flaky));
	url_of(p_flaky, url, sizeof(url));
	hook_flow(tok, "\"trigger_type\":\"custom\",\"trigger_config\":{\"event\":\"hookflaky\"}",
		  url, tpl, f_flaky);
	p[0] = uid;
	p[1] = cid;
	ck_assert_int_eq(e2e_owner_value("SELECT flowsend_flow_enroll($1, 'custom', 'hookflaky',"
					 " ARRAY[$2::uuid], 'x', '{\"event\":\"hookflaky\"}'::jsonb)",
					 2, p),
			 1);
	p[0] = f_flaky;
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM flow_executions WHERE flow_id = $1"
					     " AND contact_id = $2", 2, p, e_flaky, sizeof(e_flaky)));
	batch();
	ck_assert_int_eq(rx_count(p_flaky), 1); /* 503: a retry in an hour */
	ck_assert_int_eq(exec_value("UPDATE flow_executions SET next_run_at = flowsend_now()"
				    " WHERE id = $1 RETURNING 1", e_flaky), 1);
	batch();
	ck_assert_int_eq(rx_count(p_flaky), 1);
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_flaky, buf,
				   sizeof(buf)), "waiting");
	ck_assert_int_eq(exec_value("SELECT count(*) FROM flow_executions WHERE id = $1"
				    " AND next_run_at > flowsend_now() + interval '23 hours'", e_flaky), 1);
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1", e_flaky),
			 0);
	ck_assert_int_eq(batch_at_offset(2 * 3600), 0); /* the retry: 200, the execution woken */
	ck_assert_int_eq(rx_count(p_flaky), 2);
	ck_assert_int_eq(batch_at_offset(2 * 3600), 0);
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_flaky, buf,
				   sizeof(buf)), "completed");
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1"
				    " AND step_index = 1", e_flaky), 1);

	/* A URL inside the operator's network: refused when queued, recorded,
	 * and the flow goes on with its email. */
	hook_flow(tok, "\"trigger_type\":\"custom\",\"trigger_config\":{\"event\":\"hookinside\"}",
		  "http://169.254.169.254/latest/meta-data", tpl, f_in);
	p[0] = uid;
	p[1] = cid;
	ck_assert_int_eq(e2e_owner_value("SELECT flowsend_flow_enroll($1, 'custom', 'hookinside',"
					 " ARRAY[$2::uuid], 'y', '{}'::jsonb)",
					 2, p),
			 1);
	p[0] = f_in;
	ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM flow_executions WHERE flow_id = $1"
					     " AND contact_id = $2", 2, p, e_in, sizeof(e_in)));
	ck_assert_int_eq(batch_at_offset(2 * 3600), 0);
	ck_assert_str_eq(exec_text("SELECT status FROM flow_executions WHERE id = $1", e_in, buf,
				   sizeof(buf)), "completed");
	ck_assert_ptr_nonnull(strstr(exec_text("SELECT last_error FROM flow_executions WHERE id = $1", e_in,
					       buf, sizeof(buf)), "step 0: webhook refused: "));
	ck_assert_int_eq(exec_value("SELECT count(*) FROM outbox WHERE flow_execution_id = $1"
				    " AND step_index = 1", e_in), 1);
	e2e_pause_worker(0);
}
END_TEST

/* Retention (schema 0047): a delivered call and a sign-up never confirmed go
 * 30 days on; a pending call and a confirmed sign-up stay. */
START_TEST(finished_calls_and_unconfirmed_signups_are_deleted_after_30_days)
{
	char tok[4096], uid[40], path[200], url[300], id[40], bad[200], bad_url[300], bad_id[40];
	const char *p[1];

	e2e_pause_worker(1);
	rx_start();
	quick_retries("3");
	e2e_new_tenant("retention", tok, sizeof(tok));
	e2e_user_id(tok, uid);
	p[0] = uid;
	path_of("ok", path, sizeof(path));
	url_of(path, url, sizeof(url));
	endpoint(tok, url, "[\"contact.created\"]", id);
	/* A call still waiting (its endpoint switched off) must never go. */
	path_of("off", bad, sizeof(bad));
	url_of(bad, bad_url, sizeof(bad_url));
	endpoint(tok, bad_url, "[\"contact.unsubscribed\"]", bad_id);
	{
		char api[200];
		const char *q[2] = { uid, bad_id };
		struct http_answer ans;

		snprintf(api, sizeof(api), "/api/v1/webhooks/endpoints/%s", bad_id);
		e2e_expect(tok, "PATCH", api, "{\"is_active\":false}", 200, NULL, &ans);
		http_answer_free(&ans);
		ck_assert_int_eq(e2e_owner_value("INSERT INTO webhook_events (user_id, endpoint_id, event_type,"
						 " created_at) VALUES ($1, $2, 'contact.unsubscribed',"
						 " now() - interval '90 days') RETURNING 1", 2, q), 1);
	}
	contact(tok, "kept@retention.example", NULL);
	batch();
	ck_assert_int_eq(rx_count(path), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
					 " AND status = 'delivered'", 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
					 " AND status = 'pending'", 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("INSERT INTO form_submissions (user_id, email, status, expires_at)"
					 " VALUES ($1, 'never@retention.example', 'pending', now() + interval '1 day'),"
					 " ($1, 'yes@retention.example', 'confirmed', now() + interval '1 day')"
					 " RETURNING 1", 1, p), 1);
	/* 29 days on: everything is still there. */
	ck_assert_int_eq(batch_at_offset(29L * 86400), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1", 1, p), 2);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM form_submissions WHERE user_id = $1", 1, p), 2);
	/* 32 days on: the delivered call (and its attempt) and the sign-up that
	 * expired 31 days ago are gone; the waiting call stays, and so does the
	 * confirmed sign-up (a consent record). */
	ck_assert_int_eq(batch_at_offset(32L * 86400), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
					 " AND status = 'delivered'", 1, p), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_attempts WHERE user_id = $1", 1, p), 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM webhook_events WHERE user_id = $1"
					 " AND status = 'pending'", 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM form_submissions WHERE user_id = $1", 1, p), 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM form_submissions WHERE user_id = $1"
					 " AND status = 'confirmed'", 1, p), 1);
	e2e_pause_worker(0);
}
END_TEST

Suite *outbound_webhooks_suite(void)
{
	Suite *s = suite_create("webhooks");
	TCase *tc = tcase_create("outbound");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, endpoints_validate_refuse_inside_addresses_and_stay_tenant_scoped);
	tcase_add_test(tc, webhook_secret_is_shown_rotated_and_scoped);
	tcase_add_test(tc, deliveries_are_signed_ordered_retried_and_recorded);
	tcase_add_test(tc, inside_addresses_are_refused_at_call_time);
	tcase_add_test(tc, events_of_a_real_send_unsubscribe_and_bounce_arrive);
	tcase_add_test(tc, an_endpoint_failing_for_three_days_is_disabled_and_says_so);
	tcase_add_test(tc, flow_step_calls_are_signed_and_report_their_outcome);
	tcase_add_test(tc, flow_webhook_step_waits_for_its_call_and_moves_on);
	tcase_add_test(tc, finished_calls_and_unconfirmed_signups_are_deleted_after_30_days);
	suite_add_tcase(s, tc);
	return s;
}
