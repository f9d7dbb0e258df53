/* make bench: DKIM signatures per second on one core (CPU time) over a ~10 KB
 * message from mail_message_build, RSA-2048: our signer (key parsed once)
 * beside libopendkim's dkim_sign, which parses the key in every dkim_eom.
 * Prints "<ours/s> <libopendkim/s> <message bytes> <raw RSA signs/s>", the
 * last the RSA-2048 private-key operation alone (one prepared EVP_PKEY_CTX,
 * what `openssl speed rsa2048` measures) in the same run, so the signer's
 * own overhead reads as a ratio whatever else the machine is doing. */
#include <dkim.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mail/dkim.h"
#include "mail/dkim_check.h"
#include "mail/message.h"
#include "sample_message.h"

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	struct strbuf priv = STRBUF_INIT, pub = STRBUF_INIT, html = STRBUF_INIT,
		      text = STRBUF_INIT, msg = STRBUF_INIT, sig = STRBUF_INIT;
	struct mail_message m = { 0 };
	struct dkim_signer *s;
	struct dkim_check_result r;
	char err[256], keys[] = "/tmp/fs-bench-dkim-XXXXXX";
	double t0, ours, theirs, raw;
	DKIM_LIB *lib;
	FILE *f;
	int fd;

	if (n < 1 || dkim_keygen(2048, &priv, &pub) < 0)
		return 1;
	bench_sample_message(&m, &html, &text, 40, (long long)time(NULL));
	s = dkim_signer_new("shop.example", "bench", priv.buf, priv.len, err, sizeof(err));
	if (!s || mail_message_build(&m, &msg) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}

	t0 = cpu_seconds();
	for (long i = 0; i < n; i++) {
		strbuf_reset(&sig);
		if (dkim_signer_sign(s, msg.buf, msg.len, m.date, &sig) < 0)
			return 1;
	}
	ours = (double)n / (cpu_seconds() - t0);

	/* What is measured must verify. */
	fd = mkstemp(keys);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return 1;
	fprintf(f, "bench._domainkey.shop.example v=DKIM1; k=rsa; p=%s\n", pub.buf);
	fclose(f);
	strbuf_append(&sig, msg.buf, msg.len);
	if (dkim_check(sig.buf, sig.len, keys, &r) < 0 || !r.pass) {
		fprintf(stderr, "the benchmarked signature does not verify: %s\n", r.detail);
		unlink(keys);
		return 1;
	}
	unlink(keys);

	lib = dkim_init(NULL, NULL);
	t0 = cpu_seconds();
	for (long i = 0; i < n; i++) {
		DKIM_STAT st;
		DKIM *d = dkim_sign(lib, (const unsigned char *)"bench", NULL,
				    (dkim_sigkey_t)priv.buf, (const unsigned char *)"bench",
				    (const unsigned char *)"shop.example", DKIM_CANON_RELAXED,
				    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
		unsigned char *h;
		size_t hl;
		if (!d || dkim_chunk(d, (unsigned char *)msg.buf, msg.len) != DKIM_STAT_OK ||
		    dkim_chunk(d, NULL, 0) != DKIM_STAT_OK || dkim_eom(d, NULL) != DKIM_STAT_OK ||
		    dkim_getsighdr_d(d, 16, &h, &hl) != DKIM_STAT_OK)
			return 1;
		dkim_free(d);
	}
	theirs = (double)n / (cpu_seconds() - t0);
	dkim_close(lib);

	{
		BIO *bio = BIO_new_mem_buf(priv.buf, (int)priv.len);
		EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
		EVP_PKEY_CTX *pk = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
		unsigned char digest[32] = { 1 }, out[1024];
		if (!pk || EVP_PKEY_sign_init(pk) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(pk, RSA_PKCS1_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(pk, EVP_sha256()) <= 0)
			return 1;
		t0 = cpu_seconds();
		for (long i = 0; i < n; i++) {
			size_t olen = sizeof(out);
			if (EVP_PKEY_sign(pk, out, &olen, digest, sizeof(digest)) <= 0)
				return 1;
		}
		raw = (double)n / (cpu_seconds() - t0);
		EVP_PKEY_CTX_free(pk);
		EVP_PKEY_free(key);
		BIO_free(bio);
	}

	printf("%.0f %.0f %zu %.0f\n", ours, theirs, msg.len, raw);
	dkim_signer_free(s);
	strbuf_free(&priv);
	strbuf_free(&pub);
	strbuf_free(&html);
	strbuf_free(&text);
	strbuf_free(&msg);
	strbuf_free(&sig);
	return 0;
}
