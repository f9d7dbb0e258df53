/* Contacts: the merchant's audience. Every query runs as the tenant. */
#ifndef FS_CONTACTS_H
#define FS_CONTACTS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "core/strbuf.h"
#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

/* Fields of a create or update; set_* tells which were sent. JSON values are
 * passed as validated JSON text. */
struct contact_input {
	int set_email, set_first_name, set_last_name, set_tags, set_custom_fields, set_is_subscribed;
	const char *email;
	const char *first_name;         /* NULL clears */
	const char *last_name;
	const char *tags_json;          /* a JSON array of strings */
	const char *custom_fields_json; /* a JSON object */
	int is_subscribed;
};

/* The orders GET /contacts?sort= offers: each walks an index that leads with
 * the tenant (contacts_user_created_idx, contacts_user_email_key), so a first
 * page stays fast at a million contacts. */
enum contact_sort {
	CONTACT_SORT_NEWEST, /* -created_at, the default */
	CONTACT_SORT_OLDEST, /* created_at */
	CONTACT_SORT_EMAIL,  /* email, case-insensitive */
	CONTACT_SORT_EMAIL_DESC,
	CONTACT_SORT_COUNT
};
/* The allowed values of ?sort=, as the API's validation message lists them. */
#define CONTACT_SORT_VALUES "-created_at, created_at, email, -email"

struct contact_filter {
	const char *search;  /* case-insensitive substring of email, first or last name */
	const char *tag;
	int subscribed;      /* -1 any, 0, 1 */
	enum contact_sort sort;
};

/* The order named by s (NUL-terminated, as ?sort= gives it); -1 when s names
 * none (only the exact values of CONTACT_SORT_VALUES). */
int contact_sort_parse(const char *s);

/* New contacts enroll into the tenant's signup flows by themselves, in the
 * transaction that inserts them, however they are inserted (the
 * contacts_created trigger, schema 0085): there is nothing to announce. */

/* Inside a tenant transaction, before its other writes: how many more
 * contacts the caller's plan allows for a write of `adding` contacts (-1:
 * unlimited; -2 on failure). Exact under concurrent writers: a single create
 * far from the limit holds one of the tenant's counter slots, anything else
 * all of them, until the transaction ends (flowsend_contacts_room, schema
 * 0018). */
long contacts_room_left(struct fs_env *env, long adding);

/* Concurrent creates of a tenant (unlimited plans) go down together through
 * b, a queue shared by the contacts responder's workers (made before they
 * fork): its shape is more slots than a responder has workers (a create
 * that finds none free goes alone), two batches of a tenant at once (one
 * runs while the other's commit is flushed: p99 32 ms instead of 48 under
 * wrk -c64, README "Session 15"), a request's JSON and its answer's. */
struct shm_batch;
#define CREATE_BATCH_SLOTS 64
#define CREATE_BATCH_LEADERS 2
#define CREATE_BATCH_REQ_MAX 4096
#define CREATE_BATCH_RES_MAX (CREATE_BATCH_REQ_MAX + 1024)
void contacts_use_create_batch(struct shm_batch *b);

/* Each returns FS_OK with the contact's JSON text in *json (arena memory). */
enum fs_status contact_create(struct fs_env *env, const struct contact_input *in,
			      const char **json, struct fs_error *err);
enum fs_status contact_get(struct fs_env *env, const char *id, const char **json,
			   struct fs_error *err);
enum fs_status contact_update(struct fs_env *env, const char *id, const struct contact_input *in,
			      const char **json, struct fs_error *err);
enum fs_status contact_delete(struct fs_env *env, const char *id, struct fs_error *err);
/* GDPR erasure: the contact and what ties data to the person are deleted; a
 * suppression keeps only the address's hash so it is never mailed again. */
enum fs_status contact_erase(struct fs_env *env, const char *id, struct fs_error *err);
/* GDPR access: everything held about the contact, as JSON text. */
enum fs_status contact_export(struct fs_env *env, const char *id, const char **json,
			      struct fs_error *err);
/* One page as {items, total, page, page_size} JSON into out. */
enum fs_status contact_list(struct fs_env *env, const struct contact_filter *f,
			    const struct fs_page *page, struct strbuf *out, struct fs_error *err);
enum fs_status contact_count(struct fs_env *env, long long *count, struct fs_error *err);
/* A contact's events, newest first, as a page. */
enum fs_status contact_events(struct fs_env *env, const char *id, const struct fs_page *page,
			      struct strbuf *out, struct fs_error *err);
/* {items, total, page, page_size} from rows selected with CONTACT_COLUMNS. */
void contacts_page_json(struct strbuf *out, const PGresult *rows, long long total,
			const struct fs_page *page);
/* Escape % _ and \ for a LIKE pattern and wrap in %...%, lower-cased. */
char *contacts_like_pattern(struct arena *a, const char *s);
/* Whether the trigram index can serve a search for s: pg_trgm finds a trigram
 * in three letters or digits in a row (a non-ASCII character counts as one). */
int contacts_search_indexable(const char *s);

#endif
