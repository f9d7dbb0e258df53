/* SMTP through libcurl, one sender thread per message in flight. Threads
 * rather than one curl multi handle: libcurl waits for the reply to the end
 * of a message inside its "done" step, blocking (lib/smtp.c, smtp_done ->
 * smtp_block_statemach, 7.88 and still in 8.x), so a multi handle would wait
 * out every message's final round trip in turn. Each thread keeps its own
 * easy handle, whose connection (and TLS session) carries the next message. */
#include "mail/smtp.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a thread follows of one exchange through curl's debug callback. */
struct exchange {
	enum smtp_stage stage;
	int code;
	int final_reply; /* a reply came after the message itself */
	int body_sent;   /* the read callback handed over the last byte */
	int quitting;    /* QUIT went out: its 221 says nothing about the message */
	char text[240];
	struct smtp_job *job;
};

struct sender {
	struct smtp_pool *pool;
	pthread_t tid;
	int started;
	struct exchange ex;
};

struct smtp_pool {
	char *url, *user, *password, *ca_file;
	long use_ssl;
	long timeout_ms;
	int concurrency;
	double rate, tokens, burst;
	double refilled_ms;
	pthread_mutex_t mu;
	pthread_cond_t work, done_cv;
	struct smtp_job *queue, *queue_tail, *done, *done_tail;
	int inflight;    /* submitted, not finished */
	int outstanding; /* submitted, not released */
	int stop;
	struct sender *senders;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

enum smtp_result smtp_classify(int curl_code, int reply_code, enum smtp_stage stage,
			       int body_sent)
{
	int cls = reply_code / 100;

	if (curl_code == 0)
		return SMTP_ACCEPTED;
	if (stage == SMTP_STAGE_END) /* the server answered the message itself */
		return cls == 4 ? SMTP_TEMPORARY : cls == 5 ? SMTP_PERMANENT : SMTP_IN_DOUBT;
	if (body_sent)
		return SMTP_IN_DOUBT; /* it may have taken the message and the reply got lost */
	if (cls == 4)
		return SMTP_TEMPORARY;
	/* A 5xx for this recipient or this message is a bounce; one before the
	 * recipient was named (greeting, EHLO, AUTH, MAIL FROM) is the relay's or
	 * our configuration's problem, never the contact's. */
	if (cls == 5 && (stage == SMTP_STAGE_RCPT || stage == SMTP_STAGE_DATA))
		return SMTP_PERMANENT;
	return SMTP_TEMPORARY;
}

/* Printable ASCII only: the text ends up in the database and in JSON. */
static void copy_clean(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '\r' || c == '\n')
			break;
		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[o] = '\0';
}

static void on_reply_line(struct exchange *ex, const char *line, size_t len)
{
	int code;

	if (ex->quitting || len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len > 3 && line[3] == '-' && ex->code == code)
		return; /* a continuation: keep the first line of a multi-line reply */
	ex->code = code;
	copy_clean(ex->text, sizeof(ex->text), line, len);
	if (ex->stage == SMTP_STAGE_DATA && code == 354) {
		ex->stage = SMTP_STAGE_BODY;
	} else if (ex->stage == SMTP_STAGE_BODY) {
		ex->stage = SMTP_STAGE_END;
		ex->final_reply = 1;
	}
}

static void on_command(struct exchange *ex, const char *cmd, size_t len)
{
	if (len >= 4 && strncmp(cmd, "MAIL", 4) == 0)
		ex->stage = SMTP_STAGE_MAIL;
	else if (len >= 4 && strncmp(cmd, "RCPT", 4) == 0)
		ex->stage = SMTP_STAGE_RCPT;
	else if (len >= 4 && strncmp(cmd, "DATA", 4) == 0)
		ex->stage = SMTP_STAGE_DATA;
	else if (len >= 4 && strncmp(cmd, "QUIT", 4) == 0)
		ex->quitting = 1;
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
	struct exchange *ex = userp;

	(void)h;
	if (!ex->job)
		return 0; /* QUIT at cleanup */
	if (type == CURLINFO_HEADER_OUT) {
		on_command(ex, data, size);
	} else if (type == CURLINFO_HEADER_IN) {
		/* Usually one line per call; split in case curl hands over more. */
		while (size > 0) {
			char *nl = memchr(data, '\n', size);
			size_t n = nl ? (size_t)(nl - data) + 1 : size;
			on_reply_line(ex, data, n);
			data += n;
			size -= n;
		}
	}
	return 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct exchange *ex = userp;
	struct smtp_job *job = ex->job;
	size_t room = size * nitems, left = job->len - job->sent;
	size_t n = left < room ? left : room;

	memcpy(buf, job->data + job->sent, n);
	job->sent += n;
	if (n == 0)
		ex->body_sent = 1;
	return n;
}

static CURL *sender_handle(struct smtp_pool *p, struct exchange *ex)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, p->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USE_SSL, p->use_ssl);
	if (p->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
	if (p->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, p->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, p->password ? p->password : "");
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms < 15000 ? p->timeout_ms : 15000L);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, p->timeout_ms / 1000 > 0 ? p->timeout_ms / 1000 : 1L);
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, ex);
	/* The replies, to tell a refused recipient from a refused sender and to
	 * keep their text: verbose output goes to the callback, not stderr. */
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, ex);
	return h;
}

static CURLcode perform_once(CURL *h, struct exchange *ex, struct smtp_job *job, int fresh,
			     char *errbuf)
{
	memset(ex, 0, sizeof(*ex));
	ex->job = job;
	job->sent = 0;
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	return curl_easy_perform(h);
}

static void send_one(CURL *h, struct exchange *ex, struct smtp_job *job)
{
	char from[512], to[512], errbuf[CURL_ERROR_SIZE];
	struct curl_slist *rcpt = NULL;
	CURLcode rc;
	long fresh = 0;

	memset(&job->out, 0, sizeof(job->out));
	if ((size_t)snprintf(from, sizeof(from), "<%s>", job->from) >= sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "<%s>", job->to) >= sizeof(to) ||
	    !(rcpt = curl_slist_append(NULL, to))) {
		job->out.result = SMTP_PERMANENT;
		snprintf(job->out.text, sizeof(job->out.text), "address too long");
		return;
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)job->len);
	rc = perform_once(h, ex, job, 0, errbuf);
	/* A kept connection the server has since closed fails before anything
	 * of the message went out: once more on a new connection. */
	if (rc != CURLE_OK && ex->code == 0 && ex->stage < SMTP_STAGE_BODY &&
	    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &fresh) == CURLE_OK && fresh == 0)
		rc = perform_once(h, ex, job, 1, errbuf);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(rcpt);

	job->out.result = smtp_classify((int)rc, ex->code, ex->stage, ex->body_sent);
	job->out.code = ex->code;
	if (rc == CURLE_OK || ex->final_reply || (ex->code >= 400 && !ex->body_sent)) {
		snprintf(job->out.text, sizeof(job->out.text), "%s", ex->text);
	} else {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
		size_t used;
		copy_clean(job->out.text, sizeof(job->out.text) - 40, why, strlen(why));
		used = strlen(job->out.text);
		if (job->out.result == SMTP_IN_DOUBT)
			snprintf(job->out.text + used, sizeof(job->out.text) - used,
				 " (after the whole message was sent)");
	}
	ex->job = NULL;
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct smtp_pool *p = s->pool;
	CURL *h = sender_handle(p, &s->ex);

	for (;;) {
		struct smtp_job *job;

		pthread_mutex_lock(&p->mu);
		while (!p->stop && !p->queue)
			pthread_cond_wait(&p->work, &p->mu);
		job = p->queue;
		if (!job) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		p->queue = job->next;
		if (!p->queue)
			p->queue_tail = NULL;
		pthread_mutex_unlock(&p->mu);

		if (h && job->prepare) {
			memset(&job->out, 0, sizeof(job->out));
			if (job->prepare(job) != 0) {
				job->out.result = SMTP_TEMPORARY;
				if (!job->out.text[0])
					snprintf(job->out.text, sizeof(job->out.text),
						 "the message could not be prepared");
			} else {
				send_one(h, &s->ex, job);
			}
		} else if (h) {
			send_one(h, &s->ex, job);
		} else {
			memset(&job->out, 0, sizeof(job->out));
			job->out.result = SMTP_TEMPORARY;
			snprintf(job->out.text, sizeof(job->out.text), "out of memory");
		}

		pthread_mutex_lock(&p->mu);
		job->next = NULL;
		if (p->done_tail)
			p->done_tail->next = job;
		else
			p->done = job;
		p->done_tail = job;
		p->inflight--;
		pthread_cond_broadcast(&p->done_cv);
		pthread_mutex_unlock(&p->mu);
	}
	if (h)
		curl_easy_cleanup(h); /* QUIT on the kept connection */
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static void pool_free_fields(struct smtp_pool *p)
{
	free(p->url);
	free(p->user);
	free(p->password);
	free(p->ca_file);
	free(p->senders);
	free(p);
}

struct smtp_pool *smtp_pool_new(const struct smtp_settings *s, char *err, size_t errlen)
{
	struct smtp_pool *p;
	sigset_t all, old;
	int n = s->concurrency < 1 ? 1 : s->concurrency > 256 ? 256 : s->concurrency;

	if (!s->url || (strncmp(s->url, "smtp://", 7) != 0 && strncmp(s->url, "smtps://", 8) != 0)) {
		snprintf(err, errlen, "the SMTP URL must start with smtp:// or smtps://");
		return NULL;
	}
	if (s->ca_file && *s->ca_file && access(s->ca_file, R_OK) != 0) {
		snprintf(err, errlen, "cannot read the SMTP CA file %s: %s", s->ca_file, strerror(errno));
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl could not start");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->senders = calloc((size_t)n, sizeof(*p->senders))) ||
	    !(p->url = strdup(s->url)) || (s->user && *s->user && !(p->user = dup_or_null(s->user))) ||
	    (s->password && *s->password && !(p->password = dup_or_null(s->password))) ||
	    (s->ca_file && *s->ca_file && !(p->ca_file = dup_or_null(s->ca_file)))) {
		if (p)
			pool_free_fields(p);
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->concurrency = n;
	p->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 60000;
	p->rate = s->rate > 0 ? s->rate : 0;
	p->burst = p->rate > 10 ? p->rate / 10 : 1;
	p->tokens = p->burst;
	p->refilled_ms = now_ms();
	switch (s->tls) {
	case SMTP_TLS_STARTTLS:
		p->use_ssl = CURLUSESSL_ALL;
		break;
	case SMTP_TLS_NONE:
		p->use_ssl = CURLUSESSL_NONE;
		break;
	default: /* credentials never go out in the clear */
		p->use_ssl = p->user ? CURLUSESSL_ALL : CURLUSESSL_TRY;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	/* Signals (SIGTERM for the worker) go to the caller's thread, never a sender. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < n; i++) {
		p->senders[i].pool = p;
		if (pthread_create(&p->senders[i].tid, NULL, sender_main, &p->senders[i]) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "could not start SMTP sender threads");
			smtp_pool_free(p);
			return NULL;
		}
		p->senders[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

void smtp_pool_free(struct smtp_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->concurrency; i++)
		if (p->senders[i].started)
			pthread_join(p->senders[i].tid, NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->mu);
	pool_free_fields(p);
	curl_global_cleanup();
}

/* Under the lock: add the tokens earned since the last refill. */
static void refill(struct smtp_pool *p)
{
	double t = now_ms();

	if (p->rate > 0) {
		p->tokens += (t - p->refilled_ms) * p->rate / 1000.0;
		if (p->tokens > p->burst)
			p->tokens = p->burst;
	}
	p->refilled_ms = t;
}

static int ready_locked(struct smtp_pool *p)
{
	int slots = p->concurrency - p->outstanding;

	if (slots <= 0)
		return 0;
	if (p->rate > 0) {
		refill(p);
		if (p->tokens < 1.0)
			return 0;
		if ((double)slots > p->tokens)
			slots = (int)p->tokens;
	}
	return slots;
}

int smtp_pool_ready(struct smtp_pool *p)
{
	int n;

	pthread_mutex_lock(&p->mu);
	n = ready_locked(p);
	pthread_mutex_unlock(&p->mu);
	return n;
}

void smtp_pool_submit(struct smtp_pool *p, struct smtp_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->rate > 0) {
		refill(p);
		p->tokens -= 1.0;
	}
	if (p->queue_tail)
		p->queue_tail->next = job;
	else
		p->queue = job;
	p->queue_tail = job;
	p->inflight++;
	p->outstanding++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

size_t smtp_pool_wait(struct smtp_pool *p, struct smtp_job **done, size_t max, int want_more,
		      long timeout_ms)
{
	double end = now_ms() + (double)timeout_ms;
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		double wait_ms = end - now_ms();
		struct timespec until;

		if (p->done || p->inflight == 0 || (want_more && ready_locked(p) > 0) || wait_ms <= 0)
			break;
		if (want_more && p->rate > 0 && p->outstanding < p->concurrency && p->tokens < 1.0 &&
		    (1.0 - p->tokens) * 1000.0 / p->rate + 1 < wait_ms)
			wait_ms = (1.0 - p->tokens) * 1000.0 / p->rate + 1;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(wait_ms / 1000);
		until.tv_nsec += (long)((wait_ms - (double)(long)(wait_ms / 1000) * 1000) * 1e6);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->done_cv, &p->mu, &until);
	}
	while (p->done && n < max) {
		done[n++] = p->done;
		p->done = p->done->next;
	}
	if (!p->done)
		p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void smtp_pool_release(struct smtp_pool *p, int n)
{
	pthread_mutex_lock(&p->mu);
	p->outstanding -= n;
	if (p->outstanding < 0)
		p->outstanding = 0;
	pthread_mutex_unlock(&p->mu);
}

int smtp_pool_outstanding(const struct smtp_pool *p)
{
	return p->outstanding;
}
