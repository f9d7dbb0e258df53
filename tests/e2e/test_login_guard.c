/* The failed-login throttle through nginx: case variants of an address share
 * its budget, concurrent guesses never get more checks than the limit, and
 * the owner still gets in from an address that has not been guessing. Each
 * test sends from its own loopback addresses (all of 127.0.0.0/8 is local on
 * Linux), so the responders see distinct client IPs and 127.0.0.1, which the
 * other suites use, never runs into the per-IP bound. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "e2e.h"

#define PW "guard-password-7"
#define WRONG "not-the-password"

struct attempt {
	CURL *curl;
	struct curl_slist *headers;
	struct strbuf body, head;
	char request[768];
	char source[40];
	long status;
};

static size_t collect(char *data, size_t size, size_t n, void *sb)
{
	strbuf_append(sb, data, size * n);
	return size * n;
}

/* A POST /api/v1/auth/login sent from the loopback address source. */
static void attempt_init(struct attempt *t, const char *source, const char *email,
			 const char *password)
{
	char url[256];

	memset(t, 0, sizeof(*t));
	t->curl = curl_easy_init();
	ck_assert_ptr_nonnull(t->curl);
	snprintf(url, sizeof(url), "%s/api/v1/auth/login", e2e_base());
	snprintf(t->request, sizeof(t->request), "{\"email\":\"%s\",\"password\":\"%s\"}", email,
		 password);
	snprintf(t->source, sizeof(t->source), "host!%s", source);
	t->headers = curl_slist_append(NULL, "Content-Type: application/json");
	t->headers = curl_slist_append(t->headers, "Expect:");
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	curl_easy_setopt(t->curl, CURLOPT_INTERFACE, t->source);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, t->request);
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &t->body);
	curl_easy_setopt(t->curl, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, &t->head);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT, 60L);
}

static void attempt_done(struct attempt *t)
{
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
	ck_assert_msg(t->status > 0, "no answer for a login from %s", t->source);
}

static void attempt_free(struct attempt *t)
{
	curl_slist_free_all(t->headers);
	curl_easy_cleanup(t->curl);
	strbuf_free(&t->body);
	strbuf_free(&t->head);
}

/* A 429 carries Retry-After (1..900 s) and the original's detail, which
 * names the same number of seconds. */
static void assert_throttled(struct attempt *t)
{
	const char *h = strstr(strbuf_cstr(&t->head), "\r\nRetry-After:");
	char detail[128];
	long secs;

	ck_assert_msg(h != NULL, "429 without Retry-After: %s", strbuf_cstr(&t->head));
	secs = strtol(h + strlen("\r\nRetry-After:"), NULL, 10);
	ck_assert_int_gt(secs, 0);
	ck_assert_int_le(secs, 900);
	snprintf(detail, sizeof(detail),
		 "{\"detail\":\"Too many failed login attempts. Try again in %ld seconds.\"}",
		 secs);
	ck_assert_str_eq(strbuf_cstr(&t->body), detail);
}

/* One login from source; its status. */
static long login_from(const char *source, const char *email, const char *password)
{
	struct attempt t;

	attempt_init(&t, source, email, password);
	ck_assert_int_eq(curl_easy_perform(t.curl), CURLE_OK);
	attempt_done(&t);
	if (t.status == 429)
		assert_throttled(&t);
	attempt_free(&t);
	return t.status;
}

static void expect_from(const char *source, const char *email, const char *password, long status)
{
	long got = login_from(source, email, password);

	ck_assert_msg(got == status, "login %s from %s: want %ld, got %ld", email, source, status,
		      got);
}

static void fresh_user(const char *prefix, char *email, size_t size)
{
	e2e_unique_email(prefix, email, size);
	e2e_register(email, PW, NULL, 0, NULL, 0);
}

/* JÖRG and jörg are one address to PostgreSQL's lower(), so to the throttle
 * too: Latin-1, Latin Extended-A, Greek and Cyrillic capitals. */
START_TEST(case_variants_of_an_address_share_its_budget)
{
	static const char lower[] = "j\xc3\xb6rg.\xc5\x82\xcf\x83\xce\xbf\xcf\x86\xd0\xb6";
	static const char upper[] = "J\xc3\x96RG.\xc5\x81\xce\xa3\xce\x9f\xce\xa6\xd0\x96";
	char email[160], shout[160];
	size_t n = strlen(lower);

	fresh_user(lower, email, sizeof(email));
	/* The same address with every letter in capitals. */
	memcpy(shout, upper, strlen(upper));
	for (size_t i = n; i <= strlen(email); i++)
		shout[strlen(upper) + i - n] = (char)toupper((unsigned char)email[i]);
	ck_assert_str_ne(shout, email);
	for (int i = 0; i < 5; i++) {
		expect_from("127.0.0.11", email, WRONG, 401);
		expect_from("127.0.0.11", shout, WRONG, 401);
	}
	expect_from("127.0.0.11", shout, WRONG, 429);
	expect_from("127.0.0.11", email, WRONG, 429);
	/* PostgreSQL agrees that they are one user: the capitals log in. */
	expect_from("127.0.0.12", shout, PW, 200);
}
END_TEST

/* 24 wrong guesses at once: the check and the count are one step, so no more
 * than 10 passwords are checked and every other guess is refused unseen. */
START_TEST(concurrent_guesses_get_no_more_than_the_limit)
{
	enum { N = 24 };
	struct attempt t[N];
	char email[160];
	CURLM *m = curl_multi_init();
	int running = 0, checked = 0, refused = 0;

	fresh_user("guard-burst", email, sizeof(email));
	for (int i = 0; i < N; i++) {
		attempt_init(&t[i], "127.0.0.13", email, WRONG);
		curl_multi_add_handle(m, t[i].curl);
	}
	do {
		ck_assert_int_eq(curl_multi_perform(m, &running), CURLM_OK);
		if (running)
			ck_assert_int_eq(curl_multi_wait(m, NULL, 0, 1000, NULL), CURLM_OK);
	} while (running);
	for (int i = 0; i < N; i++) {
		attempt_done(&t[i]);
		if (t[i].status == 401) {
			checked++;
		} else {
			ck_assert_int_eq(t[i].status, 429);
			assert_throttled(&t[i]);
			refused++;
		}
		curl_multi_remove_handle(m, t[i].curl);
		attempt_free(&t[i]);
	}
	curl_multi_cleanup(m);
	ck_assert_msg(checked <= 10, "%d of %d concurrent guesses were checked", checked, N);
	ck_assert_int_eq(checked + refused, N);
	expect_from("127.0.0.13", email, PW, 429);
}
END_TEST

/* Ten failures from one client lock that client out, not the owner. */
START_TEST(the_owner_logs_in_from_another_address)
{
	char email[160];

	fresh_user("guard-owner", email, sizeof(email));
	for (int i = 0; i < 10; i++)
		expect_from("127.0.0.14", email, WRONG, 401);
	expect_from("127.0.0.14", email, WRONG, 429);
	expect_from("127.0.0.14", email, PW, 429);
	expect_from("127.0.0.15", email, PW, 200);
	/* Her success does not reopen the guesser's budget. */
	expect_from("127.0.0.14", email, WRONG, 429);
}
END_TEST

/* Past 50 failures for an address from all clients together, each client
 * gets 3 guesses at it instead of 10; a client that has not failed still
 * gets its password checked, so the owner is never locked out. */
START_TEST(a_distributed_guesser_gets_few_guesses_per_address)
{
	char email[160], source[32];

	fresh_user("guard-spread", email, sizeof(email));
	for (int ip = 21; ip <= 25; ip++) {
		snprintf(source, sizeof(source), "127.0.0.%d", ip);
		for (int i = 0; i < 10; i++)
			expect_from(source, email, WRONG, 401);
		expect_from(source, email, WRONG, 429);
	}
	for (int i = 0; i < 3; i++)
		expect_from("127.0.0.26", email, WRONG, 401);
	expect_from("127.0.0.26", email, WRONG, 429);
	expect_from("127.0.0.26", email, PW, 429);
	expect_from("127.0.0.27", email, PW, 200);
	/* A new client that mistypes once still has guesses left. */
	expect_from("127.0.0.28", email, WRONG, 401);
	expect_from("127.0.0.28", email, PW, 200);
}
END_TEST

Suite *login_guard_suite(void)
{
	Suite *s = suite_create("login_guard");
	TCase *tc = tcase_create("login_guard");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, case_variants_of_an_address_share_its_budget);
	tcase_add_test(tc, concurrent_guesses_get_no_more_than_the_limit);
	tcase_add_test(tc, the_owner_logs_in_from_another_address);
	tcase_add_test(tc, a_distributed_guesser_gets_few_guesses_per_address);
	suite_add_tcase(s, tc);
	return s;
}
