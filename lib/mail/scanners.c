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
 * then a plain strstr per name: a few microseconds on a hot path. */
int scanner_agent(const char *ua)
{
	char low[512];
	size_t n = 0;

	if (!ua || !*ua)
		return 1;
	for (; ua[n] && n < sizeof(low) - 1; n++)
		low[n] = ua[n] >= 'A' && ua[n] <= 'Z' ? (char)(ua[n] + 32) : ua[n];
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (strstr(low, agents[i]))
			return 1;
	return 0;
}
