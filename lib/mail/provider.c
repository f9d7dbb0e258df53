/* Provider notifications: SNS's signed messages (AWS "Verifying the signatures
 * of Amazon SNS messages") and SendGrid's signed event webhook. Every check
 * fails closed: a field missing or of another type is no signature. */
#include "mail/provider.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/uuid.h"

/* Notifications bigger than this are no SES or SendGrid event batch. */
#define BODY_MAX (1u << 20)

static const char *str_member(json_object *o, const char *key, int *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

static json_object *parse(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o;

	if (len > BODY_MAX || len > (size_t)INT32_MAX)
		return NULL;
	if (!(tok = json_tokener_new_ex(32)))
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int sns_parse(const char *body, size_t len, struct sns_message *m)
{
	int bad = 0;

	memset(m, 0, sizeof(*m));
	m->root = parse(body, len);
	if (!m->root || !json_object_is_type(m->root, json_type_object))
		return -1;
	m->type = str_member(m->root, "Type", &bad);
	m->message_id = str_member(m->root, "MessageId", &bad);
	m->token = str_member(m->root, "Token", &bad);
	m->topic_arn = str_member(m->root, "TopicArn", &bad);
	m->subject = str_member(m->root, "Subject", &bad);
	m->message = str_member(m->root, "Message", &bad);
	m->timestamp = str_member(m->root, "Timestamp", &bad);
	m->signature_version = str_member(m->root, "SignatureVersion", &bad);
	m->signature = str_member(m->root, "Signature", &bad);
	m->signing_cert_url = str_member(m->root, "SigningCertURL", &bad);
	m->subscribe_url = str_member(m->root, "SubscribeURL", &bad);
	if (bad || !m->type || !m->message_id || !m->topic_arn || !m->message || !m->timestamp ||
	    !m->signature_version || !m->signature || !m->signing_cert_url)
		return -1;
	return 0;
}

void sns_free(struct sns_message *m)
{
	json_object_put(m->root);
	m->root = NULL;
}

static void pair(struct strbuf *out, const char *name, const char *value)
{
	strbuf_appends(out, name);
	strbuf_appendc(out, '\n');
	strbuf_appends(out, value);
	strbuf_appendc(out, '\n');
}

int sns_string_to_sign(const struct sns_message *m, struct strbuf *out)
{
	strbuf_reset(out);
	if (strcmp(m->type, "Notification") == 0) {
		pair(out, "Message", m->message);
		pair(out, "MessageId", m->message_id);
		if (m->subject)
			pair(out, "Subject", m->subject);
		pair(out, "Timestamp", m->timestamp);
		pair(out, "TopicArn", m->topic_arn);
		pair(out, "Type", m->type);
	} else if (strcmp(m->type, "SubscriptionConfirmation") == 0 ||
		   strcmp(m->type, "UnsubscribeConfirmation") == 0) {
		if (!m->subscribe_url || !m->token)
			return -1;
		pair(out, "Message", m->message);
		pair(out, "MessageId", m->message_id);
		pair(out, "SubscribeURL", m->subscribe_url);
		pair(out, "Timestamp", m->timestamp);
		pair(out, "Token", m->token);
		pair(out, "TopicArn", m->topic_arn);
		pair(out, "Type", m->type);
	} else {
		return -1;
	}
	return out->oom ? -1 : 0;
}

int sns_topic_allowed(const char *allowed, const char *arn)
{
	size_t arn_len;

	if (!allowed || !*allowed)
		return 1;
	if (!arn || !*arn)
		return 0;
	arn_len = strlen(arn);
	while (*allowed) {
		const char *end;
		size_t len;

		while (*allowed == ' ' || *allowed == ',')
			allowed++;
		end = allowed;
		while (*end && *end != ',' && *end != ' ')
			end++;
		len = (size_t)(end - allowed);
		if (len && len == arn_len && memcmp(allowed, arn, len) == 0)
			return 1;
		allowed = end;
	}
	return 0;
}

int sns_url_ok(const char *url, int pem)
{
	static const char scheme[] = "https://sns.";
	const char *host = url + sizeof(scheme) - 1, *slash, *p;
	size_t hlen, plen;

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0 || !(slash = strchr(host, '/')))
		return 0;
	hlen = (size_t)(slash - host);
	/* <region>.amazonaws.com or <region>.amazonaws.com.cn, region [a-z0-9-]. */
	for (p = host; p < slash && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
	     p++)
		;
	if (p == host || p == slash)
		return 0;
	if (!((size_t)(slash - p) == 14 && strncmp(p, ".amazonaws.com", 14) == 0) &&
	    !((size_t)(slash - p) == 17 && strncmp(p, ".amazonaws.com.cn", 17) == 0))
		return 0;
	(void)hlen;
	/* The path: no query, fragment, back-references or odd bytes. */
	for (p = slash; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '#' || *p == '\\' || *p == '@' ||
		    (*p == '?' && pem))
			return 0;
	if (strstr(slash, "/.."))
		return 0;
	plen = strlen(slash);
	return !pem || (plen > 5 && strcmp(slash + plen - 4, ".pem") == 0);
}

/* Standard base64 (no white space) into a new buffer; NULL when malformed. */
static unsigned char *b64_decode(const char *in, size_t *out_len)
{
	size_t len = strlen(in), pad = 0;
	unsigned char *out;
	int n;

	if (len == 0 || len % 4 != 0 || len > BODY_MAX)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || (c == '=' && i >= len - 2)))
			return NULL;
	}
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if (pad == 1 && in[len - 2] == '=')
		return NULL;
	if (!(out = malloc(len / 4 * 3 + 1)))
		return NULL;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)n - pad;
	return out;
}

static int verify(EVP_PKEY *key, const EVP_MD *md, const unsigned char *sig, size_t sig_len,
		  const unsigned char *data, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
		 EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

int sns_verify(const char *cert_pem, size_t pem_len, const char *version, const char *sig_b64,
	       const char *data, size_t len)
{
	const EVP_MD *md = strcmp(version, "1") == 0 ? EVP_sha1()
			   : strcmp(version, "2") == 0 ? EVP_sha256()
						       : NULL;
	BIO *bio = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int ok = 0;

	if (!md || pem_len > BODY_MAX || !(sig = b64_decode(sig_b64, &sig_len)))
		goto out;
	if (!(bio = BIO_new_mem_buf(cert_pem, (int)pem_len)) ||
	    !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) || !(key = X509_get_pubkey(cert)) ||
	    EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		goto out;
	ok = verify(key, md, sig, sig_len, (const unsigned char *)data, len);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(bio);
	free(sig);
	return ok;
}

int sendgrid_verify(const char *pubkey_b64, const char *sig_b64, const char *timestamp,
		    const char *body, size_t len)
{
	unsigned char *der = NULL, *sig = NULL, *data = NULL;
	const unsigned char *p;
	size_t der_len = 0, sig_len = 0, tlen;
	EVP_PKEY *key = NULL;
	int ok = 0;

	if (!pubkey_b64 || !*pubkey_b64 || !sig_b64 || !timestamp || len > BODY_MAX)
		return 0;
	tlen = strlen(timestamp);
	if (tlen == 0 || tlen > 32 || !(der = b64_decode(pubkey_b64, &der_len)) ||
	    !(sig = b64_decode(sig_b64, &sig_len)) || !(data = malloc(tlen + len + 1)))
		goto out;
	p = der;
	if (!(key = d2i_PUBKEY(NULL, &p, (long)der_len)) || p != der + der_len ||
	    EVP_PKEY_base_id(key) != EVP_PKEY_EC)
		goto out;
	memcpy(data, timestamp, tlen);
	memcpy(data + tlen, body, len);
	ok = verify(key, EVP_sha256(), sig, sig_len, data, tlen + len);
out:
	EVP_PKEY_free(key);
	free(der);
	free(sig);
	free(data);
	return ok;
}

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src && *src && n + 1 < size; src++)
		dst[n++] = (unsigned char)*src >= 0x20 && (unsigned char)*src < 0x7f ? *src : '?';
	dst[n] = '\0';
}

static json_object *member(json_object *o, const char *key, json_type type)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type) ? v
											   : NULL;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = member(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

/* The first element of an array member, if an object. */
static json_object *first(json_object *o, const char *key)
{
	json_object *a = member(o, key, json_type_array), *e;

	e = a && json_object_array_length(a) > 0 ? json_object_array_get_idx(a, 0) : NULL;
	return e && json_object_is_type(e, json_type_object) ? e : NULL;
}

/* "smtp; 550 5.1.1 ..." or "5.1.1": the enhanced status if one leads. */
static void status_from(const char *s, char *out, size_t size)
{
	out[0] = '\0';
	if (s && (s[0] == '4' || s[0] == '5') && s[1] == '.' && strlen(s) < size &&
	    strspn(s + 2, "0123456789.") == strlen(s + 2))
		copy(out, size, s);
}

int ses_event_parse(const char *message, size_t len, struct provider_event *ev)
{
	json_object *root = parse(message, len), *mail, *o, *r;
	const char *type;

	memset(ev, 0, sizeof(*ev));
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -1;
	}
	type = member_str(root, "notificationType");
	if (!type)
		type = member_str(root, "eventType");
	mail = member(root, "mail", json_type_object);
	copy(ev->message_id, sizeof(ev->message_id),
	     member_str(member(mail, "commonHeaders", json_type_object), "messageId"));
	if (!*ev->message_id) {
		json_object *h = member(mail, "headers", json_type_array);
		for (size_t i = 0; h && i < json_object_array_length(h); i++) {
			json_object *e = json_object_array_get_idx(h, i);
			const char *name = member_str(e, "name");
			if (name && strcasecmp(name, "Message-ID") == 0) {
				copy(ev->message_id, sizeof(ev->message_id), member_str(e, "value"));
				break;
			}
		}
	}
	if (type && strcmp(type, "Bounce") == 0 && (o = member(root, "bounce", json_type_object))) {
		const char *bt = member_str(o, "bounceType");
		ev->report.kind = bt && strcmp(bt, "Permanent") == 0 ? DSN_HARD : DSN_SOFT;
		copy(ev->report.action, sizeof(ev->report.action), "failed");
		if ((r = first(o, "bouncedRecipients"))) {
			copy(ev->report.recipient, sizeof(ev->report.recipient),
			     member_str(r, "emailAddress"));
			status_from(member_str(r, "status"), ev->report.status,
				    sizeof(ev->report.status));
			copy(ev->report.diagnostic, sizeof(ev->report.diagnostic),
			     member_str(r, "diagnosticCode"));
		}
	} else if (type && strcmp(type, "Complaint") == 0 &&
		   (o = member(root, "complaint", json_type_object))) {
		const char *ft = member_str(o, "complaintFeedbackType");
		if (!ft || strcmp(ft, "not-spam") != 0)
			ev->report.kind = DSN_COMPLAINT;
		copy(ev->report.feedback_type, sizeof(ev->report.feedback_type), ft ? ft : "abuse");
		if ((r = first(o, "complainedRecipients")))
			copy(ev->report.recipient, sizeof(ev->report.recipient),
			     member_str(r, "emailAddress"));
	} else if (type && strcmp(type, "DeliveryDelay") == 0) {
		ev->report.kind = DSN_SOFT;
		copy(ev->report.action, sizeof(ev->report.action), "delayed");
	}
	json_object_put(root);
	return 0;
}

int sendgrid_events_parse(const char *body, size_t len, struct provider_event *out, size_t max,
			  size_t *n)
{
	json_object *root = parse(body, len);
	size_t count;

	*n = 0;
	if (!root || !json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return -1;
	}
	count = json_object_array_length(root);
	for (size_t i = 0; i < count && *n < max; i++) {
		json_object *e = json_object_array_get_idx(root, i);
		struct provider_event *ev = &out[*n];
		const char *event = member_str(e, "event"), *type = member_str(e, "type");

		if (!e || !json_object_is_type(e, json_type_object))
			continue;
		memset(ev, 0, sizeof(*ev));
		copy(ev->message_id, sizeof(ev->message_id), member_str(e, "smtp-id"));
		copy(ev->report.recipient, sizeof(ev->report.recipient), member_str(e, "email"));
		status_from(member_str(e, "status"), ev->report.status, sizeof(ev->report.status));
		copy(ev->report.diagnostic, sizeof(ev->report.diagnostic), member_str(e, "reason"));
		if (event && strcmp(event, "bounce") == 0) {
			ev->report.kind = type && strcmp(type, "blocked") == 0 ? DSN_SOFT : DSN_HARD;
			copy(ev->report.action, sizeof(ev->report.action), "failed");
		} else if (event && strcmp(event, "deferred") == 0) {
			ev->report.kind = DSN_SOFT;
			copy(ev->report.action, sizeof(ev->report.action), "delayed");
		} else if (event && strcmp(event, "spamreport") == 0) {
			ev->report.kind = DSN_COMPLAINT;
			copy(ev->report.feedback_type, sizeof(ev->report.feedback_type), "abuse");
		}
		(*n)++;
	}
	json_object_put(root);
	return 0;
}

int provider_message_outbox(const char *message_id, char id[37])
{
	const char *p = message_id;
	size_t i;

	if (!p)
		return -1;
	if (*p == '<')
		p++;
	/* 8-4-4-4-12 hex digits, then '@'. */
	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? p[i] != '-' : hex_value(p[i]) < 0)
			return -1;
		id[i] = p[i] >= 'A' && p[i] <= 'F' ? (char)(p[i] + 32) : p[i];
	}
	id[36] = '\0';
	return p[36] == '@' ? 0 : -1;
}
