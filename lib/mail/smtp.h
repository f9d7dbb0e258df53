/* SMTP transport through libcurl: SMTP, SMTPS and STARTTLS, with credentials
 * and a CA file. A pool of connections kept open across messages, driven by
 * a few threads (curl multi handles), so several messages are in flight at
 * once; an optional messages-per-second ceiling. Each message gets an outcome with the
 * server's reply. No database, no logging: the caller decides what it means. */
#ifndef FS_SMTP_H
#define FS_SMTP_H

#include <stddef.h>

enum smtp_tls {
	SMTP_TLS_AUTO,     /* STARTTLS when offered; required when credentials are set */
	SMTP_TLS_STARTTLS, /* STARTTLS required */
	SMTP_TLS_NONE,     /* never STARTTLS (smtps:// is TLS all the same) */
};

struct smtp_settings {
	const char *url;       /* smtp://host[:port][/ehlo-name] or smtps://... */
	const char *user;      /* "" or NULL: no authentication */
	const char *password;
	const char *ca_file;   /* "" or NULL: the system's trust store */
	enum smtp_tls tls;
	int concurrency;       /* messages in flight, one connection each (1..256) */
	double rate;           /* messages per second at most; 0: no ceiling */
	long timeout_ms;       /* one message, connection included */
};

enum smtp_result {
	SMTP_ACCEPTED,  /* 2xx after the message */
	SMTP_TEMPORARY, /* 4xx, or the message never reached the server: try again later */
	SMTP_PERMANENT, /* 5xx for the recipient or the message: a bounce */
	SMTP_IN_DOUBT,  /* the whole message went out and no final reply came back */
};

/* Where the dialogue was when the reply came (for classifying it). */
enum smtp_stage {
	SMTP_STAGE_CONNECT, SMTP_STAGE_MAIL, SMTP_STAGE_RCPT, SMTP_STAGE_DATA, SMTP_STAGE_BODY,
	SMTP_STAGE_END,
};

struct smtp_outcome {
	enum smtp_result result;
	int code;         /* the last SMTP reply code, 0 when none came */
	char text[240];   /* that reply ("550 5.1.1 <a@b>: no such user") or the client's error */
};

/* One message for one recipient. The caller owns every field and keeps them
 * alive from smtp_pool_submit until the job comes back from smtp_pool_wait. */
struct smtp_job {
	const char *from;      /* envelope sender, addr-spec */
	const char *to;        /* the recipient, addr-spec */
	const char *data;      /* the message, CRLF line ends */
	size_t len;
	void *tag;             /* the caller's */
	/* NULL, or run by the driver thread just before the exchange (DKIM
	 * signing, off the caller's thread): may set data and len; non-zero
	 * fails the job as SMTP_TEMPORARY with out.text as it left it. */
	int (*prepare)(struct smtp_job *job);
	struct smtp_outcome out;
	/* the pool's */
	struct smtp_job *next;
	size_t sent;
};

struct smtp_pool;

/* Start the driver threads (no connection is opened until the first
 * message). NULL with a message in err when the settings are unusable. */
struct smtp_pool *smtp_pool_new(const struct smtp_settings *s, char *err, size_t errlen);
/* Wait for messages in flight, close every connection (QUIT), stop the threads. */
void smtp_pool_free(struct smtp_pool *p);
/* How many messages may be submitted now: free slots, within the rate
 * ceiling. A job holds its slot from submit until smtp_pool_release. */
int smtp_pool_ready(struct smtp_pool *p);
/* Hand one message over (it counts against the rate at once). */
void smtp_pool_submit(struct smtp_pool *p, struct smtp_job *job);
/* Finished jobs (at most max) into done; waits up to timeout_ms until at
 * least one has finished or, when want_more, until smtp_pool_ready would be
 * above zero; returns at once when nothing is in flight. How many were put
 * in done. */
size_t smtp_pool_wait(struct smtp_pool *p, struct smtp_job **done, size_t max, int want_more,
		      long timeout_ms);
/* Give back n slots of finished jobs whose outcome the caller has recorded. */
void smtp_pool_release(struct smtp_pool *p, int n);
/* Jobs submitted and not yet released. */
int smtp_pool_outstanding(const struct smtp_pool *p);

/* Classify a finished exchange: curl's result (0 = CURLE_OK), the last reply
 * code and the stage it came in, and whether the whole message was handed
 * over. Pure, for tests. */
enum smtp_result smtp_classify(int curl_code, int reply_code, enum smtp_stage stage,
			       int body_sent);

#endif
