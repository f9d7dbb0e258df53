/* Where an outbound webhook may go: classifying IP addresses (loopback,
 * private, link-local, multicast, cloud metadata, reserved; IPv6 and the IPv4
 * forms embedded in it), the operator's allow-list and the URL's parts. Pure
 * functions over (data, size), unit-tested and fuzzed. */
#ifndef FS_NET_ADDR_H
#define FS_NET_ADDR_H

#include <stddef.h>

enum net_addr_class {
	NET_ADDR_PUBLIC = 0,
	NET_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
	NET_ADDR_LOOPBACK,    /* 127.0.0.0/8, ::1 */
	NET_ADDR_PRIVATE,     /* RFC 1918, 100.64.0.0/10 (CGNAT), fc00::/7, fec0::/10 */
	NET_ADDR_LINK_LOCAL,  /* 169.254.0.0/16, fe80::/10 */
	NET_ADDR_MULTICAST,   /* 224.0.0.0/4, ff00::/8 */
	NET_ADDR_METADATA,    /* 169.254.169.254, 168.63.129.16, fd00:ec2::254, 100.100.100.200 */
	NET_ADDR_RESERVED,    /* documentation, benchmarking, 240/4, broadcast, Teredo, ... */
};

struct net_addr {
	int family;            /* 4 or 6 */
	unsigned char b[16];   /* network order; IPv4 in b[0..4) */
};

/* A literal address, strictly: dotted-decimal IPv4 (no octal, hex or short
 * forms) or IPv6 without brackets or zone. 0, or -1. */
int net_addr_parse(const char *s, size_t len, struct net_addr *out);
/* The class of a; IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
 * address they carry. */
enum net_addr_class net_addr_classify(const struct net_addr *a);
/* "loopback", "private", ...: for error messages. */
const char *net_addr_class_name(enum net_addr_class c);
/* Text form into out (at least 46 bytes). */
void net_addr_format(const struct net_addr *a, char *out, size_t size);

/* FLOWSEND_WEBHOOK_ALLOW: comma-separated entries, each an address or CIDR
 * block, optionally with a port: "127.0.0.1:18999", "10.1.0.0/16",
 * "[::1]:8080", "[fd00::/8]". Addresses listed are reachable even though
 * they are not public. */
#define NET_ALLOW_MAX 16
struct net_allow_entry {
	struct net_addr addr;
	int prefix;            /* bits */
	unsigned port;         /* 0: any */
};
struct net_allowlist {
	size_t n;
	struct net_allow_entry e[NET_ALLOW_MAX];
};
/* 0, or -1 with a message naming the bad entry in err. */
int net_allowlist_parse(const char *s, size_t len, struct net_allowlist *out, char *err,
			size_t errlen);
/* 1 when a:port is on the list. */
int net_allowlist_match(const struct net_allowlist *l, const struct net_addr *a, unsigned port);

/* The parts of an http(s) URL that decide where it goes. */
#define NET_HOST_MAX 253
struct net_url {
	int https;
	char host[NET_HOST_MAX + 1];    /* lower-cased; an IPv6 literal without brackets */
	int host_is_addr;
	struct net_addr addr;           /* when host_is_addr */
	unsigned port;                  /* the default one when absent */
};
/* Parse url[0..len): http or https only, no user info, a host name of
 * letters, digits, hyphens and dots (or an address literal), an optional
 * port, then a path, query and fragment without spaces, controls or
 * backslashes. Numeric host forms other than dotted-decimal IPv4 are refused
 * (a resolver would read "0x7f.1" as loopback). 0, or -1 with *why. */
int net_url_parse(const char *url, size_t len, struct net_url *out, const char **why);

#endif
