/* libFuzzer target: the link rewriter and the pixel on any bytes. Keeping
 * every link must give the input back byte for byte; replacing must call the
 * callback once per link replaced, leave no replaced value unquoted, and the
 * pixel must appear exactly once. Never a crash or a read past the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/html_links.h"

static int keep(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	(void)repl;
	(void)url;
	(void)len;
	(*(long *)arg)++;
	return 0;
}

static int replace(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	if (!html_link_trackable(url, len, "https://fs.example/u/"))
		return 0;
	(*(long *)arg)++;
	strbuf_appends(repl, "https://fs.example/t/c/TOKEN\"<&>");
	return 1;
}

static size_t count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (size_t i = 0; i + k <= len; i++)
		if (memcmp(hay + i, needle, k) == 0)
			n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *html = (const char *)data;
	struct strbuf out = STRBUF_INIT;
	long seen = 0, replaced, calls = 0;

	if (html_links_rewrite(html, size, keep, &seen, &out) != 0 || out.len != size ||
	    (size && memcmp(out.buf, html, size) != 0))
		abort();
	strbuf_reset(&out);
	replaced = html_links_rewrite(html, size, replace, &calls, &out);
	if (replaced < 0 || replaced != calls || replaced > seen)
		abort();
	/* a replacement is written escaped: its quote and brackets never appear raw */
	if (count(out.buf ? out.buf : "", out.len, "TOKEN&quot;&lt;&amp;&gt;") < (size_t)replaced)
		abort();
	strbuf_reset(&out);
	if (html_links_add_pixel(html, size, "https://fs.example/t/o/P.gif", &out) < 0 ||
	    out.len <= size ||
	    count(out.buf, out.len, "https://fs.example/t/o/P.gif") !=
		    count(html, size, "https://fs.example/t/o/P.gif") + 1)
		abort();
	strbuf_free(&out);
	return 0;
}
