/* Accounts. Lookups that must cross tenants (login by email, token and key
 * lookups, provisioning) use the system role; everything done on behalf of a
 * known user runs as the tenant role inside a tenant transaction. */
#include "services/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/uuid.h"
#include "db/db.h"
#include "http/server.h"
#include "queue/redis.h"
#include "services/apikeys.h"
#include "services/auth_cache.h"
#include "services/login_guard.h"
#include "services/password.h"

#define KEY_TOUCH_SECONDS "60"

void auth_install(void)
{
	fs_authenticate = auth_authenticate;
}

/* ---- authentication ---- */

static unsigned parse_scopes(const char *pgarray)
{
	unsigned s = 0;

	if (!pgarray)
		return 0;
	if (strstr(pgarray, "admin"))
		s |= FS_SCOPE_ADMIN | FS_SCOPE_WRITE | FS_SCOPE_READ;
	if (strstr(pgarray, "write"))
		s |= FS_SCOPE_WRITE | FS_SCOPE_READ;
	if (strstr(pgarray, "read"))
		s |= FS_SCOPE_READ;
	return s;
}

static void principal_from_entry(struct fs_ctx *ctx, const struct auth_entry *e)
{
	struct fs_principal *p = &ctx->auth;

	p->user_id = arena_strdup(ctx->arena, e->user_id);
	p->email = arena_strdup(ctx->arena, e->email);
	p->plan = arena_strdup(ctx->arena, e->plan);
	p->created_at = arena_strdup(ctx->arena, e->created_at);
	p->is_active = e->is_active;
	ctx->user_id = p->user_id;
	if (e->key_id[0]) {
		p->via_api_key = 1;
		p->key_id = arena_strdup(ctx->arena, e->key_id);
		p->scopes = e->scopes;
		p->key_is_platform = e->key_is_platform;
	} else {
		p->scopes = FS_SCOPE_READ | FS_SCOPE_WRITE | FS_SCOPE_ADMIN;
	}
}

/* The user columns of a lookup row into e. */
static void entry_from_row(struct fs_ctx *ctx, const PGresult *r, struct auth_entry *e)
{
	snprintf(e->user_id, sizeof(e->user_id), "%s", db_get(r, 0, "id"));
	snprintf(e->email, sizeof(e->email), "%s", db_get(r, 0, "email"));
	snprintf(e->plan, sizeof(e->plan), "%s", db_get(r, 0, "plan"));
	snprintf(e->created_at, sizeof(e->created_at), "%s",
		 db_iso_time(ctx->arena, db_get(r, 0, "created_at")));
	e->is_active = db_get_bool(r, 0, "is_active");
	e->cached_at = time(NULL);
}

static int deny(struct fs_ctx *ctx, enum fs_status st, const char *detail)
{
	if (st == FS_UNAUTHORIZED)
		fs_header_add(ctx, "WWW-Authenticate", "Bearer");
	fs_respond_error(ctx, st, "%s", detail);
	return 0;
}

static int authenticate_key(struct fs_ctx *ctx, const char *key)
{
	static const char sql[] =
		"SELECT k.id AS key_id, k.scopes, k.is_active AS key_active, k.is_platform,"
		" (k.last_used_at IS NULL OR k.last_used_at < now() - interval '" KEY_TOUCH_SECONDS
		" seconds') AS stale,"
		" u.id, u.email, u.plan, u.is_active, u.created_at"
		" FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1";
	char hash[SHA256_HEX_LEN + 1];
	const char *params[1] = { hash };
	struct auth_entry fresh, *e;
	time_t now = time(NULL);

	if (!apikey_shape_ok(key, strlen(key)))
		return deny(ctx, FS_UNAUTHORIZED, "Invalid API key");
	sha256_hex(key, strlen(key), hash);
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.key, sizeof(fresh.key), "k:%s", hash);
	auth_cache_sync(ctx->sysdb);
	e = auth_cache_get(fresh.key);
	if (!e) {
		PGresult *r = db_query_cached(ctx->sysdb, ctx->arena, sql, 1, params);
		if (!r) {
			fs_respond_error(ctx, FS_ERROR, "API key lookup failed");
			return 0;
		}
		if (PQntuples(r) == 0 || !db_get_bool(r, 0, "key_active"))
			return deny(ctx, FS_UNAUTHORIZED, "Invalid API key");
		entry_from_row(ctx, r, &fresh);
		if (!fresh.is_active)
			return deny(ctx, FS_UNAUTHORIZED, "User not found or inactive");
		snprintf(fresh.key_id, sizeof(fresh.key_id), "%s", db_get(r, 0, "key_id"));
		fresh.scopes = parse_scopes(db_get(r, 0, "scopes"));
		fresh.key_is_platform = db_get_bool(r, 0, "is_platform");
		fresh.key_used_at = db_get_bool(r, 0, "stale") ? 0 : now;
		auth_cache_put(&fresh);
		e = auth_cache_get(fresh.key);
		if (!e)
			e = &fresh;
	}
	principal_from_entry(ctx, e);
	if (now - e->key_used_at >= 60) {
		/* last_used_at moves at most once a minute per key: no write per request. */
		const char *kp[1] = { e->key_id };
		db_query_cached(ctx->sysdb, ctx->arena,
				"UPDATE api_keys SET last_used_at = now() WHERE id = $1", 1, kp);
		e->key_used_at = now;
	}
	return 1;
}

static int authenticate_jwt(struct fs_ctx *ctx, const char *token)
{
	static const char user_by_id[] =
		"SELECT id, email, plan, is_active, created_at FROM users WHERE id = $1";
	char user_id[37];
	const char *params[1] = { user_id };
	struct auth_entry fresh, *e;

	if (token_verify_access(ctx->cfg, token, user_id) != FS_OK)
		return deny(ctx, FS_UNAUTHORIZED, "Invalid or expired token");
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.key, sizeof(fresh.key), "u:%s", user_id);
	auth_cache_sync(ctx->sysdb);
	e = auth_cache_get(fresh.key);
	if (!e) {
		PGresult *r = db_query_cached(ctx->sysdb, ctx->arena, user_by_id, 1, params);
		if (!r) {
			fs_respond_error(ctx, FS_ERROR, "user lookup failed");
			return 0;
		}
		if (PQntuples(r) == 0 || !db_get_bool(r, 0, "is_active"))
			return deny(ctx, FS_UNAUTHORIZED, "User not found or inactive");
		entry_from_row(ctx, r, &fresh);
		auth_cache_put(&fresh);
		e = &fresh;
	}
	principal_from_entry(ctx, e);
	return 1;
}

/* Fixed one-minute windows per key (per user for JWTs) in Redis. Redis being
 * down lets requests through, logged, like the login throttle. */
static int within_rate_limit(struct fs_ctx *ctx)
{
	const struct fs_config *c = ctx->cfg;
	long limit, count = 0;
	time_t now = time(NULL);
	long reset = 60 - (long)(now % 60);
	char key[128], buf[24];
	redisReply *rep;

	if (!ctx->auth.via_api_key)
		limit = c->rate_limit_jwt;
	else if (strcmp(ctx->auth.plan, "enterprise") == 0)
		limit = c->rate_limit_enterprise;
	else if (strcmp(ctx->auth.plan, "pro") == 0)
		limit = c->rate_limit_pro;
	else
		limit = c->rate_limit_free;
	snprintf(key, sizeof(key), "fs:rl:%s:%s:%ld", ctx->auth.via_api_key ? "k" : "u",
		 ctx->auth.via_api_key ? ctx->auth.key_id : ctx->auth.user_id, (long)(now / 60));
	{
		const char *incr[] = { "INCR", key };
		rep = fs_redis_argv(ctx->redis, 2, incr, NULL);
		if (!rep || rep->type != REDIS_REPLY_INTEGER) {
			if (rep)
				freeReplyObject(rep);
			log_warn("rate limit unavailable: Redis unreachable");
			return 1;
		}
		count = (long)rep->integer;
		freeReplyObject(rep);
	}
	if (count == 1) {
		const char *expire[] = { "EXPIRE", key, "61" };
		rep = fs_redis_argv(ctx->redis, 3, expire, NULL);
		if (rep)
			freeReplyObject(rep);
	}
	snprintf(buf, sizeof(buf), "%ld", limit);
	fs_header_add(ctx, "RateLimit-Limit", buf);
	snprintf(buf, sizeof(buf), "%ld", count >= limit ? 0 : limit - count);
	fs_header_add(ctx, "RateLimit-Remaining", buf);
	snprintf(buf, sizeof(buf), "%ld", reset);
	fs_header_add(ctx, "RateLimit-Reset", buf);
	if (count <= limit)
		return 1;
	fs_header_add(ctx, "Retry-After", buf);
	fs_respond_error(ctx, FS_RATE_LIMITED,
			 "Rate limit of %ld requests per minute exceeded. Try again in %ld seconds.",
			 limit, reset);
	return 0;
}

enum auth_credential auth_parse_credentials(const char *authorization, const char *api_key,
					    const char **value)
{
	*value = NULL;
	/* The API key wins when both are sent, as in the original. */
	if (api_key && *api_key) {
		*value = api_key;
		return AUTH_API_KEY;
	}
	if (!authorization || !*authorization)
		return AUTH_NONE;
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return AUTH_MALFORMED;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	if (!*authorization)
		return AUTH_MALFORMED;
	*value = authorization;
	return AUTH_BEARER;
}

int auth_authenticate(struct fs_ctx *ctx)
{
	const char *value;
	unsigned need = 0;
	int ok;

	switch (auth_parse_credentials(fs_request_header(&ctx->req, ctx->arena, "Authorization"),
				       fs_request_header(&ctx->req, ctx->arena, "X-API-Key"), &value)) {
	case AUTH_API_KEY:
		ok = authenticate_key(ctx, value);
		break;
	case AUTH_BEARER:
		ok = authenticate_jwt(ctx, value);
		break;
	case AUTH_MALFORMED:
		return deny(ctx, FS_UNAUTHORIZED, "Invalid or expired token");
	default:
		return deny(ctx, FS_UNAUTHORIZED, "Not authenticated");
	}
	if (!ok)
		return 0;
	switch (ctx->match.route->access) {
	case FS_ACCESS_PUBLIC: need = 0; break;
	case FS_ACCESS_READ: need = FS_SCOPE_READ; break;
	case FS_ACCESS_WRITE: need = FS_SCOPE_WRITE; break;
	case FS_ACCESS_ADMIN: need = FS_SCOPE_ADMIN; break;
	}
	if ((ctx->auth.scopes & need) != need)
		return deny(ctx, FS_FORBIDDEN, "Insufficient scope");
	if (ctx->cfg->rate_limits && !within_rate_limit(ctx))
		return 0;
	return 1;
}

/* ---- tokens ---- */

/* Store a new refresh token (of family, or a new family when NULL) and sign
 * an access token; runs on whichever connection the caller holds. */
static enum fs_status issue_tokens(struct fs_ctx *ctx, struct fs_db *db, const char *user_id,
				   struct auth_tokens *out, struct fs_error *err)
{
	char hash[65], ttl[24];
	const char *params[3] = { user_id, hash, ttl };

	if (token_new_refresh(out->refresh, sizeof(out->refresh), hash) < 0 ||
	    token_issue_access(ctx->cfg, user_id, out->access, sizeof(out->access)) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	snprintf(ttl, sizeof(ttl), "%ld", ctx->cfg->refresh_token_ttl);
	if (!db_query(db, ctx->arena,
		      "INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at)"
		      " VALUES ($1, $2, gen_random_uuid(), now() + make_interval(secs => $3::int))",
		      3, params))
		return fs_fail(err, FS_ERROR, "storing the refresh token failed");
	return FS_OK;
}

static char *lower_dup(struct arena *a, const char *s)
{
	char *d = arena_strdup(a, s);
	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return d;
}

enum fs_status auth_register(struct fs_ctx *ctx, const char *email, const char *password,
			     size_t password_len, struct auth_tokens *out, struct fs_error *err)
{
	char hash[PASSWORD_HASH_MAX];
	const char *params[2] = { lower_dup(ctx->arena, email), hash };
	PGresult *r;
	enum fs_status st;

	if (password_hash(password, password_len, hash) < 0)
		return fs_fail(err, FS_ERROR, "password hashing failed");
	if (db_begin(ctx->sysdb) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(ctx->sysdb, ctx->arena,
		     "INSERT INTO users (email, password_hash) VALUES ($1, $2)"
		     " ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
		     2, params);
	if (!r) {
		db_rollback(ctx->sysdb);
		return fs_fail(err, FS_ERROR, "creating the user failed");
	}
	if (PQntuples(r) == 0) {
		db_rollback(ctx->sysdb);
		return fs_fail(err, FS_CONFLICT, "A user with this email already exists");
	}
	st = issue_tokens(ctx, ctx->sysdb, PQgetvalue(r, 0, 0), out, err);
	if (st != FS_OK) {
		db_rollback(ctx->sysdb);
		return st;
	}
	if (db_commit(ctx->sysdb) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	return FS_OK;
}

enum fs_status auth_login(struct fs_ctx *ctx, const char *email, const char *password,
			  size_t password_len, struct auth_tokens *out, struct fs_error *err,
			  long *retry_after)
{
	const char *params[1] = { email };
	const char *hash = NULL;
	struct login_guard guard;
	PGresult *r;

	*retry_after = login_guard_begin(&guard, ctx->redis, email, ctx->req.remote_addr);
	if (*retry_after > 0)
		return fs_fail(err, FS_RATE_LIMITED,
			       "Too many failed login attempts. Try again in %ld seconds.",
			       *retry_after);

	r = db_query(ctx->sysdb, ctx->arena,
		     "SELECT id, password_hash, is_active FROM users WHERE lower(email) = lower($1)",
		     1, params);
	if (!r) {
		login_guard_uncount(&guard);
		return fs_fail(err, FS_ERROR, "user lookup failed");
	}
	if (PQntuples(r) > 0)
		hash = db_get(r, 0, "password_hash");
	if (!password_verify(hash, password, password_len))
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid email or password");
	login_guard_passed(&guard);
	if (!db_get_bool(r, 0, "is_active"))
		return fs_fail(err, FS_UNAUTHORIZED, "User not found or inactive");
	return issue_tokens(ctx, ctx->sysdb, db_get(r, 0, "id"), out, err);
}

enum fs_status auth_refresh(struct fs_ctx *ctx, const char *refresh_token,
			    struct auth_tokens *out, struct fs_error *err)
{
	char old_hash[65], new_hash[65], new_id[37], ttl[24];
	const char *lookup[1] = { old_hash };
	PGresult *r;
	const char *id, *family;

	if (strncmp(refresh_token, REFRESH_TOKEN_PREFIX, strlen(REFRESH_TOKEN_PREFIX)) != 0 ||
	    strlen(refresh_token) > 128)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	sha256_hex(refresh_token, strlen(refresh_token), old_hash);
	r = db_query(ctx->sysdb, ctx->arena,
		     "SELECT t.id, t.user_id, t.family_id, t.revoked_at IS NOT NULL AS revoked,"
		     " t.replaced_by IS NOT NULL AS rotated, t.expires_at <= now() AS expired,"
		     " u.is_active"
		     " FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
		     1, lookup);
	if (!r)
		return fs_fail(err, FS_ERROR, "refresh token lookup failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	id = db_get(r, 0, "id");
	family = db_get(r, 0, "family_id");
	if (db_get_bool(r, 0, "rotated")) {
		/* A token that was already exchanged came back: it leaked. Revoke
		 * every token descended from the same login. */
		const char *fp[1] = { family };
		db_query(ctx->sysdb, ctx->arena,
			 "UPDATE refresh_tokens SET revoked_at = now()"
			 " WHERE family_id = $1 AND revoked_at IS NULL",
			 1, fp);
		log_warn("refresh token reuse detected; family %s revoked", family);
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	}
	if (db_get_bool(r, 0, "revoked") || db_get_bool(r, 0, "expired") ||
	    !db_get_bool(r, 0, "is_active"))
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");

	if (token_new_refresh(out->refresh, sizeof(out->refresh), new_hash) < 0 ||
	    uuid_generate(new_id) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	snprintf(ttl, sizeof(ttl), "%ld", ctx->cfg->refresh_token_ttl);
	{
		/* Revoke the old token and insert its successor in one statement:
		 * of two concurrent refreshes only one finds it unrevoked. */
		const char *p[4] = { id, new_hash, ttl, new_id };
		r = db_query(ctx->sysdb, ctx->arena,
			     "WITH old AS (UPDATE refresh_tokens SET revoked_at = now(), replaced_by = $4"
			     "  WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()"
			     "  RETURNING user_id, family_id)"
			     " INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, expires_at)"
			     " SELECT $4, user_id, $2, family_id, now() + make_interval(secs => $3::int)"
			     " FROM old RETURNING user_id",
			     4, p);
	}
	if (!r)
		return fs_fail(err, FS_ERROR, "rotating the refresh token failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	if (token_issue_access(ctx->cfg, PQgetvalue(r, 0, 0), out->access, sizeof(out->access)) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	return FS_OK;
}

enum fs_status auth_logout(struct fs_ctx *ctx, const char *refresh_token, int all,
			   struct fs_error *err)
{
	char hash[65];
	const char *params[1] = { hash };
	PGresult *r;

	if (db_begin_tenant(ctx->db, ctx->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if (all) {
		r = db_query(ctx->db, ctx->arena,
			     "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL", 0,
			     NULL);
	} else {
		sha256_hex(refresh_token, strlen(refresh_token), hash);
		r = db_query(ctx->db, ctx->arena,
			     "UPDATE refresh_tokens SET revoked_at = now()"
			     " WHERE token_hash = $1 AND revoked_at IS NULL",
			     1, params);
	}
	if (!r || db_commit(ctx->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "revoking refresh tokens failed");
	return FS_OK;
}

enum fs_status auth_update_profile(struct fs_ctx *ctx, const char *email,
				   const char *current_password, size_t current_len,
				   const char *new_password, size_t new_len, struct fs_error *err)
{
	enum fs_status ret = FS_ERROR;
	PGresult *r;

	if (db_begin_tenant(ctx->db, ctx->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if (new_password) {
		char hash[PASSWORD_HASH_MAX];
		const char *p[1] = { hash };

		r = db_query(ctx->db, ctx->arena, "SELECT password_hash FROM users", 0, NULL);
		if (!r || PQntuples(r) != 1) {
			ret = fs_fail(err, FS_ERROR, "reading the account failed");
			goto out;
		}
		if (!current_password ||
		    !password_verify(db_get(r, 0, "password_hash"), current_password, current_len)) {
			ret = fs_fail(err, FS_BAD_REQUEST, "Current password is incorrect");
			goto out;
		}
		if (password_hash(new_password, new_len, hash) < 0) {
			ret = fs_fail(err, FS_ERROR, "password hashing failed");
			goto out;
		}
		if (!db_query(ctx->db, ctx->arena,
			      "UPDATE users SET password_hash = $1, updated_at = now()", 1, p) ||
		    /* A new password ends every session started with the old one. */
		    !db_query(ctx->db, ctx->arena,
			      "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL",
			      0, NULL)) {
			ret = fs_fail(err, FS_ERROR, "updating the password failed");
			goto out;
		}
	}
	if (email) {
		const char *p[1] = { lower_dup(ctx->arena, email) };
		r = db_query(ctx->db, ctx->arena,
			     "UPDATE users SET email = $1, updated_at = now() RETURNING email", 1, p);
		if (!r) {
			if (strcmp(db_last_sqlstate(ctx->db), "23505") == 0)
				ret = fs_fail(err, FS_CONFLICT, "A user with this email already exists");
			else
				ret = fs_fail(err, FS_ERROR, "updating the email failed");
			goto out;
		}
		ctx->auth.email = arena_strdup(ctx->arena, PQgetvalue(r, 0, 0));
	}
	if (db_commit(ctx->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	return FS_OK;
out:
	db_rollback(ctx->db);
	return ret;
}

/* ---- provisioning ---- */

int auth_platform_signature_ok(const struct fs_config *cfg, const char *body, size_t len,
			       const char *signature_header)
{
	char want[SHA256_HEX_LEN + 1];
	const char *got;

	if (!signature_header || strncmp(signature_header, "sha256=", 7) != 0)
		return 0;
	got = signature_header + 7;
	hmac_sha256_hex(cfg->platform_webhook_secret, strlen(cfg->platform_webhook_secret), body,
			len, want);
	/* Hex digests compare case-insensitively: lower-case what we were sent. */
	char norm[SHA256_HEX_LEN + 1];
	size_t n = strlen(got);
	if (n != SHA256_HEX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		norm[i] = (got[i] >= 'A' && got[i] <= 'F') ? (char)(got[i] + 32) : got[i];
	norm[n] = '\0';
	return secure_equals(norm, n, want, SHA256_HEX_LEN);
}

enum fs_status auth_provision(struct fs_ctx *ctx, const struct provision_request *req,
			      char user_id[37], char *api_key, size_t key_size,
			      struct fs_error *err)
{
	const char *email = lower_dup(ctx->arena, req->email);
	const char *find[2] = { req->external_platform_id, email };
	PGresult *r;
	int found_by_email = 0;

	r = db_query(ctx->sysdb, ctx->arena,
		     "SELECT id, external_platform_id IS NULL AS unlinked,"
		     " external_platform_id = $1 AS by_platform FROM users"
		     " WHERE external_platform_id = $1 OR lower(email) = $2"
		     " ORDER BY (external_platform_id = $1) DESC NULLS LAST LIMIT 1",
		     2, find);
	if (!r)
		return fs_fail(err, FS_ERROR, "user lookup failed");
	if (PQntuples(r) == 1) {
		snprintf(user_id, 37, "%s", db_get(r, 0, "id"));
		found_by_email = !db_get_bool(r, 0, "by_platform");
		if (found_by_email && !db_get_bool(r, 0, "unlinked"))
			return fs_fail(err, FS_CONFLICT,
				       "This email belongs to an account linked to another platform "
				       "user");
	} else {
		char hash[PASSWORD_HASH_MAX], random_pw[64];
		const char *pw = req->password;
		size_t pwlen = req->password_len;
		const char *ins[5] = { email, hash, req->plan, req->external_platform_id,
				       req->external_store_id };

		if (!pw) {
			if (random_token("", 24, random_pw, sizeof(random_pw)) < 0)
				return fs_fail(err, FS_ERROR, "random password failed");
			pw = random_pw;
			pwlen = strlen(random_pw);
		}
		if (password_hash(pw, pwlen, hash) < 0)
			return fs_fail(err, FS_ERROR, "password hashing failed");
		r = db_query(ctx->sysdb, ctx->arena,
			     "INSERT INTO users (email, password_hash, plan, external_platform_id,"
			     " external_store_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
			     5, ins);
		if (!r) {
			if (strcmp(db_last_sqlstate(ctx->sysdb), "23505") == 0)
				return fs_fail(err, FS_CONFLICT, "The store is already linked to another account");
			return fs_fail(err, FS_ERROR, "creating the user failed");
		}
		snprintf(user_id, 37, "%s", PQgetvalue(r, 0, 0));
	}
	if (found_by_email) {
		/* Link the existing account to the platform, as the tenant itself. */
		const char *link[2] = { req->external_platform_id, req->external_store_id };
		if (db_begin_tenant(ctx->db, user_id) != FS_OK ||
		    !db_query(ctx->db, ctx->arena,
			      "UPDATE users SET external_platform_id = $1,"
			      " external_store_id = COALESCE($2, external_store_id), updated_at = now()",
			      2, link) ||
		    db_commit(ctx->db) != FS_OK) {
			db_rollback(ctx->db);
			if (strcmp(db_last_sqlstate(ctx->db), "23505") == 0)
				return fs_fail(err, FS_CONFLICT, "The store is already linked to another account");
			return fs_fail(err, FS_ERROR, "linking the account failed");
		}
	}
	{
		char name[64];
		snprintf(name, sizeof(name), "Platform Integration (%.8s)", user_id);
		return apikey_issue(ctx, ctx->sysdb, user_id, name, "{read,write,admin}", 1, api_key,
				    key_size, NULL, err);
	}
}
