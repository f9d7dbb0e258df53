/* Email templates: {{first_name}}, {{last_name}}, {{email}}, {{custom.KEY}},
 * {{unsubscribe_url}}, {{postal_address}}, with a default after a pipe
 * ({{first_name|there}}); a bare unknown name ({{company}}) is looked up in
 * the contact's custom fields. A template is compiled once and rendered for
 * every recipient without parsing it again. */
#ifndef FS_TEMPLATE_H
#define FS_TEMPLATE_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/strbuf.h"

/* How values are written: escaped for HTML, as they are for plain text, or
 * on one line for a header (a subject). */
enum tpl_part { TPL_HTML, TPL_TEXT, TPL_HEADER };

/* One recipient's values; NULL or "" means missing (the default applies). */
struct tpl_values {
	const char *first_name;
	const char *last_name;
	const char *email;
	const char *unsubscribe_url;
	const char *postal_address;
	json_object *custom; /* the contact's custom_fields object, or NULL */
};

/* Where a template failed to parse: 1-based line and column (in characters). */
struct tpl_error {
	int line;
	int column;
	char what[160];
};

struct tpl;

#define TPL_MAX_SOURCE (1024 * 1024)

/* Compile src[0..len) (any bytes: it is checked here). 0, or -1 with err
 * filled (also when memory runs out). */
int tpl_compile(const char *src, size_t len, enum tpl_part part, struct tpl **out,
		struct tpl_error *err);
void tpl_free(struct tpl *t);
/* Append the rendered template to out; -1 when memory ran out. */
int tpl_render(const struct tpl *t, const struct tpl_values *v, struct strbuf *out);
/* How many bytes of literal text the template holds (a size hint). */
size_t tpl_literal_size(const struct tpl *t);

/* A message's three parts compiled together. The text part is derived from
 * the HTML when the template has none. */
struct tpl_message {
	struct tpl *subject;
	struct tpl *html;
	struct tpl *text;
};

/* Compile subject, html and (when text is NULL) a text part derived from
 * the HTML. On failure err names the line, column and part, and every part
 * is released. */
int tpl_message_compile(struct tpl_message *m, const char *subject, size_t subject_len,
			const char *html, size_t html_len, const char *text, size_t text_len,
			struct tpl_error *err);
void tpl_message_free(struct tpl_message *m);

/* "Template error at line L, column C: <what>" */
void tpl_error_detail(const struct tpl_error *e, char *buf, size_t size);

#endif
