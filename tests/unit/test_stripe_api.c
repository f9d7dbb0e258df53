/* The Stripe client's pure parts: the form encoder (nested keys, escaping of
 * every byte that needs it, refused keys), Stripe's answers and error
 * objects mapped to our statuses with a clean sentence, the 502 status, and
 * the configuration (production refuses an http STRIPE_API_BASE); plus a
 * call to a closed port: two attempts, then 502. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "core/utf8.h"
#include "net/stripe_api.h"
#include "unit.h"

START_TEST(form_encodes_nested_keys_and_escapes)
{
	static const char *const price[] = { "line_items", "0", "price" };
	static const char *const meta[] = { "subscription_data", "metadata", "plan" };
	static const char *const one[] = { "mode" };
	struct strbuf f = STRBUF_INIT;

	ck_assert_int_eq(stripe_form_add_nested(&f, one, 1, "subscription"), 0);
	ck_assert_int_eq(stripe_form_add_nested(&f, price, 3, "price_123"), 0);
	ck_assert_int_eq(stripe_form_add_nested(&f, meta, 3, "pro"), 0);
	ck_assert_str_eq(strbuf_cstr(&f), "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_123"
					  "&subscription_data%5Bmetadata%5D%5Bplan%5D=pro");
	strbuf_reset(&f);
	/* Reserved bytes, space, UTF-8 and a NUL inside the value all escape. */
	ck_assert_int_eq(stripe_form_add(&f, "email", "a+b&c=d@x.io", 12), 0);
	ck_assert_int_eq(stripe_form_add(&f, "url", "https://h/p?q=1&s={ID}#f", 24), 0);
	ck_assert_int_eq(stripe_form_add(&f, "name", "J\xc3\xb6rg O'Neil 100%", 17), 0);
	ck_assert_int_eq(stripe_form_add(&f, "nul", "a\0b", 3), 0);
	ck_assert_int_eq(stripe_form_add(&f, "empty", "", 0), 0);
	ck_assert_int_eq(stripe_form_add(&f, "safe", "AZaz09-_.~", 10), 0);
	ck_assert_str_eq(strbuf_cstr(&f),
			 "email=a%2Bb%26c%3Dd%40x.io"
			 "&url=https%3A%2F%2Fh%2Fp%3Fq%3D1%26s%3D%7BID%7D%23f"
			 "&name=J%C3%B6rg+O%27Neil+100%25&nul=a%00b&empty=&safe=AZaz09-_.~");
	strbuf_free(&f);
}
END_TEST

START_TEST(form_refuses_bad_nested_keys)
{
	static const char *const bracket[] = { "a", "b]" };
	static const char *const open[] = { "a[", "b" };
	static const char *const empty[] = { "a", "" };
	static const char *const null[] = { "a", NULL };
	const char *huge[2];
	char big[STRIPE_KEY_MAX + 8];
	struct strbuf f = STRBUF_INIT;

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	huge[0] = "a";
	huge[1] = big;
	ck_assert_int_eq(stripe_form_add_nested(&f, bracket, 2, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, open, 2, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, empty, 2, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, null, 2, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, huge, 2, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, bracket, 0, "v"), -1);
	ck_assert_int_eq(stripe_form_add_nested(&f, empty, 1, NULL), -1);
	ck_assert_uint_eq(f.len, 0);
	strbuf_free(&f);
}
END_TEST

static enum fs_status read_answer(long status, const char *body, struct fs_error *err)
{
	json_object *obj = (json_object *)1;
	enum fs_status st = stripe_answer_read(status, body, body ? strlen(body) : 0, &obj, err);

	if (st == FS_OK) {
		ck_assert_ptr_nonnull(obj);
		json_object_put(obj);
	} else {
		ck_assert_ptr_null(obj);
	}
	return st;
}

START_TEST(errors_map_to_clear_statuses)
{
	struct fs_error err;

	ck_assert_int_eq(read_answer(200, "{\"id\":\"cs_1\",\"url\":\"https://x\"}", &err), FS_OK);
	ck_assert_int_eq(read_answer(402,
				     "{\"error\":{\"type\":\"card_error\",\"code\":\"card_declined\","
				     "\"message\":\"Your card was declined.\"}}",
				     &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "The payment was declined by Stripe: Your card was declined.");
	ck_assert_int_eq(read_answer(400,
				     "{\"error\":{\"type\":\"invalid_request_error\","
				     "\"message\":\"No such price: 'p'\",\"param\":\"line_items[0][price]\"}}",
				     &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "Stripe refused the request: No such price: 'p'");
	ck_assert_int_eq(read_answer(404, "{\"error\":{\"type\":\"invalid_request_error\"}}", &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "Stripe refused the request: no error message");
	ck_assert_int_eq(read_answer(409, "{\"error\":{\"type\":\"idempotency_error\"}}", &err),
			 FS_CONFLICT);
	ck_assert_int_eq(read_answer(401, "{\"error\":{\"message\":\"Invalid API key provided\"}}", &err),
			 FS_BAD_GATEWAY);
	ck_assert_ptr_nonnull(strstr(err.detail, "API key"));
	ck_assert_int_eq(read_answer(429, "{}", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(read_answer(500, "{\"error\":{\"type\":\"api_error\"}}", &err), FS_BAD_GATEWAY);
	ck_assert_str_eq(err.detail, "Stripe failed (HTTP 500); try again shortly");
	ck_assert_int_eq(read_answer(503, "<html>down</html>", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(read_answer(302, NULL, &err), FS_BAD_GATEWAY);
	ck_assert_ptr_nonnull(strstr(err.detail, "HTTP 302"));
	/* A 2xx that is not a JSON object is no answer. */
	ck_assert_int_eq(read_answer(200, "<html></html>", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(read_answer(200, "[1,2]", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(read_answer(200, "", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(read_answer(200, "{\"a\":1} trailing", &err), FS_BAD_GATEWAY);
	ck_assert_int_eq(fs_status_http(FS_BAD_GATEWAY), 502);
	ck_assert_str_eq(fs_http_reason(502), "Bad Gateway");
}
END_TEST

START_TEST(hostile_messages_are_cleaned_and_cut)
{
	struct fs_error err;
	struct strbuf body = STRBUF_INIT;

	/* Control characters become spaces. */
	ck_assert_int_eq(read_answer(400,
				     "{\"error\":{\"type\":\"card_error\",\"message\":\"a\\nb\\u0000c\\u2028d\"}}",
				     &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "The payment was declined by Stripe: a b");
	/* Not a string, or a message of 10,000 multi-byte characters. */
	ck_assert_int_eq(read_answer(400, "{\"error\":{\"type\":\"card_error\",\"message\":42}}", &err),
			 FS_BAD_REQUEST);
	ck_assert_str_eq(err.detail, "The payment was declined by Stripe: no error message");
	strbuf_appends(&body, "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"x");
	for (int i = 0; i < 10000; i++)
		strbuf_appends(&body, "\xe2\x82\xac");
	strbuf_appends(&body, "\"}}");
	ck_assert_int_eq(read_answer(400, body.buf, &err), FS_BAD_REQUEST);
	ck_assert(strlen(err.detail) < sizeof(err.detail));
	ck_assert(utf8_valid(err.detail, strlen(err.detail)));
	ck_assert(strlen(err.detail) <= strlen("Stripe refused the request: ") + 160);
	strbuf_free(&body);
}
END_TEST

START_TEST(a_closed_port_is_tried_twice_then_502)
{
	struct stripe_client c = { "http://127.0.0.1:1/", "sk_test_unit", 2000, 0 };
	json_object *obj = NULL;
	struct fs_error err;
	int attempts = 0;

	ck_assert_int_eq(stripe_post(&c, "/v1/customers", "email=a", 7, "key-1", &obj, &attempts, &err),
			 FS_BAD_GATEWAY);
	ck_assert_ptr_null(obj);
	ck_assert_int_eq(attempts, 2);
	ck_assert_str_eq(err.detail, "Stripe could not be reached; try again shortly");
	/* https only: an http base is never called. */
	c.https_only = 1;
	ck_assert_int_eq(stripe_post(&c, "/v1/customers", "email=a", 7, "key-2", &obj, &attempts, &err),
			 FS_BAD_GATEWAY);
	ck_assert_int_eq(attempts, 0);
	ck_assert_ptr_nonnull(strstr(err.detail, "https://"));
}
END_TEST

START_TEST(production_refuses_an_http_api_base)
{
	struct fs_config c;
	char err[256];

	setenv("FLOWSEND_ENV", "production", 1);
	setenv("FLOWSEND_JWT_SECRET", "a-real-secret-that-is-long-enough-123456", 1);
	setenv("FLOWSEND_PLATFORM_WEBHOOK_SECRET", "platform-secret", 1);
	setenv("STRIPE_WEBHOOK_SECRET", "whsec_real", 1);
	setenv("FLOWSEND_LINK_SECRET", "a-link-secret-of-our-own-long-enough-789", 1);
	setenv("FLOWSEND_SECRET_KEY", "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.stripe_api_base, "https://api.stripe.com");
	ck_assert_int_eq(c.stripe_timeout_ms, 20000);
	setenv("STRIPE_API_BASE", "http://127.0.0.1:12111", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "STRIPE_API_BASE"));
	setenv("FLOWSEND_ENV", "test", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), 0);
	setenv("STRIPE_API_BASE", "ftp://x", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	unsetenv("STRIPE_API_BASE");
	setenv("STRIPE_SECRET_KEY", "sk_test_a\r\nX-Injected: 1", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "STRIPE_SECRET_KEY"));
	unsetenv("STRIPE_SECRET_KEY");
	setenv("FLOWSEND_STRIPE_TIMEOUT_MS", "5", 1);
	ck_assert_int_eq(fs_config_load(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "FLOWSEND_STRIPE_TIMEOUT_MS"));
	unsetenv("FLOWSEND_STRIPE_TIMEOUT_MS");
	unsetenv("FLOWSEND_ENV");
	unsetenv("FLOWSEND_JWT_SECRET");
	unsetenv("FLOWSEND_PLATFORM_WEBHOOK_SECRET");
	unsetenv("STRIPE_WEBHOOK_SECRET");
	unsetenv("FLOWSEND_LINK_SECRET");
	unsetenv("FLOWSEND_SECRET_KEY");
}
END_TEST

Suite *stripe_api_suite(void)
{
	Suite *s = suite_create("stripe_api");
	TCase *tc = tcase_create("stripe_api");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, form_encodes_nested_keys_and_escapes);
	tcase_add_test(tc, form_refuses_bad_nested_keys);
	tcase_add_test(tc, errors_map_to_clear_statuses);
	tcase_add_test(tc, hostile_messages_are_cleaned_and_cut);
	tcase_add_test(tc, a_closed_port_is_tried_twice_then_502);
	tcase_add_test(tc, production_refuses_an_http_api_base);
	suite_add_tcase(s, tc);
	return s;
}
