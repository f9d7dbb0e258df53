/* The one outbound HTTP POST for webhooks (libcurl): the URL's name resolved
 * once, every address checked against the policy, the connection pinned to
 * a checked address (CURLOPT_RESOLVE, verified again in the socket
 * callback), no redirects, no proxies, short timeouts, a capped read. */
#ifndef FS_NET_OUTBOUND_H
#define FS_NET_OUTBOUND_H

#include <curl/curl.h>
#include <stddef.h>

#include "net/addr.h"

struct net_policy {
	int https_only;                /* FLOWSEND_ENV=production */
	struct net_allowlist allow;    /* FLOWSEND_WEBHOOK_ALLOW */
	const char *dns_server;        /* FLOWSEND_DNS_SERVER ("" or NULL: the system's) */
	long connect_timeout_ms;       /* FLOWSEND_WEBHOOK_CONNECT_TIMEOUT_MS, default 3000 */
	long timeout_ms;               /* FLOWSEND_WEBHOOK_TIMEOUT_MS, default 10000 */
	size_t response_max;           /* bytes of the answer read, then the call is cut */
};

/* The policy from the environment (see README "Outbound webhooks"). 0, or -1
 * with err set when FLOWSEND_WEBHOOK_ALLOW is malformed. */
int net_policy_load(struct net_policy *p, char *err, size_t errlen);

/* Check a URL's form and, without resolving, its literal address: 0 when it
 * may be stored, -1 with *why (a tenant-facing sentence) otherwise. */
int net_url_check(const struct net_policy *p, const char *url, size_t len, const char **why);

enum net_outcome {
	NET_DELIVERED,   /* 2xx */
	NET_RETRY,       /* 5xx, a timeout, no connection, DNS unavailable */
	NET_REJECTED,    /* 4xx, a redirect, or a refused destination: final */
};

struct net_result {
	enum net_outcome outcome;
	long status;            /* HTTP status, 0 when none came */
	long duration_ms;
	char error[256];        /* "" on success */
};

/* POST body (JSON) to url with the extra headers ("Name: value", NULL-ended).
 * handle is reused between calls (its connections stay warm). Always fills r. */
void net_post(CURL *handle, const struct net_policy *p, const char *url, const char *const *headers,
	      const char *body, size_t body_len, struct net_result *r);

/* Resolve host to at most max addresses (through p->dns_server when set).
 * How many, or -1 when the name does not resolve now. */
int net_resolve(const struct net_policy *p, const char *host, struct net_addr *out, int max);

#endif
