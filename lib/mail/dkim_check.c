/* libopendkim as the judge of our signatures: the same library a receiving
 * MTA's opendkim milter runs. Query options live on the library handle, so
 * a call sets them and verifies under one lock. */
#include "mail/dkim_check.h"

#include <dkim.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static DKIM_LIB *lib;

static void lib_init(void)
{
	lib = dkim_init(NULL, NULL);
}

static void copy_str(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

int dkim_check(const char *msg, size_t len, const char *key_file, struct dkim_check_result *r)
{
	DKIM *d = NULL;
	DKIM_SIGINFO *sig;
	DKIM_STAT st;
	dkim_query_t method = key_file ? DKIM_QUERY_FILE : DKIM_QUERY_DNS;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (pthread_once(&lib_once, lib_init) != 0 || !lib) {
		snprintf(r->detail, sizeof(r->detail), "libopendkim could not start");
		return -1;
	}
	pthread_mutex_lock(&lib_lock);
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof(method)) !=
		    DKIM_STAT_OK ||
	    (key_file && dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, (void *)key_file,
				      strlen(key_file)) != DKIM_STAT_OK)) {
		snprintf(r->detail, sizeof(r->detail), "libopendkim refused the query options");
		goto out;
	}
	d = dkim_verify(lib, (const unsigned char *)"flowsend-check", NULL, &st);
	if (!d) {
		snprintf(r->detail, sizeof(r->detail), "dkim_verify: %s", dkim_getresultstr(st));
		goto out;
	}
	/* dkim_chunk splits the header block itself, as a milter is fed. */
	st = dkim_chunk(d, (unsigned char *)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	ret = 0;
	sig = dkim_getsignature(d);
	if (sig) {
		copy_str(r->domain, sizeof(r->domain), dkim_sig_getdomain(sig));
		copy_str(r->selector, sizeof(r->selector), dkim_sig_getselector(sig));
		r->from_signed = dkim_sig_hdrsigned(sig, (unsigned char *)"from");
		r->pass = st == DKIM_STAT_OK && DKIM_SIG_CHECK(sig);
		snprintf(r->detail, sizeof(r->detail), "%s; signature: %s; body hash: %s",
			 dkim_getresultstr(st), dkim_sig_geterrorstr(dkim_sig_geterror(sig)),
			 dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH      ? "matches"
			 : dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH ? "does not match"
								      : "untested");
	} else {
		snprintf(r->detail, sizeof(r->detail), "%s%s%s", dkim_getresultstr(st),
			 dkim_geterror(d) ? ": " : "", dkim_geterror(d) ? dkim_geterror(d) : "");
	}
out:
	if (d)
		dkim_free(d);
	pthread_mutex_unlock(&lib_lock);
	return ret;
}
