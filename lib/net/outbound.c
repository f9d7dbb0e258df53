/* Outbound webhook POSTs: resolve once, check every address, pin the
 * connection to a checked one and check it again as the socket opens, so no
 * second lookup (or a URL parser that reads the host differently) can send
 * the call elsewhere. */
#include "net/outbound.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/timeutil.h"
#include "mail/dns.h"

#define NET_ADDRS_MAX 8
#define REPLY_MAX 4096

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max)
		return def;
	return v;
}

int net_policy_load(struct net_policy *p, char *err, size_t errlen)
{
	const char *allow = getenv("FLOWSEND_WEBHOOK_ALLOW");
	const char *env = getenv("FLOWSEND_ENV");

	memset(p, 0, sizeof(*p));
	p->https_only = env && strcmp(env, "production") == 0;
	p->dns_server = getenv("FLOWSEND_DNS_SERVER");
	p->connect_timeout_ms = env_long("FLOWSEND_WEBHOOK_CONNECT_TIMEOUT_MS", 3000, 50, 60000);
	p->timeout_ms = env_long("FLOWSEND_WEBHOOK_TIMEOUT_MS", 10000, 100, 120000);
	p->response_max = 64 * 1024;
	if (allow && net_allowlist_parse(allow, strlen(allow), &p->allow, err, errlen) < 0)
		return -1;
	return 0;
}

static const char *refusal(const struct net_policy *p, const struct net_addr *a, unsigned port)
{
	enum net_addr_class c = net_addr_classify(a);

	if (c == NET_ADDR_PUBLIC || net_allowlist_match(&p->allow, a, port))
		return NULL;
	return net_addr_class_name(c);
}

int net_url_check(const struct net_policy *p, const char *url, size_t len, const char **why)
{
	struct net_url u;

	if (net_url_parse(url, len, &u, why) < 0)
		return -1;
	if (p->https_only && !u.https) {
		*why = "The URL must use https://";
		return -1;
	}
	if (u.host_is_addr && refusal(p, &u.addr, u.port)) {
		*why = "The URL points at a loopback, private, link-local, multicast, reserved or "
		       "cloud metadata address, which webhooks may not reach";
		return -1;
	}
	return 0;
}

/* ---- resolving ----------------------------------------------------------- */

static int query(struct __res_state *st, const char *host, int type, struct net_addr *out, int n,
		 int max)
{
	unsigned char answer[REPLY_MAX];
	ns_msg msg;
	int len = res_nquery(st, host, ns_c_in, type, answer, sizeof(answer));

	if (len < 0 || len > (int)sizeof(answer) || ns_initparse(answer, len, &msg) < 0)
		return n;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && n < max; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_class(rr) != ns_c_in || (int)ns_rr_type(rr) != type)
			continue; /* a CNAME on the way */
		if (type == ns_t_a && ns_rr_rdlen(rr) == 4) {
			out[n].family = 4;
			memset(out[n].b, 0, sizeof(out[n].b));
			memcpy(out[n++].b, ns_rr_rdata(rr), 4);
		} else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
			out[n].family = 6;
			memcpy(out[n++].b, ns_rr_rdata(rr), 16);
		}
	}
	return n;
}

int net_resolve(const struct net_policy *p, const char *host, struct net_addr *out, int max)
{
	int n = 0;

	if (p->dns_server && *p->dns_server) {
		struct __res_state st;
		char addr[16];
		unsigned port;
		memset(&st, 0, sizeof(st));
		if (dns_server_parse(p->dns_server, addr, &port) < 0 || res_ninit(&st) < 0)
			return -1;
		st.nscount = 1;
		memset(&st.nsaddr_list[0], 0, sizeof(st.nsaddr_list[0]));
		st.nsaddr_list[0].sin_family = AF_INET;
		st.nsaddr_list[0].sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, addr, &st.nsaddr_list[0].sin_addr);
		st.retrans = 1;
		st.retry = 2;
		st.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
		n = query(&st, host, ns_t_a, out, n, max);
		n = query(&st, host, ns_t_aaaa, out, n, max);
		res_nclose(&st);
	} else {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, NULL, &hints, &res) != 0)
			return -1;
		for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
			memset(&out[n], 0, sizeof(out[n]));
			if (ai->ai_family == AF_INET) {
				out[n].family = 4;
				memcpy(out[n++].b,
				       &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
			} else if (ai->ai_family == AF_INET6) {
				out[n].family = 6;
				memcpy(out[n++].b,
				       &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, 16);
			}
		}
		freeaddrinfo(res);
	}
	return n > 0 ? n : -1;
}

/* ---- the call ------------------------------------------------------------ */

struct pin {
	struct net_addr addr;
	int refused;          /* the socket callback saw another address */
};

/* curl opens every connection here: only to the checked address. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *sa)
{
	struct pin *pin = clientp;
	int ok = 0;

	if (purpose == CURLSOCKTYPE_IPCXN) {
		if (sa->family == AF_INET && pin->addr.family == 4 &&
		    sa->addrlen >= (unsigned)sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *in = (const void *)&sa->addr;
			ok = memcmp(&in->sin_addr, pin->addr.b, 4) == 0;
		} else if (sa->family == AF_INET6 && pin->addr.family == 6 &&
			   sa->addrlen >= (unsigned)sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *in6 = (const void *)&sa->addr;
			ok = memcmp(&in6->sin6_addr, pin->addr.b, 16) == 0;
		}
	}
	if (!ok) {
		pin->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype, sa->protocol);
}

struct sink {
	size_t got, max;
	int cut;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sink *s = userp;
	size_t n = size * nmemb;

	(void)data;
	if (n > s->max - s->got) {
		s->cut = 1;
		return 0; /* stop reading: the status is all we keep */
	}
	s->got += n;
	return n;
}

static void result(struct net_result *r, enum net_outcome o, double t0, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void result(struct net_result *r, enum net_outcome o, double t0, const char *fmt, ...)
{
	va_list ap;

	r->outcome = o;
	r->duration_ms = (long)(time_monotonic_ms() - t0);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void net_post(CURL *h, const struct net_policy *p, const char *url, const char *const *headers,
	      const char *body, size_t body_len, struct net_result *r)
{
	double t0 = time_monotonic_ms();
	struct net_addr addrs[NET_ADDRS_MAX];
	struct net_url u;
	struct pin pin;
	struct sink sink = { 0, p->response_max, 0 };
	struct curl_slist *hl = NULL, *resolve = NULL;
	const char *why = NULL;
	char text[64], entry[NET_HOST_MAX + 80];
	int n;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	memset(&pin, 0, sizeof(pin));
	if (!url || net_url_parse(url, strlen(url), &u, &why) < 0)
		return result(r, NET_REJECTED, t0, "%s", why ? why : "No URL");
	if (p->https_only && !u.https)
		return result(r, NET_REJECTED, t0, "The URL must use https://");
	if (u.host_is_addr) {
		addrs[0] = u.addr;
		n = 1;
	} else if ((n = net_resolve(p, u.host, addrs, NET_ADDRS_MAX)) < 0) {
		return result(r, NET_RETRY, t0, "Could not resolve %s", u.host);
	}
	/* Every address the name has must be allowed: a name that also points
	 * inside is refused whichever address would have been picked. */
	for (int i = 0; i < n; i++) {
		const char *cls = refusal(p, &addrs[i], u.port);
		if (cls) {
			net_addr_format(&addrs[i], text, sizeof(text));
			return result(r, NET_REJECTED, t0,
				      "Refused: %s is %s, a %s address webhooks may not reach",
				      u.host, text, cls);
		}
	}
	pin.addr = addrs[0];
	net_addr_format(&pin.addr, text, sizeof(text));
	curl_easy_reset(h);
	if (!u.host_is_addr) {
		snprintf(entry, sizeof(entry), "%s:%u:%s%s%s", u.host, u.port,
			 pin.addr.family == 6 ? "[" : "", text, pin.addr.family == 6 ? "]" : "");
		resolve = curl_slist_append(NULL, entry);
		curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
	}
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "FlowSend-Webhooks/1");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &pin);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (pin.refused) {
		r->status = 0;
		result(r, NET_REJECTED, t0, "Refused: the connection would not go to the checked "
					    "address");
	} else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink.cut && r->status > 0)) {
		r->status = rc == CURLE_OPERATION_TIMEDOUT ? 0 : r->status;
		result(r, NET_RETRY, t0, "%s",
		       rc == CURLE_OPERATION_TIMEDOUT
			       ? "Timed out"
			       : curl_easy_strerror(rc));
	} else if (r->status >= 200 && r->status < 300) {
		result(r, NET_DELIVERED, t0, "%s", "");
	} else if (r->status >= 300 && r->status < 400) {
		result(r, NET_REJECTED, t0, "Redirects are not followed (HTTP %ld)", r->status);
	} else if (r->status >= 500) {
		result(r, NET_RETRY, t0, "HTTP %ld", r->status);
	} else {
		result(r, NET_REJECTED, t0, "HTTP %ld", r->status);
	}
	curl_slist_free_all(hl);
	/* A pin left in the handle's DNS cache is replaced by the next call's
	 * for the same host and port, and the socket callback checks anyway. */
	curl_easy_setopt(h, CURLOPT_RESOLVE, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(resolve);
}
