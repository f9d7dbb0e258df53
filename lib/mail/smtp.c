/* SMTP through libcurl: a few driver threads, each running a curl multi
 * handle over its share of the connections with curl_multi_socket_action and
 * epoll, so one thread keeps several messages moving without a thread per
 * message and a hand-off per message. Connections (and TLS sessions) stay in
 * each multi handle's cache and carry the next messages.
 *
 * Why several drivers rather than one: libcurl 7.88 (and 8.x) waits for the
 * reply to the end of a message inside its "done" step, blocking that
 * thread (lib/smtp.c, smtp_done -> smtp_block_statemach), so with one driver
 * every message's last round trip would stall all the others in turn.
 * SMTP_CONNS_PER_DRIVER connections per driver spreads those waits. */
#include "mail/smtp.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SMTP_CONNS_PER_DRIVER 8

/* What a connection follows of one exchange through curl's debug callback. */
struct exchange {
	enum smtp_stage stage;
	int code;
	int final_reply; /* a reply came after the message itself */
	int body_sent;   /* the read callback handed over the last byte */
	int quitting;    /* QUIT went out: its 221 says nothing about the message */
	char text[240];
	struct smtp_job *job;
};

struct driver;

/* One easy handle: one message at a time. */
struct conn {
	struct driver *d;
	CURL *h;
	struct exchange ex;
	struct smtp_job *job; /* NULL: idle */
	struct curl_slist *rcpt;
	int retried;
	char from[512], to[512], errbuf[CURL_ERROR_SIZE];
};

struct driver {
	struct smtp_pool *pool;
	pthread_t tid;
	int started;
	int epfd, evfd;
	CURLM *multi;
	double deadline_ms; /* curl's timer, absolute; < 0: none */
	struct conn *conns;
	int nconns;
	int idle;     /* under the pool's lock */
	/* In epoll_wait, wake through evfd: set under the pool's lock, and
	 * cleared without it after a wake-up (session 13: one lock round a
	 * pass less); a stale 1 costs a spurious wake-up, never a lost one. */
	int sleeping;
};

struct smtp_pool {
	char *url, *user, *password, *ca_file;
	long use_ssl;
	int proxy_env; /* a proxy variable is set: curl reads them per message */
	long timeout_ms;
	int concurrency;
	double rate, tokens, burst;
	double refilled_ms;
	pthread_mutex_t mu;
	pthread_cond_t done_cv;
	struct smtp_job *queue, *queue_tail, *done, *done_tail;
	int inflight;    /* submitted, not finished */
	int outstanding; /* submitted, not released */
	int stop;
	int waiting;     /* the caller sleeps on done_cv */
	int queued;      /* jobs in queue */
	struct driver *drivers;
	int ndrivers;
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

static CURL *conn_handle(struct smtp_pool *p, struct conn *c)
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
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	/* Session 12: with no proxy variable in the environment, say so once;
	 * otherwise curl looks up no_proxy, smtp_proxy and all_proxy (getenv,
	 * both spellings) for every message. */
	if (!p->proxy_env)
		curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &c->ex);
	curl_easy_setopt(h, CURLOPT_PRIVATE, c);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	/* The replies, to tell a refused recipient from a refused sender and to
	 * keep their text: verbose output goes to the callback, not stderr. */
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, &c->ex);
	return h;
}

/* Hand the connection's job to its multi handle; 0, or -1 (the job is
 * finished with an outcome). fresh: on a new connection. */
static int conn_start(struct conn *c, int fresh)
{
	struct smtp_job *job = c->job;

	memset(&c->ex, 0, sizeof(c->ex));
	c->ex.job = job;
	job->sent = 0;
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	if (curl_multi_add_handle(c->d->multi, c->h) != CURLM_OK) {
		job->out.result = SMTP_TEMPORARY;
		snprintf(job->out.text, sizeof(job->out.text), "the SMTP client could not start");
		return -1;
	}
	return 0;
}

/* A job taken from the queue onto an idle connection: prepared (DKIM) and
 * started; 0, or -1 when it finished at once (its outcome is set). */
static int conn_begin(struct conn *c, struct smtp_job *job)
{
	c->job = job;
	c->retried = 0;
	memset(&job->out, 0, sizeof(job->out));
	if (!c->h) {
		job->out.result = SMTP_TEMPORARY;
		snprintf(job->out.text, sizeof(job->out.text), "out of memory");
		return -1;
	}
	if (job->prepare && job->prepare(job) != 0) {
		job->out.result = SMTP_TEMPORARY;
		if (!job->out.text[0])
			snprintf(job->out.text, sizeof(job->out.text), "the message could not be prepared");
		return -1;
	}
	if ((size_t)snprintf(c->from, sizeof(c->from), "<%s>", job->from) >= sizeof(c->from) ||
	    (size_t)snprintf(c->to, sizeof(c->to), "<%s>", job->to) >= sizeof(c->to) ||
	    !(c->rcpt = curl_slist_append(NULL, c->to))) {
		job->out.result = SMTP_PERMANENT;
		snprintf(job->out.text, sizeof(job->out.text), "address too long");
		return -1;
	}
	curl_easy_setopt(c->h, CURLOPT_MAIL_FROM, c->from);
	curl_easy_setopt(c->h, CURLOPT_MAIL_RCPT, c->rcpt);
	curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)job->len);
	return conn_start(c, 0);
}

/* curl finished the connection's exchange with rc: 1 when the job is
 * finished (outcome set), 0 when it was started again on a new connection. */
static int conn_end(struct conn *c, CURLcode rc)
{
	struct exchange *ex = &c->ex;
	struct smtp_job *job = c->job;
	long fresh = 0;

	curl_multi_remove_handle(c->d->multi, c->h);
	/* A kept connection the server has since closed fails before anything
	 * of the message went out: once more on a new connection. */
	if (rc != CURLE_OK && !c->retried && ex->code == 0 && ex->stage < SMTP_STAGE_BODY &&
	    curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &fresh) == CURLE_OK && fresh == 0) {
		c->retried = 1;
		if (conn_start(c, 1) == 0)
			return 0;
	}
	job->out.result = smtp_classify((int)rc, ex->code, ex->stage, ex->body_sent);
	job->out.code = ex->code;
	if (rc == CURLE_OK || ex->final_reply || (ex->code >= 400 && !ex->body_sent)) {
		snprintf(job->out.text, sizeof(job->out.text), "%s", ex->text);
	} else {
		const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
		size_t used;
		copy_clean(job->out.text, sizeof(job->out.text) - 40, why, strlen(why));
		used = strlen(job->out.text);
		if (job->out.result == SMTP_IN_DOUBT)
			snprintf(job->out.text + used, sizeof(job->out.text) - used,
				 " (after the whole message was sent)");
	}
	return 1;
}

/* The job leaves its connection; its slot is idle again. */
static void conn_clear(struct conn *c)
{
	if (c->h) {
		curl_easy_setopt(c->h, CURLOPT_MAIL_RCPT, NULL);
		curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 0L);
	}
	curl_slist_free_all(c->rcpt);
	c->rcpt = NULL;
	c->ex.job = NULL;
	c->job = NULL;
}

static int on_socket(CURL *h, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct driver *d = userp;
	struct epoll_event ev;

	(void)h;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(d->multi, s, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	ev.data.fd = s;
	if (socketp) {
		if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev) == 0 || errno != ENOENT)
			return 0;
	}
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
		epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev);
	curl_multi_assign(d->multi, s, d);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct driver *d = userp;

	(void)m;
	d->deadline_ms = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
	return 0;
}

/* Finished jobs go to the caller in one hand-off. */
static void deliver_done(struct driver *d, struct smtp_job *first, struct smtp_job *last, int n)
{
	struct smtp_pool *p = d->pool;

	pthread_mutex_lock(&p->mu);
	if (p->done_tail)
		p->done_tail->next = first;
	else
		p->done = first;
	p->done_tail = last;
	p->inflight -= n;
	d->idle += n;
	if (p->waiting)
		pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->mu);
}

static void *driver_main(void *arg)
{
	struct driver *d = arg;
	struct smtp_pool *p = d->pool;
	struct epoll_event evs[64];

	for (;;) {
		struct smtp_job *first = NULL, *last = NULL, *take[SMTP_CONNS_PER_DRIVER];
		int ntake = 0, nfinished = 0, stop, busy = 0, running = 0, nev, wait_ms;
		CURLMsg *msg;
		int left;

		/* Jobs for idle connections; sleep only when there is nothing to take. */
		pthread_mutex_lock(&p->mu);
		while (d->idle > ntake && p->queue) {
			p->queued--;
			take[ntake++] = p->queue;
			p->queue = p->queue->next;
			if (!p->queue)
				p->queue_tail = NULL;
		}
		d->idle -= ntake;
		stop = p->stop;
		busy = d->nconns - d->idle;
		/* until it has run the jobs it took and looked again */
		__atomic_store_n(&d->sleeping, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&p->mu);
		if (stop && busy == 0)
			break;

		for (int i = 0, k = 0; i < ntake; i++) {
			struct conn *c = NULL;
			for (; k < d->nconns && !c; k++)
				if (!d->conns[k].job)
					c = &d->conns[k];
			if (conn_begin(c, take[i]) < 0) {
				struct smtp_job *job = c->job;
				conn_clear(c);
				job->next = NULL;
				if (last)
					last->next = job;
				else
					first = job;
				last = job;
				nfinished++;
			}
		}
		if (ntake)
			curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);

		if (d->deadline_ms < 0) {
			wait_ms = 1000;
		} else {
			double w = d->deadline_ms - now_ms();
			wait_ms = w <= 0 ? 0 : w > 1000 ? 1000 : (int)w + 1;
		}
		if (nfinished)
			wait_ms = 0;
		nev = epoll_wait(d->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), wait_ms);
		__atomic_store_n(&d->sleeping, 0, __ATOMIC_RELAXED);
		for (int i = 0; i < nev; i++) {
			if (evs[i].data.fd == d->evfd) {
				uint64_t v;
				if (read(d->evfd, &v, sizeof(v)) < 0) {
					/* nothing to do: the wake-up was read by an earlier pass */
				}
				continue;
			}
			curl_multi_socket_action(d->multi, evs[i].data.fd,
						 (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
							 (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
							 (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0),
						 &running);
		}
		if (d->deadline_ms >= 0 && now_ms() >= d->deadline_ms) {
			d->deadline_ms = -1;
			curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		while ((msg = curl_multi_info_read(d->multi, &left))) {
			struct conn *c = NULL;
			struct smtp_job *job;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			if (!c || !c->job || !conn_end(c, msg->data.result))
				continue;
			job = c->job;
			conn_clear(c);
			job->next = NULL;
			if (last)
				last->next = job;
			else
				first = job;
			last = job;
			nfinished++;
		}
		if (nfinished)
			deliver_done(d, first, last, nfinished);
	}
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static void driver_free(struct driver *d)
{
	if (d->multi) {
		for (int k = 0; k < d->nconns; k++)
			if (d->conns[k].h && d->conns[k].job)
				curl_multi_remove_handle(d->multi, d->conns[k].h);
		curl_multi_cleanup(d->multi); /* QUIT on the kept connections */
	}
	for (int k = 0; d->conns && k < d->nconns; k++) {
		if (d->conns[k].h)
			curl_easy_cleanup(d->conns[k].h);
		curl_slist_free_all(d->conns[k].rcpt);
	}
	free(d->conns);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->evfd >= 0)
		close(d->evfd);
}

static void pool_free_fields(struct smtp_pool *p)
{
	for (int i = 0; p->drivers && i < p->ndrivers; i++)
		driver_free(&p->drivers[i]);
	free(p->url);
	free(p->user);
	free(p->password);
	free(p->ca_file);
	free(p->drivers);
	free(p);
}

static int driver_init(struct smtp_pool *p, struct driver *d, int nconns)
{
	struct epoll_event ev;

	d->pool = p;
	d->nconns = nconns;
	d->idle = nconns;
	d->deadline_ms = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->conns = calloc((size_t)nconns, sizeof(*d->conns));
	d->multi = curl_multi_init();
	if (d->epfd < 0 || d->evfd < 0 || !d->conns || !d->multi)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = d->evfd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->evfd, &ev) != 0)
		return -1;
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)nconns);
	for (int k = 0; k < nconns; k++) {
		d->conns[k].d = d;
		d->conns[k].h = conn_handle(p, &d->conns[k]); /* NULL: its jobs fail "out of memory" */
	}
	return 0;
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
	if (p)
		p->ndrivers = (n + SMTP_CONNS_PER_DRIVER - 1) / SMTP_CONNS_PER_DRIVER;
	if (!p || !(p->drivers = calloc((size_t)p->ndrivers, sizeof(*p->drivers))) ||
	    !(p->url = strdup(s->url)) || (s->user && *s->user && !(p->user = dup_or_null(s->user))) ||
	    (s->password && *s->password && !(p->password = dup_or_null(s->password))) ||
	    (s->ca_file && *s->ca_file && !(p->ca_file = dup_or_null(s->ca_file)))) {
		if (p)
			pool_free_fields(p);
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < p->ndrivers; i++)
		p->drivers[i].epfd = p->drivers[i].evfd = -1;
	{
		static const char *const proxy_vars[] = { "all_proxy", "ALL_PROXY", "smtp_proxy",
							  "SMTP_PROXY", "smtps_proxy", "SMTPS_PROXY" };
		for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
			const char *v = getenv(proxy_vars[i]);
			if (v && *v)
				p->proxy_env = 1;
		}
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
	/* The connections, spread evenly over the drivers. */
	for (int i = 0; i < p->ndrivers; i++) {
		int share = n / p->ndrivers + (i < n % p->ndrivers);
		if (driver_init(p, &p->drivers[i], share) < 0) {
			snprintf(err, errlen, "could not set up the SMTP client");
			pool_free_fields(p);
			curl_global_cleanup();
			return NULL;
		}
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	/* Signals (SIGTERM for the worker) go to the caller's thread, never a driver. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < p->ndrivers; i++) {
		if (pthread_create(&p->drivers[i].tid, NULL, driver_main, &p->drivers[i]) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "could not start SMTP sender threads");
			smtp_pool_free(p);
			return NULL;
		}
		p->drivers[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

static void wake(struct driver *d)
{
	uint64_t one = 1;

	if (write(d->evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: a wake-up is pending anyway */
	}
}

void smtp_pool_free(struct smtp_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->ndrivers; i++)
		if (p->drivers[i].started)
			wake(&p->drivers[i]);
	for (int i = 0; i < p->ndrivers; i++)
		if (p->drivers[i].started)
			pthread_join(p->drivers[i].tid, NULL);
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
	p->queued++;
	/* A driver that is awake takes queued jobs for its idle connections
	 * before it sleeps; wake a sleeping one only for jobs beyond those. */
	{
		int awake_idle = 0;
		struct driver *sleeper = NULL;
		for (int i = 0; i < p->ndrivers; i++) {
			struct driver *d = &p->drivers[i];
			if (!__atomic_load_n(&d->sleeping, __ATOMIC_RELAXED))
				awake_idle += d->idle;
			else if (d->idle > 0 && !sleeper)
				sleeper = d;
		}
		if (p->queued > awake_idle && sleeper) {
			__atomic_store_n(&sleeper->sleeping, 0, __ATOMIC_RELAXED);
			wake(sleeper);
		}
	}
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
		/* A free slot waiting only for the rate's next token: sleep until it
		 * is due even with nothing in flight, or the caller spins on us. */
		int token_due = want_more && p->rate > 0 && p->outstanding < p->concurrency &&
				p->tokens < 1.0;

		if (p->done || (p->inflight == 0 && !token_due) || (want_more && ready_locked(p) > 0) ||
		    wait_ms <= 0)
			break;
		if (token_due && (1.0 - p->tokens) * 1000.0 / p->rate + 1 < wait_ms)
			wait_ms = (1.0 - p->tokens) * 1000.0 / p->rate + 1;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(wait_ms / 1000);
		until.tv_nsec += (long)((wait_ms - (double)(long)(wait_ms / 1000) * 1000) * 1e6);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		p->waiting = 1;
		pthread_cond_timedwait(&p->done_cv, &p->mu, &until);
		p->waiting = 0;
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
