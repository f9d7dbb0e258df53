/* libFuzzer target: Stripe's answers and the form encoder on any bytes.
 * The first byte picks the HTTP status; the rest is the body. An answer is
 * either an object (2xx only) or a status with a detail that is valid UTF-8
 * and fits; encoding the bytes as a value yields only unreserved bytes,
 * '+', '%XX', '=' and '&'. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/utf8.h"
#include "net/stripe_api.h"

static const long statuses[] = { 200, 201, 302, 400, 401, 402, 403, 404, 409, 429, 500, 502, 503 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf form = STRBUF_INIT;
	json_object *obj = NULL;
	struct fs_error err;
	enum fs_status st;
	long status;

	if (size < 1)
		return 0;
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	st = stripe_answer_read(status, (const char *)data + 1, size - 1, &obj, &err);
	if (st == FS_OK) {
		if (!obj || status >= 300 || !json_object_is_type(obj, json_type_object))
			abort();
		json_object_put(obj);
	} else {
		if (obj || strlen(err.detail) >= sizeof(err.detail) ||
		    !utf8_valid(err.detail, strlen(err.detail)))
			abort();
	}
	if (stripe_form_add(&form, "k", (const char *)data, size) != 0)
		abort();
	for (size_t i = 0; i < form.len; i++) {
		char c = form.buf[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-_.~+%=&", c)))
			abort();
	}
	strbuf_free(&form);
	return 0;
}
