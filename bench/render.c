/* make bench: how many messages per second one core renders from a compiled
 * 20 KB template with 5 variables (subject, HTML and derived text part). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/template.h"

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long messages = argc > 1 ? atol(argv[1]) : 200000;
	const char *head = "<!DOCTYPE html><html><head><style>.b{color:#f43f5e}</style></head><body>"
			   "<h1>Hello {{first_name|there}} {{last_name}}</h1>";
	const char *para = "<p style=\"margin:0 0 16px;font:16px/1.5 Helvetica,Arial,sans-serif;color:#333\">"
			   "Our spring collection is here, with new arrivals across every category and "
			   "free shipping on orders over fifty dollars this week only.</p>\n";
	const char *tail = "<p>Your company: {{custom.company|-}}</p><p>Sent to {{email}}. "
			   "<a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p></body></html>";
	struct strbuf html = STRBUF_INIT, subject = STRBUF_INIT, body = STRBUF_INIT, text = STRBUF_INIT;
	json_object *custom = json_object_new_object();
	struct tpl_values v = { .first_name = "Ann", .last_name = "O'Neil & Sons",
				.email = "ann@example.com",
				.unsubscribe_url = "https://flowsend.test/u/AbCdEfGh123",
				.postal_address = "1 Main St" };
	struct tpl_message m;
	struct tpl_error err;
	size_t bytes = 0;
	double t0, secs;

	json_object_object_add(custom, "company", json_object_new_string("Acme <Corp>"));
	v.custom = custom;
	strbuf_appends(&html, head);
	while (html.len < 20 * 1024 - strlen(tail))
		strbuf_appends(&html, para);
	strbuf_appends(&html, tail);
	if (tpl_message_compile(&m, "Hi {{first_name}}, new arrivals", 31, html.buf, html.len, NULL, 0,
				&err) < 0) {
		fprintf(stderr, "compile: %s\n", err.what);
		return 1;
	}
	t0 = cpu_seconds();
	for (long i = 0; i < messages; i++) {
		strbuf_reset(&subject);
		strbuf_reset(&body);
		strbuf_reset(&text);
		if (tpl_render(m.subject, &v, &subject) < 0 || tpl_render(m.html, &v, &body) < 0 ||
		    tpl_render(m.text, &v, &text) < 0)
			return 1;
		bytes += subject.len + body.len + text.len;
	}
	secs = cpu_seconds() - t0;
	printf("%.0f %zu %.1f\n", (double)messages / secs, html.len, (double)bytes / messages);
	tpl_message_free(&m);
	json_object_put(custom);
	strbuf_free(&html);
	strbuf_free(&subject);
	strbuf_free(&body);
	strbuf_free(&text);
	return 0;
}
