/* Signup forms (issue 24): the merchant's forms bound to a list, the public
 * sign-up held apart from contacts, double opt-in by a mailed link, and the
 * consent record every subscription keeps. */
#ifndef FS_FORMS_H
#define FS_FORMS_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

/* Abuse limits (Redis): sign-ups a form takes per minute, and posts one
 * address may make to a tenant's forms per hour. */
#define FORM_POSTS_PER_MINUTE 120
#define FORM_ADDRESS_POSTS_PER_HOUR 5
/* At most one confirmation mail per address in this many minutes. */
#define FORM_MAIL_MINUTES 10
/* How long a confirmation link works. */
#define FORM_CONFIRM_DAYS 30
/* The hidden field a person never fills and a bot often does. */
#define FORM_HONEYPOT_FIELD "website"
/* Shown beside the form and recorded with each sign-up when the form has no text of its own. */
#define FORM_DEFAULT_CONSENT                                                                  \
	"Yes, send me emails. I can unsubscribe at any time with the link in every email."

struct form_input {
	int set_name, set_list_id, set_double_opt_in, set_redirect_url, set_consent_text;
	const char *name;
	const char *list_id;
	int double_opt_in;
	const char *redirect_url; /* NULL clears */
	const char *consent_text; /* NULL clears (the default text applies) */
};

enum fs_status form_create(struct fs_env *env, const struct form_input *in, json_object **out,
			   struct fs_error *err);
/* The form with its copy-paste HTML snippet (embed_html). */
enum fs_status form_get(struct fs_env *env, const char *id, json_object **out,
			struct fs_error *err);
enum fs_status form_index(struct fs_env *env, const struct fs_page *page, json_object **out,
			  struct fs_error *err);
enum fs_status form_update(struct fs_env *env, const char *id, const struct form_input *in,
			   json_object **out, struct fs_error *err);
/* Pending sign-ups and consent records stay (the proof of consent). */
enum fs_status form_delete(struct fs_env *env, const char *id, struct fs_error *err);

/* A public sign-up, already validated. */
struct signup_input {
	const char *email;
	const char *first_name; /* NULL when not given */
	const char *last_name;
	int honeypot;           /* the hidden field was filled */
	const char *ip;         /* the client's address, or NULL */
	const char *user_agent; /* or NULL */
};

struct signup_result {
	const char *redirect_url; /* the form's, or NULL */
	int subscribed;           /* without double opt-in: subscribed at once */
};

/* POST /f/{form_id}: FS_NOT_FOUND, FS_RATE_LIMITED, or FS_OK. A suppressed
 * address or a filled honeypot get the same FS_OK as anyone, and nothing is
 * stored or mailed. */
enum fs_status form_signup(struct fs_env *env, const char *form_id, const struct signup_input *in,
			   struct signup_result *out, struct fs_error *err);

enum confirm_state {
	CONFIRM_ASK,        /* pending: the page shows the button */
	CONFIRM_DONE,       /* subscribed (now or before) */
	CONFIRM_LIMIT,      /* the plan's contact limit: kept pending, confirmable later */
	CONFIRM_SUPPRESSED, /* the merchant suppressed the address meanwhile */
};

struct confirm_result {
	enum confirm_state state;
	const char *sender; /* the merchant's name, for the page */
	const char *email;
};

/* GET /f/confirm/{token}: what the page shows; changes nothing. A forged,
 * altered, unknown or expired token is FS_NOT_FOUND. */
enum fs_status form_confirm_show(struct fs_env *env, const char *token, struct confirm_result *out,
				 struct fs_error *err);
/* POST /f/confirm/{token}: the contact created (through contact_create, so
 * whatever listens for new contacts hears of it) or re-subscribed, added to
 * the list, the sign-up marked confirmed with its consent record and a
 * "subscribed" activity entry. Repeating it changes nothing more. */
enum fs_status form_confirm(struct fs_env *env, const char *token, struct confirm_result *out,
			    struct fs_error *err);

#endif
