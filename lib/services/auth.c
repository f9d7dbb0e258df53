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
#include "core/strbuf.h"
#include "core/uuid.h"
#include "db/db.h"
#include "queue/redis.h"
#include "services/account_mail.h"
#include "services/apikeys.h"
#include "services/auth_cache.h"
#include "services/batch.h"
#include "services/login_guard.h"
#include "services/password.h"

#define KEY_TOUCH_SECONDS "60"

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

static void principal_from_entry(struct fs_env *env, const struct auth_entry *e)
{
	struct fs_principal *p = &env->auth;

	p->user_id = arena_strdup(env->arena, e->user_id);
	p->email = arena_strdup(env->arena, e->email);
	p->plan = arena_strdup(env->arena, e->plan);
	p->created_at = arena_strdup(env->arena, e->created_at);
	p->is_active = e->is_active;
	p->email_verified = e->email_verified;
	p->session_epoch = e->session_epoch;
	env->user_id = p->user_id;
	if (e->key_id[0]) {
		p->via_api_key = 1;
		p->key_id = arena_strdup(env->arena, e->key_id);
		p->scopes = e->scopes;
		p->key_is_platform = e->key_is_platform;
	} else {
		p->scopes = FS_SCOPE_READ | FS_SCOPE_WRITE | FS_SCOPE_ADMIN;
	}
}

/* The user columns of a lookup row into e. */
static void entry_from_row(struct fs_env *env, const PGresult *r, struct auth_entry *e)
{
	snprintf(e->user_id, sizeof(e->user_id), "%s", db_get(r, 0, "id"));
	snprintf(e->email, sizeof(e->email), "%s", db_get(r, 0, "email"));
	snprintf(e->plan, sizeof(e->plan), "%s", db_get(r, 0, "plan"));
	snprintf(e->created_at, sizeof(e->created_at), "%s",
		 db_iso_time(env->arena, db_get(r, 0, "created_at")));
	e->is_active = db_get_bool(r, 0, "is_active");
	e->email_verified = db_get_bool(r, 0, "email_verified");
	e->session_epoch = db_get_ll(r, 0, "session_epoch", 0);
	e->cached_at = time(NULL);
}

enum fs_status auth_principal_from_key(struct fs_env *env, const char *key, struct fs_error *err)
{
	static const char sql[] =
		"SELECT k.id AS key_id, k.scopes, k.is_active AS key_active, k.is_platform,"
		" (k.last_used_at IS NULL OR k.last_used_at < flowsend_now() - interval '" KEY_TOUCH_SECONDS
		" seconds') AS stale,"
		" u.id, u.email, u.plan, u.is_active, u.created_at, u.email_verified, u.session_epoch"
		" FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1";
	char hash[SHA256_HEX_LEN + 1];
	const char *params[1] = { hash };
	struct auth_entry fresh, *e;
	time_t now = time(NULL);

	if (!apikey_shape_ok(key, strlen(key)))
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid API key");
	sha256_hex(key, strlen(key), hash);
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.key, sizeof(fresh.key), "k:%s", hash);
	auth_cache_sync(env->sysdb);
	e = auth_cache_get(fresh.key);
	if (!e) {
		PGresult *r = db_query_cached(env->sysdb, env->arena, sql, 1, params);
		if (!r)
			return fs_fail(err, FS_ERROR, "API key lookup failed");
		if (PQntuples(r) == 0 || !db_get_bool(r, 0, "key_active"))
			return fs_fail(err, FS_UNAUTHORIZED, "Invalid API key");
		entry_from_row(env, r, &fresh);
		if (!fresh.is_active)
			return fs_fail(err, FS_UNAUTHORIZED, "User not found or inactive");
		snprintf(fresh.key_id, sizeof(fresh.key_id), "%s", db_get(r, 0, "key_id"));
		fresh.scopes = parse_scopes(db_get(r, 0, "scopes"));
		fresh.key_is_platform = db_get_bool(r, 0, "is_platform");
		fresh.key_used_at = db_get_bool(r, 0, "stale") ? 0 : now;
		auth_cache_put(&fresh);
		e = auth_cache_get(fresh.key);
		if (!e)
			e = &fresh;
	}
	principal_from_entry(env, e);
	if (now - e->key_used_at >= 60) {
		/* last_used_at moves at most once a minute per key: no write per request. */
		const char *kp[1] = { e->key_id };
		db_query_cached(env->sysdb, env->arena,
				"UPDATE api_keys SET last_used_at = flowsend_now() WHERE id = $1", 1, kp);
		e->key_used_at = now;
	}
	return FS_OK;
}

enum fs_status auth_principal_from_jwt(struct fs_env *env, const char *token, struct fs_error *err)
{
	static const char user_by_id[] =
		"SELECT id, email, plan, is_active, created_at, email_verified, session_epoch"
		" FROM users WHERE id = $1";
	char user_id[37];
	long epoch = 0;
	const char *params[1] = { user_id };
	struct auth_entry fresh, *e;

	if (token_verify_access(env->cfg, token, user_id, &epoch) != FS_OK)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired token");
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.key, sizeof(fresh.key), "u:%s", user_id);
	auth_cache_sync(env->sysdb);
	e = auth_cache_get(fresh.key);
	/* A token of another epoch than the cached one: the cache may trail a
	 * reset by the milliseconds its NOTIFY takes, so ask the database. */
	if (e && epoch != e->session_epoch)
		e = NULL;
	if (!e) {
		PGresult *r = db_query_cached(env->sysdb, env->arena, user_by_id, 1, params);
		if (!r)
			return fs_fail(err, FS_ERROR, "user lookup failed");
		if (PQntuples(r) == 0 || !db_get_bool(r, 0, "is_active"))
			return fs_fail(err, FS_UNAUTHORIZED, "User not found or inactive");
		entry_from_row(env, r, &fresh);
		auth_cache_put(&fresh);
		e = &fresh;
	}
	/* A claim or a password reset raised the epoch: older tokens are dead. */
	if (epoch != e->session_epoch)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired token");
	principal_from_entry(env, e);
	return FS_OK;
}

/* Fixed one-minute windows per key (per user for JWTs) in Redis. Redis being
 * down lets requests through, logged, like the login throttle. */
int auth_rate_check(struct fs_env *env, struct auth_rate *rate)
{
	const struct fs_config *c = env->cfg;
	long limit, count = 0;
	time_t now = time(NULL);
	long reset = 60 - (long)(now % 60);
	char key[128];
	redisReply *rep;

	if (!env->auth.via_api_key)
		limit = c->rate_limit_jwt;
	else if (strcmp(env->auth.plan, "enterprise") == 0)
		limit = c->rate_limit_enterprise;
	else if (strcmp(env->auth.plan, "pro") == 0)
		limit = c->rate_limit_pro;
	else
		limit = c->rate_limit_free;
	snprintf(key, sizeof(key), "fs:rl:%s:%s:%ld", env->auth.via_api_key ? "k" : "u",
		 env->auth.via_api_key ? env->auth.key_id : env->auth.user_id, (long)(now / 60));
	{
		const char *incr[] = { "INCR", key };
		rep = fs_redis_argv(env->redis, 2, incr, NULL);
		if (!rep || rep->type != REDIS_REPLY_INTEGER) {
			if (rep)
				freeReplyObject(rep);
			/* The Redis breaker logs the outage itself; say once a
			 * minute that limits are off meanwhile, not per request. */
			static time_t warned;
			if (now - warned >= 60) {
				log_warn("rate limits off while Redis is unreachable");
				warned = now;
			}
			return -1;
		}
		count = (long)rep->integer;
		freeReplyObject(rep);
	}
	if (count == 1) {
		const char *expire[] = { "EXPIRE", key, "61" };
		rep = fs_redis_argv(env->redis, 3, expire, NULL);
		if (rep)
			freeReplyObject(rep);
	}
	rate->limit = limit;
	rate->remaining = count >= limit ? 0 : limit - count;
	rate->reset = reset;
	return count <= limit;
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

/* ---- tokens ---- */

/* Store a new refresh token (of family, or a new family when NULL) and sign
 * an access token; runs on whichever connection the caller holds. */
static enum fs_status issue_tokens(struct fs_env *env, struct fs_db *db, const char *user_id,
				   long session_epoch, struct auth_tokens *out, struct fs_error *err)
{
	char hash[65], ttl[24], epoch[24];
	const char *params[4] = { user_id, hash, ttl, epoch };

	snprintf(epoch, sizeof(epoch), "%ld", session_epoch);
	if (token_new_refresh(out->refresh, sizeof(out->refresh), hash) < 0 ||
	    token_issue_access(env->cfg, user_id, session_epoch, out->access,
			       sizeof(out->access)) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	snprintf(ttl, sizeof(ttl), "%ld", env->cfg->refresh_token_ttl);
	if (!db_query(db, env->arena,
		      "INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at,"
		      " session_epoch)"
		      " VALUES ($1, $2, gen_random_uuid(), flowsend_now() + make_interval(secs => $3::int),"
		      " $4::int)",
		      4, params))
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

enum fs_status auth_register(struct fs_env *env, const char *email, const char *password,
			     size_t password_len, struct auth_tokens *out, struct fs_error *err)
{
	char hash[PASSWORD_HASH_MAX];
	const char *params[2] = { lower_dup(env->arena, email), hash };
	const char *user_id;
	PGresult *r;
	enum fs_status st;

	if (password_hash(password, password_len, hash) < 0)
		return fs_fail(err, FS_ERROR, "password hashing failed");
	if (db_begin(env->sysdb) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(env->sysdb, env->arena,
		     "INSERT INTO users (email, password_hash) VALUES ($1, $2)"
		     " ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
		     2, params);
	if (!r) {
		db_rollback(env->sysdb);
		return fs_fail(err, FS_ERROR, "creating the user failed");
	}
	if (PQntuples(r) == 0) {
		db_rollback(env->sysdb);
		return fs_fail(err, FS_CONFLICT, "A user with this email already exists");
	}
	user_id = arena_strdup(env->arena, PQgetvalue(r, 0, 0));
	st = issue_tokens(env, env->sysdb, user_id, 0, out, err);
	if (st != FS_OK) {
		db_rollback(env->sysdb);
		return st;
	}
	/* The address is unproven until its owner follows the mailed link. */
	if (account_mail_verification(env->sysdb, env->arena, env->cfg, user_id, params[0]) < 0) {
		db_rollback(env->sysdb);
		return fs_fail(err, FS_ERROR, "queueing the verification mail failed");
	}
	if (db_commit(env->sysdb) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	batch_wake(env->redis);
	return FS_OK;
}

enum fs_status auth_login(struct fs_env *env, const char *email, const char *password,
			  size_t password_len, struct auth_tokens *out, struct fs_error *err,
			  long *retry_after)
{
	const char *params[1] = { email };
	const char *hash = NULL;
	struct login_guard guard;
	PGresult *r;

	*retry_after = login_guard_begin(&guard, env->redis, email, env->client_addr);
	if (*retry_after > 0)
		return fs_fail(err, FS_RATE_LIMITED,
			       "Too many failed login attempts. Try again in %ld seconds.",
			       *retry_after);

	r = db_query(env->sysdb, env->arena,
		     "SELECT id, password_hash, is_active, session_epoch FROM users"
		     " WHERE lower(email) = lower($1)",
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
	return issue_tokens(env, env->sysdb, db_get(r, 0, "id"),
			    (long)db_get_ll(r, 0, "session_epoch", 0), out, err);
}

enum fs_status auth_refresh(struct fs_env *env, const char *refresh_token,
			    struct auth_tokens *out, struct fs_error *err)
{
	char old_hash[65], new_hash[65], new_id[37], ttl[24];
	const char *lookup[1] = { old_hash };
	PGresult *r;
	const char *id, *family;
	long epoch;

	if (strncmp(refresh_token, REFRESH_TOKEN_PREFIX, strlen(REFRESH_TOKEN_PREFIX)) != 0 ||
	    strlen(refresh_token) > 128)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	sha256_hex(refresh_token, strlen(refresh_token), old_hash);
	r = db_query(env->sysdb, env->arena,
		     "SELECT t.id, t.user_id, t.family_id, t.revoked_at IS NOT NULL AS revoked,"
		     " t.replaced_by IS NOT NULL AS rotated, t.expires_at <= flowsend_now() AS expired,"
		     " u.is_active, u.session_epoch, t.session_epoch = u.session_epoch AS current"
		     " FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
		     1, lookup);
	if (!r)
		return fs_fail(err, FS_ERROR, "refresh token lookup failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	id = db_get(r, 0, "id");
	family = db_get(r, 0, "family_id");
	epoch = (long)db_get_ll(r, 0, "session_epoch", 0);
	if (db_get_bool(r, 0, "rotated")) {
		/* A token that was already exchanged came back: it leaked. Revoke
		 * every token descended from the same login. */
		const char *fp[1] = { family };
		db_query(env->sysdb, env->arena,
			 "UPDATE refresh_tokens SET revoked_at = flowsend_now()"
			 " WHERE family_id = $1 AND revoked_at IS NULL",
			 1, fp);
		log_warn("refresh token reuse detected; family %s revoked", family);
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	}
	if (db_get_bool(r, 0, "revoked") || db_get_bool(r, 0, "expired") ||
	    !db_get_bool(r, 0, "is_active") || !db_get_bool(r, 0, "current"))
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");

	if (token_new_refresh(out->refresh, sizeof(out->refresh), new_hash) < 0 ||
	    uuid_generate(new_id) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	snprintf(ttl, sizeof(ttl), "%ld", env->cfg->refresh_token_ttl);
	{
		/* Revoke the old token and insert its successor in one statement:
		 * of two concurrent refreshes only one finds it unrevoked. */
		const char *p[4] = { id, new_hash, ttl, new_id };
		r = db_query(env->sysdb, env->arena,
			     "WITH old AS (UPDATE refresh_tokens t SET revoked_at = flowsend_now(), replaced_by = $4"
			     "  WHERE t.id = $1 AND t.revoked_at IS NULL AND t.expires_at > flowsend_now()"
			     "  AND t.session_epoch = (SELECT u.session_epoch FROM users u WHERE u.id = t.user_id)"
			     "  RETURNING t.user_id, t.family_id, t.session_epoch)"
			     " INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, expires_at,"
			     "  session_epoch)"
			     " SELECT $4, user_id, $2, family_id, flowsend_now() + make_interval(secs => $3::int),"
			     "  session_epoch FROM old RETURNING user_id",
			     4, p);
	}
	if (!r)
		return fs_fail(err, FS_ERROR, "rotating the refresh token failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired refresh token");
	if (token_issue_access(env->cfg, PQgetvalue(r, 0, 0), epoch, out->access,
			       sizeof(out->access)) < 0)
		return fs_fail(err, FS_ERROR, "token generation failed");
	return FS_OK;
}

/* In the tenant's open transaction: every refresh token ends, or every
 * reset link stops working. 1, or 0 when the statement failed. */
static int revoke_refresh_tokens(struct fs_env *env)
{
	return db_query(env->db, env->arena,
			"UPDATE refresh_tokens SET revoked_at = flowsend_now() WHERE revoked_at IS NULL", 0,
			NULL) != NULL;
}

static int void_reset_links(struct fs_env *env)
{
	return db_query(env->db, env->arena,
			"UPDATE password_reset_tokens SET used_at = flowsend_now() WHERE used_at IS NULL", 0,
			NULL) != NULL;
}

enum fs_status auth_logout(struct fs_env *env, const char *refresh_token, int all,
			   struct fs_error *err)
{
	char hash[65];
	const char *params[1] = { hash };
	PGresult *r;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	if (all) {
		r = db_query(env->db, env->arena,
			     "UPDATE refresh_tokens SET revoked_at = flowsend_now() WHERE revoked_at IS NULL", 0,
			     NULL);
	} else {
		sha256_hex(refresh_token, strlen(refresh_token), hash);
		r = db_query(env->db, env->arena,
			     "UPDATE refresh_tokens SET revoked_at = flowsend_now()"
			     " WHERE token_hash = $1 AND revoked_at IS NULL",
			     1, params);
	}
	if (!r || db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "revoking refresh tokens failed");
	return FS_OK;
}

enum fs_status auth_update_profile(struct fs_env *env, const char *email,
				   const char *current_password, size_t current_len,
				   const char *new_password, size_t new_len, struct fs_error *err)
{
	enum fs_status ret = FS_ERROR;
	PGresult *r, *account;

	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	/* The row stays locked to the commit, and the caller's session must still
	 * be the account's: a request that authenticated just before a claim or
	 * a reset cannot change the address or password after it. */
	account = db_query(env->db, env->arena,
			   "SELECT password_hash, session_epoch FROM users FOR UPDATE", 0, NULL);
	if (!account || PQntuples(account) != 1) {
		ret = fs_fail(err, FS_ERROR, "reading the account failed");
		goto out;
	}
	if (db_get_ll(account, 0, "session_epoch", -1) != env->auth.session_epoch) {
		ret = fs_fail(err, FS_UNAUTHORIZED, "Invalid or expired token");
		goto out;
	}
	if (new_password) {
		char hash[PASSWORD_HASH_MAX];
		const char *p[1] = { hash };

		r = account;
		if (!current_password ||
		    !password_verify(db_get(r, 0, "password_hash"), current_password, current_len)) {
			ret = fs_fail(err, FS_BAD_REQUEST, "Current password is incorrect");
			goto out;
		}
		if (password_hash(new_password, new_len, hash) < 0) {
			ret = fs_fail(err, FS_ERROR, "password hashing failed");
			goto out;
		}
		/* A new password ends every session started with the old one, this
		 * one included: refresh tokens revoked, access tokens by epoch. */
		if (!db_query(env->db, env->arena,
			      "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1,"
			      " updated_at = flowsend_now()",
			      1, p) ||
		    !revoke_refresh_tokens(env)) {
			ret = fs_fail(err, FS_ERROR, "updating the password failed");
			goto out;
		}
	}
	if (email) {
		/* A new address is unproven until its owner follows the link mailed
		 * to it; links mailed to the old one stop working. */
		const char *p[1] = { lower_dup(env->arena, email) };
		r = db_query(env->db, env->arena,
			     "UPDATE users SET email = $1, updated_at = flowsend_now(),"
			     " email_verified = email_verified AND lower(email) = $1,"
			     " email_verified_at = CASE WHEN lower(email) = $1 THEN email_verified_at END"
			     " RETURNING email, email_verified",
			     1, p);
		if (!r) {
			if (strcmp(db_last_sqlstate(env->db), "23505") == 0)
				ret = fs_fail(err, FS_CONFLICT, "A user with this email already exists");
			else
				ret = fs_fail(err, FS_ERROR, "updating the email failed");
			goto out;
		}
		env->auth.email = arena_strdup(env->arena, PQgetvalue(r, 0, 0));
		env->auth.email_verified = db_get_bool(r, 0, "email_verified");
		if (!env->auth.email_verified &&
		    (!void_reset_links(env) ||
		     account_mail_verification(env->db, env->arena, env->cfg, env->user_id,
					       env->auth.email) < 0)) {
			ret = fs_fail(err, FS_ERROR, "queueing the verification mail failed");
			goto out;
		}
	}
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	if (email && !env->auth.email_verified)
		batch_wake(env->redis);
	return FS_OK;
out:
	db_rollback(env->db);
	return ret;
}

/* ---- provisioning ---- */

/* hex (64 chars, either case) equals want (lower case), in constant time. */
static int hex_digest_equals(const char *hex, size_t len, const char want[SHA256_HEX_LEN + 1])
{
	char norm[SHA256_HEX_LEN];

	if (len != SHA256_HEX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		norm[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] + 32) : hex[i];
	return secure_equals(norm, SHA256_HEX_LEN, want, SHA256_HEX_LEN);
}

enum platform_signature auth_platform_signature_check(const struct fs_config *cfg,
						      const char *body, size_t len,
						      const char *header, time_t now,
						      char replay_id[SHA256_HEX_LEN + 1])
{
	const char *secret = cfg->platform_webhook_secret;
	char want[SHA256_HEX_LEN + 1];
	const char *t = NULL, *v1 = NULL, *p;
	size_t tlen = 0, v1len = 0;
	long long ts = 0;

	replay_id[0] = '\0';
	if (!header)
		return PLATFORM_SIG_BAD;
	if (strncmp(header, "sha256=", 7) == 0) {
		if (!cfg->platform_legacy_signatures)
			return PLATFORM_SIG_LEGACY_OFF;
		hmac_sha256_hex(secret, strlen(secret), body, len, want);
		return hex_digest_equals(header + 7, strlen(header + 7), want) ? PLATFORM_SIG_OK
									       : PLATFORM_SIG_BAD;
	}
	/* t=<unix>,v1=<hex>, in either order, spaces after commas tolerated. */
	for (p = header; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 2 && strncmp(p, "t=", 2) == 0 && !t) {
			t = p + 2;
			tlen = n - 2;
		} else if (n > 3 && strncmp(p, "v1=", 3) == 0 && !v1) {
			v1 = p + 3;
			v1len = n - 3;
		}
		if (!end)
			break;
		p = end + 1;
		while (*p == ' ')
			p++;
	}
	if (!t || !v1 || tlen > 12)
		return PLATFORM_SIG_BAD;
	for (size_t i = 0; i < tlen; i++) {
		if (t[i] < '0' || t[i] > '9')
			return PLATFORM_SIG_BAD;
		ts = ts * 10 + (t[i] - '0');
	}
	{
		/* The HMAC covers "<t>.<body>", so the timestamp cannot be swapped. */
		struct strbuf signed_payload = STRBUF_INIT;
		int ok;
		strbuf_append(&signed_payload, t, tlen);
		strbuf_appendc(&signed_payload, '.');
		strbuf_append(&signed_payload, body, len);
		hmac_sha256_hex(secret, strlen(secret), signed_payload.buf, signed_payload.len, want);
		strbuf_free(&signed_payload);
		ok = hex_digest_equals(v1, v1len, want);
		if (!ok)
			return PLATFORM_SIG_BAD;
	}
	if (ts < (long long)now - PLATFORM_SIG_TOLERANCE || ts > (long long)now + PLATFORM_SIG_TOLERANCE)
		return PLATFORM_SIG_STALE;
	memcpy(replay_id, want, SHA256_HEX_LEN + 1);
	return PLATFORM_SIG_OK;
}

int auth_platform_signature_ok(const struct fs_config *cfg, const char *body, size_t len,
			       const char *signature_header)
{
	char replay_id[SHA256_HEX_LEN + 1];
	return auth_platform_signature_check(cfg, body, len, signature_header, time(NULL),
					     replay_id) == PLATFORM_SIG_OK;
}

enum fs_status auth_platform_signature_claim(struct fs_redis *redis, const char *replay_id,
					     struct fs_error *err)
{
	char key[96];
	const char *set[] = { "SET", key, "1", "NX", "EX", "" };
	char ttl[16];
	redisReply *rep;
	enum fs_status st;

	if (!replay_id[0])
		return FS_OK; /* legacy form: nothing to remember */
	snprintf(key, sizeof(key), "fs:platform-sig:%s", replay_id);
	snprintf(ttl, sizeof(ttl), "%d", 2 * PLATFORM_SIG_TOLERANCE + 60);
	set[5] = ttl;
	rep = fs_redis_argv(redis, 6, set, NULL);
	if (!rep) {
		/* Without Redis a replay cannot be told apart: refuse rather than
		 * mint keys for a captured request. The platform retries. */
		return fs_fail(err, FS_UNAVAILABLE,
			       "Replay protection is unavailable; try again shortly");
	}
	if (rep->type == REDIS_REPLY_STATUS)
		st = FS_OK;
	else if (rep->type == REDIS_REPLY_NIL)
		st = fs_fail(err, FS_UNAUTHORIZED, "Platform signature already used");
	else
		st = fs_fail(err, FS_UNAVAILABLE, "Replay protection is unavailable; try again shortly");
	freeReplyObject(rep);
	return st;
}

#define PROVISION_ATTEMPTS 3

/* A provisioning step runs as the tenant (or creates it) and goes ahead only
 * if the account is still as the lookup saw it: an email change, a claim or
 * a registration racing it sends provisioning back to look again. */
enum provision_step { STEP_DONE, STEP_AGAIN, STEP_FAILED };

/* After a unique violation: the store is another account's (a refusal), or
 * the address or platform id was just taken by a racing request (look again). */
static enum provision_step store_taken_or_again(struct fs_env *env, const char *user_id,
						const struct provision_request *req,
						enum fs_status *st, struct fs_error *err)
{
	const char *p[2] = { req->external_store_id, user_id };
	PGresult *r;

	if (!req->external_store_id)
		return STEP_AGAIN;
	r = db_query(env->sysdb, env->arena,
		     "SELECT 1 FROM users WHERE external_store_id = $1"
		     " AND id IS DISTINCT FROM $2::uuid",
		     2, p);
	if (r && PQntuples(r) == 0)
		return STEP_AGAIN;
	*st = fs_fail(err, FS_CONFLICT, "The store is already linked to another account");
	return STEP_FAILED;
}

/* Provisioning found an account by email whose owner never proved the
 * address: whoever registered it may be a stranger who got there first. Take
 * it over for the address's owner, as the tenant: every way in is revoked
 * (password, refresh and access tokens, keys), the data and id stay, the
 * platform link is set, and the address is mailed a link to set a password.
 * The row is locked and checked again first, so an email change, a
 * verification or a link that raced the lookup is never overwritten. */
static enum provision_step claim_unverified(struct fs_env *env, const char *user_id,
					    const char *email, const struct provision_request *req,
					    enum fs_status *st, struct fs_error *err)
{
	char hash[PASSWORD_HASH_MAX], random_pw[64];
	const char *p[3] = { hash, req->external_platform_id, req->external_store_id };
	const char *still[1] = { email };
	PGresult *r;

	if (random_token("", 32, random_pw, sizeof(random_pw)) < 0 ||
	    password_hash(random_pw, strlen(random_pw), hash) < 0) {
		*st = fs_fail(err, FS_ERROR, "random password failed");
		return STEP_FAILED;
	}
	if (db_begin_tenant(env->db, user_id) != FS_OK) {
		*st = fs_fail(err, FS_ERROR, "database unavailable");
		return STEP_FAILED;
	}
	r = db_query(env->db, env->arena,
		     "SELECT lower(email) = lower($1) AND NOT email_verified"
		     " AND external_platform_id IS NULL AS still FROM users FOR UPDATE",
		     1, still);
	if (r && (PQntuples(r) != 1 || !db_get_bool(r, 0, "still"))) {
		db_rollback(env->db);
		return STEP_AGAIN;
	}
	if (!r ||
	    !db_query(env->db, env->arena,
		      "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1,"
		      " external_platform_id = $2, external_store_id = COALESCE($3, external_store_id),"
		      " email_verified = true, email_verified_at = flowsend_now(), updated_at = flowsend_now()",
		      3, p) ||
	    !revoke_refresh_tokens(env) ||
	    !db_query(env->db, env->arena,
		      "UPDATE api_keys SET is_active = false WHERE is_active", 0, NULL) ||
	    !void_reset_links(env) ||
	    !db_query(env->db, env->arena,
		      "UPDATE email_verification_tokens SET used_at = flowsend_now() WHERE used_at IS NULL",
		      0, NULL) ||
	    account_mail_password_link(env->db, env->arena, env->cfg, user_id, email,
				       ACCOUNT_LINK_CLAIMED) != 0) {
		int taken = strcmp(db_last_sqlstate(env->db), "23505") == 0;
		db_rollback(env->db);
		if (taken)
			return store_taken_or_again(env, user_id, req, st, err);
		*st = fs_fail(err, FS_ERROR, "claiming the account failed");
		return STEP_FAILED;
	}
	if (db_commit(env->db) != FS_OK) {
		*st = fs_fail(err, FS_ERROR, "commit failed");
		return STEP_FAILED;
	}
	log_warn("provision: unverified account %s claimed for platform user; its sessions and keys"
		 " were revoked",
		 user_id);
	batch_wake(env->redis);
	return STEP_DONE;
}

/* Link the existing, verified account to the platform, as the tenant, if it
 * still holds the address verified and unlinked. */
static enum provision_step link_verified(struct fs_env *env, const char *user_id,
					 const char *email, const struct provision_request *req,
					 enum fs_status *st, struct fs_error *err)
{
	const char *link[3] = { req->external_platform_id, req->external_store_id, email };
	PGresult *r;

	if (db_begin_tenant(env->db, user_id) != FS_OK) {
		*st = fs_fail(err, FS_ERROR, "database unavailable");
		return STEP_FAILED;
	}
	r = db_query(env->db, env->arena,
		     "UPDATE users SET external_platform_id = $1,"
		     " external_store_id = COALESCE($2, external_store_id), updated_at = flowsend_now()"
		     " WHERE lower(email) = lower($3) AND email_verified AND external_platform_id IS NULL"
		     " RETURNING id",
		     3, link);
	if (!r || PQntuples(r) != 1 || db_commit(env->db) != FS_OK) {
		int taken = strcmp(db_last_sqlstate(env->db), "23505") == 0;
		db_rollback(env->db);
		if (r && PQntuples(r) == 0)
			return STEP_AGAIN;
		if (taken)
			return store_taken_or_again(env, user_id, req, st, err);
		*st = fs_fail(err, FS_ERROR, "linking the account failed");
		return STEP_FAILED;
	}
	return STEP_DONE;
}

static enum provision_step create_merchant(struct fs_env *env, const char *email,
					   const struct provision_request *req, char user_id[37],
					   enum fs_status *st, struct fs_error *err)
{
	char hash[PASSWORD_HASH_MAX], random_pw[64];
	const char *pw = req->password;
	size_t pwlen = req->password_len;
	const char *ins[5] = { email, hash, req->plan, req->external_platform_id,
			       req->external_store_id };
	PGresult *r;

	if (!pw) {
		if (random_token("", 24, random_pw, sizeof(random_pw)) < 0) {
			*st = fs_fail(err, FS_ERROR, "random password failed");
			return STEP_FAILED;
		}
		pw = random_pw;
		pwlen = strlen(random_pw);
	}
	if (password_hash(pw, pwlen, hash) < 0) {
		*st = fs_fail(err, FS_ERROR, "password hashing failed");
		return STEP_FAILED;
	}
	/* The platform vouches for its merchant's address. */
	r = db_query(env->sysdb, env->arena,
		     "INSERT INTO users (email, password_hash, plan, external_platform_id,"
		     " external_store_id, email_verified, email_verified_at)"
		     " VALUES ($1, $2, $3, $4, $5, true, flowsend_now()) RETURNING id",
		     5, ins);
	if (!r) {
		if (strcmp(db_last_sqlstate(env->sysdb), "23505") == 0)
			return store_taken_or_again(env, NULL, req, st, err);
		*st = fs_fail(err, FS_ERROR, "creating the user failed");
		return STEP_FAILED;
	}
	snprintf(user_id, 37, "%s", PQgetvalue(r, 0, 0));
	return STEP_DONE;
}

enum fs_status auth_provision(struct fs_env *env, const struct provision_request *req,
			      char user_id[37], char *api_key, size_t key_size,
			      struct fs_error *err)
{
	const char *email = lower_dup(env->arena, req->email);
	const char *find[2] = { req->external_platform_id, email };
	enum provision_step step = STEP_AGAIN;
	enum fs_status st = FS_ERROR;

	for (int attempt = 0; attempt < PROVISION_ATTEMPTS && step == STEP_AGAIN; attempt++) {
		PGresult *r = db_query(env->sysdb, env->arena,
				       "SELECT id, external_platform_id IS NULL AS unlinked, email_verified,"
				       " external_platform_id = $1 AS by_platform FROM users"
				       " WHERE external_platform_id = $1 OR lower(email) = lower($2)"
				       " ORDER BY (external_platform_id = $1) DESC NULLS LAST LIMIT 1",
				       2, find);
		if (!r)
			return fs_fail(err, FS_ERROR, "user lookup failed");
		if (PQntuples(r) == 0) {
			step = create_merchant(env, email, req, user_id, &st, err);
			continue;
		}
		snprintf(user_id, 37, "%s", db_get(r, 0, "id"));
		if (db_get_bool(r, 0, "by_platform"))
			step = STEP_DONE;
		else if (!db_get_bool(r, 0, "unlinked"))
			return fs_fail(err, FS_CONFLICT,
				       "This email belongs to an account linked to another platform "
				       "user");
		else if (!db_get_bool(r, 0, "email_verified"))
			step = claim_unverified(env, user_id, email, req, &st, err);
		else
			step = link_verified(env, user_id, email, req, &st, err);
	}
	if (step == STEP_FAILED)
		return st;
	if (step == STEP_AGAIN)
		return fs_fail(err, FS_CONFLICT,
			       "The account changed while it was being provisioned; send the request"
			       " again");
	{
		char name[64];
		snprintf(name, sizeof(name), "Platform Integration (%.8s)", user_id);
		return apikey_issue(env, env->sysdb, user_id, name, "{read,write,admin}", 1, api_key,
				    key_size, NULL, err);
	}
}

/* ---- address verification and password links ---- */

/* The tenant a single-use token belongs to, by its hash (system role), or 0. */
static int token_owner(struct fs_env *env, const char *table_sql, const char *hash,
		       char user_id[37])
{
	const char *p[1] = { hash };
	PGresult *r = db_query(env->sysdb, env->arena, table_sql, 1, p);

	if (!r || PQntuples(r) != 1)
		return 0;
	snprintf(user_id, 37, "%s", PQgetvalue(r, 0, 0));
	return 1;
}

enum fs_status auth_verify_email(struct fs_env *env, const char *token, struct fs_error *err)
{
	char hash[SHA256_HEX_LEN + 1], user_id[37];
	const char *p[1] = { hash };
	PGresult *r;

	if (!account_token_shape_ok(token, VERIFY_TOKEN_PREFIX))
		return fs_fail(err, FS_BAD_REQUEST, "Invalid or expired verification token");
	sha256_hex(token, strlen(token), hash);
	if (!token_owner(env, "SELECT user_id FROM email_verification_tokens WHERE token_hash = $1",
			 hash, user_id))
		return fs_fail(err, FS_BAD_REQUEST, "Invalid or expired verification token");
	if (db_begin_tenant(env->db, user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	/* Claimed once, and only for the address the link was mailed to. */
	r = db_query(env->db, env->arena,
		     "UPDATE email_verification_tokens t SET used_at = flowsend_now() FROM users u"
		     " WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > flowsend_now()"
		     " AND u.id = t.user_id AND lower(u.email) = lower(t.email) RETURNING t.id",
		     1, p);
	if (!r) {
		db_rollback(env->db);
		return fs_fail(err, FS_ERROR, "verifying the address failed");
	}
	if (PQntuples(r) != 1) {
		db_rollback(env->db);
		return fs_fail(err, FS_BAD_REQUEST, "Invalid or expired verification token");
	}
	if (!db_query(env->db, env->arena,
		      "UPDATE users SET email_verified = true, email_verified_at = flowsend_now(),"
		      " updated_at = flowsend_now()",
		      0, NULL) ||
	    db_commit(env->db) != FS_OK) {
		db_rollback(env->db);
		return fs_fail(err, FS_ERROR, "verifying the address failed");
	}
	return FS_OK;
}

enum fs_status auth_resend_verification(struct fs_env *env, long *retry_after,
					struct fs_error *err)
{
	PGresult *r;
	enum fs_status ret;

	*retry_after = 0;
	if (db_begin_tenant(env->db, env->user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(env->db, env->arena,
		     "SELECT u.email, u.email_verified, (SELECT 60 - extract(epoch FROM flowsend_now() -"
		     "  max(t.created_at))::int FROM email_verification_tokens t"
		     "  WHERE t.created_at > flowsend_now() - interval '60 seconds') AS wait FROM users u",
		     0, NULL);
	if (!r || PQntuples(r) != 1) {
		ret = fs_fail(err, FS_ERROR, "reading the account failed");
		goto out;
	}
	if (db_get_bool(r, 0, "email_verified")) {
		ret = fs_fail(err, FS_BAD_REQUEST, "Email is already verified");
		goto out;
	}
	if (db_get(r, 0, "wait")) {
		/* One mail a minute: the endpoint must not become a mail cannon. */
		*retry_after = db_get_ll(r, 0, "wait", 60);
		if (*retry_after < 1)
			*retry_after = 1;
		ret = fs_fail(err, FS_RATE_LIMITED,
			      "A verification email was sent less than a minute ago. Try again in %ld"
			      " seconds.",
			      *retry_after);
		goto out;
	}
	if (account_mail_verification(env->db, env->arena, env->cfg, env->user_id,
				      db_get(r, 0, "email")) < 0) {
		ret = fs_fail(err, FS_ERROR, "queueing the verification mail failed");
		goto out;
	}
	if (db_commit(env->db) != FS_OK)
		return fs_fail(err, FS_ERROR, "commit failed");
	batch_wake(env->redis);
	return FS_OK;
out:
	db_rollback(env->db);
	return ret;
}

enum fs_status auth_forgot_password(struct fs_env *env, const char *email, struct fs_error *err)
{
	const char *p[1] = { email };
	char user_id[37];
	PGresult *r;

	/* The answer is the same whether or not the address has an account:
	 * only failures of our own are reported. */
	r = db_query(env->sysdb, env->arena,
		     "SELECT id, email FROM users WHERE lower(email) = lower($1) AND is_active", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "user lookup failed");
	if (PQntuples(r) != 1)
		return FS_OK;
	snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(r, 0, 0));
	email = arena_strdup(env->arena, PQgetvalue(r, 0, 1));
	if (db_begin_tenant(env->db, user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	/* Issue 18: at most one mail per address every RESET_MAIL_MINUTES, so
	 * nobody can flood an inbox (or FlowSend's sending reputation) through
	 * this public endpoint. The tokens remember the address they went to. */
	{
		const char *lp[2] = { email, NULL };
		lp[1] = arena_sprintf(env->arena, "%d", RESET_MAIL_MINUTES);
		r = db_query(env->db, env->arena,
			     "SELECT 1 FROM password_reset_tokens WHERE lower(email) = lower($1)"
			     " AND created_at > flowsend_now() - make_interval(mins => $2::int)",
			     2, lp);
	}
	if (!r || (PQntuples(r) == 0 &&
		   account_mail_password_link(env->db, env->arena, env->cfg, user_id, email,
					      ACCOUNT_LINK_RESET) < 0) ||
	    db_commit(env->db) != FS_OK) {
		db_rollback(env->db);
		return fs_fail(err, FS_ERROR, "queueing the reset mail failed");
	}
	batch_wake(env->redis);
	return FS_OK;
}

enum fs_status auth_reset_password(struct fs_env *env, const char *token, const char *password,
				   size_t password_len, struct fs_error *err)
{
	char hash[SHA256_HEX_LEN + 1], user_id[37], pw_hash[PASSWORD_HASH_MAX];
	const char *p[1] = { hash }, *pp[2] = { pw_hash, NULL };
	PGresult *r;

	if (!account_token_shape_ok(token, RESET_TOKEN_PREFIX))
		return fs_fail(err, FS_BAD_REQUEST, "Invalid or expired reset token");
	sha256_hex(token, strlen(token), hash);
	if (!token_owner(env, "SELECT user_id FROM password_reset_tokens WHERE token_hash = $1", hash,
			 user_id))
		return fs_fail(err, FS_BAD_REQUEST, "Invalid or expired reset token");
	if (password_hash(password, password_len, pw_hash) < 0)
		return fs_fail(err, FS_ERROR, "password hashing failed");
	if (db_begin_tenant(env->db, user_id) != FS_OK)
		return fs_fail(err, FS_ERROR, "database unavailable");
	r = db_query(env->db, env->arena,
		     "UPDATE password_reset_tokens SET used_at = flowsend_now()"
		     " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > flowsend_now()"
		     " RETURNING id, email",
		     1, p);
	if (!r || PQntuples(r) != 1) {
		db_rollback(env->db);
		return r ? fs_fail(err, FS_BAD_REQUEST, "Invalid or expired reset token")
			 : fs_fail(err, FS_ERROR, "resetting the password failed");
	}
	pp[1] = db_get(r, 0, "email");
	/* Following the mailed link proves the address it was mailed to, and
	 * only that one (the account may have changed address since). Every
	 * session started before ends: refresh tokens revoked, access tokens by
	 * epoch. */
	if (!db_query(env->db, env->arena,
		      "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1,"
		      " email_verified = email_verified OR lower(email) IS NOT DISTINCT FROM lower($2),"
		      " email_verified_at = CASE WHEN lower(email) IS NOT DISTINCT FROM lower($2)"
		      "  THEN COALESCE(email_verified_at, flowsend_now()) ELSE email_verified_at END,"
		      " updated_at = flowsend_now()",
		      2, pp) ||
	    !revoke_refresh_tokens(env) ||
	    !void_reset_links(env) ||
	    db_commit(env->db) != FS_OK) {
		db_rollback(env->db);
		return fs_fail(err, FS_ERROR, "resetting the password failed");
	}
	return FS_OK;
}
