/* The SMTP transport without a server: how outcomes are classified, settings
 * it refuses, a refused connection as a temporary failure, and the rate
 * ceiling. Delivery to real servers is tested end to end (test_delivery.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mail/smtp.h"
#include "unit.h"

START_TEST(outcomes_are_classified_by_reply_and_stage)
{
	/* curl codes: 0 OK, 7 could not connect, 55 send error, 8 weird reply, 28 timeout */
	ck_assert_int_eq(smtp_classify(0, 250, SMTP_STAGE_END, 1), SMTP_ACCEPTED);
	ck_assert_int_eq(smtp_classify(55, 550, SMTP_STAGE_RCPT, 0), SMTP_PERMANENT);
	ck_assert_int_eq(smtp_classify(55, 554, SMTP_STAGE_DATA, 0), SMTP_PERMANENT);
	ck_assert_int_eq(smtp_classify(8, 554, SMTP_STAGE_END, 1), SMTP_PERMANENT);
	ck_assert_int_eq(smtp_classify(55, 451, SMTP_STAGE_RCPT, 0), SMTP_TEMPORARY);
	ck_assert_int_eq(smtp_classify(8, 452, SMTP_STAGE_END, 1), SMTP_TEMPORARY);
	/* A 5xx before the recipient is the relay's or our settings' problem. */
	ck_assert_int_eq(smtp_classify(67, 535, SMTP_STAGE_CONNECT, 0), SMTP_TEMPORARY);
	ck_assert_int_eq(smtp_classify(55, 553, SMTP_STAGE_MAIL, 0), SMTP_TEMPORARY);
	ck_assert_int_eq(smtp_classify(7, 0, SMTP_STAGE_CONNECT, 0), SMTP_TEMPORARY);
	ck_assert_int_eq(smtp_classify(60, 0, SMTP_STAGE_CONNECT, 0), SMTP_TEMPORARY);
	/* Everything went out and no reply came: it may have been taken. */
	ck_assert_int_eq(smtp_classify(28, 354, SMTP_STAGE_BODY, 1), SMTP_IN_DOUBT);
	ck_assert_int_eq(smtp_classify(56, 0, SMTP_STAGE_BODY, 1), SMTP_IN_DOUBT);
	/* Cut off halfway through the message: the server never saw its end. */
	ck_assert_int_eq(smtp_classify(55, 354, SMTP_STAGE_BODY, 0), SMTP_TEMPORARY);
}
END_TEST

START_TEST(unusable_settings_are_refused)
{
	struct smtp_settings s;
	char err[256];

	memset(&s, 0, sizeof(s));
	s.url = "http://127.0.0.1:25";
	s.concurrency = 1;
	ck_assert_ptr_null(smtp_pool_new(&s, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "smtp://"));
	s.url = "smtp://127.0.0.1:25";
	s.ca_file = "/nonexistent/ca.pem";
	ck_assert_ptr_null(smtp_pool_new(&s, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "CA file"));
}
END_TEST

/* A loopback port nothing listens on. */
static int closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pool to a loopback port nothing listens on: every exchange is refused. */
static struct smtp_pool *closed_pool(int concurrency, double rate)
{
	struct smtp_settings s;
	struct smtp_pool *p;
	char url[64], err[256];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", closed_port());
	memset(&s, 0, sizeof(s));
	s.url = url;
	s.concurrency = concurrency;
	s.rate = rate;
	s.timeout_ms = 5000;
	p = smtp_pool_new(&s, err, sizeof(err));
	ck_assert_msg(p != NULL, "%s", err);
	return p;
}

static const char small_msg[] = "Subject: x\r\n\r\nhello\r\n";

/* One small message from a@example.com to b@example.com. */
static void job_init(struct smtp_job *job)
{
	memset(job, 0, sizeof(*job));
	job->from = "a@example.com";
	job->to = "b@example.com";
	job->data = small_msg;
	job->len = sizeof(small_msg) - 1;
}

START_TEST(a_refused_connection_is_temporary_and_the_rate_holds)
{
	struct smtp_pool *p = closed_pool(3, 20); /* a burst of 2, then one every 50 ms */
	struct smtp_job jobs[6], *done[6];
	size_t submitted = 0, finished = 0;
	double t0;

	t0 = now_s();
	while (finished < 6) {
		int ready = smtp_pool_ready(p);
		ck_assert_int_le(ready, 3);
		for (; ready > 0 && submitted < 6; ready--, submitted++) {
			job_init(&jobs[submitted]);
			smtp_pool_submit(p, &jobs[submitted]);
		}
		size_t n = smtp_pool_wait(p, done, 6, submitted < 6, 1000);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(done[i]->out.result, SMTP_TEMPORARY);
			ck_assert_int_eq(done[i]->out.code, 0);
			ck_assert(done[i]->out.text[0] != '\0');
		}
		finished += n;
		smtp_pool_release(p, (int)n);
	}
	ck_assert_int_eq(smtp_pool_outstanding(p), 0);
	/* 6 messages at 20/s with a burst of 2: at least four more intervals. */
	ck_assert_msg(now_s() - t0 >= 0.18, "took %.3f s", now_s() - t0);
	smtp_pool_free(p);
}
END_TEST

/* A job whose prepare step fails (DKIM signing out of memory) never reaches
 * the server: temporary, with prepare's words; one that prepares runs in a
 * sender thread and may replace the bytes before the exchange. */
static int prepare_fails(struct smtp_job *job)
{
	snprintf(job->out.text, sizeof(job->out.text), "signing failed");
	return -1;
}

static int prepare_counts(struct smtp_job *job)
{
	int *calls = job->tag;
	(*calls)++;
	return 0;
}

START_TEST(a_failed_prepare_step_is_temporary_and_sends_nothing)
{
	struct smtp_pool *p = closed_pool(2, 0);
	struct smtp_job jobs[2], *done[2];
	int calls = 0;
	size_t finished = 0;

	for (int i = 0; i < 2; i++)
		job_init(&jobs[i]);
	jobs[0].prepare = prepare_fails;
	jobs[1].prepare = prepare_counts;
	jobs[1].tag = &calls;
	smtp_pool_submit(p, &jobs[0]);
	smtp_pool_submit(p, &jobs[1]);
	while (finished < 2) {
		size_t n = smtp_pool_wait(p, done, 2, 0, 1000);
		finished += n;
		smtp_pool_release(p, (int)n);
	}
	ck_assert_int_eq(jobs[0].out.result, SMTP_TEMPORARY);
	ck_assert_str_eq(jobs[0].out.text, "signing failed");
	/* the second was prepared, then met the closed port */
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(jobs[1].out.result, SMTP_TEMPORARY);
	ck_assert_str_ne(jobs[1].out.text, "signing failed");
	smtp_pool_free(p);
}
END_TEST

/* With a rate and nothing in flight, a wait for more work sleeps until the
 * next token is due: returning at once made the delivery loop spin until
 * the rate let it hand over again. */
START_TEST(a_wait_for_the_next_token_sleeps_with_nothing_in_flight)
{
	struct smtp_pool *p = closed_pool(2, 4); /* a burst of 1, then one every 250 ms */
	struct smtp_job job, *done[1];
	size_t finished = 0, n;
	double t0;

	job_init(&job);
	ck_assert_int_eq(smtp_pool_ready(p), 1);
	smtp_pool_submit(p, &job);
	while (finished < 1) {
		n = smtp_pool_wait(p, done, 1, 0, 1000);
		finished += n;
		smtp_pool_release(p, (int)n);
	}
	t0 = now_s();
	n = smtp_pool_wait(p, done, 1, 1, 2000);
	ck_assert_int_eq((int)n, 0);
	ck_assert_msg(smtp_pool_ready(p) >= 1, "returned after %.3f s with no token ready", now_s() - t0);
	ck_assert_msg(now_s() - t0 < 1.5, "took %.3f s", now_s() - t0);
	smtp_pool_free(p);
}
END_TEST

Suite *smtp_suite(void)
{
	Suite *s = suite_create("smtp");
	TCase *tc = tcase_create("smtp");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, outcomes_are_classified_by_reply_and_stage);
	tcase_add_test(tc, unusable_settings_are_refused);
	tcase_add_test(tc, a_refused_connection_is_temporary_and_the_rate_holds);
	tcase_add_test(tc, a_failed_prepare_step_is_temporary_and_sends_nothing);
	tcase_add_test(tc, a_wait_for_the_next_token_sleeps_with_nothing_in_flight);
	suite_add_tcase(s, tc);
	return s;
}
