/* Sender domains (/settings/domains): a DKIM key pair per domain, the DNS
 * records to publish, a check of the DKIM record through DNS that marks the
 * domain verified. Private keys are sealed with FLOWSEND_SECRET_KEY and never
 * leave this module except, opened, to the worker's signer cache. */
#ifndef FS_DOMAINS_H
#define FS_DOMAINS_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/env.h"
#include "core/status.h"
#include "core/strbuf.h"

/* A domain is kept short enough for "<selector>._domainkey." in front. */
#define DOMAIN_NAME_MAX 229
#define DOMAINS_PER_ACCOUNT 20
#define DOMAIN_KEY_BITS 2048

/* Validate and normalise a domain the way the API takes it: ASCII, upper
 * case folded, one trailing dot dropped, LDH labels of 1..63 bytes, two or
 * more labels, a top label that is not all digits, "xn--" labels that are
 * valid punycode (and no other "??--" label), at most DOMAIN_NAME_MAX bytes.
 * 0 with the domain in out (size >= DOMAIN_NAME_MAX + 1), or -1 with *why
 * set to a message for the client. Pure, for tests and the fuzzer. */
int domain_normalize(const char *in, size_t len, char *out, size_t size, const char **why);

/* POST: 201's body in *out. FS_INVALID (a bad domain), FS_CONFLICT (added
 * already), FS_BAD_REQUEST (DOMAINS_PER_ACCOUNT reached). */
enum fs_status domains_create(struct fs_env *env, const char *domain, json_object **out,
			      struct fs_error *err);
/* The caller's domains, oldest first: a plain array. */
enum fs_status domains_list(struct fs_env *env, json_object **out, struct fs_error *err);
enum fs_status domains_get(struct fs_env *env, const char *id, json_object **out,
			   struct fs_error *err);
/* Look the DKIM record up (env->cfg->dns_server) and record the outcome:
 * FS_OK (verified, the domain in *out), FS_BAD_REQUEST (what was found
 * instead, in err; the domain is unverified from now on), FS_UNAVAILABLE
 * (no answer; the state is left as it was), FS_NOT_FOUND. */
enum fs_status domains_verify(struct fs_env *env, const char *id, json_object **out,
			      struct fs_error *err);
enum fs_status domains_delete(struct fs_env *env, const char *id, struct fs_error *err);

/* Seal a private key for storage: "v1:" + base64(nonce || secretbox). */
int domain_key_seal(const unsigned char key[32], const char *pem, size_t len,
		    struct strbuf *out);
/* Open what domain_key_seal made; the PEM is appended to pem. 0, or -1 when
 * it was not sealed with this key or is malformed. */
int domain_key_open(const unsigned char key[32], const char *sealed, struct strbuf *pem);

#endif
