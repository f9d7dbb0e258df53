/* Defects a security review proved (issue 12): account takeover through
 * provisioning, replayed platform signatures, opt-outs lost on delete and
 * import, erasure leaving copies, header injection through settings. Each
 * test failed on the code before its fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "core/crypto.h"
#include "e2e.h"

#define PW "correct-horse-1"
#define SYSTEM_TEMPLATE "00000000-0000-4000-8000-000000000003"

static const char *platform_secret = "dev-platform-bridge-secret";

/* The token in the link of the newest account mail of `kind` to `to`. */
static void mailed_token(const char *to, const char *kind, const char *prefix, char *out,
			 size_t size)
{
	const char *p[3] = { to, kind, prefix };
	char text[256];

	ck_assert_msg(e2e_owner_text("SELECT substring(payload->>'text' FROM"
				     " ('token=(' || $3 || '[A-Za-z0-9_-]+)'))"
				     " FROM outbox WHERE lower(to_email) = lower($1)"
				     " AND payload->>'account_mail' = $2 ORDER BY created_at DESC LIMIT 1",
				     3, p, text, sizeof(text)),
		      "no %s mail to %s", kind, to);
	ck_assert_uint_lt(strlen(text), size);
	memcpy(out, text, strlen(text) + 1);
}

static long long mail_count(const char *to, const char *kind)
{
	const char *p[2] = { to, kind };
	return e2e_owner_value("SELECT count(*) FROM outbox WHERE lower(to_email) = lower($1)"
			       " AND payload->>'account_mail' = $2",
			       2, p);
}

static void json_post(const char *token, const char *path, const char *body, long status,
		      const char *detail)
{
	e2e_expect(token, "POST", path, body, status, detail, NULL);
}

/* The status of GET path with a bearer token or an API key, waiting up to
 * 5 s for it to become want (responders learn of revocations by NOTIFY). */
static long status_becomes(const char *path, const char *token, const char *key, long want)
{
	long got = 0;
	for (int i = 0; i < 50; i++) {
		struct http_answer a;
		ck_assert_int_eq(key ? http_key("GET", path, key, NULL, &a)
				     : http_bearer("GET", path, token, NULL, &a),
				 0);
		got = a.status;
		http_answer_free(&a);
		if (got == want)
			break;
		usleep(100000);
	}
	return got;
}

static long me_status(const char *token, long want)
{
	return status_becomes("/api/v1/auth/me", token, NULL, want);
}

static long key_status(const char *key, long want)
{
	return status_becomes("/api/v1/contacts", NULL, key, want);
}

static int me_verified(const char *token)
{
	struct http_answer a;
	json_object *v;
	int verified;

	e2e_expect(token, "GET", "/api/v1/auth/me", NULL, 200, NULL, &a);
	ck_assert(json_object_object_get_ex(a.json, "email_verified", &v));
	verified = json_object_get_boolean(v);
	http_answer_free(&a);
	return verified;
}

/* Responders learn of the change by NOTIFY, a few milliseconds after the
 * commit: a worker may answer from its cache until then. */
static int eventually_verified(const char *token)
{
	for (int i = 0; i < 50; i++, usleep(100000))
		if (me_verified(token))
			return 1;
	return 0;
}

static void login(const char *email, const char *password, long status, char *access, size_t size)
{
	char body[512];
	struct http_answer a;

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
	e2e_expect(NULL, "POST", "/api/v1/auth/login", body, status, NULL, &a);
	if (access)
		snprintf(access, size, "%s", status == 200 ? json_str(a.json, "access_token") : "");
	http_answer_free(&a);
}

static long provision_signed(const char *body, const char *header_value, struct http_answer *a)
{
	char header[200];
	const char *headers[] = { header, "Content-Type: application/json", NULL };

	snprintf(header, sizeof(header), "X-Platform-Signature: %s", header_value);
	ck_assert_int_eq(http_call("POST", "/api/v1/auth/provision", headers, body, strlen(body), a),
			 0);
	return a->status;
}

static void sign_legacy(const char *body, char *out, size_t size)
{
	char hex[65];
	hmac_sha256_hex(platform_secret, strlen(platform_secret), body, strlen(body), hex);
	snprintf(out, size, "sha256=%s", hex);
}

static void sign_timestamped(const char *body, long t, char *out, size_t size)
{
	char hex[65], *payload = malloc(strlen(body) + 32);
	sprintf(payload, "%ld.%s", t, body);
	hmac_sha256_hex(platform_secret, strlen(platform_secret), payload, strlen(payload), hex);
	free(payload);
	snprintf(out, size, "t=%ld,v1=%s", t, hex);
}

static void verify_with_mailed_link(const char *email)
{
	char token[128], body[256];
	mailed_token(email, "verify_email", "fsv_", token, sizeof(token));
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
	json_post(NULL, "/api/v1/auth/verify-email", body, 200, NULL);
}

START_TEST(registration_mails_a_single_use_verification_link)
{
	char email[128], access[4096], token[128], body[256], uid[40];
	const char *p[1] = { uid };

	e2e_unique_email("verify", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), NULL, 0);
	ck_assert(!me_verified(access));
	ck_assert_int_eq(mail_count(email, "verify_email"), 1);
	mailed_token(email, "verify_email", "fsv_", token, sizeof(token));

	json_post(NULL, "/api/v1/auth/verify-email", "{\"token\":\"fsv_not-a-real-token\"}", 400,
		  "Invalid or expired verification token");
	json_post(NULL, "/api/v1/auth/verify-email", "{\"token\":\"\"}", 422, NULL);
	json_post(NULL, "/api/v1/auth/verify-email", "{}", 422, NULL);
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
	json_post(NULL, "/api/v1/auth/verify-email", body, 200, NULL);
	json_post(NULL, "/api/v1/auth/verify-email", body, 400, "Invalid or expired");
	ck_assert(eventually_verified(access));
	json_post(access, "/api/v1/auth/resend-verification", NULL, 400, "already verified");

	/* Account mail leaves through the outbox and is not the tenant's usage. */
	e2e_user_id(access, uid);
	ck_assert_int_eq(e2e_owner_value("SELECT flowsend_emails_this_month($1)", 1, p), 0);
	long long sent = 0;
	for (int i = 0; i < 100 && sent == 0; i++, usleep(100000))
		sent = e2e_owner_value("SELECT count(*) FROM outbox WHERE user_id = $1 AND status = 'sent'",
				       1, p);
	ck_assert_int_eq(sent, 1);
}
END_TEST

START_TEST(resend_is_throttled_and_a_new_address_needs_its_own_link)
{
	char email[128], access[4096], old_token[128], body[512], other[128];
	const char *p[1] = { email };

	e2e_unique_email("resend", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), NULL, 0);
	{
		struct http_answer a;
		char retry[16];
		e2e_expect(access, "POST", "/api/v1/auth/resend-verification", NULL, 429,
			   "less than a minute ago", &a);
		ck_assert_ptr_nonnull(http_header(&a, "Retry-After", retry, sizeof(retry)));
		http_answer_free(&a);
	}
	ck_assert_int_eq(e2e_owner_value("UPDATE email_verification_tokens SET created_at = now() -"
					 " interval '2 minutes' WHERE lower(email) = lower($1) RETURNING 1",
					 1, p),
			 1);
	json_post(access, "/api/v1/auth/resend-verification", NULL, 202, NULL);
	ck_assert_int_eq(mail_count(email, "verify_email"), 2);
	mailed_token(email, "verify_email", "fsv_", old_token, sizeof(old_token));

	/* A changed address is unproven again; a link mailed to the old one does
	 * not prove the new one. */
	e2e_unique_email("resend-new", other, sizeof(other));
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", other);
	e2e_expect(access, "PATCH", "/api/v1/auth/me", body, 200, NULL, NULL);
	ck_assert(!me_verified(access));
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", old_token);
	json_post(NULL, "/api/v1/auth/verify-email", body, 400, NULL);
	verify_with_mailed_link(other);
	ck_assert(eventually_verified(access));
}
END_TEST

/* The review's account takeover: a stranger registers a merchant's address
 * before the platform provisions it. */
START_TEST(provisioning_claims_an_unverified_account)
{
	char victim[128], squatter_access[4096], squatter_refresh[256], key[256], body[512],
		sig[128], user_id[40], platform_key[256], reset_token[128], fresh_access[4096];
	struct http_answer a;

	e2e_unique_email("merchant", victim, sizeof(victim));
	e2e_register(victim, PW, squatter_access, sizeof(squatter_access), squatter_refresh,
		     sizeof(squatter_refresh));
	e2e_user_id(squatter_access, user_id);
	e2e_expect(squatter_access, "POST", "/api/v1/api-keys",
		   "{\"name\":\"mine\",\"scopes\":[\"read\",\"write\"]}", 201, NULL, &a);
	snprintf(key, sizeof(key), "%s", json_str(a.json, "key"));
	http_answer_free(&a);
	e2e_expect(squatter_access, "POST", "/api/v1/contacts", "{\"email\":\"kept@example.com\"}",
		   201, NULL, NULL);

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"claim-%s\"}",
		 victim, victim);
	sign_legacy(body, sig, sizeof(sig));
	ck_assert_int_eq(provision_signed(body, sig, &a), 201);
	ck_assert_str_eq(json_str(a.json, "user_id"), user_id); /* same account, data kept */
	snprintf(platform_key, sizeof(platform_key), "%s", json_str(a.json, "api_key"));
	http_answer_free(&a);

	/* Every way the squatter had in is gone. */
	ck_assert_int_eq(me_status(squatter_access, 401), 401);
	ck_assert_int_eq(key_status(key, 401), 401);
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", squatter_refresh);
	json_post(NULL, "/api/v1/auth/refresh", body, 401, NULL);
	login(victim, PW, 401, NULL, 0);

	/* The platform's key sees the data; the address's owner gets the link. */
	ck_assert_int_eq(key_status(platform_key, 200), 200);
	ck_assert_int_eq(mail_count(victim, "account_claimed"), 1);
	mailed_token(victim, "account_claimed", "fsp_", reset_token, sizeof(reset_token));
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"new_password\":\"owner-password-9\"}",
		 reset_token);
	json_post(NULL, "/api/v1/auth/reset-password", body, 200, NULL);
	login(victim, "owner-password-9", 200, fresh_access, sizeof(fresh_access));
	ck_assert(eventually_verified(fresh_access));
	e2e_expect(fresh_access, "GET", "/api/v1/contacts", NULL, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "total")), 1);
	http_answer_free(&a);
}
END_TEST

START_TEST(provisioning_links_a_verified_account_without_touching_it)
{
	char email[128], access[4096], body[512], sig[128], user_id[40];
	struct http_answer a;

	e2e_unique_email("verified-merchant", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), NULL, 0);
	verify_with_mailed_link(email);
	e2e_user_id(access, user_id);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"link-%s\"}", email,
		 email);
	sign_legacy(body, sig, sizeof(sig));
	ck_assert_int_eq(provision_signed(body, sig, &a), 201);
	ck_assert_str_eq(json_str(a.json, "user_id"), user_id);
	http_answer_free(&a);
	ck_assert_int_eq(me_status(access, 200), 200);
	login(email, PW, 200, NULL, 0);
	ck_assert_int_eq(mail_count(email, "account_claimed"), 0);
}
END_TEST

START_TEST(timestamped_platform_signatures_refuse_replays)
{
	char email[128], body[512], sig[160];
	struct http_answer a;
	long now = (long)time(NULL);

	e2e_unique_email("signed", email, sizeof(email));
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"ts-%s\"}", email,
		 email);
	sign_timestamped(body, now, sig, sizeof(sig));
	ck_assert_int_eq(provision_signed(body, sig, &a), 201);
	http_answer_free(&a);
	/* The captured request again: no second key. */
	ck_assert_int_eq(provision_signed(body, sig, &a), 401);
	ck_assert_str_eq(http_detail(&a), "Platform signature already used");
	http_answer_free(&a);
	sign_timestamped(body, now - 400, sig, sizeof(sig));
	ck_assert_int_eq(provision_signed(body, sig, &a), 401);
	ck_assert_ptr_nonnull(strstr(http_detail(&a), "5-minute window"));
	http_answer_free(&a);
	/* A signature for another timestamp does not carry over. */
	sign_timestamped(body, now, sig, sizeof(sig));
	char *t = strstr(sig, "t=");
	t[2] = t[2] == '1' ? '2' : '1';
	ck_assert_int_eq(provision_signed(body, sig, &a), 401);
	http_answer_free(&a);
	ck_assert_int_eq(provision_signed(body, "t=1,v1=zz", &a), 401);
	http_answer_free(&a);
	ck_assert_int_eq(provision_signed(body, "t=,v1=", &a), 401);
	http_answer_free(&a);
}
END_TEST

START_TEST(password_reset_ends_every_session)
{
	char email[128], access[4096], refresh[256], token[128], body[512], fresh[4096];
	const char *generic = "If an account exists";

	e2e_unique_email("reset", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), refresh, sizeof(refresh));
	json_post(NULL, "/api/v1/auth/forgot-password", "{\"email\":\"nobody-here@example.com\"}", 200,
		  NULL);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
	{
		struct http_answer a;
		e2e_expect(NULL, "POST", "/api/v1/auth/forgot-password", body, 200, NULL, &a);
		ck_assert_ptr_nonnull(strstr(json_str(a.json, "message"), generic));
		http_answer_free(&a);
	}
	json_post(NULL, "/api/v1/auth/forgot-password", body, 200, NULL);
	ck_assert_int_eq(mail_count(email, "password_reset"), 1); /* one a minute */
	json_post(NULL, "/api/v1/auth/forgot-password", "{\"email\":\"not an address\"}", 422, NULL);

	mailed_token(email, "password_reset", "fsp_", token, sizeof(token));
	json_post(NULL, "/api/v1/auth/reset-password",
		  "{\"token\":\"fsp_bogus\",\"new_password\":\"another-pass-1\"}", 400,
		  "Invalid or expired reset token");
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"new_password\":\"short\"}", token);
	json_post(NULL, "/api/v1/auth/reset-password", body, 422, NULL);
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"new_password\":\"another-pass-1\"}", token);
	json_post(NULL, "/api/v1/auth/reset-password", body, 200, NULL);
	json_post(NULL, "/api/v1/auth/reset-password", body, 400, NULL);

	ck_assert_int_eq(me_status(access, 401), 401);
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh);
	json_post(NULL, "/api/v1/auth/refresh", body, 401, NULL);
	login(email, PW, 401, NULL, 0);
	login(email, "another-pass-1", 200, fresh, sizeof(fresh));
	ck_assert_int_eq(me_status(fresh, 200), 200);
	ck_assert(eventually_verified(fresh)); /* the link proved the address */
}
END_TEST

static void contact_subscribed(const char *token, const char *email, int want)
{
	char path[256];
	struct http_answer a;
	json_object *items, *v;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", email);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	items = json_object_object_get(a.json, "items");
	ck_assert_int_eq((int)json_object_array_length(items), 1);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(items, 0), "is_subscribed", &v));
	ck_assert_msg(json_object_get_boolean(v) == want, "%s subscribed %d, want %d", email,
		      json_object_get_boolean(v), want);
	http_answer_free(&a);
}

static void contact_id_of(const char *token, const char *email, char *out)
{
	char path[256];
	struct http_answer a;

	snprintf(path, sizeof(path), "/api/v1/contacts?search=%s", email);
	e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
	snprintf(out, 37, "%s",
		 json_str(json_object_array_get_idx(json_object_object_get(a.json, "items"), 0), "id"));
	http_answer_free(&a);
}

START_TEST(an_opt_out_outlives_the_contact)
{
	char token[4096], id[40], path[128], body[512];
	const char *addr = "opted.out.person@example.com";

	e2e_new_tenant("optout", token, sizeof(token));
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"Ola\"}", addr);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
	contact_id_of(token, addr, id);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	/* The merchant cannot subscribe the person again. */
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":true}", 400, "signup form", NULL);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);

	/* Imported again, by JSON list and by CSV saying subscribed: unsubscribed. */
	snprintf(body, sizeof(body), "{\"emails\":[\"%s\",\"fresh.person@example.com\"]}", addr);
	e2e_expect(token, "POST", "/api/v1/contacts/import", body, 200, NULL, NULL);
	contact_subscribed(token, addr, 0);
	contact_subscribed(token, "fresh.person@example.com", 1);
	contact_id_of(token, addr, id);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	snprintf(body, sizeof(body),
		 "{\"csv_data\":\"email,first_name,is_subscribed\\nOpted.Out.Person@Example.com,Ola,true\\n\"}");
	e2e_expect(token, "POST", "/api/v1/contacts/import", body, 200, NULL, NULL);
	contact_subscribed(token, addr, 0);
	contact_id_of(token, addr, id);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);

	/* Created again through the API: unsubscribed. */
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"is_subscribed\":true}", addr);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
	contact_subscribed(token, addr, 0);
	contact_id_of(token, addr, id);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);

	/* Another contact moved onto the address stops being mailed. */
	contact_id_of(token, "fresh.person@example.com", id);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", addr);
	e2e_expect(token, "PATCH", path, body, 200, NULL, NULL);
	contact_subscribed(token, addr, 0);
}
END_TEST

START_TEST(erasure_leaves_no_copy_of_the_person)
{
	char token[4096], id[40], path[160], body[512], uid[40], campaign[40];
	const char *addr = "erase.me@example.com";
	const char *p[2] = { uid, addr };
	struct http_answer a;

	e2e_new_tenant("erase", token, sizeof(token));
	e2e_user_id(token, uid);
	snprintf(body, sizeof(body),
		 "{\"email\":\"%s\",\"first_name\":\"Erin\",\"last_name\":\"Rase\","
		 "\"custom_fields\":{\"city\":\"Oslo\"}}",
		 addr);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, NULL);
	contact_id_of(token, addr, id);
	/* A test send to the address (a rendered copy in the outbox). */
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"Erase\",\"subject\":\"Hi {{first_name}}\",\"template_id\":\"" SYSTEM_TEMPLATE "\"}",
		   201, NULL, &a);
	snprintf(campaign, sizeof(campaign), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/test", campaign);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", addr);
	e2e_expect(token, "POST", path, body, 202, NULL, NULL);
	/* An unsubscribe and a sign-up held apart from contacts. */
	snprintf(path, sizeof(path), "/api/v1/contacts/%s", id);
	e2e_expect(token, "PATCH", path, "{\"is_subscribed\":false}", 200, NULL, NULL);
	ck_assert_int_eq(e2e_owner_value("INSERT INTO form_submissions (user_id, email, first_name,"
					 " consent_ip, consent_user_agent) VALUES ($1, $2, 'Erin',"
					 " '192.0.2.7', 'Mozilla/5.0') RETURNING 1",
					 2, p),
			 1);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE user_id = $1"
					 " AND lower(to_email) = $2",
					 2, p),
			 1);
	/* A click on a link of the campaign: an event naming the person. */
	{
		const char *q[3] = { uid, id, campaign };
		ck_assert_int_eq(e2e_owner_value("INSERT INTO email_events (user_id, contact_id, campaign_id,"
						 " event_type, metadata, url) VALUES ($1, $2, $3, 'clicked',"
						 " '{\"ip\": \"192.0.2.7\"}', 'https://shop.example/?who=erin')"
						 " RETURNING 1",
						 3, q),
				 1);
	}

	snprintf(path, sizeof(path), "/api/v1/contacts/%s?erase=true", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);

	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contacts WHERE user_id = $1"
					 " AND lower(email) = $2",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_search WHERE user_id = $1"
					 " AND doc LIKE '%' || $2 || '%'",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM outbox WHERE user_id = $1"
					 " AND (lower(to_email) = $2 OR payload::text LIKE '%Erin%')",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM form_submissions WHERE user_id = $1"
					 " AND lower(email) = $2",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM unsubscribes WHERE user_id = $1"
					 " AND email_hash = flowsend_email_hash($2)",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM opt_outs WHERE user_id = $1"
					 " AND email_hash = flowsend_email_hash($2)",
					 2, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE user_id = $1"
					 " AND (metadata <> '{}' OR url IS NOT NULL)",
					 1, p),
			 0);
	/* The events stay for the figures, no longer naming the person
	 * (schema/0027_event_references.sql clears the reference). */
	{
		const char *q[1] = { id };
		ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE contact_id = $1", 1, q), 0);
		ck_assert_int_gt(e2e_owner_value("SELECT count(*) FROM email_events WHERE user_id = $1"
						 " AND contact_id IS NULL",
						 1, p),
				 0);
	}
	/* Only the hash stays, so the address is never mailed again. */
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM suppressions WHERE user_id = $1"
					 " AND email_hash = flowsend_email_hash($2) AND email IS NULL",
					 2, p),
			 1);
	snprintf(body, sizeof(body), "{\"emails\":[\"%s\"]}", addr);
	e2e_expect(token, "POST", "/api/v1/contacts/import", body, 200, NULL, &a);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(a.json, "imported")), 0);
	http_answer_free(&a);
}
END_TEST

START_TEST(nothing_that_becomes_a_header_takes_a_line_break)
{
	char token[4096];

	e2e_new_tenant("headers", token, sizeof(token));
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"from_name\":\"Shop\\r\\nBcc: victim@example.com\"}", 422, NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender", "{\"from_name\":\"Shop\\nX\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender", "{\"from_name\":\"Shop\\u2028X\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender", "{\"from_name\":\"Shop\\u0085X\"}", 422,
		   NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"reply_to\":\"help@shop.example\\r\\nBcc: x@evil.example\"}", 422, NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"from_email\":\"news@shop.example\\nBcc: x@evil.example\"}", 422, NULL, NULL);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"postal_address\":\"1 Main St\\u0007\"}", 422, NULL, NULL);
	/* A postal address is footer text and may span lines. */
	e2e_expect(token, "PATCH", "/api/v1/settings/sender",
		   "{\"from_name\":\"Caf\\u00e9 Shop\",\"postal_address\":\"1 Main St\\nSpringfield\"}", 200,
		   NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/campaigns",
		   "{\"name\":\"x\",\"subject\":\"Hi\\r\\nBcc: victim@example.com\"}", 422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/templates",
		   "{\"name\":\"x\",\"subject\":\"Hi\\nX\",\"html_content\":\"<p>x</p>\"}", 422,
		   "a subject is one line", NULL);
}
END_TEST


/* The review's races, made deterministic: an owner session holds the user's
 * row in an open transaction while a request runs into it. */
struct owner_tx {
	struct fs_config cfg;
	struct fs_db db;
	struct arena arena;
};

static void owner_begin(struct owner_tx *o, const char *sql, int n, const char *const *params)
{
	char err[256];
	ck_assert_int_eq(fs_config_load(&o->cfg, err, sizeof(err)), 0);
	arena_init(&o->arena, 0);
	db_init(&o->db, o->cfg.database_migrate_url);
	ck_assert_ptr_nonnull(db_query(&o->db, &o->arena, "BEGIN", 0, NULL));
	ck_assert_ptr_nonnull(db_query(&o->db, &o->arena, sql, n, params));
}

static void owner_commit(struct owner_tx *o)
{
	ck_assert_ptr_nonnull(db_query(&o->db, &o->arena, "COMMIT", 0, NULL));
	db_close(&o->db);
	arena_destroy(&o->arena);
}

struct racing_call {
	const char *method, *path, *token, *body, *signature;
	struct http_answer answer;
};

static void *racing_call_run(void *arg)
{
	struct racing_call *c = arg;
	if (c->signature)
		provision_signed(c->body, c->signature, &c->answer);
	else
		http_bearer(c->method, c->path, c->token, c->body, &c->answer);
	return NULL;
}

/* Start the call, give it time to block on the owner's lock, then commit. */
static void race_against(struct owner_tx *o, struct racing_call *c)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, racing_call_run, c), 0);
	usleep(700000);
	owner_commit(o);
	pthread_join(t, NULL);
}

/* Review finding: the squatter changes the address away while provisioning
 * claims the account; the claim must not land on the changed account. */
START_TEST(a_claim_never_lands_on_an_account_that_changed_address)
{
	char victim[128], attacker[128], access[4096], user_id[40], body[512], sig[128];
	const char *p[2] = { NULL, user_id };
	struct owner_tx o;
	struct racing_call c = { 0 };

	e2e_unique_email("raced-merchant", victim, sizeof(victim));
	e2e_unique_email("raced-attacker", attacker, sizeof(attacker));
	e2e_register(victim, PW, access, sizeof(access), NULL, 0);
	e2e_user_id(access, user_id);
	p[0] = attacker;
	/* The email change is under way (row locked) when provisioning looks up. */
	owner_begin(&o, "UPDATE users SET email = $1 WHERE id = $2", 2, p);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"external_platform_id\":\"race-%s\"}", victim,
		 victim);
	sign_legacy(body, sig, sizeof(sig));
	c.body = body;
	c.signature = sig;
	race_against(&o, &c);
	ck_assert_int_eq(c.answer.status, 201);
	/* A new account for the merchant; the attacker's account untouched. */
	ck_assert_str_ne(json_str(c.answer.json, "user_id"), user_id);
	http_answer_free(&c.answer);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM users WHERE id = $2 AND lower(email) ="
					 " lower($1) AND external_platform_id IS NULL AND NOT email_verified",
					 2, p),
			 1);
	ck_assert_int_eq(mail_count(attacker, "account_claimed"), 0);
}
END_TEST

/* Review finding: a reset link raced an email change; following it must not
 * verify the address the account moved to. */
START_TEST(a_reset_link_proves_only_the_address_it_was_mailed_to)
{
	char attacker[128], victim[128], access[4096], user_id[40], body[512], fresh[4096];
	char token[64], hash[65];
	const char *p[3] = { user_id, hash, NULL };

	e2e_unique_email("reset-attacker", attacker, sizeof(attacker));
	e2e_unique_email("reset-victim", victim, sizeof(victim));
	e2e_register(attacker, PW, access, sizeof(access), NULL, 0);
	e2e_user_id(access, user_id);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", victim);
	e2e_expect(access, "PATCH", "/api/v1/auth/me", body, 200, NULL, NULL);
	/* A token stored for the old address just after the change, as the race did. */
	snprintf(token, sizeof(token), "fsp_raced%08lx", (unsigned long)random());
	sha256_hex(token, strlen(token), hash);
	p[2] = attacker;
	ck_assert_int_eq(e2e_owner_value("INSERT INTO password_reset_tokens (user_id, token_hash,"
					 " expires_at, email) VALUES ($1, $2, now() + interval '1 hour', $3)"
					 " RETURNING 1",
					 3, p),
			 1);
	snprintf(body, sizeof(body), "{\"token\":\"%s\",\"new_password\":\"raced-pass-1\"}", token);
	json_post(NULL, "/api/v1/auth/reset-password", body, 200, NULL);
	login(victim, "raced-pass-1", 200, fresh, sizeof(fresh));
	ck_assert(!me_verified(fresh));
	/* And forgot-password mails nothing for an address the account left. */
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", attacker);
	json_post(NULL, "/api/v1/auth/forgot-password", body, 200, NULL);
	ck_assert_int_eq(mail_count(attacker, "password_reset"), 0);
}
END_TEST

/* Review finding: a request that authenticated just before a claim or reset
 * could still create a key, or change the address, after it. */
START_TEST(account_writes_stop_when_the_session_ends_under_them)
{
	char email[128], access[4096], user_id[40];
	const char *p[1] = { user_id };
	struct owner_tx o;
	struct racing_call c = { 0 };

	e2e_unique_email("ended-session", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), NULL, 0);
	e2e_user_id(access, user_id);
	owner_begin(&o, "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1", 1, p);
	c.method = "POST";
	c.path = "/api/v1/api-keys";
	c.token = access;
	c.body = "{\"name\":\"late\",\"scopes\":[\"read\"]}";
	race_against(&o, &c);
	ck_assert_int_eq(c.answer.status, 401);
	http_answer_free(&c.answer);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM api_keys WHERE user_id = $1", 1, p), 0);

	e2e_unique_email("ended-session2", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), NULL, 0);
	e2e_user_id(access, user_id);
	owner_begin(&o, "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1", 1, p);
	memset(&c, 0, sizeof(c));
	c.method = "PATCH";
	c.path = "/api/v1/auth/me";
	c.token = access;
	c.body = "{\"email\":\"moved-away@example.com\"}";
	race_against(&o, &c);
	ck_assert_int_eq(c.answer.status, 401);
	http_answer_free(&c.answer);
}
END_TEST

/* Review finding: a new password left the old access tokens working. */
START_TEST(a_new_password_ends_every_session)
{
	char email[128], access[4096], refresh[256], body[512], fresh[4096];

	e2e_unique_email("newpass", email, sizeof(email));
	e2e_register(email, PW, access, sizeof(access), refresh, sizeof(refresh));
	snprintf(body, sizeof(body), "{\"current_password\":\"%s\",\"new_password\":\"changed-pass-2\"}",
		 PW);
	e2e_expect(access, "PATCH", "/api/v1/auth/me", body, 200, NULL, NULL);
	ck_assert_int_eq(me_status(access, 401), 401);
	snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", refresh);
	json_post(NULL, "/api/v1/auth/refresh", body, 401, NULL);
	login(email, "changed-pass-2", 200, fresh, sizeof(fresh));
	ck_assert_int_eq(me_status(fresh, 200), 200);
}
END_TEST

/* Review findings: an erased address stayed in a dynamic list's rules, and
 * invisible characters made a second spelling of an opted-out address. */
START_TEST(erasure_reaches_list_rules_and_addresses_have_no_invisible_characters)
{
	char token[4096], id[40], path[160], body[512], uid[40];
	const char *addr = "erase.rules@example.com";
	const char *p[1] = { uid };
	struct http_answer a;

	e2e_new_tenant("erase-rules", token, sizeof(token));
	e2e_user_id(token, uid);
	snprintf(body, sizeof(body), "{\"email\":\"%s\"}", addr);
	e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
	snprintf(id, sizeof(id), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	e2e_expect(token, "POST", "/api/v1/contacts/lists",
		   "{\"name\":\"Just them\",\"list_type\":\"dynamic\",\"rules\":{\"match\":\"any\","
		   "\"conditions\":[{\"field\":\"email\",\"op\":\"eq\",\"value\":\"Erase.Rules@Example.com\"},"
		   "{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"vip\"}]}}",
		   201, NULL, NULL);
	snprintf(path, sizeof(path), "/api/v1/contacts/%s?erase=true", id);
	e2e_expect(token, "DELETE", path, NULL, 204, NULL, NULL);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_lists WHERE user_id = $1"
					 " AND rules::text ILIKE '%erase.rules%'",
					 1, p),
			 0);
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM contact_lists WHERE user_id = $1"
					 " AND rules->'conditions'->1->>'value' = 'vip'"
					 " AND rules->'conditions'->0->>'value' = '[erased]'",
					 1, p),
			 1);
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"\\ufefferase.rules@example.com\"}",
		   422, NULL, NULL);
	e2e_expect(token, "POST", "/api/v1/contacts", "{\"email\":\"erase.rules@example.com\\u200b\"}",
		   422, NULL, NULL);
}
END_TEST

Suite *security_suite(void)
{
	Suite *s = suite_create("security");
	TCase *tc = tcase_create("security");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, registration_mails_a_single_use_verification_link);
	tcase_add_test(tc, resend_is_throttled_and_a_new_address_needs_its_own_link);
	tcase_add_test(tc, provisioning_claims_an_unverified_account);
	tcase_add_test(tc, provisioning_links_a_verified_account_without_touching_it);
	tcase_add_test(tc, timestamped_platform_signatures_refuse_replays);
	tcase_add_test(tc, password_reset_ends_every_session);
	tcase_add_test(tc, an_opt_out_outlives_the_contact);
	tcase_add_test(tc, erasure_leaves_no_copy_of_the_person);
	tcase_add_test(tc, nothing_that_becomes_a_header_takes_a_line_break);
	tcase_add_test(tc, a_claim_never_lands_on_an_account_that_changed_address);
	tcase_add_test(tc, a_reset_link_proves_only_the_address_it_was_mailed_to);
	tcase_add_test(tc, account_writes_stop_when_the_session_ends_under_them);
	tcase_add_test(tc, a_new_password_ends_every_session);
	tcase_add_test(tc, erasure_reaches_list_rules_and_addresses_have_no_invisible_characters);
	suite_add_tcase(s, tc);
	return s;
}
