/* Link tracking in a message's HTML: every <a>/<area> href handed to a
 * callback that may replace it, and an open pixel added before </body>. Pure
 * text work (no I/O), so the worker, the tests and the fuzzer share it. */
#ifndef FS_HTML_LINKS_H
#define FS_HTML_LINKS_H

#include <stddef.h>

#include "core/strbuf.h"

/* The longest link target that is tracked; longer ones stay as they are. */
#define HTML_LINK_MAX 4096

/* Called with a link's target, HTML entities decoded and surrounding spaces
 * trimmed. Append the replacement URL (plain text) to repl and return 1, or
 * return 0 to keep the link as it is, -1 to stop with an error. */
typedef int (*html_link_fn)(void *arg, const char *url, size_t len, struct strbuf *repl);

/* Copy html[0..len) to out with hrefs replaced as fn says (a replaced value
 * is written double-quoted and escaped). Everything else is copied byte for
 * byte, so with fn keeping every link out equals the input. The number of
 * links replaced, or -1 (fn's error, or out of memory). */
long html_links_rewrite(const char *html, size_t len, html_link_fn fn, void *arg,
			struct strbuf *out);

/* Whether a link target is one to track: http(s) only (not mailto:, tel:,
 * javascript:, data:, #anchors or relative), without spaces or control
 * characters, at most HTML_LINK_MAX bytes, and not starting with skip (the
 * unsubscribe link's prefix; NULL or "" for none). */
int html_link_trackable(const char *url, size_t len, const char *skip);

/* Append html[0..len) to out with <img src="src"> (1x1, no border) inserted
 * before the last </body> (any case), or at the end when there is none.
 * 0, or -1 out of memory. */
int html_links_add_pixel(const char *html, size_t len, const char *src, struct strbuf *out);

#endif
