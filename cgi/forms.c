/* Responder for audience growth (issue 24): /api/v1/forms and
 * /api/v1/suppressions for the merchant, and the public side outside /api/v1
 * like /u/: POST /f/{form_id} (JSON with CORS, or a plain HTML form answered
 * with 303), the confirmation page GET /f/confirm/{token} whose one button
 * POSTs back (a mail scanner's GET never confirms), and the thank-you page.
 * One responder for the three prefixes: they share the forms service, and a
 * process per prefix would cost PostgreSQL connections for little traffic. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/utf8.h"
#include "gate.h"
#include "http/form.h"
#include "http/server.h"
#include "json/json.h"
#include "services/auth.h"
#include "services/forms.h"
#include "services/suppressions.h"

/* A sign-up is an address, two names and a hidden field: 4 KiB is plenty. */
#define SIGNUP_BODY_MAX 4096
#define NAME_MAX_CHARS 100

/* ---- pages (the look of cgi/unsubscribe.c: Coral Red, no script) ---- */

static const char style[] =
	"body{margin:0;background:#fff1f2;color:#1f2937;font:16px/1.5 system-ui,-apple-system,"
	"'Segoe UI',Roboto,sans-serif}"
	"main{max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px;"
	"border-top:6px solid #f43f5e;box-shadow:0 4px 24px rgba(0,0,0,.08)}"
	"@media(max-width:34rem){main{margin:0;border-radius:0;min-height:100vh;box-sizing:border-box}}"
	".brand{margin:0 0 .5rem;font-weight:700;font-size:.875rem;letter-spacing:.04em;"
	"text-transform:uppercase;color:#f43f5e;overflow-wrap:anywhere}"
	"h1{margin:0 0 1rem;font-size:1.5rem;color:#be123c}"
	"button{background:#f43f5e;color:#fff;border:0;border-radius:8px;padding:.75rem 1.5rem;"
	"font:inherit;font-weight:600;cursor:pointer;width:100%;min-height:44px}"
	"button:hover,button:focus{background:#e11d48}"
	"p{overflow-wrap:anywhere}"
	"p.small{color:#6b7280;font-size:.875rem}";

/* Nothing loads from anywhere, the one inline style is allowed by its hash,
 * the page's form posts back here only. */
static void page_headers(struct fs_ctx *ctx)
{
	static char csp[FS_PAGE_CSP_SIZE];

	fs_page_headers(ctx, style, sizeof(style) - 1, csp);
}

/* A whole page: the sender's name, a title, one paragraph, and a form with
 * one button posting to action when it is set. */
static void respond_page(struct fs_ctx *ctx, int code, const char *sender, const char *title,
			 const char *text, const char *action, const char *button)
{
	struct strbuf page = STRBUF_INIT;

	strbuf_appends(&page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			      "<meta name=\"robots\" content=\"noindex\"><title>");
	strbuf_append_html(&page, title);
	strbuf_appends(&page, "</title><style>");
	strbuf_appends(&page, style);
	strbuf_appends(&page, "</style></head>\n<body><main>");
	if (sender) {
		strbuf_appends(&page, "<p class=\"brand\">");
		strbuf_append_html(&page, sender);
		strbuf_appends(&page, "</p>");
	}
	strbuf_appends(&page, "<h1>");
	strbuf_append_html(&page, title);
	strbuf_appends(&page, "</h1><p>");
	strbuf_append_html(&page, text);
	strbuf_appends(&page, "</p>");
	if (action) {
		strbuf_appends(&page, "<form method=\"post\" action=\"");
		strbuf_append_html(&page, action);
		strbuf_appends(&page, "\"><button type=\"submit\" name=\"confirm\" value=\"1\">");
		strbuf_append_html(&page, button);
		strbuf_appends(&page, "</button></form>"
				      "<p class=\"small\">Nothing happens until you press the button.</p>");
	}
	strbuf_appends(&page, "</main></body></html>\n");
	page_headers(ctx);
	if (page.oom)
		fs_respond_error(ctx, FS_ERROR, "out of memory writing the page");
	else
		fs_respond_raw(ctx, code, "text/html; charset=utf-8", page.buf, page.len);
	strbuf_free(&page);
}

/* An error for a browser (it asks for text/html) as a page, for anything
 * else as {"detail": ...}. */
static void respond_refusal(struct fs_ctx *ctx, enum fs_status st, const char *title,
			    const char *text)
{
	const char *accept = fs_request_header(&ctx->req, ctx->env.arena, "Accept");

	if (st != FS_ERROR && accept && strstr(accept, "text/html"))
		return respond_page(ctx, fs_status_http(st), NULL, title, text, NULL, NULL);
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_error(ctx, st, "%s", text);
}

/* A plain HTML form's post is a browser's, whatever it accepts: a page. */
static void browser_refusal(struct fs_ctx *ctx, enum fs_status st, const char *title,
			    const char *text)
{
	if (st == FS_ERROR)
		return fs_respond_error(ctx, st, "%s", text);
	respond_page(ctx, fs_status_http(st), NULL, title, text, NULL, NULL);
}

/* ---- the merchant's forms ---- */

/* http(s) URLs only, printable ASCII without spaces: it goes into a Location header. */
static int redirect_url_ok(const char *s)
{
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return 0;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return strlen(s) > 8;
}

static int parse_form_input(struct fs_ctx *ctx, json_object *body, int create,
			    struct form_input *in)
{
	struct fs_validation v;
	int present;

	memset(in, 0, sizeof(*in));
	fs_validation_init(&v);
	in->set_name = fs_json_get_string(&v, body, "name", create, 1, 255, &in->name, NULL) == 1;
	if (create) {
		in->set_list_id = fs_json_get_nullable_uuid(&v, body, "list_id", &present,
							     &in->list_id) == 1 && in->list_id;
		if (!in->set_list_id && (!present || !in->list_id))
			fs_validation_add(&v, "body", "list_id", "Field required", "missing");
	} else if (fs_json_get_nullable_uuid(&v, body, "list_id", &present, &in->list_id) == 1) {
		if (!in->list_id)
			fs_validation_add(&v, "body", "list_id", "A form needs a list", "value_error");
		in->set_list_id = 1;
	}
	in->set_double_opt_in =
		fs_json_get_bool(&v, body, "double_opt_in", 0, &in->double_opt_in) == 1;
	if (fs_json_get_nullable_string(&v, body, "redirect_url", 1, 2048, &in->set_redirect_url,
					&in->redirect_url) == 1 &&
	    in->redirect_url && !redirect_url_ok(in->redirect_url))
		fs_validation_add(&v, "body", "redirect_url",
				  "Input should be an http or https URL without spaces", "url_parsing");
	fs_json_get_nullable_string(&v, body, "consent_text", 1, 2000, &in->set_consent_text,
				    &in->consent_text);
	if (fs_validation_failed(&v)) {
		fs_respond_validation(ctx, fs_validation_take(&v));
		return -1;
	}
	return 0;
}

static void forms_create(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct form_input in;
	struct fs_error err;

	if (!body || parse_form_input(ctx, body, 1, &in) < 0)
		return;
	fs_respond_outcome(ctx, form_create(&ctx->env, &in, &out, &err), 201, &out, &err);
}

static void forms_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	fs_respond_outcome(ctx, form_index(&ctx->env, &page, &out, &err), 200, &out, &err);
}

static void forms_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, form_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200, &out,
			   &err);
}

static void forms_update(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	struct form_input in;
	struct fs_error err;

	if (!body || parse_form_input(ctx, body, 0, &in) < 0)
		return;
	fs_respond_outcome(ctx, form_update(&ctx->env, fs_ctx_param(ctx, "id"), &in, &out, &err),
			   200, &out, &err);
}

static void forms_delete(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = form_delete(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

/* ---- suppressions ---- */

static void suppressions_index(struct fs_ctx *ctx)
{
	struct fs_page page;
	json_object *out = NULL;
	struct fs_error err;
	const char *search;
	int bad = 0;

	if (fs_ctx_pagination(ctx, &page) < 0)
		return;
	search = fs_ctx_query_string(ctx, "search", 254, &bad);
	if (bad)
		return;
	if (search && !*search)
		search = NULL;
	fs_respond_outcome(ctx, suppression_index(&ctx->env, search, &page, &out, &err), 200, &out,
			   &err);
}

static void suppressions_add(struct fs_ctx *ctx)
{
	json_object *body = fs_ctx_json_body(ctx), *out = NULL;
	const char *email = NULL, *reason = NULL;
	struct fs_validation v;
	struct fs_error err;

	if (!body)
		return;
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &email);
	if (fs_json_get_string(&v, body, "reason", 0, 1, 32, &reason, NULL) == 1 &&
	    !suppression_reason_valid(reason))
		fs_validation_add(&v, "body", "reason", "Input should be one of: " SUPPRESSION_REASONS,
				  "enum");
	if (fs_validation_failed(&v))
		return fs_respond_validation(ctx, fs_validation_take(&v));
	fs_respond_outcome(ctx, suppression_add(&ctx->env, email, reason, &out, &err), 201, &out,
			   &err);
}

static void suppressions_get(struct fs_ctx *ctx)
{
	json_object *out = NULL;
	struct fs_error err;

	fs_respond_outcome(ctx, suppression_get(&ctx->env, fs_ctx_param(ctx, "id"), &out, &err), 200,
			   &out, &err);
}

static void suppressions_remove(struct fs_ctx *ctx)
{
	struct fs_error err;
	enum fs_status st = suppression_remove(&ctx->env, fs_ctx_param(ctx, "id"), &err);

	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	fs_respond_empty(ctx, 204);
}

/* ---- the public sign-up ---- */

/* Any site may post a sign-up from a browser: the endpoint takes no
 * credentials, so the answer is readable from every origin. The API's own
 * CORS (FLOWSEND_CORS_ORIGINS) may have said so already. */
static void signup_cors(struct fs_ctx *ctx)
{
	if (!strstr(strbuf_cstr(&ctx->res.headers), "Access-Control-Allow-Origin:"))
		fs_header_add(ctx, "Access-Control-Allow-Origin", "*");
}

static void signup_options(struct fs_ctx *ctx)
{
	signup_cors(ctx);
	fs_header_add(ctx, "Access-Control-Allow-Methods", "POST, OPTIONS");
	fs_header_add(ctx, "Access-Control-Allow-Headers", "Content-Type");
	fs_header_add(ctx, "Access-Control-Max-Age", "7200");
	fs_header_add(ctx, "Allow", "POST, OPTIONS");
	fs_respond_empty(ctx, 204);
}

static int media_type_is(const char *content_type, const char *want)
{
	size_t n = strlen(want);

	while (*content_type == ' ')
		content_type++;
	return strncasecmp(content_type, want, n) == 0 &&
	       (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

/* The honeypot counts as filled when it holds anything but an empty string or null. */
static int honeypot_filled(json_object *body)
{
	json_object *v;

	if (!json_object_object_get_ex(body, FORM_HONEYPOT_FIELD, &v) || !v)
		return 0;
	return !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 0;
}

static void signup_post(struct fs_ctx *ctx)
{
	const char *form_id = fs_ctx_param(ctx, "id");
	int browser = 0;
	json_object *body = NULL;
	struct signup_input in;
	struct signup_result res;
	struct fs_validation v;
	struct fs_error err;
	enum fs_status st;

	signup_cors(ctx);
	if (media_type_is(ctx->req.content_type, "application/x-www-form-urlencoded")) {
		char why[96];

		browser = 1;
		st = fs_request_read_body(&ctx->req, ctx->env.arena, SIGNUP_BODY_MAX);
		if (st == FS_TOO_LARGE)
			return browser_refusal(ctx, st, "Request too large",
					       "A sign-up carries no more than a short form.");
		if (st != FS_OK)
			return browser_refusal(ctx, FS_BAD_REQUEST, "Bad request",
					       "The request body was incomplete.");
		if (fs_form_to_json(ctx->env.arena, ctx->req.body, ctx->req.body_len, &body, why,
				    sizeof(why)) < 0)
			return browser_refusal(ctx, FS_BAD_REQUEST, "Bad request", why);
		arena_add_cleanup(ctx->env.arena, fs_json_release, body);
	} else if (media_type_is(ctx->req.content_type, "application/json")) {
		if (ctx->req.content_length > SIGNUP_BODY_MAX)
			return fs_respond_error(ctx, FS_TOO_LARGE,
						"A sign-up carries no more than %d bytes",
						SIGNUP_BODY_MAX);
		if (!(body = fs_ctx_json_body(ctx)))
			return;
	} else {
		return fs_respond_error(ctx, FS_UNSUPPORTED_MEDIA,
					"Send application/json or application/x-www-form-urlencoded");
	}

	memset(&in, 0, sizeof(in));
	fs_validation_init(&v);
	fs_json_get_email(&v, body, "email", 1, &in.email);
	fs_json_get_nullable_string(&v, body, "first_name", 0, NAME_MAX_CHARS, &(int){ 0 },
				    &in.first_name);
	fs_json_get_nullable_string(&v, body, "last_name", 0, NAME_MAX_CHARS, &(int){ 0 },
				    &in.last_name);
	fs_json_check_one_line(&v, "first_name", in.first_name);
	fs_json_check_one_line(&v, "last_name", in.last_name);
	if (in.first_name && !*in.first_name)
		in.first_name = NULL;
	if (in.last_name && !*in.last_name)
		in.last_name = NULL;
	if (fs_validation_failed(&v)) {
		if (browser) {
			fs_validation_free(&v);
			return browser_refusal(ctx, FS_INVALID, "Please check your address",
					       "That email address does not look right. Go back and"
					       " check it, then try again.");
		}
		return fs_respond_validation(ctx, fs_validation_take(&v));
	}
	in.honeypot = honeypot_filled(body);
	in.ip = ctx->env.client_addr;
	in.user_agent = fs_request_header(&ctx->req, ctx->env.arena, "User-Agent");
	/* Kept in the consent record as text: cut at 512 bytes on a character
	 * boundary, and left out when it is not UTF-8 text at all. */
	if (in.user_agent) {
		size_t n = utf8_valid_prefix(in.user_agent, strlen(in.user_agent));
		if (n < strlen(in.user_agent) || utf8_has_controls(in.user_agent, n, 0))
			in.user_agent = NULL;
		else if (n > 512)
			in.user_agent = arena_strndup(ctx->env.arena, in.user_agent,
						      utf8_valid_prefix(in.user_agent, 512));
	}

	st = form_signup(&ctx->env, form_id, &in, &res, &err);
	if (st == FS_RATE_LIMITED) {
		fs_header_add(ctx, "Retry-After", "60");
		if (browser)
			return browser_refusal(ctx, st, "Please try again later", err.detail);
	}
	if (st == FS_NOT_FOUND && browser)
		return browser_refusal(ctx, st, "Form not found",
				       "This signup form does not exist any more.");
	if (st != FS_OK)
		return fs_respond_failure(ctx, st, &err);
	if (browser) {
		const char *to = res.redirect_url
					 ? res.redirect_url
					 : arena_sprintf(ctx->env.arena, "%s/f/thanks%s",
							 ctx->env.cfg->public_url,
							 res.subscribed ? "?subscribed=1" : "");
		fs_header_add(ctx, "Location", to);
		fs_header_add(ctx, "Cache-Control", "no-store");
		return fs_respond_empty(ctx, 303);
	}
	{
		json_object *o = json_object_new_object();
		json_object_object_add(o, "status",
				       json_object_new_string(res.subscribed ? "subscribed" : "pending"));
		fs_header_add(ctx, "Cache-Control", "no-store");
		fs_respond_json(ctx, 202, o);
	}
}

static void signup_thanks(struct fs_ctx *ctx)
{
	const struct fs_param *s = fs_request_query(&ctx->req, "subscribed");

	if (s && strcmp(s->value, "1") == 0)
		return respond_page(ctx, 200, NULL, "You are subscribed",
				    "Thank you for signing up.", NULL, NULL);
	respond_page(ctx, 200, NULL, "Almost there: check your inbox",
		     "We sent you an email with a link. Open it and press the button to confirm"
		     " your subscription. If nothing arrives, look in your spam folder.",
		     NULL, NULL);
}

/* ---- confirming ---- */

static void respond_confirm_refused(struct fs_ctx *ctx, enum fs_status st,
				    const struct fs_error *err)
{
	if (st == FS_NOT_FOUND)
		return respond_refusal(ctx, st, "Link not valid",
				       strstr(err->detail, "expired")
					       ? "This confirmation link has expired. Sign up again"
						 " to get a new one."
					       : "This confirmation link is not valid. If you copied"
						 " it, check that it is complete.");
	fs_respond_failure(ctx, st, err);
}

static void respond_confirmed(struct fs_ctx *ctx, const struct confirm_result *r)
{
	switch (r->state) {
	case CONFIRM_DONE:
		return respond_page(ctx, 200, r->sender, "You are subscribed",
				    "Thank you for confirming. You will receive emails from this"
				    " sender; every one has a link to unsubscribe.",
				    NULL, NULL);
	case CONFIRM_LIMIT:
		return respond_page(ctx, 409, r->sender, "Not possible right now",
				    "This list cannot take new subscribers right now. Your sign-up"
				    " is kept: try this link again later.",
				    NULL, NULL);
	case CONFIRM_SUPPRESSED:
		return respond_page(ctx, 409, r->sender, "Not possible",
				    "This address cannot be subscribed to this sender's emails."
				    " Contact the sender if you think this is a mistake.",
				    NULL, NULL);
	case CONFIRM_ASK:
	default:
		return respond_page(ctx, 200, r->sender, "Confirm your subscription",
				    "Press the button to confirm that you want to receive emails"
				    " from this sender.",
				    ctx->req.path, "Confirm my subscription");
	}
}

static void confirm_get(struct fs_ctx *ctx)
{
	const char *token = fs_ctx_param(ctx, "token");
	struct confirm_result r;
	struct fs_error err;
	enum fs_status st = form_confirm_show(&ctx->env, token ? token : "", &r, &err);

	if (st != FS_OK)
		return respond_confirm_refused(ctx, st, &err);
	respond_confirmed(ctx, &r);
}

static void confirm_post(struct fs_ctx *ctx)
{
	const char *token = fs_ctx_param(ctx, "token");
	struct confirm_result r;
	struct fs_error err;
	enum fs_status st = fs_request_read_body(&ctx->req, ctx->env.arena, SIGNUP_BODY_MAX);

	/* The body is the button's field, or nothing: it is not looked at. */
	if (st == FS_TOO_LARGE)
		return respond_refusal(ctx, st, "Request too large",
				       "A confirmation carries no more than a button.");
	if (st != FS_OK)
		return respond_refusal(ctx, FS_BAD_REQUEST, "Bad request",
				       "The request body was incomplete.");
	st = form_confirm(&ctx->env, token ? token : "", &r, &err);
	if (st != FS_OK)
		return respond_confirm_refused(ctx, st, &err);
	respond_confirmed(ctx, &r);
}

static const struct fs_route routes[] = {
	{ "GET", "/api/v1/forms", forms_index, FS_ACCESS_READ, "List the caller's signup forms" },
	{ "POST", "/api/v1/forms", forms_create, FS_ACCESS_WRITE,
	  "Create a signup form bound to one of the caller's lists" },
	{ "GET", "/api/v1/forms/:id", forms_get, FS_ACCESS_READ,
	  "Get a signup form with its copy-paste HTML snippet" },
	{ "PATCH", "/api/v1/forms/:id", forms_update, FS_ACCESS_WRITE, "Update a signup form" },
	{ "DELETE", "/api/v1/forms/:id", forms_delete, FS_ACCESS_WRITE,
	  "Delete a signup form (its consent records stay)" },
	{ "GET", "/api/v1/suppressions", suppressions_index, FS_ACCESS_READ,
	  "List suppressed addresses" },
	{ "POST", "/api/v1/suppressions", suppressions_add, FS_ACCESS_WRITE,
	  "Suppress an address: never mailed, whatever is imported or signed up later" },
	{ "GET", "/api/v1/suppressions/:id", suppressions_get, FS_ACCESS_READ,
	  "Get a suppression" },
	{ "DELETE", "/api/v1/suppressions/:id", suppressions_remove, FS_ACCESS_WRITE,
	  "Remove a suppression" },
	{ "POST", "/f/:id", signup_post, FS_ACCESS_PUBLIC,
	  "Public sign-up: JSON (202 pending) or a plain HTML form (303)" },
	{ "OPTIONS", "/f/:id", signup_options, FS_ACCESS_PUBLIC,
	  "CORS preflight of the public sign-up" },
	{ "GET", "/f/thanks", signup_thanks, FS_ACCESS_PUBLIC, "Thank-you page after a sign-up" },
	{ "GET", "/f/confirm/*token", confirm_get, FS_ACCESS_PUBLIC,
	  "Confirmation page: changes nothing" },
	{ "POST", "/f/confirm/*token", confirm_post, FS_ACCESS_PUBLIC,
	  "Confirm a sign-up: the contact is created or re-subscribed and joins the list" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "forms", routes, sizeof(routes) / sizeof(routes[0]) };
	auth_install();
	return fs_server_main(&app, argc, argv);
}
