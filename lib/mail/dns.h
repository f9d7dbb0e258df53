/* TXT lookups for sender-domain checks (the DKIM key record), through the
 * system's resolver or a chosen server (FLOWSEND_DNS_SERVER), with short
 * timeouts: a request waits on it. */
#ifndef FS_DNS_H
#define FS_DNS_H

#include <stddef.h>

#include "core/strbuf.h"

enum dns_result {
	DNS_FOUND,       /* one or more TXT records */
	DNS_NO_NAME,     /* NXDOMAIN */
	DNS_NO_DATA,     /* the name exists, with no TXT record */
	DNS_UNAVAILABLE, /* no answer, SERVFAIL, or a malformed reply: try later */
	DNS_BAD_SERVER,  /* the server setting is not host or host:port */
};

/* Look up the TXT records at name. server is "" for the system's resolver,
 * or an IPv4 address, "host" or "host:port" (host resolved by the system, an
 * IPv4 address used). Each record's strings are joined into one value and
 * the values appended to out, NUL after each; *count is how many. */
enum dns_result dns_txt(const char *server, const char *name, struct strbuf *out, size_t *count);
/* Parse server ("host" or "host:port", port 1..65535, 53 by default) into
 * an IPv4 address in dotted form (addr, 16 bytes) and a port. 0 or -1. */
int dns_server_parse(const char *server, char addr[16], unsigned *port);
/* Split a DNS reply (answer[0..len)) into TXT values as dns_txt does. -1
 * when it is malformed; otherwise how many TXT records it held. Pure, for
 * tests and the fuzzer. */
long dns_parse_txt_reply(const unsigned char *answer, size_t len, struct strbuf *out);

#endif
