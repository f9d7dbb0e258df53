/* Failed logins, counted in Redis (README "Authentication"). One Lua script
 * checks the three counters and, when none is over its bound, counts the
 * attempt before the password is checked: Redis runs a script atomically, so
 * 24 simultaneous guesses get 10 checks, not 10 plus however many raced the
 * count. A right password hands the count back. Redis being down fails open
 * (logged): a login outage would hurt every merchant more than a missing
 * throttle. The keys live in one standalone Redis (no cluster slots). */
#include "services/login_guard.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "queue/redis.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* KEYS: ip, email, pair. Past the per-address bound a client may still try
 * as long as it has fewer than the crowded number of failures for the
 * address: the owner at a new address gets in, a spread-out guesser gets a
 * few guesses per client IP. The wait is until the blocking counter expires
 * (for the crowded case the sooner of pair and address). */
static const char begin_script[] =
	"local w = " STR(LOGIN_GUARD_WINDOW) "\n"
	"local function count(k) return tonumber(redis.call('GET', k) or '0') end\n"
	"local function ttl(k)\n"
	"  local t = redis.call('TTL', k) if t > 0 then return t end return w\n"
	"end\n"
	"local ip, email, pair = count(KEYS[1]), count(KEYS[2]), count(KEYS[3])\n"
	"local wait = 0\n"
	"if ip >= " STR(LOGIN_GUARD_PER_IP) " then wait = ttl(KEYS[1]) end\n"
	"if pair >= " STR(LOGIN_GUARD_PER_PAIR) " then\n"
	"  wait = math.max(wait, ttl(KEYS[3]))\n"
	"elseif email >= " STR(LOGIN_GUARD_PER_EMAIL) " and pair >= "
	STR(LOGIN_GUARD_PER_PAIR_CROWDED) " then\n"
	"  wait = math.max(wait, math.min(ttl(KEYS[3]), ttl(KEYS[2])))\n"
	"end\n"
	"if wait > 0 then return wait end\n"
	"for i = 1, 3 do\n"
	"  if redis.call('INCR', KEYS[i]) == 1 or redis.call('TTL', KEYS[i]) < 0 then\n"
	"    redis.call('EXPIRE', KEYS[i], w)\n"
	"  end\n"
	"end\n"
	"return 0\n";

/* KEYS: ip, email, pair; ARGV[1] "1" to forget the pair's failures. A
 * counter that expired meanwhile is not brought back as -1. */
static const char end_script[] =
	"for i = 1, 3 do\n"
	"  if i == 3 and ARGV[1] == '1' then redis.call('DEL', KEYS[i])\n"
	"  elseif tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then\n"
	"    redis.call('DECR', KEYS[i])\n"
	"  end\n"
	"end\n"
	"return 0\n";

static void guard_warn(void)
{
	static double warned_at;
	double now = time_monotonic_ms();

	if (warned_at && now - warned_at < 60000)
		return;
	warned_at = now;
	log_warn("login throttle unavailable: Redis unreachable, failed logins are not counted");
}

void login_guard_client(const char *remote_addr, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	snprintf(out, size, "%.64s", remote_addr);
	if (!strchr(remote_addr, ':') || inet_pton(AF_INET6, remote_addr, a) != 1)
		return;
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		if (inet_ntop(AF_INET, a + 12, text, sizeof(text)))
			snprintf(out, size, "%s", text);
		return;
	}
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, text, sizeof(text)))
		snprintf(out, size, "%s/64", text);
}

void login_guard_email_hash(const char *email, size_t len, char out[SHA256_HEX_LEN + 1])
{
	struct strbuf folded = STRBUF_INIT;

	/* Out of memory: the address as given still makes a key. */
	if (utf8_casefold(&folded, email, len) < 0)
		sha256_hex(email, len, out);
	else
		sha256_hex(folded.buf, folded.len, out);
	strbuf_free(&folded);
}

long login_guard_begin(struct login_guard *g, struct fs_redis *r, const char *email,
		       const char *remote_addr)
{
	char hash[SHA256_HEX_LEN + 1], client[72];
	const char *argv[] = { "EVAL", begin_script, "3", g->ip_key, g->email_key, g->pair_key };
	redisReply *rep;
	long wait = 0;

	memset(g, 0, sizeof(*g));
	g->redis = r;
	login_guard_email_hash(email, strlen(email), hash);
	login_guard_client(remote_addr, client, sizeof(client));
	snprintf(g->ip_key, sizeof(g->ip_key), "fs:loginfail:ip:%s", client);
	snprintf(g->email_key, sizeof(g->email_key), "fs:loginfail:e:%s", hash);
	snprintf(g->pair_key, sizeof(g->pair_key), "fs:loginfail:p:%s:%s", hash, client);
	rep = fs_redis_argv(r, 6, argv, NULL);
	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("login throttle script failed: %s", rep->str);
		if (rep)
			freeReplyObject(rep);
		guard_warn();
		return 0;
	}
	wait = (long)rep->integer;
	freeReplyObject(rep);
	g->counted = wait == 0;
	return wait;
}

static void guard_end(struct login_guard *g, const char *forget)
{
	const char *argv[] = { "EVAL", end_script, "3", g->ip_key, g->email_key, g->pair_key,
			       forget };
	redisReply *rep;

	if (!g->counted)
		return;
	g->counted = 0;
	rep = fs_redis_argv(g->redis, 7, argv, NULL);
	if (rep)
		freeReplyObject(rep);
}

void login_guard_passed(struct login_guard *g)
{
	guard_end(g, "1");
}

void login_guard_uncount(struct login_guard *g)
{
	guard_end(g, "0");
}
