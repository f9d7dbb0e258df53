/* The failed-login throttle: counters in Redis per (address, client IP), per
 * address across clients and per client IP, checked and counted in one step. */
#ifndef FS_LOGIN_GUARD_H
#define FS_LOGIN_GUARD_H

#include <stddef.h>

#include "core/crypto.h"

struct fs_redis;

#define LOGIN_GUARD_WINDOW 900         /* seconds, from a counter's first failure */
#define LOGIN_GUARD_PER_PAIR 10        /* failures for an address from one client IP */
#define LOGIN_GUARD_PER_EMAIL 50       /* for an address from all client IPs; past it, */
#define LOGIN_GUARD_PER_PAIR_CROWDED 3 /* each client IP gets this many for it */
#define LOGIN_GUARD_PER_IP 100         /* from one client IP for all addresses */

struct login_guard {
	struct fs_redis *redis;
	int counted; /* login_guard_begin counted this attempt as a failure */
	char ip_key[96], email_key[96], pair_key[176];
};

/* The client's part of its keys: an IPv4 address as it is, an IPv6 one as its
 * /64 (what one subscriber line or host gets), IPv4-mapped IPv6 as IPv4. */
void login_guard_client(const char *remote_addr, char *out, size_t size);
/* The hex SHA-256 of the case-folded address (utf8_casefold), the address's
 * part of its keys: every spelling PostgreSQL's lower() takes for one user
 * shares one budget. */
void login_guard_email_hash(const char *email, size_t len, char out[SHA256_HEX_LEN + 1]);
/* Before a password is checked: 0 when it may be, the attempt then already
 * counted as a failure (so concurrent guesses cannot overrun a limit), else
 * the seconds until it may be. Redis unavailable: 0, nothing counted, logged
 * at most once a minute. A wrong password needs no further call. */
long login_guard_begin(struct login_guard *g, struct fs_redis *r, const char *email,
		       const char *remote_addr);
/* The password was right: this client's failures for the address are
 * forgotten and the attempt uncounted from the other two counters. */
void login_guard_passed(struct login_guard *g);
/* The password could not be checked (database down): uncount the attempt. */
void login_guard_uncount(struct login_guard *g);

#endif
