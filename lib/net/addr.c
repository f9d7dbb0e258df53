/* Address classes, the allow-list and URL parts for outbound webhooks: pure
 * code, every length checked, no allocation. */
#include "net/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int net_addr_parse(const char *s, size_t len, struct net_addr *out)
{
	char buf[64];

	if (!s || len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	/* inet_pton's AF_INET form is already strict dotted-decimal (4 parts,
	 * decimal, each <= 255); leading zeros are refused here as well, since
	 * other parsers read them as octal. */
	if (inet_pton(AF_INET, buf, out->b) == 1) {
		for (size_t i = 0; i + 1 < len; i++)
			if (buf[i] == '0' && (i == 0 || buf[i - 1] == '.') && buf[i + 1] >= '0' &&
			    buf[i + 1] <= '9')
				return -1;
		out->family = 4;
		return 0;
	}
	if (strchr(buf, ':') && !strchr(buf, '%') && inet_pton(AF_INET6, buf, out->b) == 1) {
		out->family = 6;
		return 0;
	}
	return -1;
}

static int in4(const unsigned char *b, unsigned a0, unsigned a1, unsigned a2, unsigned a3, int bits)
{
	unsigned long x = ((unsigned long)b[0] << 24) | ((unsigned long)b[1] << 16) |
			  ((unsigned long)b[2] << 8) | b[3];
	unsigned long y = ((unsigned long)a0 << 24) | ((unsigned long)a1 << 16) |
			  ((unsigned long)a2 << 8) | a3;
	unsigned long mask = bits == 0 ? 0 : (0xFFFFFFFFul << (32 - bits)) & 0xFFFFFFFFul;
	return (x & mask) == (y & mask);
}

static enum net_addr_class classify4(const unsigned char *b)
{
	if (in4(b, 169, 254, 169, 254, 32) || in4(b, 168, 63, 129, 16, 32) ||
	    in4(b, 100, 100, 100, 200, 32) || in4(b, 192, 0, 0, 192, 32))
		return NET_ADDR_METADATA;
	if (in4(b, 0, 0, 0, 0, 8))
		return NET_ADDR_UNSPECIFIED;
	if (in4(b, 127, 0, 0, 0, 8))
		return NET_ADDR_LOOPBACK;
	if (in4(b, 10, 0, 0, 0, 8) || in4(b, 172, 16, 0, 0, 12) || in4(b, 192, 168, 0, 0, 16) ||
	    in4(b, 100, 64, 0, 0, 10))
		return NET_ADDR_PRIVATE;
	if (in4(b, 169, 254, 0, 0, 16))
		return NET_ADDR_LINK_LOCAL;
	if (in4(b, 224, 0, 0, 0, 4))
		return NET_ADDR_MULTICAST;
	if (in4(b, 192, 0, 0, 0, 24) || in4(b, 192, 0, 2, 0, 24) || in4(b, 192, 88, 99, 0, 24) ||
	    in4(b, 198, 18, 0, 0, 15) || in4(b, 198, 51, 100, 0, 24) || in4(b, 203, 0, 113, 0, 24) ||
	    in4(b, 240, 0, 0, 0, 4))
		return NET_ADDR_RESERVED; /* 240/4 includes 255.255.255.255 */
	return NET_ADDR_PUBLIC;
}

static int in6(const unsigned char *b, const unsigned char *p, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(b, p, (size_t)whole) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xFF << (8 - rest));
		return (b[whole] & mask) == (p[whole] & mask);
	}
	return 1;
}

enum net_addr_class net_addr_classify(const struct net_addr *a)
{
	static const unsigned char zero[16] = { 0 };
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xFF, 0x9B };
	static const unsigned char six2four[2] = { 0x20, 0x02 };
	static const unsigned char teredo[4] = { 0x20, 0x01, 0x00, 0x00 };
	static const unsigned char doc[4] = { 0x20, 0x01, 0x0D, 0xB8 };
	static const unsigned char discard[8] = { 0x01, 0x00 };
	static const unsigned char ula[1] = { 0xFC }, linkl[2] = { 0xFE, 0x80 },
				   sitel[2] = { 0xFE, 0xC0 }, mcast[1] = { 0xFF };
	static const unsigned char aws6[16] = { 0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0,
						 0,    0,    0,    0,    0, 0, 0x02, 0x54 };
	const unsigned char *b = a->b;

	if (a->family == 4)
		return classify4(b);
	if (a->family != 6)
		return NET_ADDR_RESERVED;
	if (memcmp(b, zero, 16) == 0)
		return NET_ADDR_UNSPECIFIED;
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return NET_ADDR_LOOPBACK;
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
		return classify4(b + 12);
	if (memcmp(b, zero, 12) == 0) /* IPv4-compatible (deprecated) */
		return classify4(b + 12) == NET_ADDR_PUBLIC ? NET_ADDR_RESERVED : classify4(b + 12);
	if (in6(b, six2four, 16))
		return classify4(b + 2) == NET_ADDR_PUBLIC ? NET_ADDR_PUBLIC : classify4(b + 2);
	if (memcmp(b, aws6, 16) == 0)
		return NET_ADDR_METADATA;
	if (in6(b, ula, 7) || in6(b, sitel, 10))
		return NET_ADDR_PRIVATE;
	if (in6(b, linkl, 10))
		return NET_ADDR_LINK_LOCAL;
	if (in6(b, mcast, 8))
		return NET_ADDR_MULTICAST;
	if (in6(b, teredo, 32) || in6(b, doc, 32) || in6(b, discard, 64))
		return NET_ADDR_RESERVED;
	/* Only global unicast (2000::/3) is public. */
	if ((b[0] & 0xE0) != 0x20)
		return NET_ADDR_RESERVED;
	return NET_ADDR_PUBLIC;
}

const char *net_addr_class_name(enum net_addr_class c)
{
	switch (c) {
	case NET_ADDR_PUBLIC:
		return "public";
	case NET_ADDR_UNSPECIFIED:
		return "unspecified";
	case NET_ADDR_LOOPBACK:
		return "loopback";
	case NET_ADDR_PRIVATE:
		return "private";
	case NET_ADDR_LINK_LOCAL:
		return "link-local";
	case NET_ADDR_MULTICAST:
		return "multicast";
	case NET_ADDR_METADATA:
		return "cloud metadata";
	case NET_ADDR_RESERVED:
		return "reserved";
	}
	return "reserved";
}

void net_addr_format(const struct net_addr *a, char *out, size_t size)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	snprintf(out, size, "%s", buf);
}

/* ---- allow-list ---------------------------------------------------------- */

static int parse_port(const char *s, size_t len, unsigned *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int parse_entry(const char *s, size_t len, struct net_allow_entry *e)
{
	const char *addr = s, *slash;
	size_t alen = len;

	memset(e, 0, sizeof(*e));
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return -1;
		addr = s + 1;
		alen = (size_t)(close - addr);
		if ((size_t)(close + 1 - s) < len) {
			if (close[1] != ':' ||
			    parse_port(close + 2, len - (size_t)(close + 2 - s), &e->port) < 0)
				return -1;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
			alen = (size_t)(colon - s); /* IPv4 with a port */
			if (parse_port(colon + 1, len - alen - 1, &e->port) < 0)
				return -1;
		}
	}
	slash = memchr(addr, '/', alen);
	if (slash) {
		size_t plen = alen - (size_t)(slash - addr) - 1;
		unsigned long bits = 0;
		if (plen == 0 || plen > 3)
			return -1;
		for (size_t i = 0; i < plen; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9')
				return -1;
			bits = bits * 10 + (unsigned long)(slash[1 + i] - '0');
		}
		alen = (size_t)(slash - addr);
		if (net_addr_parse(addr, alen, &e->addr) < 0)
			return -1;
		if (bits > (e->addr.family == 4 ? 32ul : 128ul))
			return -1;
		e->prefix = (int)bits;
		return 0;
	}
	if (net_addr_parse(addr, alen, &e->addr) < 0)
		return -1;
	e->prefix = e->addr.family == 4 ? 32 : 128;
	return 0;
}

int net_allowlist_parse(const char *s, size_t len, struct net_allowlist *out, char *err,
			size_t errlen)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		size_t start, end;
		while (i < len && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && s[i] != ',')
			i++;
		end = i;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		if (out->n == NET_ALLOW_MAX) {
			snprintf(err, errlen, "FLOWSEND_WEBHOOK_ALLOW: at most %d entries",
				 NET_ALLOW_MAX);
			return -1;
		}
		if (parse_entry(s + start, end - start, &out->e[out->n]) < 0) {
			int shown = end - start > 64 ? 64 : (int)(end - start);
			snprintf(err, errlen,
				 "FLOWSEND_WEBHOOK_ALLOW: \"%.*s\" is not an address, CIDR block or "
				 "either with a port",
				 shown, s + start);
			return -1;
		}
		out->n++;
	}
	return 0;
}

int net_allowlist_match(const struct net_allowlist *l, const struct net_addr *a, unsigned port)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct net_allow_entry *e = &l->e[i];
		if (e->addr.family != a->family || (e->port && e->port != port))
			continue;
		if (in6(a->b, e->addr.b, e->prefix))
			return 1;
	}
	return 0;
}

/* ---- URLs ---------------------------------------------------------------- */

static int lower_prefix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	if (len < n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != p[i])
			return 0;
	}
	return 1;
}

int net_url_parse(const char *url, size_t len, struct net_url *out, const char **why)
{
	size_t i, hstart, hend, auth_end;

	memset(out, 0, sizeof(*out));
	if (!url || len == 0) {
		*why = "Enter a URL";
		return -1;
	}
	if (len > 2048) {
		*why = "The URL is longer than 2048 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7F || c == '\\') {
			*why = "The URL contains a space, a control or non-ASCII character, or a "
			       "backslash (percent-encode them)";
			return -1;
		}
	}
	if (lower_prefix(url, len, "https://")) {
		out->https = 1;
		i = 8;
		out->port = 443;
	} else if (lower_prefix(url, len, "http://")) {
		i = 7;
		out->port = 80;
	} else {
		*why = "The URL must start with http:// or https://";
		return -1;
	}
	auth_end = i;
	while (auth_end < len && url[auth_end] != '/' && url[auth_end] != '?' && url[auth_end] != '#')
		auth_end++;
	if (memchr(url + i, '@', auth_end - i)) {
		*why = "The URL must not carry a user name or password";
		return -1;
	}
	hstart = i;
	if (i < auth_end && url[i] == '[') {
		const char *close = memchr(url + i, ']', auth_end - i);
		if (!close) {
			*why = "The URL's IPv6 address lacks its closing bracket";
			return -1;
		}
		hstart = i + 1;
		hend = (size_t)(close - url);
		if (net_addr_parse(url + hstart, hend - hstart, &out->addr) < 0 ||
		    out->addr.family != 6) {
			*why = "The URL's IPv6 address is not valid";
			return -1;
		}
		out->host_is_addr = 1;
		i = hend + 1;
	} else {
		while (i < auth_end && url[i] != ':')
			i++;
		hend = i;
	}
	if (hend == hstart) {
		*why = "The URL has no host";
		return -1;
	}
	if (hend - hstart > NET_HOST_MAX) {
		*why = "The URL's host name is longer than 253 characters";
		return -1;
	}
	if (i < auth_end) {
		if (url[i] != ':' || parse_port(url + i + 1, auth_end - i - 1, &out->port) < 0) {
			*why = "The URL's port must be a number from 1 to 65535";
			return -1;
		}
	}
	for (size_t k = hstart; k < hend; k++) {
		char c = url[k];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out->host[k - hstart] = c;
	}
	out->host[hend - hstart] = '\0';
	if (out->host_is_addr)
		return 0;
	{
		/* A name: labels of letters, digits and hyphens. */
		const char *h = out->host;
		size_t hl = strlen(h), lstart = 0, last_start = 0;
		if (hl > 1 && h[hl - 1] == '.')
			hl--; /* "example.com." */
		for (size_t k = 0; k <= hl; k++) {
			char c = k < hl ? h[k] : '.';
			if (c == '.') {
				size_t l = k - lstart;
				if (l == 0 || l > 63 || h[lstart] == '-' || h[k - 1] == '-') {
					*why = "The URL's host is not a valid name";
					return -1;
				}
				last_start = lstart;
				lstart = k + 1;
			} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
				*why = "The URL's host is not a valid name (write an internationalised "
				       "name in its punycode form)";
				return -1;
			}
		}
		/* A last label that starts with a digit makes it an address; only
		 * dotted-decimal IPv4 is accepted as one. */
		if (h[last_start] >= '0' && h[last_start] <= '9') {
			if (net_addr_parse(h, hl, &out->addr) < 0) {
				*why = "Write an IPv4 address in the URL in dotted-decimal form "
				       "(e.g. 203.0.113.7)";
				return -1;
			}
			out->host_is_addr = 1;
			out->host[hl] = '\0';
		}
	}
	return 0;
}
