/* The SMTP pool alone (lib/mail/smtp.c), no database: n messages of about
 * 11 KB from mail_message_build into an SMTP server (smtp-sink), at most
 * `inflight` at once, optionally DKIM-signed in the driver threads as the
 * worker does. Prints the process's CPU a message (user + system), the rate,
 * and the time from submit to outcome (p50, p99), so the transport's cost
 * and latency can be compared before and after a change without PostgreSQL.
 *   build/bench/smtp_pool <n> <inflight> <smtp://127.0.0.1:port> [sign] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mail/dkim.h"
#include "mail/message.h"
#include "sample_message.h"
#include "mail/smtp.h"

struct item {
	struct smtp_job job;
	struct strbuf wire;
	const struct dkim_signer *signer;
	const struct strbuf *msg;
	char to[64];
	double t0;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int sign(struct smtp_job *job)
{
	struct item *it = job->tag;

	strbuf_reset(&it->wire);
	if (dkim_signer_sign(it->signer, it->msg->buf, it->msg->len, 1700000000LL, &it->wire) < 0 ||
	    strbuf_append(&it->wire, it->msg->buf, it->msg->len) < 0)
		return -1;
	job->data = it->wire.buf;
	job->len = it->wire.len;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000, sent = 0, finished = 0, accepted = 0;
	int inflight = argc > 2 ? atoi(argv[2]) : 64;
	const char *url = argc > 3 ? argv[3] : "smtp://127.0.0.1:12185";
	int signed_mode = argc > 4 && strcmp(argv[4], "sign") == 0;
	struct strbuf html = STRBUF_INIT, text = STRBUF_INIT, msg = STRBUF_INIT, priv = STRBUF_INIT,
		      pub = STRBUF_INIT;
	struct mail_message m = { 0 };
	struct smtp_settings st = { 0 };
	struct dkim_signer *signer = NULL;
	struct smtp_pool *p;
	struct item *items;
	struct smtp_job **done;
	struct item **free_items;
	double *lat, c0, t0, wall;
	char err[256];
	int nfree;

	if (n < 1 || inflight < 1 || inflight > 256)
		return 2;
	bench_sample_message(&m, &html, &text, 60, 1700000000LL);
	if (mail_message_build(&m, &msg) < 0)
		return 1;
	if (signed_mode && (dkim_keygen(2048, &priv, &pub) < 0 ||
			    !(signer = dkim_signer_new("shop.example", "bench", priv.buf, priv.len, err,
						       sizeof(err))))) {
		fprintf(stderr, "signer: %s\n", err);
		return 1;
	}
	st.url = url;
	st.tls = SMTP_TLS_NONE;
	st.concurrency = inflight;
	st.timeout_ms = 30000;
	p = smtp_pool_new(&st, err, sizeof(err));
	items = calloc((size_t)inflight, sizeof(*items));
	done = calloc((size_t)inflight, sizeof(*done));
	free_items = calloc((size_t)inflight, sizeof(*free_items));
	lat = calloc((size_t)n, sizeof(*lat));
	if (!p || !items || !done || !free_items || !lat) {
		fprintf(stderr, "setup: %s\n", p ? "out of memory" : err);
		return 1;
	}
	for (int i = 0; i < inflight; i++)
		free_items[i] = &items[i];
	nfree = inflight;
	c0 = cpu_us();
	t0 = now_ms();
	while (finished < n) {
		int want = smtp_pool_ready(p);
		size_t got;
		for (; want > 0 && nfree > 0 && sent < n; want--, sent++) {
			struct item *it = free_items[--nfree];
			memset(&it->job, 0, sizeof(it->job));
			snprintf(it->to, sizeof(it->to), "r%ld@smtp.example", sent);
			it->msg = &msg;
			it->signer = signer;
			it->job.from = "news@shop.example";
			it->job.to = it->to;
			it->job.data = msg.buf;
			it->job.len = msg.len;
			it->job.tag = it;
			it->job.prepare = signer ? sign : NULL;
			it->t0 = now_ms();
			smtp_pool_submit(p, &it->job);
		}
		got = smtp_pool_wait(p, done, (size_t)inflight, sent < n, 1000);
		for (size_t k = 0; k < got; k++) {
			struct item *it = done[k]->tag;
			lat[finished++] = now_ms() - it->t0;
			accepted += done[k]->out.result == SMTP_ACCEPTED;
			free_items[nfree++] = it;
		}
		smtp_pool_release(p, (int)got);
	}
	wall = now_ms() - t0;
	c0 = cpu_us() - c0;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("%ld messages (%zu bytes%s), %ld accepted, %d in flight: %.0f messages/s, CPU %.1f us a "
	       "message, submit to outcome p50 %.2f ms p99 %.2f ms\n",
	       n, msg.len, signed_mode ? ", signed" : "", accepted, inflight, (double)n * 1e3 / wall,
	       c0 / (double)n, lat[n / 2], lat[(size_t)((double)n * 0.99)]);
	smtp_pool_free(p);
	for (int i = 0; i < inflight; i++)
		strbuf_free(&items[i].wire);
	free(items);
	free(done);
	free(free_items);
	free(lat);
	dkim_signer_free(signer);
	strbuf_free(&html);
	strbuf_free(&text);
	strbuf_free(&msg);
	strbuf_free(&priv);
	strbuf_free(&pub);
	return accepted == n ? 0 : 1;
}
