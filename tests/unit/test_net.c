/* Where outbound webhooks may go (net/addr): address classes with the IPv6
 * and embedded-IPv4 forms, the allow-list, URL parts, and the policy's
 * refusals before anything is sent (net/outbound). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "net/outbound.h"
#include "unit.h"

static enum net_addr_class cls(const char *s)
{
	struct net_addr a;

	ck_assert_msg(net_addr_parse(s, strlen(s), &a) == 0, "%s does not parse", s);
	return net_addr_classify(&a);
}

START_TEST(addresses_are_classified)
{
	static const struct {
		const char *addr;
		enum net_addr_class c;
	} cases[] = {
		{ "8.8.8.8", NET_ADDR_PUBLIC },
		{ "203.0.114.1", NET_ADDR_PUBLIC },
		{ "127.0.0.1", NET_ADDR_LOOPBACK },
		{ "127.255.255.254", NET_ADDR_LOOPBACK },
		{ "0.0.0.0", NET_ADDR_UNSPECIFIED },
		{ "10.0.0.1", NET_ADDR_PRIVATE },
		{ "172.16.0.1", NET_ADDR_PRIVATE },
		{ "172.31.255.255", NET_ADDR_PRIVATE },
		{ "172.32.0.1", NET_ADDR_PUBLIC },
		{ "192.168.1.1", NET_ADDR_PRIVATE },
		{ "100.64.0.1", NET_ADDR_PRIVATE },
		{ "169.254.169.254", NET_ADDR_METADATA },
		{ "169.254.1.1", NET_ADDR_LINK_LOCAL },
		{ "168.63.129.16", NET_ADDR_METADATA },
		{ "100.100.100.200", NET_ADDR_METADATA },
		{ "224.0.0.1", NET_ADDR_MULTICAST },
		{ "239.255.255.250", NET_ADDR_MULTICAST },
		{ "255.255.255.255", NET_ADDR_RESERVED },
		{ "240.0.0.1", NET_ADDR_RESERVED },
		{ "192.0.2.1", NET_ADDR_RESERVED },
		{ "198.18.0.1", NET_ADDR_RESERVED },
		{ "2606:4700::1111", NET_ADDR_PUBLIC },
		{ "::1", NET_ADDR_LOOPBACK },
		{ "::", NET_ADDR_UNSPECIFIED },
		{ "fe80::1", NET_ADDR_LINK_LOCAL },
		{ "fc00::1", NET_ADDR_PRIVATE },
		{ "fd12:3456::1", NET_ADDR_PRIVATE },
		{ "fec0::1", NET_ADDR_PRIVATE },
		{ "ff02::1", NET_ADDR_MULTICAST },
		{ "fd00:ec2::254", NET_ADDR_METADATA },
		{ "2001:db8::1", NET_ADDR_RESERVED },
		{ "2001:0:4136:e378::1", NET_ADDR_RESERVED },
		{ "::ffff:127.0.0.1", NET_ADDR_LOOPBACK },
		{ "::ffff:7f00:1", NET_ADDR_LOOPBACK },
		{ "::ffff:169.254.169.254", NET_ADDR_METADATA },
		{ "::ffff:10.1.2.3", NET_ADDR_PRIVATE },
		{ "::ffff:8.8.8.8", NET_ADDR_PUBLIC },
		{ "::127.0.0.1", NET_ADDR_LOOPBACK },
		{ "::8.8.8.8", NET_ADDR_RESERVED },
		{ "64:ff9b::a9fe:a9fe", NET_ADDR_METADATA },
		{ "64:ff9b::808:808", NET_ADDR_PUBLIC },
		{ "2002:7f00:1::", NET_ADDR_LOOPBACK },
		{ "2002:0a00:0001::1", NET_ADDR_PRIVATE },
		{ "2002:0808:0808::1", NET_ADDR_PUBLIC },
		{ "100::1", NET_ADDR_RESERVED },
		{ "4000::1", NET_ADDR_RESERVED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(cls(cases[i].addr) == cases[i].c, "%s: %s, want %s", cases[i].addr,
			      net_addr_class_name(cls(cases[i].addr)),
			      net_addr_class_name(cases[i].c));
}
END_TEST

START_TEST(only_strict_literals_parse)
{
	static const char *const bad[] = { "",	     "1.2.3",	   "0x7f.0.0.1", "017.0.0.1",
					   "127.1",  "2130706433", "1.2.3.4.5",	 "256.1.1.1",
					   "fe80::1%eth0", "[::1]", "::g",	 " 1.2.3.4",
					   "1.2.3.4 " };
	struct net_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(net_addr_parse(bad[i], strlen(bad[i]), &a) < 0, "%s parsed", bad[i]);
	ck_assert_int_eq(net_addr_parse("1.2.3.4\0x", 9, &a), -1);
	ck_assert_int_eq(net_addr_parse("10.0.0.1", 8, &a), 0);
	ck_assert_int_eq(a.family, 4);
}
END_TEST

START_TEST(the_allow_list_matches_address_block_and_port)
{
	struct net_allowlist l;
	struct net_addr a;
	char err[200];
	const char *s = " 127.0.0.1:18999, 10.1.0.0/16 ,[::1]:8080,[fd00::/8]";

	ck_assert_int_eq(net_allowlist_parse(s, strlen(s), &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.n, 4);
	net_addr_parse("127.0.0.1", 9, &a);
	ck_assert(net_allowlist_match(&l, &a, 18999));
	ck_assert(!net_allowlist_match(&l, &a, 80));
	net_addr_parse("10.1.200.3", 10, &a);
	ck_assert(net_allowlist_match(&l, &a, 1));
	net_addr_parse("10.2.0.1", 8, &a);
	ck_assert(!net_allowlist_match(&l, &a, 1));
	net_addr_parse("::1", 3, &a);
	ck_assert(net_allowlist_match(&l, &a, 8080));
	ck_assert(!net_allowlist_match(&l, &a, 8081));
	net_addr_parse("fd99::5", 7, &a);
	ck_assert(net_allowlist_match(&l, &a, 443));
	ck_assert_int_eq(net_allowlist_parse("", 0, &l, err, sizeof(err)), 0);
	ck_assert_uint_eq(l.n, 0);
	{
		static const char *const bad[] = { "localhost",	 "10.0.0.0/33", "1.2.3.4:0",
						   "1.2.3.4:x",	 "[::1",	"[::1]x",
						   "::1/129",	 "1.2.3.4/",	"1.2.3.4:70000" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err[0] = '\0';
			ck_assert_msg(net_allowlist_parse(bad[i], strlen(bad[i]), &l, err,
							  sizeof(err)) < 0,
				      "%s accepted", bad[i]);
			ck_assert_ptr_nonnull(strstr(err, "FLOWSEND_WEBHOOK_ALLOW"));
		}
	}
}
END_TEST

START_TEST(urls_are_split_strictly)
{
	struct net_url u;
	const char *why;
	static const char *const bad[] = {
		"",
		"ftp://example.com/",
		"https://",
		"http://user@example.com/",
		"http://a:b@example.com/",
		"http://exa mple.com/",
		"http://example.com\\@evil.com/",
		"http://example.com:0/",
		"http://example.com:65536/",
		"http://example.com:/",
		"http://example.com:8a/",
		"http://[::1/",
		"http://[not::an::addr]/",
		"http://[1.2.3.4]/",
		"http://-bad.example/",
		"http://bad-.example/",
		"http://a..b/",
		"http://ex_ample.com/",
		"http://0x7f.1/",
		"http://2130706433/",
		"http://127.1/",
		"http://017.0.0.1/",
		"http://1.2.3.4.5/",
		"http://ex\xc3\xa4mple.com/",
		"http://example.com/\x01",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(net_url_parse(bad[i], strlen(bad[i]), &u, &why) < 0, "%s accepted",
			      bad[i]);
		ck_assert_ptr_nonnull(why);
	}
	ck_assert_int_eq(net_url_parse("HTTPS://Hooks.Example.COM./in?a=b#c", 35, &u, &why), 0);
	ck_assert(u.https);
	ck_assert_str_eq(u.host, "hooks.example.com.");
	ck_assert_uint_eq(u.port, 443);
	ck_assert(!u.host_is_addr);
	ck_assert_int_eq(net_url_parse("http://10.0.0.1:8080", 20, &u, &why), 0);
	ck_assert(u.host_is_addr);
	ck_assert_uint_eq(u.port, 8080);
	ck_assert_int_eq(net_addr_classify(&u.addr), NET_ADDR_PRIVATE);
	ck_assert_int_eq(net_url_parse("http://[::ffff:7f00:1]:81/x", 27, &u, &why), 0);
	ck_assert(u.host_is_addr);
	ck_assert_str_eq(u.host, "::ffff:7f00:1");
	ck_assert_int_eq(net_addr_classify(&u.addr), NET_ADDR_LOOPBACK);
	ck_assert_int_eq(net_url_parse("http://example.com?x", 20, &u, &why), 0);
	ck_assert_str_eq(u.host, "example.com");
	{
		char big[2100];
		memset(big, 'a', sizeof(big));
		memcpy(big, "http://", 7);
		ck_assert_int_eq(net_url_parse(big, sizeof(big), &u, &why), -1);
	}
}
END_TEST

START_TEST(the_policy_refuses_before_sending)
{
	struct net_policy p;
	struct net_result r;
	char err[200];
	const char *why;
	CURL *h = curl_easy_init();

	unsetenv("FLOWSEND_WEBHOOK_ALLOW");
	setenv("FLOWSEND_ENV", "test", 1);
	ck_assert_int_eq(net_policy_load(&p, err, sizeof(err)), 0);
	p.dns_server = "";
	ck_assert_int_eq(net_url_check(&p, "http://127.0.0.1:9/", 19, &why), -1);
	ck_assert_int_eq(net_url_check(&p, "http://hooks.example.com/", 25, &why), 0);
	net_post(h, &p, "http://169.254.169.254/latest", NULL, "{}", 2, &r);
	ck_assert_int_eq(r.outcome, NET_REJECTED);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.error, "cloud metadata"));
	net_post(h, &p, "http://[::ffff:10.0.0.1]/", NULL, "{}", 2, &r);
	ck_assert_int_eq(r.outcome, NET_REJECTED);
	ck_assert_ptr_nonnull(strstr(r.error, "private"));
	net_post(h, &p, "gopher://x/", NULL, "{}", 2, &r);
	ck_assert_int_eq(r.outcome, NET_REJECTED);

	/* Allowed, but nothing listens there: a connection failure, retried. */
	setenv("FLOWSEND_WEBHOOK_ALLOW", "127.0.0.1:9", 1);
	ck_assert_int_eq(net_policy_load(&p, err, sizeof(err)), 0);
	p.dns_server = "";
	ck_assert_int_eq(net_url_check(&p, "http://127.0.0.1:9/", 19, &why), 0);
	ck_assert_int_eq(net_url_check(&p, "http://127.0.0.1:10/", 20, &why), -1);
	net_post(h, &p, "http://127.0.0.1:9/", NULL, "{}", 2, &r);
	ck_assert_int_eq(r.outcome, NET_RETRY);

	setenv("FLOWSEND_ENV", "production", 1);
	ck_assert_int_eq(net_policy_load(&p, err, sizeof(err)), 0);
	ck_assert_int_eq(net_url_check(&p, "http://hooks.example.com/", 25, &why), -1);
	ck_assert_int_eq(net_url_check(&p, "https://hooks.example.com/", 26, &why), 0);
	net_post(h, &p, "http://127.0.0.1:9/", NULL, "{}", 2, &r);
	ck_assert_int_eq(r.outcome, NET_REJECTED);
	ck_assert_ptr_nonnull(strstr(r.error, "https"));

	setenv("FLOWSEND_WEBHOOK_ALLOW", "nonsense", 1);
	ck_assert_int_eq(net_policy_load(&p, err, sizeof(err)), -1);
	unsetenv("FLOWSEND_WEBHOOK_ALLOW");
	setenv("FLOWSEND_ENV", "test", 1);
	curl_easy_cleanup(h);
}
END_TEST

START_TEST(random_inputs_never_crash)
{
	unsigned seed = 21;
	char buf[300];
	struct net_url u;
	struct net_addr a;
	struct net_allowlist l;
	const char *why;
	char err[200];
	static const char alphabet[] = "htps:/[]0123456789abcdefx.:@%-_?#,/ \\\x01\xff";

	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand_r(&seed) % 64);
		for (size_t k = 0; k < n; k++)
			buf[k] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		if (i % 2)
			memcpy(buf, "http://", n < 7 ? n : 7);
		(void)net_url_parse(buf, n, &u, &why);
		(void)net_addr_parse(buf, n, &a);
		(void)net_allowlist_parse(buf, n, &l, err, sizeof(err));
	}
}
END_TEST

Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("net");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, addresses_are_classified);
	tcase_add_test(tc, only_strict_literals_parse);
	tcase_add_test(tc, the_allow_list_matches_address_block_and_port);
	tcase_add_test(tc, urls_are_split_strictly);
	tcase_add_test(tc, the_policy_refuses_before_sending);
	tcase_add_test(tc, random_inputs_never_crash);
	suite_add_tcase(s, tc);
	return s;
}
