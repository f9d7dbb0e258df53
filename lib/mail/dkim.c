/* DKIM signatures with a key parsed once: relaxed header and body
 * canonicalization (RFC 6376 3.4.2, 3.4.4) fed straight into SHA-256, and an
 * RSA PKCS#1 v1.5 signature of the header hash with OpenSSL. */
#include "mail/dkim.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_MAX (64 * 1024)
#define FOLD_AT 76 /* a signature line stays within 78 octets, the RFC 5322 advice */

struct dkim_signer {
	EVP_PKEY *key;
	/* Session 12: fetched and set up once. A signature duplicates the
	 * prepared context (EVP_PKEY_CTX_dup, which only reads it, so threads may
	 * share it) instead of EVP_PKEY_CTX_new + sign_init + padding + digest,
	 * whose provider look-ups ran per message; SHA-256 is fetched once
	 * instead of implicitly at each EVP_DigestInit_ex(EVP_sha256()). */
	EVP_MD *sha256;
	EVP_PKEY_CTX *sign_ctx;
	size_t sig_len; /* the RSA modulus in bytes */
	char domain[DKIM_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX + 1];
};

/* The header fields signed, in h= order; From is listed once more at the end. */
static const char *const signed_fields[] = {
	"From", "Reply-To", "To", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe",
	"List-Unsubscribe-Post",
};
#define NSIGNED (sizeof(signed_fields) / sizeof(signed_fields[0]))
/* A field name may appear this many times before the message is refused:
 * ours write each once, and h= must stay a sane length. */
#define MAX_SAME_FIELD 4

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int name_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

int dkim_name_ok(const char *s, size_t len, int underscore)
{
	size_t label = 0;

	if (!s || len == 0 || len > DKIM_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0) || (c == '_' && underscore)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

static void set_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char ssl[160] = "";

	if (e)
		ERR_error_string_n(e, ssl, sizeof(ssl));
	ERR_clear_error();
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s", what, *ssl ? ": " : "", ssl);
}

struct dkim_signer *dkim_signer_new(const char *domain, const char *selector, const char *pem,
				    size_t pem_len, char *err, size_t errlen)
{
	struct dkim_signer *s = NULL;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	int bits;

	if (!domain || !dkim_name_ok(domain, strlen(domain), 0)) {
		set_err(err, errlen, "the DKIM domain is not a DNS name");
		return NULL;
	}
	if (!selector || strlen(selector) > DKIM_SELECTOR_MAX ||
	    !dkim_name_ok(selector, strlen(selector), 1)) {
		set_err(err, errlen, "the DKIM selector is not a DNS label");
		return NULL;
	}
	if (!pem || pem_len == 0 || pem_len > KEY_FILE_MAX) {
		set_err(err, errlen, "no DKIM private key");
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (!bio) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!key) {
		set_err(err, errlen, "the DKIM private key is not a PEM private key");
		goto out;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		set_err(err, errlen, "the DKIM private key is not an RSA key");
		goto out;
	}
	bits = EVP_PKEY_get_bits(key);
	if (bits < 1024 || bits > 8192) {
		set_err(err, errlen, "the DKIM RSA key must have 1024 to 8192 bits");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	s->key = key;
	key = NULL;
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->sign_ctx = s->sha256 ? EVP_PKEY_CTX_new(s->key, NULL) : NULL;
	if (!s->sign_ctx || EVP_PKEY_sign_init(s->sign_ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(s->sign_ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(s->sign_ctx, s->sha256) <= 0) {
		set_err(err, errlen, "the DKIM key cannot be set up for RSA signatures");
		dkim_signer_free(s);
		s = NULL;
		goto out;
	}
	s->sig_len = (size_t)EVP_PKEY_get_size(s->key);
	snprintf(s->domain, sizeof(s->domain), "%s", domain);
	snprintf(s->selector, sizeof(s->selector), "%s", selector);
	for (char *p = s->domain; *p; p++)
		*p = lower(*p);
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	return s;
}

struct dkim_signer *dkim_signer_from_file(const char *domain, const char *selector,
					  const char *path, char *err, size_t errlen)
{
	struct dkim_signer *s = NULL;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = fopen(path, "rb");

	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "cannot open the DKIM key file %s: %s", path,
				 strerror(errno));
		return NULL;
	}
	buf = malloc(KEY_FILE_MAX + 1);
	if (buf)
		n = fread(buf, 1, KEY_FILE_MAX + 1, f);
	if (!buf || ferror(f) || n == 0 || n > KEY_FILE_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "the DKIM key file %s is empty, unreadable or over %d bytes",
				 path, KEY_FILE_MAX);
	} else {
		s = dkim_signer_new(domain, selector, buf, n, err, errlen);
	}
	if (buf) {
		OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
		free(buf);
	}
	fclose(f);
	return s;
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_CTX_free(s->sign_ctx);
	EVP_MD_free(s->sha256);
	EVP_PKEY_free(s->key);
	free(s);
}

const char *dkim_signer_domain(const struct dkim_signer *s)
{
	return s->domain;
}

const char *dkim_signer_selector(const struct dkim_signer *s)
{
	return s->selector;
}

/* Standard padded base64 of in[0..len) appended to out. */
static int append_base64(struct strbuf *out, const unsigned char *in, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);

	if (len > (size_t)1 << 28 || strbuf_grow(out, need + 1) < 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)out->buf + out->len, in, (int)len);
	out->len += need;
	out->buf[out->len] = '\0';
	return 0;
}

int dkim_signer_public_key(const struct dkim_signer *s, struct strbuf *out)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(s->key, &der);
	int rc;

	if (n <= 0)
		return -1;
	rc = append_base64(out, der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

/* ---- canonicalization ------------------------------------------------- */

/* Relaxed header canonicalization of one field (name ':' value, folds
 * included, without its final CRLF), appended to out; crlf adds the line end. */
static void canon_header(struct strbuf *out, const char *f, size_t n, int crlf)
{
	const char *colon = memchr(f, ':', n), *end = f + n;
	size_t nl = (size_t)(colon - f);
	int space = 0, started = 0;

	while (nl > 0 && is_wsp(f[nl - 1]))
		nl--;
	if (strbuf_grow(out, n + 3) < 0)
		return;
	for (size_t i = 0; i < nl; i++)
		out->buf[out->len++] = lower(f[i]);
	out->buf[out->len++] = ':';
	for (const char *p = colon + 1; p < end; p++) {
		if (*p == '\r' || *p == '\n')
			continue; /* unfolding: the header block was checked to hold CRLF folds only */
		if (is_wsp(*p)) {
			space = 1;
			continue;
		}
		if (space && started)
			out->buf[out->len++] = ' ';
		space = 0;
		started = 1;
		out->buf[out->len++] = *p;
	}
	if (crlf) {
		out->buf[out->len++] = '\r';
		out->buf[out->len++] = '\n';
	}
	out->buf[out->len] = '\0';
}

/* The canonical body goes to the digest through a staging buffer: a line
 * and its CRLF were two EVP_DigestUpdate calls (about 300 for a 10 KB
 * message, each through the provider's dispatch); now one per 4 KB. */
struct hbuf {
	EVP_MD_CTX *md;
	size_t n;
	int failed;
	char b[4096];
};

static void hput(struct hbuf *h, const char *p, size_t n)
{
	if (h->n + n > sizeof(h->b)) {
		if (h->n && !EVP_DigestUpdate(h->md, h->b, h->n))
			h->failed = 1;
		h->n = 0;
		if (n >= sizeof(h->b)) {
			if (!EVP_DigestUpdate(h->md, p, n))
				h->failed = 1;
			return;
		}
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

/* Relaxed body canonicalization hashed as it goes: runs of blanks become one
 * space, blanks at line ends go, empty lines at the end go, and a last line
 * without CRLF gets one. Unchanged stretches go to the digest whole. -1 for
 * a bare CR or LF, which verifiers canonicalize differently. */
static int hash_body(EVP_MD_CTX *md, const char *p, const char *end)
{
	static const char crlfs[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
	size_t pending = 0; /* empty lines held back until a non-empty one comes */
	struct hbuf h;

	h.md = md;
	h.n = 0;
	h.failed = 0;
	while (p < end) {
		const char *eol = p, *q, *span;
		int has_crlf = 0;

		for (;;) {
			eol = memchr(eol, '\r', (size_t)(end - eol));
			if (!eol) {
				eol = end;
				break;
			}
			if (eol + 1 < end && eol[1] == '\n') {
				has_crlf = 1;
				break;
			}
			return -1; /* a bare CR: receivers disagree on what it means */
		}
		if (memchr(p, '\n', (size_t)(eol - p)))
			return -1; /* a bare LF, likewise */
		q = eol;
		while (q > p && is_wsp(q[-1]))
			q--;
		if (q == p) {
			pending += has_crlf;
			p = has_crlf ? eol + 2 : eol;
			continue;
		}
		while (pending > 0) {
			size_t k = pending > 8 ? 8 : pending;
			hput(&h, crlfs, 2 * k);
			pending -= k;
		}
		span = p;
		for (const char *c = p; c < q; c++) {
			if (!is_wsp(*c) || (*c == ' ' && !is_wsp(c[1])))
				continue; /* c + 1 <= q - 1 here: q[-1] is not a blank */
			/* a tab, or a run of two or more blanks: one space instead */
			if (c > span)
				hput(&h, span, (size_t)(c - span));
			hput(&h, " ", 1);
			while (c + 1 < q && is_wsp(c[1]))
				c++;
			span = c + 1;
		}
		if (q > span)
			hput(&h, span, (size_t)(q - span));
		hput(&h, "\r\n", 2);
		p = has_crlf ? eol + 2 : eol;
	}
	if (h.n && !EVP_DigestUpdate(md, h.b, h.n))
		h.failed = 1;
	return h.failed ? -1 : 0;
}

/* One header field of the message: where it starts and its length without
 * the final CRLF. */
struct field {
	const char *at;
	size_t len;
	size_t namelen;
};

/* Split the header block into fields, remembering the ones we sign (up to
 * MAX_SAME_FIELD each, in order). The offset of the body, or -1 when the
 * block is malformed: a bare CR or LF, a line that is neither a field nor a
 * continuation, a field name that is not printable ASCII. */
static long scan_headers(const char *msg, size_t len, struct field found[][MAX_SAME_FIELD],
			 size_t count[])
{
	size_t i = 0;

	while (i < len) {
		size_t start = i, colon = 0;

		if (msg[i] == '\r') /* the empty line before the body */
			return (i + 1 < len && msg[i + 1] == '\n') ? (long)(i + 2) : -1;
		if (is_wsp(msg[i]))
			return -1; /* a continuation with no field before it */
		for (;;) {
			char c = msg[i];
			if (c == '\n')
				return -1;
			if (c == '\r') {
				if (i + 1 >= len || msg[i + 1] != '\n')
					return -1;
				if (i + 2 < len && is_wsp(msg[i + 2])) {
					i += 2; /* folded: the field goes on */
					continue;
				}
				break;
			}
			if (c == ':' && colon == 0)
				colon = i;
			if (++i >= len)
				return -1; /* no CRLF after the last field */
		}
		if (colon == 0)
			return -1;
		for (size_t k = start; k < colon; k++)
			if (msg[k] <= ' ' && !is_wsp(msg[k]))
				return -1;
		for (size_t k = start; k < colon; k++)
			if ((unsigned char)msg[k] >= 127)
				return -1;
		{
			size_t nl = colon - start;
			while (nl > 0 && is_wsp(msg[start + nl - 1]))
				nl--;
			for (size_t f = 0; f < NSIGNED; f++) {
				if (!name_eq(msg + start, nl, signed_fields[f]))
					continue;
				if (count[f] == MAX_SAME_FIELD)
					return -1;
				found[f][count[f]].at = msg + start;
				found[f][count[f]].len = i - start;
				found[f][count[f]].namelen = nl;
				count[f]++;
				break;
			}
		}
		i += 2;
	}
	return (long)len; /* headers only, no body */
}

/* Appends to a folded header, breaking lines before FOLD_AT. */
struct folder {
	struct strbuf *out;
	size_t col;
};

/* " " then s, or CRLF TAB then s when it would not fit on the line. */
static void fold_put(struct folder *w, const char *s, size_t n, int space)
{
	if (w->col + n + (space ? 1 : 0) > FOLD_AT) {
		strbuf_append(w->out, "\r\n\t", 3);
		w->col = 1;
	} else if (space) {
		strbuf_appendc(w->out, ' ');
		w->col++;
	}
	strbuf_append(w->out, s, n);
	w->col += n;
}

int dkim_signer_sign(const struct dkim_signer *s, const char *msg, size_t len, long long now,
		     struct strbuf *out)
{
	struct field found[NSIGNED][MAX_SAME_FIELD];
	size_t count[NSIGNED] = { 0 }, start = out->len;
	unsigned char bh[EVP_MAX_MD_SIZE], hh[EVP_MAX_MD_SIZE], *sig = NULL;
	unsigned int bhlen = 0, hhlen = 0;
	size_t siglen = 0;
	struct strbuf canon = STRBUF_INIT, b64 = STRBUF_INIT;
	struct folder w = { out, 0 };
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pk = NULL;
	char tag[64 + DKIM_DOMAIN_MAX];
	long body;
	int ret = -1;

	if (!s || !msg || out->oom)
		return -1;
	body = scan_headers(msg, len, found, count);
	if (body < 0 || count[0] != 1)
		goto out; /* unparsable, or not exactly one From (RFC 5322), which DKIM must sign */

	md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, s->sha256, NULL) ||
	    hash_body(md, msg + body, msg + len) < 0 || !EVP_DigestFinal_ex(md, bh, &bhlen))
		goto out;

	/* The signature field up to an empty b=, which the header hash covers. */
	strbuf_appends(out, "DKIM-Signature:");
	w.col = 15;
	fold_put(&w, "v=1;", 4, 1);
	fold_put(&w, "a=rsa-sha256;", 13, 1);
	fold_put(&w, "c=relaxed/relaxed;", 18, 1);
	snprintf(tag, sizeof(tag), "d=%s;", s->domain);
	fold_put(&w, tag, strlen(tag), 1);
	snprintf(tag, sizeof(tag), "s=%s;", s->selector);
	fold_put(&w, tag, strlen(tag), 1);
	snprintf(tag, sizeof(tag), "t=%lld;", now < 0 ? 0 : now);
	fold_put(&w, tag, strlen(tag), 1);
	{
		int first = 1;
		for (size_t f = 0; f <= NSIGNED; f++) {
			/* f == NSIGNED: From once more, which matches no field */
			const char *name = signed_fields[f == NSIGNED ? 0 : f];
			size_t times = f == NSIGNED ? 1 : count[f];
			for (size_t k = 0; k < times; k++) {
				snprintf(tag, sizeof(tag), "%s%s%s", first ? "h=" : ":", name,
					 f == NSIGNED ? ";" : "");
				fold_put(&w, tag, strlen(tag), first);
				first = 0;
			}
		}
	}
	strbuf_appends(&b64, "bh=");
	append_base64(&b64, bh, bhlen);
	strbuf_appendc(&b64, ';');
	if (b64.oom)
		goto out;
	fold_put(&w, b64.buf, b64.len, 1);
	fold_put(&w, "b=", 2, 1);
	if (out->oom)
		goto out;

	/* Header hash: each signed field, bottom-most instance first for a
	 * repeated name (RFC 6376 5.4.2), then this field without its CRLF. */
	if (strbuf_grow(&canon, 2048) < 0)
		goto out;
	for (size_t f = 0; f < NSIGNED; f++)
		for (size_t k = count[f]; k > 0; k--)
			canon_header(&canon, found[f][k - 1].at, found[f][k - 1].len, 1);
	canon_header(&canon, out->buf + start, out->len - start, 0);
	if (canon.oom || !EVP_DigestInit_ex(md, s->sha256, NULL) ||
	    !EVP_DigestUpdate(md, canon.buf, canon.len) || !EVP_DigestFinal_ex(md, hh, &hhlen))
		goto out;

	sig = malloc(s->sig_len);
	siglen = s->sig_len;
	pk = EVP_PKEY_CTX_dup(s->sign_ctx);
	if (!sig || !pk || EVP_PKEY_sign(pk, sig, &siglen, hh, hhlen) <= 0)
		goto out;

	/* b= folded at the line width: FWS is allowed anywhere inside it. */
	strbuf_reset(&b64);
	if (append_base64(&b64, sig, siglen) < 0)
		goto out;
	for (size_t at = 0; at < b64.len;) {
		size_t room = w.col < FOLD_AT ? FOLD_AT - w.col : 0, n;
		if (room < 8) {
			strbuf_append(out, "\r\n\t", 3);
			w.col = 1;
			continue;
		}
		n = b64.len - at < room ? b64.len - at : room;
		strbuf_append(out, b64.buf + at, n);
		w.col += n;
		at += n;
	}
	strbuf_append(out, "\r\n", 2);
	if (!out->oom)
		ret = 0;
out:
	if (ret < 0) {
		ERR_clear_error();
		if (out->buf && !out->oom) {
			out->len = start;
			out->buf[start] = '\0';
		}
	}
	EVP_PKEY_CTX_free(pk);
	EVP_MD_CTX_free(md);
	free(sig);
	strbuf_free(&canon);
	strbuf_free(&b64);
	return ret;
}

/* ---- keys and DNS records --------------------------------------------- */

int dkim_keygen(unsigned bits, struct strbuf *priv_pem, struct strbuf *pub_b64)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	unsigned char *der = NULL;
	char *pem;
	long pem_len;
	int n, ret = -1;

	if (bits < 1024 || bits > 8192)
		return -1;
	key = EVP_RSA_gen(bits);
	bio = BIO_new(BIO_s_mem());
	if (!key || !bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0 || strbuf_append(priv_pem, pem, (size_t)pem_len) < 0)
		goto out;
	n = i2d_PUBKEY(key, &der);
	if (n <= 0 || append_base64(pub_b64, der, (size_t)n) < 0)
		goto out;
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	BIO_free_all(bio); /* the PEM copy in the BIO is cleared with it */
	EVP_PKEY_free(key);
	return ret;
}

int dkim_txt_value(const char *pub_b64, struct strbuf *out)
{
	strbuf_appends(out, "v=DKIM1; k=rsa; p=");
	strbuf_appends(out, pub_b64);
	return out->oom ? -1 : 0;
}

size_t dkim_txt_strings(size_t len)
{
	return len == 0 ? 1 : (len + DKIM_TXT_STRING_MAX - 1) / DKIM_TXT_STRING_MAX;
}

int dkim_txt_quoted(const char *value, size_t len, struct strbuf *out)
{
	size_t n = dkim_txt_strings(len);

	for (size_t i = 0; i < n; i++) {
		size_t at = i * DKIM_TXT_STRING_MAX;
		size_t k = len - at < DKIM_TXT_STRING_MAX ? len - at : DKIM_TXT_STRING_MAX;
		if (i)
			strbuf_appendc(out, ' ');
		strbuf_appendc(out, '"');
		for (size_t j = at; j < at + k; j++) {
			if (value[j] == '"' || value[j] == '\\')
				strbuf_appendc(out, '\\');
			strbuf_appendc(out, value[j]);
		}
		strbuf_appendc(out, '"');
	}
	return out->oom ? -1 : 0;
}
