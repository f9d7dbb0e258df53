/* Bounce and complaint notifications from sending providers: Amazon SNS
 * messages carrying SES events, and SendGrid's signed event webhook. Pure:
 * parsing, the strings that are signed and the signature checks; fetching
 * SNS's certificate and recording are the caller's (services/bounces). */
#ifndef FS_PROVIDER_H
#define FS_PROVIDER_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/strbuf.h"
#include "mail/dsn.h"

/* An SNS message (the HTTP body, JSON). Fields borrow from root; NULL when
 * absent. */
struct sns_message {
	json_object *root;
	const char *type, *message_id, *token, *topic_arn, *subject, *message, *timestamp;
	const char *signature_version, *signature, *signing_cert_url, *subscribe_url;
};

/* 0, or -1 when body is not an SNS message (not a JSON object, a field of
 * the wrong type, a required one missing). Free with sns_free either way. */
int sns_parse(const char *body, size_t len, struct sns_message *m);
void sns_free(struct sns_message *m);
/* The text SNS signed for m (its documented field order), into out; -1 for a
 * type that is not signed this way. */
int sns_string_to_sign(const struct sns_message *m, struct strbuf *out);
/* 1 when url is https://sns.<region>.amazonaws.com[.cn]/<path> with no user,
 * port, query or fragment, and (pem) a path ending in ".pem"; else 0. */
int sns_url_ok(const char *url, int pem);
/* 1 when allowed (a comma-separated list of topic ARNs, spaces ignored) is
 * empty or names arn exactly; else 0. */
int sns_topic_allowed(const char *allowed, const char *arn);
/* 1 when sig_b64 is the signature of data[0..len) by the certificate in
 * cert_pem (SignatureVersion "1": SHA1 with RSA, "2": SHA256 with RSA). */
int sns_verify(const char *cert_pem, size_t pem_len, const char *version, const char *sig_b64,
	       const char *data, size_t len);

/* What a provider event says about one message. */
struct provider_event {
	struct dsn_report report; /* kind, status, diagnostic, recipient, feedback_type */
	char message_id[200];     /* our Message-ID as the provider saw it */
};

/* The SES event in an SNS Notification's Message (notification or event
 * publishing format): Bounce (Permanent: hard; Transient or Undetermined:
 * soft), Complaint, DeliveryDelay (soft); other types are DSN_NONE. 0, or -1
 * when message is not JSON. */
int ses_event_parse(const char *message, size_t len, struct provider_event *ev);

/* SendGrid: 1 when sig_b64 (DER ECDSA) verifies timestamp followed by
 * body[0..len) with SHA-256 under the base64 DER public key; else 0. */
int sendgrid_verify(const char *pubkey_b64, const char *sig_b64, const char *timestamp,
		    const char *body, size_t len);
/* The events of a SendGrid webhook body (a JSON array), up to max into out:
 * bounce (type blocked: soft, else hard), deferred (soft), spamreport
 * (complaint); others DSN_NONE. The number read into *n; -1 when body is not
 * an array. */
int sendgrid_events_parse(const char *body, size_t len, struct provider_event *out, size_t max,
			  size_t *n);

/* The outbox id in one of our Message-IDs ("<uuid@domain>", brackets
 * optional) into id (37 bytes, lower case); 0, or -1 for any other shape. */
int provider_message_outbox(const char *message_id, char id[37]);

#endif
