/* DKIM signing (RFC 6376): rsa-sha256, relaxed/relaxed, over the exact bytes
 * mail_message_build wrote, and the key material a sender domain publishes.
 *
 * The private key is parsed once, when the signer is made, and every message
 * is signed with that parsed key. libopendkim's own signer cannot do that: it
 * parses the key again inside every dkim_eom (dkim_privkey_load) and rebuilds
 * the RSA state, which measured 690 signatures/s (PEM) and 890/s (DER) on one
 * core here against 2,970/s with a key parsed once (bench/dkim.c). So the
 * canonicalization and hashing live here, and libopendkim's verifier checks
 * what this module writes (mail/dkim_check.h, tests/unit/test_dkim.c). */
#ifndef FS_DKIM_H
#define FS_DKIM_H

#include <stddef.h>

#include "core/strbuf.h"

/* The DKIM TXT record holds at most this many bytes per string. */
#define DKIM_TXT_STRING_MAX 255
#define DKIM_SELECTOR_MAX 63
#define DKIM_DOMAIN_MAX 253

struct dkim_signer;

/* A signer for domain (d=) and selector (s=) with an RSA private key given
 * as PEM (PKCS#1 or PKCS#8, 1024 to 8192 bits). NULL with a message in err
 * when a name is not a plain DNS name or the key is unusable. Safe to share
 * between threads once made. */
struct dkim_signer *dkim_signer_new(const char *domain, const char *selector, const char *pem,
				    size_t pem_len, char *err, size_t errlen);
/* The same with the PEM read from path (at most 64 KiB). */
struct dkim_signer *dkim_signer_from_file(const char *domain, const char *selector,
					  const char *path, char *err, size_t errlen);
void dkim_signer_free(struct dkim_signer *s);
const char *dkim_signer_domain(const struct dkim_signer *s);
const char *dkim_signer_selector(const struct dkim_signer *s);
/* Append the signer's public key (SubjectPublicKeyInfo DER, base64): what
 * p= of its DNS record must hold. 0 or -1. */
int dkim_signer_public_key(const struct dkim_signer *s, struct strbuf *out);

/* Append the DKIM-Signature header field for msg[0..len) to out: folded,
 * CRLF line ends, ending in CRLF, to be written before the message's first
 * byte. Signs From (oversigned, so no From can be added later), Reply-To, To,
 * Subject, Date, Message-ID, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, List-Unsubscribe and List-Unsubscribe-Post,
 * those present; t= is now (Unix seconds). msg must have CRLF line ends
 * throughout (no bare CR or LF) and one From field. 0, or -1 (out as it
 * was) when msg is not signable or memory ran out. */
int dkim_signer_sign(const struct dkim_signer *s, const char *msg, size_t len, long long now,
		     struct strbuf *out);

/* A new RSA key pair of bits (2048 for sender domains): the private key as
 * PKCS#8 PEM into priv_pem, the public key (SubjectPublicKeyInfo DER,
 * base64) into pub_b64. 0 or -1. */
int dkim_keygen(unsigned bits, struct strbuf *priv_pem, struct strbuf *pub_b64);
/* The DKIM TXT record value for a public key: "v=DKIM1; k=rsa; p=<pub>". */
int dkim_txt_value(const char *pub_b64, struct strbuf *out);
/* The number of TXT strings value[0..len) takes, DKIM_TXT_STRING_MAX bytes
 * each; string i starts at i * DKIM_TXT_STRING_MAX. */
size_t dkim_txt_strings(size_t len);
/* value[0..len) as a zone file writes it: "..." "..." (each string at most
 * DKIM_TXT_STRING_MAX bytes, '"' and '\' escaped). 0 or -1. */
int dkim_txt_quoted(const char *value, size_t len, struct strbuf *out);
/* 1 when s[0..len) is a DNS name a DKIM tag may carry: dot-separated labels
 * of letters, digits and inner hyphens (underscores too when underscore),
 * 1..63 bytes each, at most 253 in all. */
int dkim_name_ok(const char *s, size_t len, int underscore);

#endif
