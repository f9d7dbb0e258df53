/* Which From address and which DKIM key a tenant's mail goes out with, for
 * the delivery path: a From on a verified sender domain of the tenant (or a
 * subdomain of one) keeps its address and is signed with that domain's key;
 * any other From becomes FLOWSEND_MAIL_FROM, keeping the tenant's name, with
 * Reply-To the tenant's (its reply_to, else its own address), signed with
 * the global key (FLOWSEND_DKIM_DOMAIN, _SELECTOR, _KEY_FILE), or unsigned
 * when none is configured. Keys are opened and parsed once per worker and
 * kept; what the database says is asked again after SENDERS_TTL_SECONDS. */
#ifndef FS_SENDERS_H
#define FS_SENDERS_H

#include "core/arena.h"
#include "core/config.h"
#include "db/db.h"
#include "mail/dkim.h"

/* How long a worker trusts what it learnt of a tenant's domain: a domain
 * verified, unverified or deleted takes effect within this. */
#define SENDERS_TTL_SECONDS 60
/* Lookups remembered at most; beyond, the oldest half is forgotten. */
#define SENDERS_CACHE_MAX 4096

struct senders;

struct sender_choice {
	const char *from_name;            /* "" when none */
	const char *from_email;
	const char *reply_to;             /* NULL: no Reply-To */
	const struct dkim_signer *signer; /* NULL: send unsigned */
	int own_domain;                   /* 1: the tenant's verified domain signs */
};

/* The worker's cache, with the global key loaded from cfg. NULL with a
 * message in err when a global key is configured but unusable (the worker
 * should refuse to start rather than send unsigned mail). */
struct senders *senders_new(const struct fs_config *cfg, char *err, size_t errlen);
void senders_free(struct senders *s);
/* The global signer, or NULL when none is configured. */
const struct dkim_signer *senders_global(const struct senders *s);
/* Choose for tenant user_id whose sender settings are from_name, from_email,
 * reply_to (NULL or "" for unset: the FLOWSEND_MAIL_FROM defaults apply).
 * sysdb is the cross-tenant role; strings live in a or in the inputs; the
 * signer stays valid until senders_sweep or senders_free. 0, or -1 when the
 * database could not be asked (nothing is cached then). One thread. */
int senders_choose(struct senders *s, struct fs_db *sysdb, struct arena *a, const char *user_id,
		   const char *from_name, const char *from_email, const char *reply_to,
		   struct sender_choice *out);
/* Free the signers of domains that were deleted or unverified since the
 * last sweep: call when no message signed with an earlier choice is still
 * being signed. */
void senders_sweep(struct senders *s);
/* Trust answers for seconds instead of SENDERS_TTL_SECONDS (tests). */
void senders_set_ttl(struct senders *s, double seconds);
/* Lookups and key loads so far (tests, logs). */
void senders_stats(const struct senders *s, long *lookups, long *key_loads);

#endif
