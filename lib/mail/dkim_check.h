/* What a receiving server makes of a message's DKIM signature, decided by
 * libopendkim's verifier (not by our signer's code), with keys from a file
 * (DKIM_QUERY_FILE: tests, no DNS) or from DNS. One libopendkim library
 * handle per process, made on first use. */
#ifndef FS_DKIM_CHECK_H
#define FS_DKIM_CHECK_H

#include <stddef.h>

struct dkim_check_result {
	int pass;            /* 1: the first signature verified, body hash included */
	int from_signed;     /* h= of that signature covers From */
	char domain[254];    /* its d=, "" when the message has no signature */
	char selector[64];   /* its s= */
	char detail[200];    /* libopendkim's verdict in words */
};

/* Verify msg[0..len) (CRLF line ends). key_file holds one line per key,
 * "<selector>._domainkey.<domain> v=DKIM1; k=rsa; p=<base64>"; NULL asks
 * DNS. 0 with r filled (pass or not), -1 when the check itself could not
 * run (detail says why). */
int dkim_check(const char *msg, size_t len, const char *key_file, struct dkim_check_result *r);

#endif
