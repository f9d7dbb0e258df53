/* DNS TXT lookups with glibc's resolver state of our own (res_ninit), so a
 * test or a deployment can name its server and port; the reply is read with
 * ns_initparse/ns_parserr, which check every length against the packet. */
#include "mail/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define REPLY_MAX 65536

int dns_server_parse(const char *server, char addr[16], unsigned *port)
{
	char host[256];
	const char *colon;
	size_t hlen;
	struct in_addr in;

	if (!server || !*server)
		return -1;
	colon = strchr(server, ':');
	hlen = colon ? (size_t)(colon - server) : strlen(server);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, server, hlen);
	host[hlen] = '\0';
	*port = 53;
	if (colon) {
		char *end;
		unsigned long p;
		if (colon[1] < '0' || colon[1] > '9')
			return -1;
		p = strtoul(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -1;
		*port = (unsigned)p;
	}
	if (inet_pton(AF_INET, host, &in) != 1) {
		struct addrinfo hints = { 0 }, *res = NULL;
		hints.ai_family = AF_INET;
		hints.ai_socktype = SOCK_DGRAM;
		if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
			return -1;
		in = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	return inet_ntop(AF_INET, &in, addr, 16) ? 0 : -1;
}

long dns_parse_txt_reply(const unsigned char *answer, size_t len, struct strbuf *out)
{
	ns_msg msg;
	long found = 0;
	int n;

	if (len > REPLY_MAX || ns_initparse(answer, (int)len, &msg) < 0)
		return -1;
	n = ns_msg_count(msg, ns_s_an);
	for (int i = 0; i < n; i++) {
		ns_rr rr;
		const unsigned char *rd, *end;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return -1;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue; /* a CNAME on the way, say */
		rd = ns_rr_rdata(rr);
		end = rd + ns_rr_rdlen(rr);
		while (rd < end) {
			size_t k = *rd++;
			if (k > (size_t)(end - rd))
				return -1;
			for (size_t j = 0; j < k; j++) /* a NUL would end the value early */
				strbuf_appendc(out, rd[j] ? (char)rd[j] : '?');
			rd += k;
		}
		strbuf_appendc(out, '\0');
		found++;
	}
	return out->oom ? -1 : found;
}

enum dns_result dns_txt(const char *server, const char *name, struct strbuf *out, size_t *count)
{
	struct __res_state st;
	unsigned char *answer = NULL;
	enum dns_result ret = DNS_UNAVAILABLE;
	int n;

	*count = 0;
	memset(&st, 0, sizeof(st));
	if (server && *server) {
		char addr[16];
		unsigned port;
		if (dns_server_parse(server, addr, &port) < 0)
			return DNS_BAD_SERVER;
		if (res_ninit(&st) < 0)
			return DNS_UNAVAILABLE;
		st.nscount = 1;
		memset(&st.nsaddr_list[0], 0, sizeof(st.nsaddr_list[0]));
		st.nsaddr_list[0].sin_family = AF_INET;
		st.nsaddr_list[0].sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, addr, &st.nsaddr_list[0].sin_addr);
	} else if (res_ninit(&st) < 0) {
		return DNS_UNAVAILABLE;
	}
	/* A request waits on this: two tries, two seconds each, per server. */
	st.retrans = 2;
	st.retry = 2;
	st.options |= RES_USE_EDNS0;
	answer = malloc(REPLY_MAX);
	if (!answer)
		goto out;
	n = res_nquery(&st, name, ns_c_in, ns_t_txt, answer, REPLY_MAX);
	if (n < 0) {
		if (st.res_h_errno == HOST_NOT_FOUND)
			ret = DNS_NO_NAME;
		else if (st.res_h_errno == NO_DATA)
			ret = DNS_NO_DATA;
		goto out;
	}
	if (n > REPLY_MAX)
		goto out;
	{
		size_t before = out->len;
		long k = dns_parse_txt_reply(answer, (size_t)n, out);
		if (k < 0) {
			if (out->buf) {
				out->len = before;
				out->buf[before] = '\0';
			}
			goto out;
		}
		*count = (size_t)k;
		ret = k > 0 ? DNS_FOUND : DNS_NO_DATA;
	}
out:
	free(answer);
	res_nclose(&st);
	return ret;
}
