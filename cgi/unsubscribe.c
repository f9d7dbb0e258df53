/* Responder for /u/{token}, outside /api/v1: the unsubscribe page (GET, one
 * confirm button, changes nothing) and the unsubscribe itself (POST: RFC 8058
 * one-click from a mail client, or the page's button). Small HTML pages with
 * nothing from elsewhere, never cached, never sending a referrer. */
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "http/server.h"
#include "services/unsubscribe.h"

#define BODY_MAX 4096 /* "List-Unsubscribe=One-Click", or the button's field */

static const char style[] =
	"body{margin:0;background:#fff1f2;color:#1f2937;font:16px/1.5 system-ui,-apple-system,"
	"'Segoe UI',Roboto,sans-serif}"
	"main{max-width:28rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:12px;"
	"border-top:6px solid #f43f5e;box-shadow:0 4px 24px rgba(0,0,0,.08)}"
	"h1{margin:0 0 1rem;font-size:1.5rem;color:#be123c}"
	"button{background:#f43f5e;color:#fff;border:0;border-radius:8px;padding:.75rem 1.5rem;"
	"font:inherit;font-weight:600;cursor:pointer}"
	"button:hover,button:focus{background:#e11d48}"
	"p.small{color:#6b7280;font-size:.875rem}";

static void html_escape(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': strbuf_appends(sb, "&amp;"); break;
		case '<': strbuf_appends(sb, "&lt;"); break;
		case '>': strbuf_appends(sb, "&gt;"); break;
		case '"': strbuf_appends(sb, "&quot;"); break;
		case '\'': strbuf_appends(sb, "&#39;"); break;
		default: strbuf_appendc(sb, *s);
		}
	}
}

/* A whole page: title, one paragraph, and the confirm form when action is set. */
static void respond_page(struct fs_ctx *ctx, int code, const char *title, const char *text,
			 const char *sender, const char *action)
{
	static char csp[256];
	struct strbuf page = STRBUF_INIT;

	if (!csp[0]) {
		char hash[45];
		/* Nothing loads from anywhere; the one inline style is allowed by
		 * its hash; the form may only post back here. */
		sha256_base64(style, sizeof(style) - 1, hash);
		snprintf(csp, sizeof(csp),
			 "default-src 'none'; style-src 'sha256-%s'; form-action 'self';"
			 " frame-ancestors 'none'; base-uri 'none'",
			 hash);
	}
	strbuf_appends(&page, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			      "<meta name=\"robots\" content=\"noindex\"><title>");
	html_escape(&page, title);
	strbuf_appends(&page, "</title><style>");
	strbuf_appends(&page, style);
	strbuf_appends(&page, "</style></head>\n<body><main><h1>");
	html_escape(&page, title);
	strbuf_appends(&page, "</h1><p>");
	html_escape(&page, text);
	if (sender) {
		strbuf_appends(&page, " <strong>");
		html_escape(&page, sender);
		strbuf_appends(&page, "</strong>.");
	}
	strbuf_appends(&page, "</p>");
	if (action) {
		strbuf_appends(&page, "<form method=\"post\" action=\"");
		html_escape(&page, action);
		strbuf_appends(&page, "\"><button type=\"submit\" name=\"unsubscribe\" value=\"confirm\">"
				      "Unsubscribe</button></form>"
				      "<p class=\"small\">Nothing changes until you press the button.</p>");
	}
	strbuf_appends(&page, "</main></body></html>\n");
	fs_header_add(ctx, "Cache-Control", "no-store");
	fs_header_add(ctx, "Referrer-Policy", "no-referrer");
	fs_header_add(ctx, "X-Content-Type-Options", "nosniff");
	fs_header_add(ctx, "X-Robots-Tag", "noindex");
	if (csp[0])
		fs_header_add(ctx, "Content-Security-Policy", csp);
	if (page.oom)
		fs_respond_error(ctx, FS_ERROR, "out of memory writing the unsubscribe page");
	else
		fs_respond_raw(ctx, code, "text/html; charset=utf-8", page.buf, page.len);
	strbuf_free(&page);
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
	struct unsubscribe_state u;
	struct fs_error err;
	enum fs_status st = unsubscribe_show(&ctx->env, token ? token : "", &u, &err);

	if (st != FS_OK)
		return respond_refused(ctx, st, &err);
	if (u.unsubscribed)
		return respond_page(ctx, 200, "You are unsubscribed",
				    "You no longer receive these emails from", u.sender, NULL);
	respond_page(ctx, 200, "Unsubscribe", "Stop receiving these emails from", u.sender,
		     ctx->req.path);
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

static void unsubscribe_post(struct fs_ctx *ctx)
{
	const char *token = fs_ctx_param(ctx, "token");
	struct unsubscribe_state u;
	struct fs_error err;
	enum fs_status st = fs_request_read_body(&ctx->req, ctx->env.arena, BODY_MAX);

	if (st == FS_TOO_LARGE)
		return respond_error_page(ctx, st, "Request too large",
					  "An unsubscribe request carries no more than a short form.");
	if (st != FS_OK)
		return respond_error_page(ctx, FS_BAD_REQUEST, "Bad request",
					  "The request body was incomplete.");
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
	  "Unsubscribe page: one confirm button, changes nothing" },
	{ "POST", "/u/*token", unsubscribe_post, FS_ACCESS_PUBLIC,
	  "Unsubscribe at once (RFC 8058 one-click, or the page's button)" },
};

int main(int argc, char **argv)
{
	static const struct fs_app app = { "unsubscribe", routes, sizeof(routes) / sizeof(routes[0]) };
	return fs_server_main(&app, argc, argv);
}
