/* Calls to Stripe's API: one easy handle per process, form bodies, the
 * Idempotency-Key kept across the one retry, and Stripe's answers (objects
 * or error objects) turned into a status and a sentence. Stripe's host is
 * fixed by the operator, so no address policy applies here (unlike
 * net/outbound.c, which calls what tenants typed). */
#include "net/stripe_api.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/utf8.h"
#include "json/json.h"

/* A Stripe message shown to a client: this many bytes at most. */
#define MESSAGE_MAX 160

int stripe_form_add(struct strbuf *form, const char *key, const char *value, size_t value_len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = { key, value };
	size_t lens[2] = { strlen(key), value_len };

	if (form->len && strbuf_appendc(form, '&') < 0)
		return -1;
	for (int p = 0; p < 2; p++) {
		if (p == 1 && strbuf_appendc(form, '=') < 0)
			return -1;
		for (size_t i = 0; i < lens[p]; i++) {
			unsigned char c = (unsigned char)parts[p][i];
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
			int rc;
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~')
				rc = strbuf_appendc(form, (char)c);
			else if (c == ' ')
				rc = strbuf_appendc(form, '+');
			else
				rc = strbuf_append(form, esc, 3);
			if (rc < 0)
				return -1;
		}
	}
	return form->oom ? -1 : 0;
}

int stripe_form_add_nested(struct strbuf *form, const char *const *parts, size_t nparts,
			   const char *value)
{
	char key[STRIPE_KEY_MAX + 1];
	size_t len = 0;

	if (nparts == 0 || !value)
		return -1;
	for (size_t i = 0; i < nparts; i++) {
		size_t n = parts[i] ? strlen(parts[i]) : 0;
		if (n == 0 || strpbrk(parts[i], "[]") || len + n + 2 > STRIPE_KEY_MAX)
			return -1;
		if (i)
			key[len++] = '[';
		memcpy(key + len, parts[i], n);
		len += n;
		if (i)
			key[len++] = ']';
	}
	key[len] = '\0';
	return stripe_form_add(form, key, value, strlen(value));
}

/* Stripe's message, made safe to show: valid UTF-8, no control characters,
 * at most MESSAGE_MAX bytes cut at a character boundary. */
static void clean_message(const char *s, size_t len, char *out, size_t size)
{
	size_t n = utf8_valid_prefix(s, len), o = 0, i = 0;

	if (n > MESSAGE_MAX)
		n = MESSAGE_MAX;
	while (i < n && o + 5 < size) {
		size_t start = i;
		uint32_t c = utf8_next(s, n, &i);
		if (i > n || i == start)
			break;
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029) {
			out[o++] = ' ';
		} else {
			memcpy(out + o, s + start, i - start);
			o += i - start;
		}
	}
	out[o] = '\0';
}

/* A string member of an object, or NULL. */
static const char *member(json_object *o, const char *key, size_t *len)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

enum fs_status stripe_answer_read(long http_status, const char *body, size_t len,
				  json_object **obj, struct fs_error *err)
{
	char perr[96], msg[MESSAGE_MAX + 8] = "";
	json_object *root = NULL, *error = NULL;
	const char *type = NULL, *text;
	size_t n = 0;
	enum fs_status st;

	*obj = NULL;
	if (len && body)
		root = fs_json_parse(body, len, perr, sizeof(perr));
	if (root && !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		root = NULL;
	}
	if (http_status >= 200 && http_status < 300) {
		if (!root)
			return fs_fail(err, FS_BAD_GATEWAY,
				       "Stripe's answer could not be read (not a JSON object)");
		*obj = root;
		return FS_OK;
	}
	if (root && json_object_object_get_ex(root, "error", &error) &&
	    json_object_is_type(error, json_type_object)) {
		type = member(error, "type", &n);
		if ((text = member(error, "message", &n)))
			clean_message(text, n, msg, sizeof(msg));
	}
	if (!msg[0])
		snprintf(msg, sizeof(msg), "no error message");
	if (!type)
		type = "";
	if (http_status == 402 || strcmp(type, "card_error") == 0)
		st = fs_fail(err, FS_BAD_REQUEST, "The payment was declined by Stripe: %s", msg);
	else if (http_status == 400 || http_status == 404)
		st = fs_fail(err, FS_BAD_REQUEST, "Stripe refused the request: %s", msg);
	else if (http_status == 409)
		st = fs_fail(err, FS_CONFLICT,
			     "Stripe is still handling the same request; try again in a moment");
	else if (http_status == 401 || http_status == 403)
		st = fs_fail(err, FS_BAD_GATEWAY,
			     "Stripe refused this server's API key (HTTP %ld): %s", http_status, msg);
	else if (http_status == 429)
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe is rate limiting this server; try again shortly");
	else if (http_status >= 500)
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe failed (HTTP %ld); try again shortly",
			     http_status);
	else
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe answered HTTP %ld: %s", http_status, msg);
	json_object_put(root);
	return st;
}

/* ---- the call ------------------------------------------------------------ */

static CURL *handle(void)
{
	static CURL *h;

	if (!h) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		h = curl_easy_init();
	}
	return h;
}

struct answer {
	struct strbuf body;
	int cut;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct answer *a = userp;
	size_t n = size * nmemb;

	if (n > STRIPE_ANSWER_MAX - a->body.len) {
		a->cut = 1;
		return 0;
	}
	return strbuf_append(&a->body, data, n) < 0 ? 0 : n;
}

/* Errors after which the request may not have reached Stripe, or its answer
 * did not reach us: the same call with the same key is safe to repeat. */
static int network_error(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE || rc == CURLE_SSL_CONNECT_ERROR;
}

enum fs_status stripe_post(const struct stripe_client *c, const char *path, const char *form,
			   size_t form_len, const char *idempotency_key, json_object **obj,
			   int *attempts, struct fs_error *err)
{
	struct answer ans = { STRBUF_INIT, 0 };
	struct curl_slist *hl = NULL;
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT, idem = STRBUF_INIT;
	enum fs_status st = fs_fail(err, FS_BAD_GATEWAY, "Stripe could not be reached");
	size_t blen = strlen(c->base);
	CURL *h = handle();
	CURLcode rc = CURLE_FAILED_INIT;
	long status = 0;
	int tries = 0;

	*obj = NULL;
	if (attempts)
		*attempts = 0;
	while (blen && c->base[blen - 1] == '/')
		blen--;
	strbuf_append(&url, c->base, blen);
	strbuf_appends(&url, path);
	strbuf_appendf(&auth, "Authorization: Bearer %s", c->secret_key);
	strbuf_appendf(&idem, "Idempotency-Key: %s", idempotency_key);
	if (!h || url.oom || auth.oom || idem.oom)
		goto out;
	if (c->https_only && strncmp(url.buf, "https://", 8) != 0) {
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe is only called over https://");
		goto out;
	}
	hl = curl_slist_append(hl, auth.buf);
	hl = curl_slist_append(hl, idem.buf);
	hl = curl_slist_append(hl, "Content-Type: application/x-www-form-urlencoded");
	hl = curl_slist_append(hl, "Expect:");
	for (tries = 1; tries <= 2; tries++) {
		strbuf_reset(&ans.body);
		ans.cut = 0;
		status = 0;
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url.buf);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->https_only ? "https" : "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "FlowSend-Billing/1");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK || !network_error(rc))
			break;
		log_warn("stripe %s: %s (attempt %d)", path, curl_easy_strerror(rc), tries);
	}
	if (tries > 2)
		tries = 2;
	if (ans.cut) {
		log_warn("stripe %s: answer over %d bytes cut", path, STRIPE_ANSWER_MAX);
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe's answer was too large to read");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe did not answer in time; try again shortly");
	} else if (rc != CURLE_OK) {
		log_warn("stripe %s: %s", path, curl_easy_strerror(rc));
		st = fs_fail(err, FS_BAD_GATEWAY, "Stripe could not be reached; try again shortly");
	} else {
		st = stripe_answer_read(status, ans.body.buf, ans.body.len, obj, err);
		if (st != FS_OK)
			log_warn("stripe %s: HTTP %ld: %s", path, status, err->detail);
	}
out:
	if (attempts)
		*attempts = tries;
	if (h) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	}
	curl_slist_free_all(hl);
	strbuf_free(&ans.body);
	strbuf_free(&url);
	strbuf_free(&auth);
	strbuf_free(&idem);
	return st;
}
