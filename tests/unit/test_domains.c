/* Sender domains' pure parts: domain validation (punycode included), sealing
 * private keys, reading DNS TXT replies, the DNS server setting. */
#include <arpa/nameser.h>
#include <string.h>

#include "mail/dns.h"
#include "services/domains.h"
#include "unit.h"

static void ok(const char *in, const char *want)
{
	char out[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;

	ck_assert_msg(domain_normalize(in, strlen(in), out, sizeof(out), &why) == 0, "%s: %s", in,
		      why);
	ck_assert_str_eq(out, want);
}

static void bad(const char *in, size_t len, const char *why_part)
{
	char out[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;

	ck_assert_msg(domain_normalize(in, len, out, sizeof(out), &why) == -1, "%s accepted", in);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, why_part) != NULL, "%s: want '%s' in '%s'", in, why_part, why);
}

START_TEST(domains_normalize)
{
	char long_ok[DOMAIN_NAME_MAX + 2];

	ok("example.com", "example.com");
	ok("Mail.Example.COM", "mail.example.com");
	ok("example.com.", "example.com");
	ok("a-b.c-d.example", "a-b.c-d.example");
	ok("123.example", "123.example");
	ok("xn--caf-dma.example", "xn--caf-dma.example");
	ok("XN--CAF-DMA.example", "xn--caf-dma.example");
	ok("xn--bcher-kva.example", "xn--bcher-kva.example");   /* bücher */
	ok("xn--mnchen-3ya.de", "xn--mnchen-3ya.de");           /* münchen */
	ok("xn--fiqs8s.xn--fiqz9s", "xn--fiqs8s.xn--fiqz9s");   /* 中国.中國 */
	ok("xn--ls8h.example", "xn--ls8h.example");             /* an emoji */

	bad("", 0, "Enter a domain");
	bad("example", 7, "with a dot");
	bad("example.", 8, "with a dot");
	bad(".", 1, "empty label");
	bad("example..com", 12, "empty label");
	bad("example.com..", 13, "empty label");
	bad(".example.com", 12, "empty label");
	bad("-a.example", 10, "hyphen");
	bad("a-.example", 10, "hyphen");
	bad("a_b.example", 11, "letters, digits");
	bad("a b.example", 11, "letters, digits");
	bad("a\tb.example", 11, "letters, digits");
	bad("a\r\nb.example", 12, "letters, digits");
	bad("a\0b.example", 11, "letters, digits");
	bad("caf\xc3\xa9.example", 13, "punycode");
	bad("\xff.example", 9, "punycode");
	bad("1.2.3.4", 7, "IP address");
	bad("example.123", 11, "IP address");
	bad("ab--cd.example", 14, "punycode");
	bad("xn--.example", 12, "hyphen");
	bad("xn--a.example", 13, "punycode");          /* U+0080, a control character */
	bad("xn--bc.example", 14, "punycode");         /* runs out of digits */
	bad("xn--99999999999999.example", 26, "punycode"); /* overflows */
	bad("xn--zzzzzzzzzzzzzzzzzz.example", 30, "punycode");
	bad("xn--abc-.example", 16, "hyphen");
	bad("xn--ABC\x01.example", 16, "letters, digits");
	bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 72, "63");

	/* The length limit, with and without the trailing dot. */
	memset(long_ok, 'a', sizeof(long_ok));
	for (size_t i = 60; i < DOMAIN_NAME_MAX; i += 61)
		long_ok[i] = '.';
	memcpy(long_ok + DOMAIN_NAME_MAX - 8, ".example", 8);
	long_ok[DOMAIN_NAME_MAX] = '.';
	long_ok[DOMAIN_NAME_MAX + 1] = '\0';
	{
		char out[DOMAIN_NAME_MAX + 1];
		const char *why;
		ck_assert_int_eq(domain_normalize(long_ok, DOMAIN_NAME_MAX + 1, out, sizeof(out), &why),
				 0);
		ck_assert_uint_eq(strlen(out), DOMAIN_NAME_MAX);
		long_ok[DOMAIN_NAME_MAX] = 'x';
		bad(long_ok, DOMAIN_NAME_MAX + 1, "too long");
		/* A buffer too small is refused, not overrun. */
		ck_assert_int_eq(domain_normalize("example.com", 11, out, 11, &why), -1);
	}
}
END_TEST

START_TEST(domains_seal_and_open)
{
	unsigned char key[32], other[32];
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n";
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, opened = STRBUF_INIT;

	for (int i = 0; i < 32; i++) {
		key[i] = (unsigned char)i;
		other[i] = (unsigned char)(i + 1);
	}
	ck_assert_int_eq(domain_key_seal(key, pem, sizeof(pem) - 1, &a), 0);
	ck_assert_int_eq(domain_key_seal(key, pem, sizeof(pem) - 1, &b), 0);
	ck_assert(strncmp(a.buf, "v1:", 3) == 0);
	ck_assert_ptr_null(strstr(a.buf, "PRIVATE"));
	ck_assert_str_ne(a.buf, b.buf); /* a fresh nonce each time */
	ck_assert_int_eq(domain_key_open(key, a.buf, &opened), 0);
	ck_assert_str_eq(opened.buf, pem);
	strbuf_reset(&opened);
	ck_assert_int_eq(domain_key_open(other, a.buf, &opened), -1);
	/* Altered, cut, or not ours at all. */
	a.buf[10] = a.buf[10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(domain_key_open(key, a.buf, &opened), -1);
	b.buf[b.len - 8] = '\0';
	ck_assert_int_eq(domain_key_open(key, b.buf, &opened), -1);
	ck_assert_int_eq(domain_key_open(key, "v1:", &opened), -1);
	ck_assert_int_eq(domain_key_open(key, "v1:AAAA", &opened), -1);
	ck_assert_int_eq(domain_key_open(key, "v1:!!!!", &opened), -1);
	ck_assert_int_eq(domain_key_open(key, pem, &opened), -1);
	ck_assert_int_eq(domain_key_open(key, NULL, &opened), -1);
	ck_assert_int_eq(domain_key_seal(key, pem, 0, &opened), -1);
	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&opened);
}
END_TEST

/* A DNS reply with one question and the given answer records (TXT rdata). */
static size_t reply(unsigned char *buf, const unsigned char *const *rdata, const size_t *rdlen,
		    int n, int type)
{
	static const unsigned char head[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const unsigned char qname[] = { 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
	size_t o = 0;

	memcpy(buf, head, sizeof(head));
	buf[7] = (unsigned char)n;
	o = sizeof(head);
	memcpy(buf + o, qname, sizeof(qname));
	o += sizeof(qname);
	buf[o++] = 0;
	buf[o++] = ns_t_txt;
	buf[o++] = 0;
	buf[o++] = 1;
	for (int i = 0; i < n; i++) {
		buf[o++] = 0xc0; /* the question's name */
		buf[o++] = 12;
		buf[o++] = 0;
		buf[o++] = (unsigned char)type;
		buf[o++] = 0;
		buf[o++] = 1;
		memset(buf + o, 0, 3);
		buf[o + 3] = 60;
		o += 4;
		buf[o++] = (unsigned char)(rdlen[i] >> 8);
		buf[o++] = (unsigned char)rdlen[i];
		memcpy(buf + o, rdata[i], rdlen[i]);
		o += rdlen[i];
	}
	return o;
}

START_TEST(dns_reply_reading)
{
	unsigned char buf[2048];
	static const unsigned char r1[] = { 5, 'v', '=', 'D', 'K', 'I', 3, 'M', '1', ';' };
	static const unsigned char r2[] = { 0, 3, 'a', '\0', 'b' };
	static const unsigned char cut[] = { 9, 'a', 'b' };
	const unsigned char *rd[2] = { r1, r2 };
	size_t rl[2] = { sizeof(r1), sizeof(r2) }, n;
	struct strbuf out = STRBUF_INIT;

	n = reply(buf, rd, rl, 2, ns_t_txt);
	ck_assert_int_eq(dns_parse_txt_reply(buf, n, &out), 2);
	/* Strings of a record joined; a NUL inside shown as '?'. */
	ck_assert_uint_eq(out.len, 9 + 4);
	ck_assert_str_eq(out.buf, "v=DKIM1;");
	ck_assert_str_eq(out.buf + 9, "a?b");
	strbuf_reset(&out);
	/* A string longer than its record, a reply cut short, garbage. */
	rd[0] = cut;
	rl[0] = sizeof(cut);
	n = reply(buf, rd, rl, 1, ns_t_txt);
	ck_assert_int_eq(dns_parse_txt_reply(buf, n, &out), -1);
	n = reply(buf, rd, rl, 1, ns_t_txt);
	ck_assert_int_eq(dns_parse_txt_reply(buf, n - 4, &out), -1);
	ck_assert_int_eq(dns_parse_txt_reply((const unsigned char *)"xyz", 3, &out), -1);
	/* Records of another type are passed over. */
	strbuf_reset(&out);
	rd[0] = r1;
	rl[0] = sizeof(r1);
	n = reply(buf, rd, rl, 1, ns_t_cname);
	ck_assert_int_eq(dns_parse_txt_reply(buf, n, &out), 0);
	strbuf_free(&out);
}
END_TEST

START_TEST(dns_server_setting)
{
	char addr[16];
	unsigned port;

	ck_assert_int_eq(dns_server_parse("127.0.0.1", addr, &port), 0);
	ck_assert_str_eq(addr, "127.0.0.1");
	ck_assert_uint_eq(port, 53);
	ck_assert_int_eq(dns_server_parse("10.1.2.3:5353", addr, &port), 0);
	ck_assert_str_eq(addr, "10.1.2.3");
	ck_assert_uint_eq(port, 5353);
	ck_assert_int_eq(dns_server_parse("localhost:53", addr, &port), 0);
	ck_assert_str_eq(addr, "127.0.0.1");
	ck_assert_int_eq(dns_server_parse("", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse(":53", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:0", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:65536", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:53x", addr, &port), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:-1", addr, &port), -1);
	{
		struct strbuf out = STRBUF_INIT;
		size_t count = 9;
		ck_assert_int_eq(dns_txt("bad:port", "a.example", &out, &count), DNS_BAD_SERVER);
		ck_assert_uint_eq(count, 0);
		strbuf_free(&out);
	}
}
END_TEST

Suite *domains_unit_suite(void)
{
	Suite *s = suite_create("domains_unit");
	TCase *tc = tcase_create("domains_unit");

	tcase_add_test(tc, domains_normalize);
	tcase_add_test(tc, domains_seal_and_open);
	tcase_add_test(tc, dns_reply_reading);
	tcase_add_test(tc, dns_server_setting);
	suite_add_tcase(s, tc);
	return s;
}
