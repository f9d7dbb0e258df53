/* Stripe's REST API over HTTPS (libcurl): form-encoded POSTs with nested
 * keys, an Idempotency-Key on every call (the same on its one retry after a
 * network error), timeouts, a capped answer, and Stripe's error object read
 * into our status convention with a sentence the client can show. */
#ifndef FS_NET_STRIPE_API_H
#define FS_NET_STRIPE_API_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/status.h"

struct strbuf;

/* Bytes of an answer read; a longer one is cut and refused (502). */
#define STRIPE_ANSWER_MAX (256 * 1024)
/* Longest key built by stripe_form_add_nested. */
#define STRIPE_KEY_MAX 256

struct stripe_client {
	const char *base;        /* STRIPE_API_BASE, e.g. https://api.stripe.com */
	const char *secret_key;  /* STRIPE_SECRET_KEY */
	long timeout_ms;         /* one attempt, connection included */
	int https_only;          /* FLOWSEND_ENV=production: never in clear */
};

/* Append key=value to an application/x-www-form-urlencoded body ('&' between
 * pairs): unreserved bytes as they are, space as '+', the rest %XX (brackets
 * of nested keys too). value is (ptr, len) and may hold any byte. 0, or -1
 * when the buffer could not grow. */
int stripe_form_add(struct strbuf *form, const char *key, const char *value, size_t value_len);
/* The same with a nested key from its parts: {"line_items", "0", "price"}
 * names line_items[0][price]. -1 also when a part is empty or holds a
 * bracket, or the key would pass STRIPE_KEY_MAX. */
int stripe_form_add_nested(struct strbuf *form, const char *const *parts, size_t nparts,
			   const char *value);

/* Read Stripe's answer (pure: no I/O; for the fuzzer and the tests). A 2xx
 * JSON object: FS_OK and *obj (one reference, the caller puts it). Otherwise
 * *obj NULL and err holds a sentence: card and invalid request errors
 * (400, 402, 404) FS_BAD_REQUEST with Stripe's message; an idempotency clash
 * (409) FS_CONFLICT; a refused key, rate limits, 5xx, an answer that is not
 * a JSON object: FS_BAD_GATEWAY. */
enum fs_status stripe_answer_read(long http_status, const char *body, size_t len,
				  json_object **obj, struct fs_error *err);

/* POST form to base + path ("/v1/customers") with idempotency_key; a network
 * error (no connection, a timeout, the connection dropped) is retried once
 * with the same key, then FS_BAD_GATEWAY. Then as stripe_answer_read. The
 * attempts made go to *attempts when it is not NULL. */
enum fs_status stripe_post(const struct stripe_client *c, const char *path, const char *form,
			   size_t form_len, const char *idempotency_key, json_object **obj,
			   int *attempts, struct fs_error *err);

#endif
