/* Accounts end to end: the original's auth and API-key behaviours, token
 * expiry and forgery, refresh rotation and reuse, scopes, revocation,
 * provisioning signatures, sender settings and plans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "e2e.h"
#include "services/tokens.h"

#define PW "correct-horse-9"

static char email[128], access_tok[4096], refresh_tok[128];

static void fresh_user(void)
{
	e2e_unique_email("acct", email, sizeof(email));
	e2e_register(email, PW, access_tok, sizeof(access_tok), refresh_tok, sizeof(refresh_tok));
}

/* A fresh user on pro: keys the user creates need a plan with API access. */
static void paid_user(void)
{
	fresh_user();
	e2e_set_plan(access_tok, "pro");
}

static long call(const char *method, const char *path, const char *token, const char *body,
		 struct http_answer *a)
{
	ck_assert_int_eq(http_bearer(method, path, token, body, a), 0);
	return a->status;
}

static void expect(const char *method, const char *path, const char *token, const char *body,
		   long status, const char *detail)
{
	struct http_answer a;
	long got = call(method, path, token, body, &a);

	ck_assert_msg(got == status, "%s %s: want %ld, got %ld: %s", method, path, status, got,
		      a.body);
	if (detail)
		ck_assert_msg(http_detail(&a) && strcmp(http_detail(&a), detail) == 0,
			      "%s %s: want detail '%s', got %s", method, path, detail, a.body);
	http_answer_free(&a);
}

/* Create a key with the given scopes JSON; copies the raw key. */
static void make_key(const char *scopes_json, char *key, size_t size)
{
	char body[256];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"name\":\"test key\",\"scopes\":%s}", scopes_json);
	ck_assert_int_eq(call("POST", "/api/v1/api-keys", access_tok, body, &a), 201);
	ck_assert_ptr_nonnull(json_str(a.json, "key"));
	snprintf(key, size, "%s", json_str(a.json, "key"));
	http_answer_free(&a);
}

static long key_call(const char *method, const char *path, const char *key, const char *body,
		     struct http_answer *a)
{
	ck_assert_int_eq(http_key(method, path, key, body, a), 0);
	return a->status;
}

START_TEST(register_login_refresh_and_profile)
{
	char body[256];
	struct http_answer a;

	fresh_user();
	ck_assert(strlen(access_tok) > 20);
	ck_assert(strncmp(refresh_tok, "fsr_", 4) == 0);
	/* Duplicate email, whatever its case: 409. */
	for (char *p = email; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
	expect("POST", "/api/v1/auth/register", NULL, body, 409,
	       "A user with this email already exists");

	/* Login works with the address in any case. */
	ck_assert_int_eq(call("POST", "/api/v1/auth/login", NULL, body, &a), 200);
	ck_assert_str_eq(json_str(a.json, "token_type"), "bearer");
	ck_assert_ptr_nonnull(json_str(a.json, "access_token"));
	ck_assert_ptr_nonnull(json_str(a.json, "refresh_token"));
	http_answer_free(&a);

	ck_assert_int_eq(call("GET", "/api/v1/auth/me", access_tok, NULL, &a), 200);
	ck_assert_int_eq(strlen(json_str(a.json, "id")), 36);
	ck_assert_str_eq(json_str(a.json, "plan"), "free");
	ck_assert_ptr_nonnull(json_str(a.json, "created_at"));
	for (char *p = email; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	ck_assert_str_eq(json_str(a.json, "email"), email);
	ck_assert(json_object_get_boolean(json_object_object_get(a.json, "is_active")));
	http_answer_free(&a);

	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh_tok);
	ck_assert_int_eq(call("POST", "/api/v1/auth/refresh", NULL, body, &a), 200);
	ck_assert_str_ne(json_str(a.json, "refresh_token"), refresh_tok);
	http_answer_free(&a);
}
END_TEST

START_TEST(bad_credentials_and_bad_input)
{
	char body[512];

	fresh_user();
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"wrong-password\"}", email);
	expect("POST", "/api/v1/auth/login", NULL, body, 401, "Invalid email or password");
	expect("POST", "/api/v1/auth/login", NULL,
	       "{\"email\":\"nobody-ever@example.com\",\"password\":\"whatever1\"}", 401,
	       "Invalid email or password");
	expect("POST", "/api/v1/auth/register", NULL,
	       "{\"email\":\"short@example.com\",\"password\":\"1234567\"}", 422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":\"not-an-email\",\"password\":\"12345678\"}",
	       422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":\"a@b\",\"password\":\"12345678\"}", 422,
	       NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":\"x\\u0000y@example.com\",\"password\":\"12345678\"}",
	       422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":\"\xff\xfe@example.com\",\"password\":\"12345678\"}",
	       422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":42,\"password\":[1]}", 422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"password\":\"12345678\"}", 422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "{\"email\":", 422, NULL);
	expect("POST", "/api/v1/auth/register", NULL, "[]", 422, NULL);
	expect("POST", "/api/v1/auth/login", NULL, "{}", 422, NULL);
	expect("POST", "/api/v1/auth/refresh", NULL, "{\"refresh_token\":5}", 422, NULL);

	/* An over-long password is refused before any hashing work. */
	char *big = malloc(100000);
	memset(big, 'p', 99999);
	big[99999] = '\0';
	char *b2 = malloc(100100);
	snprintf(b2, 100100, "{\"email\":\"long@example.com\",\"password\":\"%s\"}", big);
	expect("POST", "/api/v1/auth/register", NULL, b2, 422, NULL);
	free(big);
	free(b2);

	/* A JSON body over the 1 MiB cap: 413. */
	size_t n = 1500000;
	char *huge = malloc(n + 64);
	memcpy(huge, "{\"email\":\"", 10);
	memset(huge + 10, 'a', n);
	strcpy(huge + 10 + n, "\"}");
	expect("POST", "/api/v1/auth/login", NULL, huge, 413, NULL);
	free(huge);
}
END_TEST

START_TEST(every_protected_route_needs_credentials)
{
	static const char *routes[][2] = {
		{ "GET", "/api/v1/auth/me" },         { "PATCH", "/api/v1/auth/me" },
		{ "POST", "/api/v1/auth/logout" },    { "GET", "/api/v1/api-keys" },
		{ "POST", "/api/v1/api-keys" },       { "GET", "/api/v1/settings/sender" },
		{ "PATCH", "/api/v1/settings/sender" },
		{ "DELETE", "/api/v1/api-keys/00000000-0000-4000-8000-000000000000" },
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		expect(routes[i][0], routes[i][1], NULL, "{}", 401, "Not authenticated");
}
END_TEST

START_TEST(access_tokens_expire_and_forgeries_fail)
{
	struct fs_config cfg;
	char err[256], tok[4096], user_id[40];
	struct http_answer a;

	fresh_user();
	ck_assert_int_eq(call("GET", "/api/v1/auth/me", access_tok, NULL, &a), 200);
	snprintf(user_id, sizeof(user_id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);

	/* A token minted with a one-second lifetime (a test configuration). */
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	cfg.access_token_ttl = 1;
	ck_assert_int_eq(token_issue_access(&cfg, user_id, 0, tok, sizeof(tok)), 0);
	expect("GET", "/api/v1/auth/me", tok, NULL, 200, NULL);
	sleep(2);
	expect("GET", "/api/v1/auth/me", tok, NULL, 401, "Invalid or expired token");

	/* Signed with another secret. */
	cfg.access_token_ttl = 600;
	cfg.jwt_secret = "some-other-secret-that-is-not-ours";
	ck_assert_int_eq(token_issue_access(&cfg, user_id, 0, tok, sizeof(tok)), 0);
	expect("GET", "/api/v1/auth/me", tok, NULL, 401, "Invalid or expired token");

	/* alg "none" with our claims, and a tampered payload. */
	char none[2048], header[64], payload[512], b64h[128], b64p[1024];
	snprintf(header, sizeof(header), "{\"alg\":\"none\",\"typ\":\"JWT\"}");
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"%s\",\"type\":\"access\",\"exp\":4102444800}", user_id);
	base64url_encode((const unsigned char *)header, strlen(header), b64h);
	base64url_encode((const unsigned char *)payload, strlen(payload), b64p);
	snprintf(none, sizeof(none), "%s.%s.", b64h, b64p);
	expect("GET", "/api/v1/auth/me", none, NULL, 401, "Invalid or expired token");
	char tampered[4096];
	snprintf(tampered, sizeof(tampered), "%s", access_tok);
	char *dot = strchr(tampered, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	expect("GET", "/api/v1/auth/me", tampered, NULL, 401, "Invalid or expired token");
	expect("GET", "/api/v1/auth/me", "garbage", NULL, 401, "Invalid or expired token");
	expect("GET", "/api/v1/auth/me", "a.b.c", NULL, 401, "Invalid or expired token");

	/* The refresh token is not an access token, nor the other way round. */
	expect("GET", "/api/v1/auth/me", refresh_tok, NULL, 401, "Invalid or expired token");
	char body[4200];
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", access_tok);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");

	/* Other schemes are not credentials. */
	const char *basic[] = { "Authorization: Basic dXNlcjpwYXNz", NULL };
	ck_assert_int_eq(http_call("GET", "/api/v1/auth/me", basic, NULL, 0, &a), 0);
	ck_assert_int_eq(a.status, 401);
	http_answer_free(&a);
}
END_TEST

START_TEST(refresh_tokens_rotate_and_reuse_revokes_the_family)
{
	char body[256], second[128];
	struct http_answer a;

	fresh_user();
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh_tok);
	ck_assert_int_eq(call("POST", "/api/v1/auth/refresh", NULL, body, &a), 200);
	snprintf(second, sizeof(second), "%s", json_str(a.json, "refresh_token"));
	http_answer_free(&a);
	/* The first token was used: presenting it again is reuse. */
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");
	/* ...which revoked its successor too. */
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", second);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");
	expect("POST", "/api/v1/auth/refresh", NULL, "{\"refresh_token\":\"fsr_unknown\"}", 401,
	       "Invalid or expired refresh token");
}
END_TEST

START_TEST(logout_revokes_one_or_all_sessions)
{
	char body[512], other_refresh[128];
	struct http_answer a;

	fresh_user();
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
	ck_assert_int_eq(call("POST", "/api/v1/auth/login", NULL, body, &a), 200);
	snprintf(other_refresh, sizeof(other_refresh), "%s", json_str(a.json, "refresh_token"));
	http_answer_free(&a);

	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh_tok);
	expect("POST", "/api/v1/auth/logout", access_tok, body, 204, NULL);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");
	/* The other session lives on until logout with all. */
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", other_refresh);
	ck_assert_int_eq(call("POST", "/api/v1/auth/refresh", NULL, body, &a), 200);
	snprintf(other_refresh, sizeof(other_refresh), "%s", json_str(a.json, "refresh_token"));
	http_answer_free(&a);
	expect("POST", "/api/v1/auth/logout", access_tok, "{\"all\":true}", 204, NULL);
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", other_refresh);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");
	expect("POST", "/api/v1/auth/logout", access_tok, "{}", 422, NULL);
}
END_TEST

START_TEST(profile_changes_email_and_password)
{
	char body[512], other[128], other_access[4096];
	struct http_answer a;

	fresh_user();
	e2e_unique_email("taken", other, sizeof(other));
	e2e_register(other, PW, other_access, sizeof(other_access), NULL, 0);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", other);
	expect("PATCH", "/api/v1/auth/me", access_tok, body, 409,
	       "A user with this email already exists");

	char renamed[128];
	e2e_unique_email("renamed", renamed, sizeof(renamed));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", renamed);
	ck_assert_int_eq(call("PATCH", "/api/v1/auth/me", access_tok, body, &a), 200);
	ck_assert_str_eq(json_str(a.json, "email"), renamed);
	http_answer_free(&a);

	expect("PATCH", "/api/v1/auth/me", access_tok, "{\"new_password\":\"another-pass-1\"}", 400,
	       "current_password is required to set a new password");
	expect("PATCH", "/api/v1/auth/me", access_tok,
	       "{\"current_password\":\"nope-nope\",\"new_password\":\"another-pass-1\"}", 400,
	       "Current password is incorrect");
	expect("PATCH", "/api/v1/auth/me", access_tok,
	       "{\"current_password\":\"" PW "\",\"new_password\":\"short\"}", 422, NULL);
	expect("PATCH", "/api/v1/auth/me", access_tok,
	       "{\"current_password\":\"" PW "\",\"new_password\":\"another-pass-1\"}", 200, NULL);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", renamed, PW);
	expect("POST", "/api/v1/auth/login", NULL, body, 401, "Invalid email or password");
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"another-pass-1\"}", renamed);
	expect("POST", "/api/v1/auth/login", NULL, body, 200, NULL);
	/* The new password ended the sessions of the old one. */
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh_tok);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, "Invalid or expired refresh token");
}
END_TEST

START_TEST(failed_logins_are_rate_limited)
{
	char body[512], retry[32];
	struct http_answer a;

	fresh_user();
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"wrong-password\"}", email);
	for (int i = 0; i < 10; i++)
		expect("POST", "/api/v1/auth/login", NULL, body, 401, NULL);
	ck_assert_int_eq(call("POST", "/api/v1/auth/login", NULL, body, &a), 429);
	ck_assert_ptr_nonnull(http_header(&a, "Retry-After", retry, sizeof(retry)));
	ck_assert_int_gt(atoi(retry), 0);
	ck_assert_int_le(atoi(retry), 900);
	http_answer_free(&a);
	/* Even the right password waits out the window. */
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
	expect("POST", "/api/v1/auth/login", NULL, body, 429, NULL);
}
END_TEST

START_TEST(api_keys_create_list_use_revoke)
{
	char key[128], id[40], body[128];
	struct http_answer a;

	paid_user();
	ck_assert_int_eq(call("POST", "/api/v1/api-keys", access_tok, "{\"name\":\"shop\"}", &a), 201);
	snprintf(key, sizeof(key), "%s", json_str(a.json, "key"));
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	ck_assert(strncmp(key, "fs_live_", 8) == 0);
	ck_assert_int_eq(strlen(key), 8 + 43);
	ck_assert_int_eq(strncmp(json_str(a.json, "key_prefix"), key, 12), 0);
	ck_assert_int_eq(strlen(json_str(a.json, "key_prefix")), 12);
	json_object *scopes = json_object_object_get(a.json, "scopes");
	ck_assert_int_eq((int)json_object_array_length(scopes), 1);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(scopes, 0)), "read");
	http_answer_free(&a);

	ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", key, NULL, &a), 200);
	http_answer_free(&a);

	ck_assert_int_eq(call("GET", "/api/v1/api-keys", access_tok, NULL, &a), 200);
	ck_assert(json_object_is_type(a.json, json_type_array));
	ck_assert_int_eq((int)json_object_array_length(a.json), 1);
	json_object *row = json_object_array_get_idx(a.json, 0);
	ck_assert_ptr_null(json_object_object_get(row, "key"));
	ck_assert(strstr(a.body, key) == NULL);
	/* The key was just used: last_used_at is recorded. */
	ck_assert_ptr_nonnull(json_str(row, "last_used_at"));
	http_answer_free(&a);

	snprintf(body, sizeof(body), "/api/v1/api-keys/%s", id);
	expect("DELETE", body, access_tok, NULL, 204, NULL);
	ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", key, NULL, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid API key");
	http_answer_free(&a);
	expect("DELETE", body, access_tok, NULL, 404, "API key not found");
	expect("DELETE", "/api/v1/api-keys/not-a-uuid", access_tok, NULL, 404, NULL);

	ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", "fs_live_doesnotexist", NULL, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid API key");
	http_answer_free(&a);
	ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", "' OR 1=1 --", NULL, &a), 401);
	http_answer_free(&a);

	expect("POST", "/api/v1/api-keys", access_tok, "{\"name\":\"x\",\"scopes\":[\"root\"]}", 422, NULL);
	expect("POST", "/api/v1/api-keys", access_tok, "{\"name\":\"x\",\"scopes\":[]}", 422, NULL);
	expect("POST", "/api/v1/api-keys", access_tok, "{\"name\":\"x\",\"scopes\":[\"read\",\"read\"]}",
	       422, NULL);
	expect("POST", "/api/v1/api-keys", access_tok, "{\"name\":\"\"}", 422, NULL);
}
END_TEST

START_TEST(scopes_bound_what_a_key_may_do)
{
	char read_key[128], write_key[128], admin_key[128];
	struct http_answer a;

	paid_user();
	make_key("[\"read\"]", read_key, sizeof(read_key));
	make_key("[\"read\",\"write\"]", write_key, sizeof(write_key));
	make_key("[\"admin\"]", admin_key, sizeof(admin_key));

	struct {
		const char *method, *path, *body;
		long read, write, admin;
	} cases[] = {
		{ "GET", "/api/v1/auth/me", NULL, 200, 200, 200 },
		{ "GET", "/api/v1/settings/sender", NULL, 200, 200, 200 },
		{ "PATCH", "/api/v1/settings/sender", "{\"from_name\":\"Scoped\"}", 403, 200, 200 },
		{ "POST", "/api/v1/auth/logout", "{\"all\":false,\"refresh_token\":\"fsr_x\"}", 403, 204, 204 },
		{ "GET", "/api/v1/api-keys", NULL, 403, 403, 200 },
		{ "POST", "/api/v1/api-keys", "{\"name\":\"child\"}", 403, 403, 201 },
		{ "PATCH", "/api/v1/auth/me", "{}", 403, 403, 200 },
	};
	const char *keys[3] = { read_key, write_key, admin_key };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long want[3] = { cases[i].read, cases[i].write, cases[i].admin };
		for (int k = 0; k < 3; k++) {
			long got = key_call(cases[i].method, cases[i].path, keys[k], cases[i].body, &a);
			ck_assert_msg(got == want[k], "%s %s with key %d: want %ld got %ld %s",
				      cases[i].method, cases[i].path, k, want[k], got, a.body);
			if (got == 403)
				ck_assert_str_eq(http_detail(&a), "Insufficient scope");
			http_answer_free(&a);
		}
	}
}
END_TEST

START_TEST(deactivated_users_are_refused)
{
	struct fs_config cfg;
	char err[256], key[128];
	struct fs_db owner;
	struct arena arena;
	const char *p[1] = { email };

	fresh_user();
	make_key("[\"read\"]", key, sizeof(key));
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	arena_init(&arena, 0);
	db_init(&owner, cfg.database_migrate_url);
	ck_assert_ptr_nonnull(db_query(&owner, &arena,
				       "UPDATE users SET is_active = false WHERE email = $1", 1, p));
	expect("GET", "/api/v1/auth/me", access_tok, NULL, 401, "User not found or inactive");
	struct http_answer a;
	ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", key, NULL, &a), 401);
	ck_assert_str_eq(http_detail(&a), "User not found or inactive");
	http_answer_free(&a);
	char body[256];
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh_tok);
	expect("POST", "/api/v1/auth/refresh", NULL, body, 401, NULL);
	/* Deleted outright: the still-valid JWT no longer opens anything. */
	ck_assert_ptr_nonnull(db_query(&owner, &arena, "DELETE FROM users WHERE email = $1", 1, p));
	expect("GET", "/api/v1/auth/me", access_tok, NULL, 401, "User not found or inactive");
	arena_destroy(&arena);
	db_close(&owner);
}
END_TEST

static long provision(const char *body, const char *signature, struct http_answer *a)
{
	char header[160];
	const char *headers[] = { header, "Content-Type: application/json", NULL };

	snprintf(header, sizeof(header), "X-Platform-Signature: %s", signature ? signature : "");
	ck_assert_int_eq(http_call("POST", "/api/v1/auth/provision", signature ? headers : headers + 1,
				   body, strlen(body), a),
			 0);
	return a->status;
}

static void sign(const char *body, char *out, size_t size)
{
	char hex[65];
	hmac_sha256_hex("dev-platform-bridge-secret", 26, body, strlen(body), hex);
	snprintf(out, size, "sha256=%s", hex);
}

START_TEST(provisioning_is_signed_and_finds_or_creates)
{
	char body[512], sig[80], user1[40], key1[128], platform_id[160], mail[128];
	struct http_answer a;

	e2e_unique_email("prov", mail, sizeof(mail));
	snprintf(platform_id, sizeof(platform_id), "plat-%s", mail);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"%s\",\"plan\":\"free\"}",
		 mail, platform_id);
	ck_assert_int_eq(provision(body, NULL, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Invalid platform signature");
	http_answer_free(&a);
	sign(body, sig, sizeof(sig));
	ck_assert_int_eq(provision(body, sig + 7, &a), 401); /* no sha256= prefix */
	http_answer_free(&a);
	ck_assert_int_eq(provision(body, "sha256=0000000000000000000000000000000000000000000000000000000000000000", &a), 401);
	http_answer_free(&a);
	char tampered[512];
	snprintf(tampered, sizeof(tampered), "%s ", body);
	ck_assert_int_eq(provision(tampered, sig, &a), 401);
	http_answer_free(&a);

	ck_assert_int_eq(provision(body, sig, &a), 201);
	snprintf(user1, sizeof(user1), "%s", json_str(a.json, "user_id"));
	snprintf(key1, sizeof(key1), "%s", json_str(a.json, "api_key"));
	http_answer_free(&a);

	/* The key is named after the user and carries every scope. */
	ck_assert_int_eq(key_call("GET", "/api/v1/api-keys", key1, NULL, &a), 200);
	json_object *row = json_object_array_get_idx(a.json, 0);
	char want_name[64];
	snprintf(want_name, sizeof(want_name), "Platform Integration (%.8s)", user1);
	ck_assert_str_eq(json_str(row, "name"), want_name);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(row, "scopes")), 3);
	http_answer_free(&a);

	/* Same platform id again: the same user, a new key. */
	ck_assert_int_eq(provision(body, sig, &a), 201);
	ck_assert_str_eq(json_str(a.json, "user_id"), user1);
	ck_assert_str_ne(json_str(a.json, "api_key"), key1);
	http_answer_free(&a);

	/* An existing account found by email is linked, not duplicated. */
	char reg_mail[128], reg_access[4096];
	e2e_unique_email("provlink", reg_mail, sizeof(reg_mail));
	e2e_register(reg_mail, PW, reg_access, sizeof(reg_access), NULL, 0);
	ck_assert_int_eq(call("GET", "/api/v1/auth/me", reg_access, NULL, &a), 200);
	char reg_id[40];
	snprintf(reg_id, sizeof(reg_id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"link-%s\"}", reg_mail,
		 reg_mail);
	sign(body, sig, sizeof(sig));
	ck_assert_int_eq(provision(body, sig, &a), 201);
	ck_assert_str_eq(json_str(a.json, "user_id"), reg_id);
	http_answer_free(&a);

	snprintf(body, sizeof(body), "{\"email\":\"bad\",\"external_platform_id\":\"x\"}");
	sign(body, sig, sizeof(sig));
	ck_assert_int_eq(provision(body, sig, &a), 422);
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"email\":\"ok@example.com\",\"external_platform_id\":\"x\",\"plan\":\"gold\"}");
	sign(body, sig, sizeof(sig));
	ck_assert_int_eq(provision(body, sig, &a), 422);
	http_answer_free(&a);
}
END_TEST

START_TEST(sender_settings_fall_back_and_stay_per_tenant)
{
	struct http_answer a;
	char other_access[4096], other[128];

	fresh_user();
	ck_assert_int_eq(call("GET", "/api/v1/settings/sender", access_tok, NULL, &a), 200);
	ck_assert_ptr_nonnull(json_str(a.json, "from_email"));
	ck_assert_ptr_nonnull(json_str(a.json, "postal_address"));
	char default_from[256];
	snprintf(default_from, sizeof(default_from), "%s", json_str(a.json, "from_email"));
	http_answer_free(&a);

	ck_assert_int_eq(call("PATCH", "/api/v1/settings/sender", access_tok,
			      "{\"from_name\":\"Caf\\u00e9 <Shop> \\\"Quotes\\\"\",\"from_email\":\"news@shop.example.com\","
			      "\"reply_to\":\"help@shop.example.com\",\"postal_address\":\"1 Main St, Springfield\"}",
			      &a),
			 200);
	ck_assert_str_eq(json_str(a.json, "from_name"), "Caf\xc3\xa9 <Shop> \"Quotes\"");
	ck_assert_str_eq(json_str(a.json, "from_email"), "news@shop.example.com");
	http_answer_free(&a);

	e2e_unique_email("sender-other", other, sizeof(other));
	e2e_register(other, PW, other_access, sizeof(other_access), NULL, 0);
	ck_assert_int_eq(call("GET", "/api/v1/settings/sender", other_access, NULL, &a), 200);
	ck_assert_str_eq(json_str(a.json, "from_email"), default_from);
	http_answer_free(&a);

	ck_assert_int_eq(call("PATCH", "/api/v1/settings/sender", access_tok, "{\"from_email\":null}", &a),
			 200);
	ck_assert_str_eq(json_str(a.json, "from_email"), default_from);
	ck_assert_str_eq(json_str(a.json, "reply_to"), "help@shop.example.com");
	http_answer_free(&a);
	expect("PATCH", "/api/v1/settings/sender", access_tok, "{\"reply_to\":\"not an email\"}", 422, NULL);
	expect("PATCH", "/api/v1/settings/sender", access_tok, "{\"from_name\":7}", 422, NULL);
}
END_TEST

START_TEST(plans_are_public)
{
	struct http_answer a;
	ck_assert_int_eq(call("GET", "/api/v1/billing/plans", NULL, NULL, &a), 200);
	ck_assert_int_eq((int)json_object_array_length(a.json), 3);
	json_object *free_plan = json_object_array_get_idx(a.json, 0);
	ck_assert_str_eq(json_str(free_plan, "tier"), "free");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(free_plan, "price_monthly_cents")), 0);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(free_plan, "trial_days")), 0);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(free_plan, "max_secondary")), 250);
	ck_assert(!json_object_get_boolean(json_object_object_get(free_plan, "api_access")));
	json_object *pro = json_object_array_get_idx(a.json, 1);
	ck_assert_str_eq(json_str(pro, "tier"), "pro");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(pro, "price_monthly_cents")), 3900);
	json_object *ent = json_object_array_get_idx(a.json, 2);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(ent, "max_items")), -1);
	http_answer_free(&a);
}
END_TEST

/* The test instance runs with FLOWSEND_RATE_LIMITS=on: a free-plan key gets
 * 60 requests a minute, announced on every answer. On free only platform
 * keys (from /auth/provision) are let in: this one is made one. */
START_TEST(api_rate_limits_per_key)
{
	char key[128], hdr[32];
	struct http_answer a;
	long last = 0;
	int limited_at = -1;

	fresh_user();
	make_key("[\"read\"]", key, sizeof(key));
	{
		char uid[40];
		const char *p[1] = { e2e_user_id(access_tok, uid) };
		ck_assert_int_eq(e2e_owner_value("WITH k AS (UPDATE api_keys SET is_platform = true"
						 " WHERE user_id = $1::uuid RETURNING 1) SELECT count(*) FROM k",
						 1, p),
				 1);
	}
	for (int i = 0; i < 130 && limited_at < 0; i++) {
		ck_assert_int_eq(key_call("GET", "/api/v1/auth/me", key, NULL, &a), a.status);
		if (a.status == 429) {
			limited_at = i;
			ck_assert_ptr_nonnull(http_header(&a, "Retry-After", hdr, sizeof(hdr)));
			ck_assert_int_gt(atoi(hdr), 0);
			ck_assert_ptr_nonnull(http_detail(&a));
		} else {
			ck_assert_int_eq(a.status, 200);
			ck_assert_str_eq(http_header(&a, "RateLimit-Limit", hdr, sizeof(hdr)), "60");
			long remaining = atol(http_header(&a, "RateLimit-Remaining", hdr, sizeof(hdr)));
			if (i > 0 && remaining != 59)
				ck_assert_int_lt(remaining, last);
			last = remaining;
			ck_assert_ptr_nonnull(http_header(&a, "RateLimit-Reset", hdr, sizeof(hdr)));
		}
		http_answer_free(&a);
	}
	/* The window may roll over once while the loop runs; never more than 60 in one. */
	ck_assert_int_ge(limited_at, 60);
	/* The dashboard's JWT has its own, larger budget. */
	expect("GET", "/api/v1/auth/me", access_tok, NULL, 200, NULL);
}
END_TEST

Suite *accounts_suite(void)
{
	Suite *s = suite_create("accounts");
	TCase *tc = tcase_create("accounts");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, register_login_refresh_and_profile);
	tcase_add_test(tc, bad_credentials_and_bad_input);
	tcase_add_test(tc, every_protected_route_needs_credentials);
	tcase_add_test(tc, access_tokens_expire_and_forgeries_fail);
	tcase_add_test(tc, refresh_tokens_rotate_and_reuse_revokes_the_family);
	tcase_add_test(tc, logout_revokes_one_or_all_sessions);
	tcase_add_test(tc, profile_changes_email_and_password);
	tcase_add_test(tc, failed_logins_are_rate_limited);
	tcase_add_test(tc, api_keys_create_list_use_revoke);
	tcase_add_test(tc, scopes_bound_what_a_key_may_do);
	tcase_add_test(tc, deactivated_users_are_refused);
	tcase_add_test(tc, provisioning_is_signed_and_finds_or_creates);
	tcase_add_test(tc, sender_settings_fall_back_and_stay_per_tenant);
	tcase_add_test(tc, plans_are_public);
	tcase_add_test(tc, api_rate_limits_per_key);
	suite_add_tcase(s, tc);
	return s;
}
