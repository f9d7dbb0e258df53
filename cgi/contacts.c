/* Responder for /api/v1/contacts: contacts with search and filters, count,
 * activity. (Lists, import and export join it under the same prefix.) */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gate.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "http/server.h"
#include "http/stream.h"
#include "json/json.h"
#include "models/contact.h"
#include "queue/shm_batch.h"
#include "services/auth.h"
#include "services/contacts.h"
#include "services/lists.h"
#include "services/transfer.h"

#define MAX_TAGS CONTACT_MAX_TAGS
#define MAX_TAG_CHARS CONTACT_MAX_TAG_CHARS
#define MAX_CUSTOM_FIELDS CONTACT_MAX_CUSTOM_FIELDS
#define MAX_CUSTOM_FIELDS_BYTES CONTACT_MAX_CUSTOM_FIELDS_BYTES

/* A tag is 1-64 characters, without ';' (the CSV separator) or control characters. */
static const char *tag_problem(const char *s, size_t len)
{
	size_t chars;

	if (!utf8_valid(s, len))
		return "Tags must be valid UTF-8";
	chars = utf8_length(s, len);
	if (chars < 1 || chars > MAX_TAG_CHARS)
		return "Tags must have 1 to 64 characters";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ';')
			return "Tags cannot contain ';' or control characters";
	return NULL;
}

/* tags: a JSON array of valid, distinct tags -> its JSON text; NULL when absent. */
static int parse_tags(struct fs_ctx *ctx, struct fs_validation *v, json_object *body,
		      const char **out)
{
	json_object *arr, *clean;
	size_t n;

	if (!json_object_object_get_ex(body, "tags", &arr))
		return 0;
	if (arr == NULL) {
		*out = "[]";
		return 1;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		fs_validation_add(v, "body", "tags", "Input should be a valid list", "list_type");
		return -1;
	}
	n = json_object_array_length(arr);
	if (n > MAX_TAGS) {
		fs_validation_add(v, "body", "tags", "At most 100 tags", "too_long");
		return -1;
	}
	clean = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(arr, i);
		const char *s, *why;
		size_t len, k;

		if (!t || !json_object_is_type(t, json_type_string)) {
			fs_validation_add(v, "body", "tags", "Tags must be strings", "string_type");
			json_object_put(clean);
			return -1;
		}
		s = json_object_get_string(t);
		len = (size_t)json_object_get_string_len(t);
		if (memchr(s, '\0', len) || (why = tag_problem(s, len))) {
			fs_validation_add(v, "body", "tags", memchr(s, '\0', len) ? "Tags cannot contain NUL" : why,
					  "value_error");
			json_object_put(clean);
			return -1;
		}
		for (k = 0; k < json_object_array_length(clean); k++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(clean, k)), s) == 0)
				break;
		if (k == json_object_array_length(clean))
			json_object_array_add(clean, json_object_new_string_len(s, (int)len));
	}
	*out = arena_strdup(ctx->env.arena, fs_json_string(clean, NULL));
	json_object_put(clean);
	return 1;
}

static int json_text_clean(json_object *o, int depth)
{
	if (depth > 8)
		return 0;
	switch (json_object_get_type(o)) {
	case json_type_string: {
		size_t len = (size_t)json_object_get_string_len(o);
		return !memchr(json_object_get_string(o), '\0', len);
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!json_text_clean(json_object_array_get_idx(o, i), depth + 1))
				return 0;
		return 1;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			if (!*key || !json_text_clean(val, depth + 1))
				return 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

/* custom_fields: a JSON object of at most 100 keys (1-64 characters each, none
 * named like a contact field) and 16 KiB; PostgreSQL's jsonb cannot hold
 * \u0000, so that is refused too. */
static int parse_custom_fields(struct fs_ctx *ctx, struct fs_validation *v, json_object *body,
			       const char **out)
{
	json_object *o;
	size_t len;
	const char *text;

	if (!json_object_object_get_ex(body, "custom_fields", &o))
		return 0;
	if (o == NULL) {
		*out = "{}";
		return 1;
	}
	if (!json_object_is_type(o, json_type_object)) {
		fs_validation_add(v, "body", "custom_fields", "Input should be a valid dictionary",
				  "dict_type");
		return -1;
	}
	if (json_object_object_length(o) > MAX_CUSTOM_FIELDS) {
		fs_validation_add(v, "body", "custom_fields", "At most 100 custom fields", "too_long");
		return -1;
	}
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (utf8_length(key, strlen(key)) > 64) {
			fs_validation_add(v, "body", "custom_fields",
					  "Custom field names have 1 to 64 characters", "value_error");
			return -1;
		}
		if (contact_column_named(key, strlen(key)) != CONTACT_COL_NONE) {
			/* The export would write a second column of that name, and an
			 * import of it read the contact's own field from it. */
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "Custom field name '%s' is reserved: it names a contact field", key);
			fs_validation_add(v, "body", "custom_fields", msg, "value_error");
			return -1;
		}
	}
	if (!json_text_clean(o, 0)) {
		fs_validation_add(v, "body", "custom_fields",
				  "Custom fields cannot contain NUL, empty names or deep nesting",
				  "value_error");
		return -1;
	}
	text = fs_json_string(o, &len);
	if (len > MAX_CUSTOM_FIELDS_BYTES) {
		fs_validation_add(v, "body", "custom_fields", "Custom fields are limited to 16 KiB",
				  "too_long");
		return -1;
	}
	*out = arena_strndup(ctx->env.arena, text, len);
	return 1;
}

/* The fields of a create (email required) or an update (everything optional). */
static int parse_input(struct fs_ctx *ctx, json_object *body, int create,
		       struct contact_input *in)
{
	struct fs_validation v;
	int r;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_email = fs_json_get_email(&v, body, "email", create, &in->email) == 1;
	fs_json_get_nullable_string(&v, body, "first_name", 0, 255, &in->set_first_name,
				    &in->first_name);
	fs_json_get_nullable_string(&v, body, "last_name", 0, 255, &in->set_last_name,
				    &in->last_name);
	in->set_tags = parse_tags(ctx, &v, body, &in->tags_json) == 1;
	in->set_custom_fields = parse_custom_fields(ctx, &v, body, &in->custom_fields_json) == 1;
	r = fs_json_get_bool(&v, body, "is_subscribed", 0, &in->is_subscribed);
	in->set_is_subscribed = r == 1;
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void respond_contact(struct fs_ctx *ctx, int code, const char *json)
{
	fs_respond_raw(ctx, code, "application/json; charset=utf-8", json, strlen(json));
}

/* The answer of a service that built its JSON into out; frees out. */
static void respond_built(struct fs_ctx *ctx, enum fs_status st, struct strbuf *out,
			  const struct fs_error *err)
{
	if (st != FS_OK)
		fs_respond_failure(ctx, st, err);
	else
		fs_respond_raw(ctx, 200, "application/json; charset=utf-8", out->buf, out->len);
	strbuf_free(out);
}

typedef enum fs_status (*page_of_fn)(struct fs_env *, const char *, const struct fs_page *,
				     struct strbuf *, struct fs_error *);

/* GET .../:id/<things>?page=&page_size= */
static void respond_page_of(struct fs_ctx *ctx, page_of_fn fn)
{
	struct fs_page page;
	struct strbuf out = STRBUF_INIT;
	struct fs_error err;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	respond_built(ctx, fn(&ctx->env, fs_ctx_param(ctx, "id"), &page, &out, &err), &out, &err);
}

static void contacts_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct contact_input in;
	struct fs_error err;
	const char *json;
	enum fs_status st;

	if (!body || parse_input(ctx, body, 1, &in) < 0)
		return;
	st = contact_create(&ctx->env, &in, &json, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_contact(ctx, 201, json);
}

static void contacts_list(struct fs_ctx *ctx)
{
	struct contact_filter f = { NULL, NULL, -1, CONTACT_SORT_NEWEST };
	const char *sort;
	struct fs_page page;
	struct strbuf out = STRBUF_INIT;
	struct fs_error err;
	int bad;
	enum fs_status st;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	f.search = fs_ctx_query_string(ctx, "search", 255, &bad);
	if (bad)
		return;
	f.tag = fs_ctx_query_string(ctx, "tag", MAX_TAG_CHARS, &bad);
	if (bad)
		return;
	if (f.tag && !*f.tag)
		f.tag = NULL;
	if (fs_ctx_query_bool(ctx, "is_subscribed", &f.subscribed) < 0)
		return;
	sort = fs_ctx_query_string(ctx, "sort", 16, &bad);
	if (bad)
		return;
	if (sort && *sort) {
		/* A %00 inside would end the value early: "email%00x" is no order. */
		int s = strlen(sort) == fs_request_query(&ctx->req, "sort")->value_len
				? contact_sort_parse(sort) : -1;
		if (s < 0)
			return fs_respond_invalid(ctx, "query", "sort",
						  "Input should be one of: " CONTACT_SORT_VALUES, "enum");
		f.sort = (enum contact_sort)s;
	}
	st = contact_list(&ctx->env, &f, &page, &out, &err);
	respond_built(ctx, st, &out, &err);
}

static void contacts_count(struct fs_ctx *ctx)
{
	long long n = 0;
	struct fs_error err;
	enum fs_status st = contact_count(&ctx->env, &n, &err);
	json_object *o;

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64(n));
	fs_respond_json(ctx, 200, o);
}

static void contacts_get(struct fs_ctx *ctx)
{
	struct fs_error err;
	const char *json;
	enum fs_status st = contact_get(&ctx->env, fs_ctx_param(ctx, "id"), &json, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_contact(ctx, 200, json);
}

static void contacts_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx);
	struct contact_input in;
	struct fs_error err;
	const char *json;
	enum fs_status st;

	if (!body || parse_input(ctx, body, 0, &in) < 0)
		return;
	st = contact_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &json, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	respond_contact(ctx, 200, json);
}

static void contacts_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	const struct fs_param *erase = fs_request_query(&ctx->req, "erase");
	int do_erase = 0;
	enum fs_status st;

	if (erase && *erase->value) {
		if (strcmp(erase->value, "true") == 0 || strcmp(erase->value, "1") == 0)
			do_erase = 1;
		else if (strcmp(erase->value, "false") != 0 && strcmp(erase->value, "0") != 0)
			return fs_respond_invalid(ctx, "query", "erase", "Input should be a valid boolean",
						  "bool_parsing");
	}
	st = do_erase ? contact_erase(&ctx->env, fs_ctx_param(ctx, "id"), &err)
		      : contact_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void contacts_export_one(struct fs_ctx *ctx)
{
	struct fs_error err;
	const char *json;
	enum fs_status st = contact_export(&ctx->env, fs_ctx_param(ctx, "id"), &json, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_header_add(ctx, "Cache-Control", "no-store");
	respond_contact(ctx, 200, json);
}

static void contacts_events(struct fs_ctx *ctx)
{
	respond_page_of(ctx, contact_events);
}

/* ---- import and export ---- */

static void contacts_export_all(struct fs_ctx *ctx)
{
	struct fs_answer_stream state;
	struct fs_writer out;
	struct fs_error err;
	enum fs_status st;

	fs_header_add(ctx, "Content-Disposition", "attachment; filename=\"contacts.csv\"");
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_answer_writer(ctx, 200, "text/csv; charset=utf-8", &state, &out);
	st = contacts_export_csv(&ctx->env, &out, &err);
	if (st != FS_OK && !state.started)
		fs_respond_failure(ctx, st, &err);
}

#define IMPORT_JSON_MAX (10 * 1024 * 1024)
#define IMPORT_CSV_MAX (100LL * 1024 * 1024)

static void respond_import(struct fs_ctx *ctx, enum fs_status st, struct import_result *res,
			   const struct fs_error *err)
{
	json_object *o;

	if (st != FS_OK) {
		json_object_put(res->errors);
		return fs_respond_failure(ctx, st, err);
	}
	o = json_object_new_object();
	json_object_object_add(o, "imported", json_object_new_int64(res->imported));
	json_object_object_add(o, "skipped", json_object_new_int64(res->skipped));
	json_object_object_add(o, "failed", json_object_new_int64(res->failed));
	json_object_object_add(o, "total", json_object_new_int64(res->total));
	json_object_object_add(o, "errors", res->errors);
	fs_respond_json(ctx, 200, o);
}

/* JSON {emails[], csv_data?, tags[]}, held in memory (10 MiB at most). */
static void import_json(struct fs_ctx *ctx)
{
	struct import_source src = { 0 };
	struct import_result res;
	struct fs_error err;
	struct fs_validation v;
	json_object *body, *emails, *tags_in = NULL;
	const char *csv = NULL, *tags = NULL;
	size_t csv_len = 0;
	enum fs_status st;

	st = fs_request_read_body(&ctx->req, ctx->env.arena, IMPORT_JSON_MAX);
	if (st == FS_TOO_LARGE)
		return fs_respond_error(ctx, st, "A JSON import is limited to 10 MiB; send text/csv for larger files");
	if (st != FS_OK)
		return fs_respond_error(ctx, FS_BAD_REQUEST, "Request body could not be read");
	{
		char perr[160];
		body = fs_json_parse(ctx->req.body, ctx->req.body_len, perr, sizeof(perr));
		if (!body)
			return fs_respond_error(ctx, FS_INVALID, "%s", perr);
		if (!json_object_is_type(body, json_type_object)) {
			json_object_put(body);
			return fs_respond_invalid(ctx, "body", NULL, "Input should be a valid dictionary",
						  "dict_type");
		}
	}
	fs_validation_init(&v);
	if (json_object_object_get_ex(body, "emails", &emails) && emails) {
		size_t n;
		if (!json_object_is_type(emails, json_type_array)) {
			fs_validation_add(&v, "body", "emails", "Input should be a valid list", "list_type");
		} else {
			n = json_object_array_length(emails);
			src.emails = arena_alloc(ctx->env.arena, sizeof(char *) * (n + 1));
			for (size_t i = 0; i < n; i++) {
				json_object *e = json_object_array_get_idx(emails, i);
				const char *s = e && json_object_is_type(e, json_type_string)
							? json_object_get_string(e) : "";
				((const char **)src.emails)[src.nemails++] = arena_strdup(ctx->env.arena, s);
			}
		}
	}
	fs_json_get_string(&v, body, "csv_data", 0, 0, 0, &csv, &csv_len);
	if (parse_tags(ctx, &v, body, &tags) == 1)
		tags_in = body;
	if (fs_validation_failed(&v)) {
		json_object_put(body);
		return fs_respond_validation(ctx, fs_validation_take(&v));
	}
	if (!src.nemails && !csv) {
		json_object_put(body);
		return fs_respond_invalid(ctx, "body", NULL, "Send emails or csv_data", "missing");
	}
	if (!src.nemails) {
		src.text = arena_strndup(ctx->env.arena, csv, csv_len);
		src.text_len = csv_len;
	}
	src.extra_tags = tags_in && strcmp(tags, "[]") != 0 ? tags : NULL;
	st = contacts_import(&ctx->env, &src, &res, &err);
	json_object_put(body);
	respond_import(ctx, st, &res, &err);
}

static void contacts_import_post(struct fs_ctx *ctx)
{
	const char *ct = ctx->req.content_type;
	struct fs_body_stream body_state;
	struct fs_source body;
	struct import_source src = { 0 };
	struct import_result res;
	struct fs_error err;

	if (strncasecmp(ct, "text/csv", 8) == 0 || strncasecmp(ct, "application/csv", 15) == 0) {
		if (ctx->req.content_length > IMPORT_CSV_MAX)
			return fs_respond_error(ctx, FS_TOO_LARGE, "A CSV import is limited to 100 MiB");
		/* Streamed: the body goes through the CSV reader into COPY as it arrives. */
		fs_body_source(ctx, NULL, &body_state, &body);
		src.body = &body;
		return respond_import(ctx, contacts_import(&ctx->env, &src, &res, &err), &res, &err);
	}
	if (strncasecmp(ct, "multipart/form-data", 19) == 0) {
		if (ctx->req.content_length > IMPORT_CSV_MAX)
			return fs_respond_error(ctx, FS_TOO_LARGE, "An upload is limited to 100 MiB");
		fs_body_source(ctx, ct, &body_state, &body);
		src.body = &body;
		return respond_import(ctx, contacts_import(&ctx->env, &src, &res, &err), &res, &err);
	}
	if (strncasecmp(ct, "multipart/", 10) == 0)
		return fs_respond_error(ctx, FS_UNSUPPORTED_MEDIA,
					"Uploads must be multipart/form-data, text/csv or JSON");
	import_json(ctx);
}

/* ---- lists ---- */

static int parse_list_input(struct fs_ctx *ctx, json_object *body, int create,
			    struct list_input *in)
{
	struct fs_validation v;
	json_object *rules;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_name = fs_json_get_string(&v, body, "name", create, 1, 255, &in->name, NULL) == 1;
	fs_json_get_nullable_string(&v, body, "description", 0, 1000, &in->set_description,
				    &in->description);
	if (create) {
		in->list_type = "static";
		if (fs_json_get_string(&v, body, "list_type", 0, 1, 16, &in->list_type, NULL) == 1 &&
		    strcmp(in->list_type, "static") != 0 && strcmp(in->list_type, "dynamic") != 0)
			fs_validation_add(&v, "body", "list_type",
					  "Input should be 'static' or 'dynamic'", "enum");
	}
	in->set_rules = json_object_object_get_ex(body, "rules", &rules);
	in->rules = rules;
	if (in->set_rules && rules && !json_object_is_type(rules, json_type_object))
		fs_validation_add(&v, "body", "rules", "Input should be a valid dictionary",
				  "dict_type");
	in->set_is_public = fs_json_get_bool(&v, body, "is_public", 0, &in->is_public) == 1;
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void lists_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct list_input in;
	struct fs_error err;
	enum fs_status st;

	if (!body || parse_list_input(ctx, body, 1, &in) < 0)
		return;
	st = list_create(&ctx->env, &in, &out, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 201, out);
}

static void lists_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	enum fs_status st;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	st = list_index(&ctx->env, &page, &out, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, out);
}

static void lists_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;
	enum fs_status st = list_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, out);
}

static void lists_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct list_input in;
	struct fs_error err;
	enum fs_status st;

	if (!body || parse_list_input(ctx, body, 0, &in) < 0)
		return;
	st = list_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &out, &err);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_json(ctx, 200, out);
}

static void lists_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = list_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

static void lists_members(struct fs_ctx *ctx, int add)
{
	json_object *body = fs_ctx_json_body(ctx), *ids, *clean, *o;
	struct fs_error err;
	long long changed = 0, count = 0;
	size_t n;
	enum fs_status st;

	if (!body)
		return;
	if (!json_object_object_get_ex(body, "contact_ids", &ids) || !ids ||
	    !json_object_is_type(ids, json_type_array) || (n = json_object_array_length(ids)) == 0 ||
	    n > 1000)
		return fs_respond_invalid(ctx, "body", "contact_ids",
					  "Input should be a list of 1 to 1000 contact ids", "list_type");
	clean = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(ids, i);
		if (!e || !json_object_is_type(e, json_type_string) ||
		    !uuid_valid(json_object_get_string(e), (size_t)json_object_get_string_len(e))) {
			json_object_put(clean);
			return fs_respond_invalid(ctx, "body", "contact_ids",
						  "Every contact id must be a UUID", "uuid_parsing");
		}
		json_object_array_add(clean, json_object_get(e));
	}
	st = list_members(&ctx->env, fs_ctx_param(ctx, "id"), fs_json_string(clean, NULL), add, &changed,
			  &count, &err);
	json_object_put(clean);
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	o = json_object_new_object();
	json_object_object_add(o, add ? "added" : "removed", json_object_new_int64(changed));
	json_object_object_add(o, "contact_count", json_object_new_int64(count));
	fs_respond_json(ctx, 200, o);
}

static void lists_members_add(struct fs_ctx *ctx)
{
	lists_members(ctx, 1);
}

static void lists_members_remove(struct fs_ctx *ctx)
{
	lists_members(ctx, 0);
}

static void lists_contacts(struct fs_ctx *ctx)
{
	respond_page_of(ctx, list_contacts);
}

static void lists_preview(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *rules;
	struct strbuf out = STRBUF_INIT;
	struct fs_error err;
	enum fs_status st;

	if (!body)
		return;
	if (!json_object_object_get_ex(body, "rules", &rules) || !rules)
		return fs_respond_invalid(ctx, "body", "rules", "Field required", "missing");
	st = list_preview(&ctx->env, rules, &out, &err);
	respond_built(ctx, st, &out, &err);
}

static const struct fs_route routes[] = {
	{ "POST", "/api/v1/contacts/lists", lists_create, FS_ACCESS_WRITE, "Create a list" },
	{ "GET", "/api/v1/contacts/lists", lists_index, FS_ACCESS_READ, "List lists" },
	{ "POST", "/api/v1/contacts/lists/preview", lists_preview, FS_ACCESS_WRITE,
	  "Count and sample contacts for unsaved rules" },
	{ "GET", "/api/v1/contacts/lists/:id", lists_get, FS_ACCESS_READ, "Get a list" },
	{ "PATCH", "/api/v1/contacts/lists/:id", lists_update, FS_ACCESS_WRITE, "Update a list" },
	{ "DELETE", "/api/v1/contacts/lists/:id", lists_delete, FS_ACCESS_WRITE, "Delete a list" },
	{ "POST", "/api/v1/contacts/lists/:id/members", lists_members_add, FS_ACCESS_WRITE,
	  "Add members to a static list" },
	{ "DELETE", "/api/v1/contacts/lists/:id/members", lists_members_remove, FS_ACCESS_WRITE,
	  "Remove members from a static list" },
	{ "GET", "/api/v1/contacts/lists/:id/contacts", lists_contacts, FS_ACCESS_READ,
	  "A list's contacts (dynamic lists evaluated live)" },
	{ "GET", "/api/v1/contacts", contacts_list, FS_ACCESS_READ, "List contacts" },
	{ "POST", "/api/v1/contacts", contacts_create, FS_ACCESS_WRITE, "Create a contact" },
	{ "GET", "/api/v1/contacts/count", contacts_count, FS_ACCESS_READ, "Count contacts" },
	{ "GET", "/api/v1/contacts/export", contacts_export_all, FS_ACCESS_READ,
	  "All contacts as CSV (streamed)" },
	{ "POST", "/api/v1/contacts/import", contacts_import_post, FS_ACCESS_WRITE,
	  "Import contacts (JSON or text/csv)" },
	{ "GET", "/api/v1/contacts/:id", contacts_get, FS_ACCESS_READ, "Get a contact" },
	{ "PATCH", "/api/v1/contacts/:id", contacts_update, FS_ACCESS_WRITE, "Update a contact" },
	{ "DELETE", "/api/v1/contacts/:id", contacts_delete, FS_ACCESS_WRITE, "Delete a contact" },
	{ "GET", "/api/v1/contacts/:id/events", contacts_events, FS_ACCESS_READ,
	  "A contact's activity" },
	{ "GET", "/api/v1/contacts/:id/export", contacts_export_one, FS_ACCESS_READ,
	  "Everything held about a contact (GDPR)" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = {"contacts", routes, sizeof(routes) / sizeof(routes[0])};
	struct shm_batch *batch = NULL;
	int rc;

	auth_install();
	/* Every request closes its FastCGI connection as soon as it has
	 * answered: libfcgi's lingering close held the worker until nginx had
	 * closed its side (README, "Session 11: the reads"), a wake-up and three
	 * system calls a create (README, "Session 14: the responder's and
	 * nginx's part of a create"). A body read by its length ends with the
	 * record nginx sends right after it (with buffering off too, once the
	 * body is whole); a streamed import is drained to its end before the
	 * check. */
	fs_server_close_at_once(1);
	/* Made here, in the master, so that every worker it forks shares it:
	 * a tenant's concurrent creates then go down together (services/contacts.c). */
	if (argc > 1 && strcmp(argv[1], "--socket") == 0) {
		batch = shm_batch_new(CREATE_BATCH_SLOTS, CREATE_BATCH_LEADERS,
				      CREATE_BATCH_REQ_MAX, CREATE_BATCH_RES_MAX);
		if (!batch)
			log_warn("contacts: no shared create queue; every create goes alone");
		contacts_use_create_batch(batch);
	}
	rc = fs_server_main(&app, argc, argv);
	shm_batch_free(batch);
	return rc;
}
