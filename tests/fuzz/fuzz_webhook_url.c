/* libFuzzer target: the outbound webhook URL parser, the address literal
 * parser and classifier, and the FLOWSEND_WEBHOOK_ALLOW parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_url u;
	struct net_addr a;
	struct net_allowlist l;
	const char *why = NULL;
	char err[200], text[64];

	if (net_url_parse((const char *)data, size, &u, &why) == 0) {
		/* What passes names a host that fits and a real port. */
		size_t n = strlen(u.host);
		if (n == 0 || n > NET_HOST_MAX || u.port < 1 || u.port > 65535)
			__builtin_trap();
		if (u.host_is_addr && u.addr.family != 4 && u.addr.family != 6)
			__builtin_trap();
		if (u.host_is_addr)
			(void)net_addr_classify(&u.addr);
	} else if (!why) {
		__builtin_trap();
	}
	if (net_addr_parse((const char *)data, size, &a) == 0) {
		struct net_addr b;
		net_addr_format(&a, text, sizeof(text));
		/* The text form parses back to the same address. */
		if (net_addr_parse(text, strlen(text), &b) != 0 || b.family != a.family ||
		    memcmp(a.b, b.b, 16) != 0)
			__builtin_trap();
		if ((int)net_addr_classify(&a) < 0 || (int)net_addr_classify(&a) > NET_ADDR_RESERVED)
			__builtin_trap();
	}
	if (net_allowlist_parse((const char *)data, size, &l, err, sizeof(err)) == 0) {
		if (l.n > NET_ALLOW_MAX)
			__builtin_trap();
		for (size_t i = 0; i < l.n; i++)
			(void)net_allowlist_match(&l, &l.e[i].addr, l.e[i].port);
	}
	return 0;
}
