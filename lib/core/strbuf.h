/* Growable byte buffer that always keeps a NUL after its contents. */
#ifndef FS_STRBUF_H
#define FS_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	int oom; /* sticky: set once an append failed, later appends are no-ops */
};

#define STRBUF_INIT { NULL, 0, 0, 0 }

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
/* Empty the buffer but keep its memory. */
void strbuf_reset(struct strbuf *sb);
int strbuf_grow(struct strbuf *sb, size_t extra);
int strbuf_append(struct strbuf *sb, const char *data, size_t len);
int strbuf_appends(struct strbuf *sb, const char *s);
int strbuf_appendc(struct strbuf *sb, char c);
int strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int strbuf_vappendf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Append s escaped for HTML text and quoted attributes (& < > " '); NULL
 * appends nothing. */
int strbuf_append_html(struct strbuf *sb, const char *s);
/* The contents as a C string ("" when empty). */
const char *strbuf_cstr(const struct strbuf *sb);

#endif
