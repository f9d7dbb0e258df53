/* Contact lists: static lists with members, dynamic lists evaluated live from
 * their rules (segments.h). */
#ifndef FS_LISTS_H
#define FS_LISTS_H

#include <json-c/json.h>

#include "core/strbuf.h"
#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

struct list_input {
	int set_name, set_description, set_rules, set_is_public;
	const char *name;
	const char *description;    /* NULL clears */
	const char *list_type;      /* create only: "static" or "dynamic" */
	json_object *rules;         /* borrowed */
	int is_public;
};

enum fs_status list_create(struct fs_env *env, const struct list_input *in, json_object **out,
			   struct fs_error *err);
enum fs_status list_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err);
enum fs_status list_index(struct fs_env *env, const struct fs_page *page, json_object **out,
			  struct fs_error *err);
enum fs_status list_update(struct fs_env *env, const char *id, const struct list_input *in,
			   json_object **out, struct fs_error *err);
enum fs_status list_delete(struct fs_env *env, const char *id, struct fs_error *err);
/* Add (add = 1) or remove the tenant's contacts given as a JSON array of ids;
 * *changed is how many rows changed, *count the list's size after. */
enum fs_status list_members(struct fs_env *env, const char *id, const char *ids_json, int add,
			    long long *changed, long long *count, struct fs_error *err);
/* The list's contacts (dynamic lists evaluated now) as a page into out. */
enum fs_status list_contacts(struct fs_env *env, const char *id, const struct fs_page *page,
			     struct strbuf *out, struct fs_error *err);
/* {count, sample: [up to 5 contacts]} for rules not saved yet. */
enum fs_status list_preview(struct fs_env *env, json_object *rules, struct strbuf *out,
			    struct fs_error *err);

#endif
