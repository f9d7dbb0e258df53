/* The plain-text part of an email, derived from its HTML when the author
 * wrote none: what a reader would see, with links spelled out. */
#ifndef FS_HTML_TEXT_H
#define FS_HTML_TEXT_H

#include <stddef.h>

#include "core/strbuf.h"

/* Append the text of html[0..len) to out: tags dropped (head, style, script,
 * comments and hidden preheaders with their content), blocks and line breaks
 * kept as lines, links as "text (url)", entities decoded, spaces collapsed.
 * Template variables pass through untouched. -1 when memory ran out. */
int html_to_text(const char *html, size_t len, struct strbuf *out);

#endif
