/* Account building blocks: email checks, hashes and tokens, plans, API-key
 * shapes, credential parsing, sender mailboxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/email.h"
#include "core/uuid.h"
#include "models/plan.h"
#include "services/apikeys.h"
#include "services/auth.h"
#include "services/login_guard.h"
#include "services/password.h"
#include "services/settings.h"
#include "services/tokens.h"
#include "unit.h"

START_TEST(email_shapes)
{
	const char *good[] = { "a@b.co", "first.last+tag@example.com", "x_y-z@sub.example.org",
			       "caf\xc3\xa9@exampl\xc3\xa9.fr", "o'brien@example.ie" };
	const char *bad[] = { "", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a@b@c.com",
			      ".a@b.com", "a.@b.com", "a..b@c.com", "a b@c.com", "a@-b.com",
			      "a@b-.com", "a@b..com", "a@b.com.", "a\x01@b.com", "\xff@b.com",
			      /* invisible look-alikes: BOM, zero-width space, no-break space,
			       * soft hyphen, word joiner, a C1 control, a tag character */
			      "\xef\xbb\xbfvictim@example.com", "victim@example.com\xe2\x80\x8b",
			      "vic\xc2\xa0tim@example.com", "vic\xc2\xadtim@example.com",
			      "victim\xe2\x81\xa0@example.com", "victim\xc2\x85@example.com",
			      "victim@exa\xf3\xa0\x80\x81mple.com" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(email_invalid_reason(good[i], strlen(good[i])) == NULL, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(email_invalid_reason(bad[i], strlen(bad[i])) != NULL, "case %zu", i);
	char longlocal[80];
	memset(longlocal, 'a', 65);
	strcpy(longlocal + 65, "@b.com");
	ck_assert_ptr_nonnull(email_invalid_reason(longlocal, strlen(longlocal)));
}
END_TEST

START_TEST(hashes_match_known_vectors)
{
	char out[65];
	sha256_hex("abc", 3, out);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* RFC 4231 test case 2. */
	hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
	ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	{
		/* RFC 4231 test case 6: a key longer than the block is hashed first;
		 * the keyed variant gives the same MAC, from its cache the second time. */
		char key[131];
		const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
		unsigned char raw[32];
		char hex[65];
		memset(key, 0xaa, sizeof(key));
		hmac_sha256_hex(key, sizeof(key), msg, strlen(msg), out);
		ck_assert_str_eq(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
		for (int round = 0; round < 2; round++) {
			hmac_sha256_keyed("Jefe", 4, "what do ya want for nothing?", 28, raw);
			hex_encode(raw, 32, hex);
			ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
		}
	}
	ck_assert(secure_equals("abc", 3, "abc", 3));
	ck_assert(!secure_equals("abc", 3, "abd", 3));
	ck_assert(!secure_equals("abc", 3, "abcd", 4));
	char b64[16];
	ck_assert_uint_eq(base64url_encode((const unsigned char *)"\xfb\xff", 2, b64), 3);
	ck_assert_str_eq(b64, "-_8");
	{
		unsigned char raw[8];
		ck_assert_int_eq(base64url_decode("-_8", 3, raw, sizeof(raw)), 2);
		ck_assert(raw[0] == 0xfb && raw[1] == 0xff);
		ck_assert_int_eq(base64url_decode("-_9", 3, raw, sizeof(raw)), -1); /* leftover bits set */
		ck_assert_int_eq(base64url_decode("-_8=", 4, raw, sizeof(raw)), -1); /* padding */
		ck_assert_int_eq(base64url_decode("-+8", 3, raw, sizeof(raw)), -1);  /* not base64url */
		ck_assert_int_eq(base64url_decode("AAAAA", 5, raw, sizeof(raw)), -1); /* 6 bits left over */
		ck_assert_int_eq(base64url_decode("AAAAAAAAAAAA", 12, raw, 8), -1);  /* 9 bytes: no room */
		ck_assert_int_eq(base64url_decode("", 0, raw, sizeof(raw)), 0);
	}
	char tok[80];
	ck_assert_int_eq(random_token("p_", 32, tok, sizeof(tok)), 0);
	ck_assert_uint_eq(strlen(tok), 2 + 43);
	ck_assert_int_eq(random_token("p_", 32, tok, 20), -1);
}
END_TEST

START_TEST(access_tokens_round_trip_and_expire)
{
	struct fs_config cfg;
	char err[128], tok[TOKEN_MAX_LEN], user[37];
	const char *id = "123e4567-e89b-12d3-a456-426614174000";
	long epoch = -1;

	unsetenv("FLOWSEND_ENV");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(token_issue_access(&cfg, id, 3, tok, sizeof(tok)), 0);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_OK);
	ck_assert_str_eq(user, id);
	ck_assert_int_eq(epoch, 3); /* the session epoch travels in the token */
	cfg.jwt_secret = "another-secret";
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_UNAUTHORIZED);
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	cfg.access_token_ttl = -5; /* already expired when issued */
	ck_assert_int_eq(token_issue_access(&cfg, id, 3, tok, sizeof(tok)), 0);
	ck_assert_int_eq(token_verify_access(&cfg, tok, user, &epoch), FS_UNAUTHORIZED);
	ck_assert_int_eq(token_verify_access(&cfg, "", user, &epoch), FS_UNAUTHORIZED);
	ck_assert_int_eq(token_verify_access(&cfg, "a.b.c", user, &epoch), FS_UNAUTHORIZED);
	ck_assert_int_eq(token_verify_access(&cfg, "bad chars!.x.y", user, &epoch), FS_UNAUTHORIZED);
	ck_assert_int_eq(token_issue_access(&cfg, id, 3, tok, 10), -1);
	char hash[65], refresh[128];
	ck_assert_int_eq(token_new_refresh(refresh, sizeof(refresh), hash), 0);
	ck_assert(strncmp(refresh, REFRESH_TOKEN_PREFIX, 4) == 0);
	ck_assert_uint_eq(strlen(hash), 64);
}
END_TEST

START_TEST(passwords_hash_and_verify)
{
	char hash[PASSWORD_HASH_MAX];
	ck_assert_int_eq(password_hash("s3cret-pass", 11, hash), 0);
	ck_assert(strncmp(hash, "$argon2id$", 10) == 0);
	ck_assert(password_verify(hash, "s3cret-pass", 11));
	ck_assert(!password_verify(hash, "s3cret-pasS", 11));
	ck_assert(!password_verify(NULL, "s3cret-pass", 11));
}
END_TEST

START_TEST(plans_and_limits)
{
	ck_assert_ptr_nonnull(plan_find("free"));
	ck_assert_ptr_nonnull(plan_find("enterprise"));
	ck_assert_ptr_null(plan_find("gold"));
	ck_assert_ptr_null(plan_find(NULL));
	ck_assert_str_eq(plan_default()->tier, "free");
	ck_assert_int_eq(plan_find("free")->max_contacts, 250);
	ck_assert(plan_allows(250, 249, 1));
	ck_assert(!plan_allows(250, 250, 1));
	ck_assert(plan_allows(PLAN_UNLIMITED, 1000000, 1000000));
	json_object *all = plans_to_json();
	ck_assert_int_eq((int)json_object_array_length(all), 3);
	json_object_put(all);
}
END_TEST

START_TEST(api_key_shapes_and_credentials)
{
	const char *v;
	ck_assert(apikey_shape_ok("fs_live_abcDEF012-_", 19));
	ck_assert(!apikey_shape_ok("fs_live_", 8));
	ck_assert(!apikey_shape_ok("fs_test_abc", 11));
	ck_assert(!apikey_shape_ok("fs_live_a b", 11));
	ck_assert(!apikey_shape_ok("fs_live_'--", 11));
	ck_assert_int_eq(auth_parse_credentials(NULL, NULL, &v), AUTH_NONE);
	ck_assert_int_eq(auth_parse_credentials("", "", &v), AUTH_NONE);
	ck_assert_int_eq(auth_parse_credentials("Bearer abc", NULL, &v), AUTH_BEARER);
	ck_assert_str_eq(v, "abc");
	ck_assert_int_eq(auth_parse_credentials("bearer   xyz", NULL, &v), AUTH_BEARER);
	ck_assert_str_eq(v, "xyz");
	ck_assert_int_eq(auth_parse_credentials("Bearer ", NULL, &v), AUTH_MALFORMED);
	ck_assert_int_eq(auth_parse_credentials("Basic abc", NULL, &v), AUTH_MALFORMED);
	ck_assert_int_eq(auth_parse_credentials("Bearer abc", "fs_live_k", &v), AUTH_API_KEY);
	ck_assert_str_eq(v, "fs_live_k");
}
END_TEST

START_TEST(platform_signatures)
{
	struct fs_config cfg;
	char err[128], hex[65], header[80];
	const char *body = "{\"email\":\"a@b.co\"}";

	unsetenv("FLOWSEND_ENV");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	hmac_sha256_hex(cfg.platform_webhook_secret, strlen(cfg.platform_webhook_secret), body,
			strlen(body), hex);
	snprintf(header, sizeof(header), "sha256=%s", hex);
	ck_assert(auth_platform_signature_ok(&cfg, body, strlen(body), header));
	for (char *p = header + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	ck_assert(auth_platform_signature_ok(&cfg, body, strlen(body), header));
	ck_assert(!auth_platform_signature_ok(&cfg, body, strlen(body) - 1, header));
	ck_assert(!auth_platform_signature_ok(&cfg, body, strlen(body), header + 7));
	ck_assert(!auth_platform_signature_ok(&cfg, body, strlen(body), NULL));
	ck_assert(!auth_platform_signature_ok(&cfg, body, strlen(body), "sha256=abc"));
}
END_TEST

/* t=<unix>,v1=<hex HMAC of "t.body">: a 5-minute window, the body and the
 * timestamp both covered, and the legacy form only while allowed. */
START_TEST(platform_signatures_timestamped)
{
	struct fs_config cfg;
	char err[128], hex[65], header[160], signed_payload[128], replay[65];
	const char *body = "{\"email\":\"a@b.co\"}";
	time_t now = 1700000000;

	unsetenv("FLOWSEND_ENV");
	unsetenv("FLOWSEND_PLATFORM_LEGACY_SIGNATURES");
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.platform_legacy_signatures, 1); /* on outside production */
	snprintf(signed_payload, sizeof(signed_payload), "%ld.%s", (long)now, body);
	hmac_sha256_hex(cfg.platform_webhook_secret, strlen(cfg.platform_webhook_secret),
			signed_payload, strlen(signed_payload), hex);
	snprintf(header, sizeof(header), "t=%ld,v1=%s", (long)now, hex);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header, now, replay),
			 PLATFORM_SIG_OK);
	ck_assert_str_eq(replay, hex);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header,
						       now + PLATFORM_SIG_TOLERANCE, replay),
			 PLATFORM_SIG_OK);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header,
						       now + PLATFORM_SIG_TOLERANCE + 1, replay),
			 PLATFORM_SIG_STALE);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header,
						       now - PLATFORM_SIG_TOLERANCE - 1, replay),
			 PLATFORM_SIG_STALE);
	/* Another body, or the same HMAC under another timestamp, fails. */
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body) - 1, header, now,
						       replay),
			 PLATFORM_SIG_BAD);
	snprintf(header, sizeof(header), "t=%ld,v1=%s", (long)now + 1, hex);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header, now, replay),
			 PLATFORM_SIG_BAD);
	snprintf(header, sizeof(header), "v1=%s, t=%ld", hex, (long)now);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header, now, replay),
			 PLATFORM_SIG_OK);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), "t=,v1=", now, replay),
			 PLATFORM_SIG_BAD);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), "t=12x,v1=ab", now,
						       replay),
			 PLATFORM_SIG_BAD);
	/* The body-only form: accepted while legacy signatures are on, only. */
	hmac_sha256_hex(cfg.platform_webhook_secret, strlen(cfg.platform_webhook_secret), body,
			strlen(body), hex);
	snprintf(header, sizeof(header), "sha256=%s", hex);
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header, now, replay),
			 PLATFORM_SIG_OK);
	ck_assert_str_eq(replay, "");
	cfg.platform_legacy_signatures = 0;
	ck_assert_int_eq(auth_platform_signature_check(&cfg, body, strlen(body), header, now, replay),
			 PLATFORM_SIG_LEGACY_OFF);
	setenv("FLOWSEND_PLATFORM_LEGACY_SIGNATURES", "maybe", 1);
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), -1);
	setenv("FLOWSEND_PLATFORM_LEGACY_SIGNATURES", "off", 1);
	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.platform_legacy_signatures, 0);
	unsetenv("FLOWSEND_PLATFORM_LEGACY_SIGNATURES");
}
END_TEST

START_TEST(sender_mailboxes)
{
	struct arena a;
	const char *name, *addr;
	arena_init(&a, 0);
	sender_parse_mailbox(&a, "FlowSend <noreply@flowsend.local>", &name, &addr);
	ck_assert_str_eq(name, "FlowSend");
	ck_assert_str_eq(addr, "noreply@flowsend.local");
	sender_parse_mailbox(&a, "\"Big Shop\" <hi@shop.io>", &name, &addr);
	ck_assert_str_eq(name, "Big Shop");
	ck_assert_str_eq(addr, "hi@shop.io");
	sender_parse_mailbox(&a, "bare@shop.io", &name, &addr);
	ck_assert_str_eq(name, "");
	ck_assert_str_eq(addr, "bare@shop.io");
	arena_destroy(&a);
}
END_TEST

/* The throttle's key folds case like the users' unique index (lower(email))
 * and beyond ASCII; an ASCII address keeps the key it had before. */
START_TEST(login_guard_keys_fold_case)
{
	char a[SHA256_HEX_LEN + 1], b[SHA256_HEX_LEN + 1], c[SHA256_HEX_LEN + 1];
	const char *upper = "J\xc3\x96RG.\xc5\x81\xce\xa3\xd0\x96@Example.COM";
	const char *lower = "j\xc3\xb6rg.\xc5\x82\xcf\x83\xd0\xb6@example.com";

	login_guard_email_hash(upper, strlen(upper), a);
	login_guard_email_hash(lower, strlen(lower), b);
	ck_assert_str_eq(a, b);
	sha256_hex(lower, strlen(lower), c);
	ck_assert_str_eq(b, c);
	login_guard_email_hash("Ann@Shop.IO", 11, a);
	sha256_hex("ann@shop.io", 11, c);
	ck_assert_str_eq(a, c);
	login_guard_email_hash("anne@shop.io", 12, b);
	ck_assert_str_ne(a, b);
}
END_TEST

/* Clients are counted per IPv4 address and per IPv6 /64. */
START_TEST(login_guard_groups_ipv6_by_64)
{
	char a[72], b[72];

	login_guard_client("192.0.2.7", a, sizeof(a));
	ck_assert_str_eq(a, "192.0.2.7");
	login_guard_client("::ffff:192.0.2.7", a, sizeof(a));
	ck_assert_str_eq(a, "192.0.2.7");
	login_guard_client("2001:db8:1:2:3:4:5:6", a, sizeof(a));
	login_guard_client("2001:DB8:1:2::ffff", b, sizeof(b));
	ck_assert_str_eq(a, "2001:db8:1:2::/64");
	ck_assert_str_eq(a, b);
	login_guard_client("2001:db8:1:3::1", b, sizeof(b));
	ck_assert_str_ne(a, b);
	login_guard_client("", a, sizeof(a));
	ck_assert_str_eq(a, "");
	login_guard_client("not:an address", a, sizeof(a));
	ck_assert_str_eq(a, "not:an address");
}
END_TEST

Suite *accounts_unit_suite(void)
{
	Suite *s = suite_create("accounts");
	TCase *tc = tcase_create("accounts");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, email_shapes);
	tcase_add_test(tc, hashes_match_known_vectors);
	tcase_add_test(tc, access_tokens_round_trip_and_expire);
	tcase_add_test(tc, passwords_hash_and_verify);
	tcase_add_test(tc, plans_and_limits);
	tcase_add_test(tc, api_key_shapes_and_credentials);
	tcase_add_test(tc, platform_signatures);
	tcase_add_test(tc, platform_signatures_timestamped);
	tcase_add_test(tc, sender_mailboxes);
	tcase_add_test(tc, login_guard_keys_fold_case);
	tcase_add_test(tc, login_guard_groups_ipv6_by_64);
	suite_add_tcase(s, tc);
	return s;
}
