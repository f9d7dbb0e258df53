/* libFuzzer target: the template compiler on any bytes, as every part; what
 * compiles must render, an HTML render must never carry a value's '<' (the
 * first name's "<q7Z", unless the template itself holds "q7Z"), and a
 * subject no control character or Unicode line break. The custom fields are
 * what the link, CSS and script checks must catch, alone or together (the
 * seeds use them). The same bytes also go through the HTML-to-text reader on
 * their own. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "mail/html_text.h"
#include "mail/template.h"

static int holds(const char *s, size_t len, const char *what)
{
	size_t n = strlen(what);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(s + i, what, n) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum tpl_part parts[] = { TPL_HTML, TPL_TEXT, TPL_HEADER };
	struct tpl_values v = { .first_name = "\"'</script><q7Z>", .last_name = "\r\n",
				.email = "a@b.c", .unsubscribe_url = "https://u.test/?a=1&b=2",
				.postal_address = "1 Main St" };
	json_object *custom = json_tokener_parse(
		"{\"js\":\" JaVa\\tScRiPt:alert(1)\",\"net\":\"/\\\\evil.test\",\"path\":\"/\","
		"\"attr\":\"onclick\",\"css\":\"red;background:url(//evil.test)\",\"dash\":\"--\","
		"\"end\":\"ipt\",\"sep\":\"a\\u2028b\\u0085c\\u009fd\\u2029\"}");
	struct strbuf out = STRBUF_INIT;
	struct tpl_message m;
	struct tpl_error err;

	v.custom = custom;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct tpl *t = NULL;
		if (tpl_compile((const char *)data, size, parts[i], &t, &err) < 0) {
			if (t || err.line < 1 || err.column < 1 || !memchr(err.what, '\0', sizeof(err.what)))
				__builtin_trap();
			continue;
		}
		strbuf_reset(&out);
		if (tpl_render(t, &v, &out) < 0 || out.len < tpl_literal_size(t))
			__builtin_trap();
		if (parts[i] == TPL_HEADER && utf8_has_controls(out.buf ? out.buf : "", out.len, 0))
			__builtin_trap();
		if (parts[i] == TPL_HTML && !holds((const char *)data, size, "q7Z") &&
		    holds(out.buf ? out.buf : "", out.len, "<q7Z"))
			__builtin_trap();
		tpl_free(t);
	}
	if (tpl_message_compile(&m, "s", 1, (const char *)data, size, NULL, 0, &err) == 0) {
		strbuf_reset(&out);
		if (tpl_render(m.text, &v, &out) < 0)
			__builtin_trap();
		tpl_message_free(&m);
	}
	strbuf_reset(&out);
	html_to_text((const char *)data, size, &out);
	strbuf_free(&out);
	json_object_put(custom);
	return 0;
}
