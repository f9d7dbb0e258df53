/* Matched case-insensitively as substrings. An empty agent counts as a
 * scanner too: mail clients and browsers always send one. Apple's and
 * Google's image proxies are left out on purpose: they fetch the pixel when
 * the person opens the message, so their hits are real opens. */
#include "mail/scanners.h"

#include <string.h>

static const char *const agents[] = {
	"barracuda",        "mimecast",       "proofpoint",   "symantec",     "messagelabs",
	"trendmicro",       "trend micro",    "sophos",       "fortiguard",   "forcepoint",
	"safelinks",        "microsoft office protocol discovery", "bingpreview",
	"ms-office",        "cisco ironport", "ironport",     "zscaler",      "checkpoint",
	"avanan",           "appriver",       "spamtitan",    "mailscanner",  "linkscanner",
	"urldefense",       "egress",         "hornetsecurity", "vade",       "libredtail",
	"bot",              "crawler",        "spider",       "scanner",
	"python-requests",  "python-urllib",  "curl/",        "wget/",        "go-http-client",
	"java/",            "okhttp",         "libwww-perl",  "httpclient",   "headlesschrome",
	"phantomjs",        "axios/",         "node-fetch",
};

/* The agent lower-cased once (its first 511 bytes: the names sit early),
 * then one pass over it: at each byte, only the names that start with that
 * byte are compared (a strstr per name was a tenth of a hit's cost). */
int scanner_agent(const char *ua)
{
	enum { NAGENTS = sizeof(agents) / sizeof(agents[0]) };
	/* For each byte, the names that start with it: a list of indexes + 1
	 * ending at 0, made on the first call (the table is constant). */
	static unsigned char starts[256][NAGENTS + 1];
	static size_t lens[NAGENTS];
	static int ready;
	char low[512];
	size_t n = 0;

	if (!ready) {
		size_t fill[256] = { 0 };

		for (size_t i = 0; i < NAGENTS; i++) {
			unsigned char c = (unsigned char)agents[i][0];
			starts[c][fill[c]++] = (unsigned char)(i + 1);
			lens[i] = strlen(agents[i]);
		}
		ready = 1;
	}
	if (!ua || !*ua)
		return 1;
	for (; ua[n] && n < sizeof(low) - 1; n++)
		low[n] = ua[n] >= 'A' && ua[n] <= 'Z' ? (char)(ua[n] + 32) : ua[n];
	low[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		const unsigned char *cand = starts[(unsigned char)low[i]];

		for (; *cand; cand++) {
			size_t a = (size_t)*cand - 1;
			/* every name has 3 bytes or more; low[i + 1] is at worst the NUL */
			if (low[i + 1] == agents[a][1] && lens[a] <= n - i &&
			    memcmp(low + i + 2, agents[a] + 2, lens[a] - 2) == 0)
				return 1;
		}
	}
	return 0;
}
