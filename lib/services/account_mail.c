/* Verification and password mail. The token is shown once, in the link; only
 * its SHA-256 is stored, like refresh tokens and API keys. */
#include "services/account_mail.h"

#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "json/json.h"

/* The message as the pre-rendered payload test sends use. */
static int queue(struct fs_db *db, struct arena *a, const char *user_id, const char *to,
		 const char *kind, const char *subject, const char *html, const char *text)
{
	json_object *p = json_object_new_object();
	const char *params[3];
	int ok;

	json_object_object_add(p, "subject", json_object_new_string(subject));
	json_object_object_add(p, "html", json_object_new_string(html));
	json_object_object_add(p, "text", json_object_new_string(text));
	json_object_object_add(p, "account_mail", json_object_new_string(kind));
	params[0] = to;
	params[2] = user_id;
	params[1] = arena_strdup(a, json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	json_object_put(p);
	ok = params[1] && db_query(db, a,
				   "INSERT INTO outbox (user_id, to_email, payload)"
				   " VALUES ($3, $1, $2::jsonb)",
				   3, params) != NULL;
	if (!ok)
		log_error("queueing %s mail failed", kind);
	return ok ? 0 : -1;
}

/* A button-like link and the same link in text; token is base64url and
 * public_url comes from the operator, so neither needs escaping beyond
 * what html_escape_attr would do to a URL of ours. */
static int send_link(struct fs_db *db, struct arena *a, const struct fs_config *cfg,
		     const char *user_id, const char *to, const char *kind, const char *path, const char *token,
		     const char *subject, const char *intro, const char *button,
		     const char *outro)
{
	const char *url = arena_sprintf(a, "%s%s?token=%s", cfg->public_url, path, token);
	const char *html, *text;

	if (!url)
		return -1;
	html = arena_sprintf(
		a,
		"<!doctype html><html><body style=\"font-family:Arial,sans-serif;color:#1f2937\">"
		"<p>%s</p><p><a href=\"%s\" style=\"display:inline-block;padding:10px 18px;"
		"background:#f43f5e;color:#ffffff;border-radius:6px;text-decoration:none\">%s</a></p>"
		"<p style=\"font-size:13px;color:#6b7280\">%s</p></body></html>",
		intro, url, button, outro);
	text = arena_sprintf(a, "%s\n\n%s: %s\n\n%s\n", intro, button, url, outro);
	if (!html || !text)
		return -1;
	return queue(db, a, user_id, to, kind, subject, html, text);
}

/* A new single-use token: shown once in the link, only its hash stored. */
static int new_token(const char *prefix, char token[64], char hash[SHA256_HEX_LEN + 1])
{
	if (random_token(prefix, 32, token, 64) < 0)
		return -1;
	sha256_hex(token, strlen(token), hash);
	return 0;
}

int account_mail_verification(struct fs_db *db, struct arena *a, const struct fs_config *cfg,
			      const char *user_id, const char *to)
{
	char token[64], hash[SHA256_HEX_LEN + 1];
	const char *p[4] = { to, hash, NULL, user_id };

	if (new_token(VERIFY_TOKEN_PREFIX, token, hash) < 0)
		return -1;
	p[2] = arena_sprintf(a, "%d", VERIFY_TOKEN_HOURS);
	if (!db_query(db, a,
		      "INSERT INTO email_verification_tokens (user_id, email, token_hash, expires_at)"
		      " VALUES ($4, $1, $2, flowsend_now() + make_interval(hours => $3::int))",
		      4, p))
		return -1;
	return send_link(db, a, cfg, user_id, to, "verify_email", "/app/verify-email", token,
			 "Confirm your email address for FlowSend",
			 "Welcome to FlowSend. Please confirm that this address is yours.",
			 "Confirm my address",
			 "The link works once, for 48 hours. If you did not create a FlowSend"
			 " account, ignore this message.");
}

int account_mail_password_link(struct fs_db *db, struct arena *a, const struct fs_config *cfg,
			       const char *user_id, const char *to, enum account_link why)
{
	char token[64], hash[SHA256_HEX_LEN + 1];
	const char *p[4] = { hash, NULL, user_id, to };
	PGresult *r;

	if (new_token(RESET_TOKEN_PREFIX, token, hash) < 0)
		return -1;
	p[1] = arena_sprintf(a, "%d", RESET_TOKEN_MINUTES);
	/* Only while the account still holds the address: a link that raced an
	 * email change is never mailed, and the token records what it proves. */
	r = db_query(db, a,
		     "INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, email,"
		     "  created_at)"
		     " SELECT $3, $1, flowsend_now() + make_interval(mins => $2::int), $4,"
		     "  flowsend_now() FROM users"
		     " WHERE id = $3 AND lower(email) = lower($4) RETURNING id",
		     4, p);
	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		return 1;
	if (why == ACCOUNT_LINK_CLAIMED)
		return send_link(
			db, a, cfg, user_id, to, "account_claimed", "/app/reset-password", token,
			"Set a password for your FlowSend account",
			"Your store was connected to FlowSend. An account with this address"
			" already existed but its address was never confirmed, so its password,"
			" sessions and API keys were revoked to keep your data safe.",
			"Set a new password",
			"The link works once, for 60 minutes. Ask for a new one from the"
			" sign-in page's \"Forgot password\" if it expired.");
	return send_link(db, a, cfg, user_id, to, "password_reset", "/app/reset-password", token,
			 "Reset your FlowSend password",
			 "Someone asked to reset the password of the FlowSend account for this"
			 " address.",
			 "Choose a new password",
			 "The link works once, for 60 minutes. If you did not ask, ignore this"
			 " message: your password stays as it is.");
}

int account_token_shape_ok(const char *token, const char *prefix)
{
	return token_shape_ok(token, strlen(token), prefix, 96);
}
