/* Email templates: the tenant's own plus the read-only system ones, and the
 * rendered previews the editor shows. */
#ifndef FS_TEMPLATES_H
#define FS_TEMPLATES_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"
#include "json/page.h"
#include "mail/template.h"

#define TEMPLATE_CATEGORIES "welcome, cart, promo, newsletter, transactional"

struct template_input {
	int set_name, set_subject, set_html, set_text, set_thumbnail, set_category;
	const char *name;
	const char *subject;
	const char *html_content;
	const char *text_content;  /* NULL: derived from the HTML */
	const char *thumbnail_url; /* NULL clears */
	const char *category;
};

struct template_filter {
	const char *category; /* NULL for every category */
	int is_system;        /* -1 both, 0 the caller's own, 1 system only */
};

/* 1 when name is one of TEMPLATE_CATEGORIES. */
int template_category_valid(const char *name);

enum fs_status template_create(struct fs_env *env, const struct template_input *in,
			       json_object **out, struct fs_error *err);
enum fs_status template_get(struct fs_env *env, const char *id, json_object **out,
			    struct fs_error *err);
enum fs_status template_index(struct fs_env *env, const struct template_filter *f,
			      const struct fs_page *page, json_object **out, struct fs_error *err);
enum fs_status template_update(struct fs_env *env, const char *id, const struct template_input *in,
			       json_object **out, struct fs_error *err);
enum fs_status template_delete(struct fs_env *env, const char *id, struct fs_error *err);

/* {subject, html, text} for a saved template (id) or for unsaved content
 * (id NULL, in's subject/html/text), rendered for contact_id or, when it is
 * NULL, for sample data. */
enum fs_status template_preview(struct fs_env *env, const char *id, const struct template_input *in,
				const char *contact_id, json_object **out, struct fs_error *err);

/* Compile subject/html/text, turning a parse error into FS_INVALID with
 * "Template error at line L, column C: ...". */
enum fs_status template_compile(const char *subject, const char *html, const char *text,
				struct tpl_message *m, struct fs_error *err);

#endif
