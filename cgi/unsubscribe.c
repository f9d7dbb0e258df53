/* Responder for /u/{token}, outside /api/v1: the unsubscribe page and
 * preference center (GET changes nothing: the tenant's public lists with the
 * contact's memberships, a save button and an unsubscribe-from-everything
 * button) and the POSTs: RFC 8058 one-click from a mail client, or the
 * page's unsubscribe button, unsubscribe from everything; the page's list
 * form (action=preferences) joins and leaves lists. Small HTML pages with
 * nothing from elsewhere, no script, never cached, never sending a referrer. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "http/server.h"
#include "services/preferences.h"
#include "services/unsubscribe.h"

/* "List-Unsubscribe=One-Click", the button's field, or the list form (an id
 * of 36 bytes and "list=" and "&" per list, PREFERENCES_MAX_LISTS of them). */
#define BODY_MAX 4096
#define FORM_MAX_FIELDS (PREFERENCES_MAX_LISTS + 4)

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
	"button.quiet{background:#fff;color:#be123c;border:2px solid #f43f5e}"
	"button.quiet:hover,button.quiet:focus{background:#fff1f2}"
	"fieldset{border:0;margin:0 0 1rem;padding:0}"
	"legend{font-weight:600;margin-bottom:.5rem}"
	"label{display:flex;gap:.75rem;align-items:flex-start;padding:.75rem;margin:0 0 .5rem;"
	"border:1px solid #fecdd3;border-radius:8px;cursor:pointer;overflow-wrap:anywhere}"
	"input[type=checkbox]{accent-color:#f43f5e;width:1.25rem;height:1.25rem;margin:.15rem 0 0;"
	"flex:none}"
	"label small{display:block;color:#6b7280}"
	"hr{border:0;border-top:1px solid #fecdd3;margin:1.5rem 0}"
	".notice{background:#fff1f2;border-left:4px solid #f43f5e;padding:.5rem .75rem;"
	"border-radius:4px}"
	"p.small{color:#6b7280;font-size:.875rem}";

/* The headers every page gets, and the policy: nothing loads from anywhere,
 * the one inline style is allowed by its hash, forms post back here only. */
static void page_headers(struct fs_ctx *ctx)
{
	static char csp[FS_PAGE_CSP_SIZE];

	fs_page_headers(ctx, style, sizeof(style) - 1, csp);
}

static void page_start(struct strbuf *page, const char *title, const char *sender)
{
	strbuf_appends(page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			     "<meta name=\"robots\" content=\"noindex\"><title>");
	strbuf_append_html(page, title);
	strbuf_appends(page, "</title><style>");
	strbuf_appends(page, style);
	strbuf_appends(page, "</style></head>\n<body><main>");
	if (sender) {
		strbuf_appends(page, "<p class=\"brand\">");
		strbuf_append_html(page, sender);
		strbuf_appends(page, "</p>");
	}
	strbuf_appends(page, "<h1>");
	strbuf_append_html(page, title);
	strbuf_appends(page, "</h1>");
}

static void page_finish(struct fs_ctx *ctx, int code, struct strbuf *page)
{
	strbuf_appends(page, "</main></body></html>\n");
	page_headers(ctx);
	if (page->oom)
		fs_respond_error(ctx, FS_ERROR, "out of memory writing the unsubscribe page");
	else
		fs_respond_raw(ctx, code, "text/html; charset=utf-8", page->buf, page->len);
	strbuf_free(page);
}

/* A whole page: title, one paragraph, and the confirm form when action is set. */
static void respond_page(struct fs_ctx *ctx, int code, const char *title, const char *text,
			 const char *sender, const char *action)
{
	struct strbuf page = STRBUF_INIT;

	page_start(&page, title, sender);
	strbuf_appends(&page, "<p>");
	strbuf_append_html(&page, text);
	if (sender) {
		strbuf_appends(&page, " <strong>");
		strbuf_append_html(&page, sender);
		strbuf_appends(&page, "</strong>.");
	}
	strbuf_appends(&page, "</p>");
	if (action) {
		strbuf_appends(&page, "<form method=\"post\" action=\"");
		strbuf_append_html(&page, action);
		strbuf_appends(&page, "\"><button type=\"submit\" name=\"unsubscribe\" value=\"confirm\">"
				      "Unsubscribe</button></form>"
				      "<p class=\"small\">Nothing changes until you press the button.</p>");
	}
	page_finish(ctx, code, &page);
}

/* The preference center: the public lists as checkboxes (saved with one
 * button), then unsubscribing from everything; notice says what a save did. */
static void respond_center(struct fs_ctx *ctx, const struct preferences *p, const char *notice)
{
	struct strbuf page = STRBUF_INIT;
	const char *action = ctx->req.path;

	page_start(&page, "Email preferences", p->sender);
	if (notice) {
		strbuf_appends(&page, "<p class=\"notice\" role=\"status\">");
		strbuf_append_html(&page, notice);
		strbuf_appends(&page, "</p>");
	}
	if (p->nlists) {
		strbuf_appends(&page, "<p>Choose the lists you hear about from <strong>");
		strbuf_append_html(&page, p->sender);
		strbuf_appends(&page, "</strong>.</p><form method=\"post\" action=\"");
		strbuf_append_html(&page, action);
		strbuf_appends(&page, "\"><input type=\"hidden\" name=\"action\" value=\"preferences\">"
				      "<fieldset><legend>Your lists</legend>");
		for (size_t i = 0; i < p->nlists; i++) {
			const struct pref_list *l = &p->lists[i];
			strbuf_appends(&page, "<label><input type=\"checkbox\" name=\"list\" value=\"");
			strbuf_append_html(&page, l->id);
			strbuf_appends(&page, l->member ? "\" checked><span>" : "\"><span>");
			strbuf_append_html(&page, l->name);
			if (l->description && *l->description) {
				strbuf_appends(&page, "<small>");
				strbuf_append_html(&page, l->description);
				strbuf_appends(&page, "</small>");
			}
			strbuf_appends(&page, "</span></label>");
		}
		strbuf_appends(&page, "</fieldset><button type=\"submit\" name=\"save\" value=\"1\">"
				      "Save preferences</button></form><hr>");
	}
	strbuf_appends(&page, "<p>Stop receiving every email from <strong>");
	strbuf_append_html(&page, p->sender);
	strbuf_appends(&page, "</strong>.</p><form method=\"post\" action=\"");
	strbuf_append_html(&page, action);
	strbuf_appends(&page, "\"><button class=\"quiet\" type=\"submit\" name=\"unsubscribe\""
			      " value=\"confirm\">Unsubscribe from everything</button></form>"
			      "<p class=\"small\">Nothing changes until you press a button.</p>");
	page_finish(ctx, 200, &page);
}

/* Errors: a page for a browser (it asks for text/html), {"detail": ...} for
 * anything else, as every error of the API (mail clients, scripts). */
static void respond_error_page(struct fs_ctx *ctx, enum fs_status st, const char *title,
			       const char *text)
{
	const char *accept = fs_request_header(&ctx->req, ctx->env.arena, "Accept");

	if (accept && strstr(accept, "text/html"))
		return respond_page(ctx, fs_status_http(st), title, text, NULL, NULL);
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_respond_error(ctx, st, "%s", text);
}

static void respond_refused(struct fs_ctx *ctx, enum fs_status st, const struct fs_error *err)
{
	if (st == FS_NOT_FOUND)
		return respond_error_page(ctx, st, "Link not valid",
					  "This unsubscribe link is not valid. If you copied it,"
					  " check that it is complete.");
	fs_respond_failure(ctx, st, err);
}

static void unsubscribe_get(struct fs_ctx *ctx)
{
	const char *token = fs_ctx_param(ctx, "token");
	struct preferences p;
	struct fs_error err;
	enum fs_status st = preferences_show(&ctx->env, token ? token : "", &p, &err);

	if (st != FS_OK)
		return respond_refused(ctx, st, &err);
	if (p.unsubscribed)
		return respond_page(ctx, 200, "You are unsubscribed",
				    "You no longer receive these emails from", p.sender, NULL);
	respond_center(ctx, &p, NULL);
}

/* RFC 8058's body, form-encoded or as a multipart field. */
static int is_one_click(const char *body, size_t len)
{
	static const char *const needles[] = { "List-Unsubscribe", "One-Click" };

	for (size_t k = 0; k < 2; k++) {
		size_t n = strlen(needles[k]), i;
		for (i = 0; i + n <= len; i++)
			if (memcmp(body + i, needles[k], n) == 0)
				break;
		if (i + n > len)
			return 0;
	}
	return 1;
}

/* The list form: form-encoded with action=preferences. Anything else (the
 * button, an empty body, whatever a mail client sends) unsubscribes, as it
 * always did. */
static int is_preferences_form(struct fs_ctx *ctx, struct fs_param **fields, long *n)
{
	struct fs_param *f;
	long got;

	if (ctx->req.body_len == 0)
		return 0;
	f = arena_alloc(ctx->env.arena, (FORM_MAX_FIELDS + 1) * sizeof(*f));
	if (!f)
		return 0;
	got = fs_query_parse(ctx->env.arena, ctx->req.body, ctx->req.body_len, f, FORM_MAX_FIELDS + 1);
	if (got < 0) {
		/* Too many fields: a list form is refused (save_preferences), a body
		 * of anything else unsubscribes. */
		*fields = f;
		*n = FORM_MAX_FIELDS + 1;
		return memmem(ctx->req.body, ctx->req.body_len, "action=preferences", 18) != NULL;
	}
	for (long i = 0; i < got; i++) {
		if (strcmp(f[i].key, "action") == 0 && strcmp(f[i].value, "preferences") == 0) {
			*fields = f;
			*n = got;
			return 1;
		}
	}
	return 0;
}

static void save_preferences(struct fs_ctx *ctx, const char *token, const struct fs_param *f,
			     long n)
{
	const char **ids;
	size_t nids = 0;
	struct preferences p;
	struct fs_error err;
	enum fs_status st;
	char notice[160];

	if (n > FORM_MAX_FIELDS)
		return respond_error_page(ctx, FS_BAD_REQUEST, "Bad request", "Too many lists.");
	ids = arena_alloc(ctx->env.arena, ((size_t)n + 1) * sizeof(*ids));
	if (!ids)
		return fs_respond_error(ctx, FS_ERROR, "out of memory reading the preferences");
	for (long i = 0; i < n; i++) {
		if (strcmp(f[i].key, "list") != 0)
			continue;
		if (strlen(f[i].value) != f[i].value_len)
			return respond_error_page(ctx, FS_BAD_REQUEST, "Bad request", "Not a list.");
		ids[nids++] = f[i].value;
	}
	st = preferences_save(&ctx->env, token, ids, nids, &p, &err);
	if (st == FS_BAD_REQUEST)
		return respond_error_page(ctx, st, "Bad request", err.detail);
	if (st != FS_OK)
		return respond_refused(ctx, st, &err);
	if (p.joined || p.left)
		log_info("preferences saved: joined %lld, left %lld lists", p.joined, p.left);
	snprintf(notice, sizeof(notice), "Saved. You joined %lld and left %lld list%s.", p.joined,
		 p.left, p.left == 1 ? "" : "s");
	if (p.unsubscribed)
		return respond_page(ctx, 200, "You are unsubscribed",
				    "Your lists are saved, but you receive no emails from", p.sender,
				    NULL);
	respond_center(ctx, &p, notice);
}

static void unsubscribe_post(struct fs_ctx *ctx)
{
	const char *token = fs_ctx_param(ctx, "token");
	struct unsubscribe_state u;
	struct fs_error err;
	struct fs_param *fields = NULL;
	long nfields = 0;
	enum fs_status st = fs_request_read_body(&ctx->req, ctx->env.arena, BODY_MAX);

	if (st == FS_TOO_LARGE)
		return respond_error_page(ctx, st, "Request too large",
					  "An unsubscribe request carries no more than a short form.");
	if (st != FS_OK)
		return respond_error_page(ctx, FS_BAD_REQUEST, "Bad request",
					  "The request body was incomplete.");
	if (!is_one_click(ctx->req.body, ctx->req.body_len) &&
	    is_preferences_form(ctx, &fields, &nfields))
		return save_preferences(ctx, token ? token : "", fields, nfields);
	st = unsubscribe_confirm(&ctx->env, token ? token : "",
				 is_one_click(ctx->req.body, ctx->req.body_len)
					 ? UNSUBSCRIBE_ONE_CLICK
					 : UNSUBSCRIBE_LINK,
				 &u, &err);
	if (st != FS_OK)
		return respond_refused(ctx, st, &err);
	if (u.recorded)
		log_info("unsubscribed through a link (%lld queued messages cancelled)", u.cancelled);
	respond_page(ctx, 200, "You are unsubscribed", "You will no longer receive these emails from",
		     u.sender, NULL);
}

static const struct fs_route routes[] = {
	{ "GET", "/u/*token", unsubscribe_get, FS_ACCESS_PUBLIC,
	  "Unsubscribe page and preference center: changes nothing" },
	{ "POST", "/u/*token", unsubscribe_post, FS_ACCESS_PUBLIC,
	  "Unsubscribe at once (RFC 8058 one-click, or the page's button); the page's list form"
	  " (action=preferences) joins and leaves public lists" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "unsubscribe", routes, sizeof(routes) / sizeof(routes[0]) };
	return fs_server_main(&app, argc, argv);
}
