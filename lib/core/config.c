/* Configuration: every knob is an environment variable, so nginx, cron and
 * systemd users all configure FlowSend the same way. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/uuid.h"

#define FS_DEFAULT_DATABASE_URL \
	"postgresql://flowsend_app@/flowsend?host=/var/tmp/flowsend-pg-5499&port=5499"

static struct fs_config global_config;

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return (v && *v) ? v : fallback;
}

static int env_long(const char *name, long fallback, long min, long max, long *out, char *err,
		    size_t errlen)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v) {
		*out = fallback;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		snprintf(err, errlen, "%s must be a whole number from %ld to %ld", name, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

/* A switch: "on" or "off", fallback when unset. */
static int env_on_off(const char *name, int fallback, int *out, char *err, size_t errlen)
{
	const char *v = env_or(name, fallback ? "on" : "off");

	if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
		*out = strcmp(v, "on") == 0;
		return 0;
	}
	snprintf(err, errlen, "%s must be on or off", name);
	return -1;
}

/* The system and migration URLs default to the tenant URL with another user:
 * libpq lets a later "user" keyword override the one inside the URL. */
static const char *derive_url(const char *explicit_name, const char *base, const char *user,
			      char *buf, size_t size)
{
	const char *v = getenv(explicit_name);
	int n;

	if (v && *v)
		return v;
	n = snprintf(buf, size, "%s%cuser=%s", base, strchr(base, '?') ? '&' : '?', user);
	return (n < 0 || (size_t)n >= size) ? base : buf;
}

/* One origin as browsers serialise it (RFC 6454): lower-case scheme and host,
 * the port only when it is not the scheme's default, no path. Writes it at out
 * and returns its length, or -1 with *why set when s is not an origin. */
static long origin_normalize(const char *s, size_t len, char *out, size_t size, const char **why)
{
	size_t i, o, host_start;
	long port = -1;
	int https;

	if (memchr(s, '*', len)) {
		*why = "wildcards are not supported: list each origin, or set * alone";
		return -1;
	}
	if (len >= 8 && strncasecmp(s, "https://", 8) == 0) {
		https = 1;
	} else if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
		https = 0;
	} else {
		*why = "the scheme must be http:// or https://";
		return -1;
	}
	i = o = https ? 8 : 7;
	if (len > i && s[len - 1] == '/') /* "https://app.example.com/" names the same origin */
		len--;
	if (len + 1 > size) {
		*why = "too long";
		return -1;
	}
	memcpy(out, https ? "https://" : "http://", i);
	host_start = i;
	if (i < len && s[i] == '[') {
		i++;
		while (i < len && (isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'))
			i++;
		if (i >= len || s[i] != ']' || i == host_start + 1) {
			*why = "malformed IPv6 address";
			return -1;
		}
		i++;
	} else {
		while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
			i++;
		if (i == host_start || s[host_start] == '.' || s[i - 1] == '.') {
			*why = "the host is missing or malformed";
			return -1;
		}
	}
	for (size_t k = host_start; k < i; k++)
		out[o++] = (char)tolower((unsigned char)s[k]);
	if (i < len && s[i] == ':') {
		size_t digits = 0;
		port = 0;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9' && digits < 6; i++, digits++)
			port = port * 10 + (s[i] - '0');
		if (digits == 0 || port < 1 || port > 65535) {
			*why = "the port must be a number from 1 to 65535";
			return -1;
		}
	}
	if (i != len) {
		*why = s[i] == '/' ? "an origin has no path" : "unexpected characters after the host";
		return -1;
	}
	if (port >= 0 && port != (https ? 443 : 80))
		o += (size_t)snprintf(out + o, size - o, ":%ld", port);
	out[o] = '\0';
	return (long)o;
}

int fs_config_parse_origins(struct fs_config *cfg, const char *list, char *err, size_t errlen)
{
	size_t used = 0;
	const char *p = list;

	cfg->cors_any = 0;
	cfg->cors_norigins = 0;
	while (p && *p) {
		const char *end = strchr(p, ','), *a = p, *b, *why = NULL;
		long n;

		if (!end)
			end = p + strlen(p);
		b = end;
		p = *end ? end + 1 : end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a == b) /* "a,,b" or a trailing comma: nothing to allow */
			continue;
		if (b - a == 1 && *a == '*') {
			cfg->cors_any = 1;
			continue;
		}
		if (b - a == 4 && strncasecmp(a, "null", 4) == 0) {
			snprintf(err, errlen,
				 "FLOWSEND_CORS_ORIGINS: \"null\" cannot be allowed (any sandboxed "
				 "page or local file sends it)");
			return -1;
		}
		if (cfg->cors_norigins == FS_CORS_MAX_ORIGINS) {
			snprintf(err, errlen, "FLOWSEND_CORS_ORIGINS: at most %d origins",
				 FS_CORS_MAX_ORIGINS);
			return -1;
		}
		if ((size_t)(b - a) >= sizeof(cfg->cors_storage) - used) {
			snprintf(err, errlen, "FLOWSEND_CORS_ORIGINS is too long (at most %zu bytes)",
				 sizeof(cfg->cors_storage) - 1);
			return -1;
		}
		n = origin_normalize(a, (size_t)(b - a), cfg->cors_storage + used,
				     sizeof(cfg->cors_storage) - used, &why);
		if (n < 0) {
			snprintf(err, errlen,
				 "FLOWSEND_CORS_ORIGINS: \"%.*s\" is not an origin (%s); write "
				 "scheme://host[:port], e.g. https://app.example.com",
				 (int)(b - a > 80 ? 80 : b - a), a, why);
			return -1;
		}
		for (size_t i = 0; i < cfg->cors_norigins && n >= 0; i++)
			if (strcmp(cfg->cors_origins[i], cfg->cors_storage + used) == 0)
				n = -1; /* listed twice, perhaps spelt differently */
		if (n < 0)
			continue;
		cfg->cors_origins[cfg->cors_norigins++] = cfg->cors_storage + used;
		used += (size_t)n + 1;
	}
	if (cfg->cors_any && cfg->cors_norigins) {
		snprintf(err, errlen,
			 "FLOWSEND_CORS_ORIGINS: * allows every origin and cannot be combined with "
			 "a list of origins");
		return -1;
	}
	return 0;
}

static int b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int fs_config_parse_key32(const char *s, unsigned char out[32])
{
	size_t len = s ? strlen(s) : 0;

	if (len == 64) {
		for (size_t i = 0; i < 32; i++) {
			int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	/* 32 bytes are 43 base64 digits (the last holding 4 bits), then "=". */
	if (len == 44 && s[43] == '=')
		len = 43;
	if (len != 43)
		return -1;
	{
		unsigned acc = 0;
		int bits = 0;
		size_t o = 0;
		for (size_t i = 0; i < 43; i++) {
			int d = b64_digit(s[i]);
			if (d < 0)
				return -1;
			acc = (acc << 6) | (unsigned)d;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[o++] = (unsigned char)(acc >> bits);
				acc &= (1u << bits) - 1;
			}
		}
		if (o != 32 || acc != 0) /* the 2 bits left over must be zero */
			return -1;
	}
	return 0;
}

int fs_config_load(struct fs_config *cfg, char *err, size_t errlen)
{
	long n;

	memset(cfg, 0, sizeof(*cfg));
	cfg->env = env_or("FLOWSEND_ENV", "development");
	cfg->production = strcmp(cfg->env, "production") == 0;
	cfg->database_url = env_or("FLOWSEND_DATABASE_URL", FS_DEFAULT_DATABASE_URL);
	cfg->database_system_url =
		derive_url("FLOWSEND_DATABASE_SYSTEM_URL", cfg->database_url, "flowsend_system",
			   cfg->derived_urls[0], sizeof(cfg->derived_urls[0]));
	cfg->database_migrate_url =
		derive_url("FLOWSEND_DATABASE_MIGRATE_URL", cfg->database_url, "flowsend_owner",
			   cfg->derived_urls[1], sizeof(cfg->derived_urls[1]));
	cfg->redis_url = env_or("FLOWSEND_REDIS_URL", "redis://127.0.0.1:6399/0");
	cfg->jwt_secret = env_or("FLOWSEND_JWT_SECRET", FS_DEFAULT_JWT_SECRET);
	/* Its own key, so rotating the JWT secret never breaks a link in mail
	 * already sent (mail/links.h: the JWT secret still verifies old links). */
	cfg->link_secret = env_or("FLOWSEND_LINK_SECRET", FS_DEFAULT_LINK_SECRET);
	cfg->public_url = env_or("FLOWSEND_PUBLIC_URL", "http://127.0.0.1:8080");
	cfg->smtp_url = env_or("FLOWSEND_SMTP_URL", "");
	cfg->smtp_user = env_or("FLOWSEND_SMTP_USER", "");
	cfg->smtp_password = env_or("FLOWSEND_SMTP_PASSWORD", "");
	cfg->smtp_ca_file = env_or("FLOWSEND_SMTP_CA_FILE", "");
	cfg->smtp_tls = env_or("FLOWSEND_SMTP_TLS", "auto");
	cfg->mail_from = env_or("FLOWSEND_MAIL_FROM", "FlowSend <noreply@flowsend.local>");
	cfg->dkim_domain = env_or("FLOWSEND_DKIM_DOMAIN", "");
	cfg->dkim_selector = env_or("FLOWSEND_DKIM_SELECTOR", "flowsend");
	cfg->dkim_key_file = env_or("FLOWSEND_DKIM_KEY_FILE", "");
	cfg->bounce_domain = env_or("FLOWSEND_BOUNCE_DOMAIN", "");
	cfg->sns_base_url = env_or("FLOWSEND_SNS_BASE_URL", "");
	cfg->sns_topic_arns = env_or("FLOWSEND_SNS_TOPIC_ARNS", "");
	cfg->sendgrid_webhook_key = env_or("FLOWSEND_SENDGRID_WEBHOOK_KEY", "");
	cfg->platform_webhook_secret =
		env_or("FLOWSEND_PLATFORM_WEBHOOK_SECRET", FS_DEFAULT_PLATFORM_SECRET);
	cfg->stripe_secret_key = env_or("STRIPE_SECRET_KEY", "");
	cfg->stripe_webhook_secret =
		env_or("STRIPE_WEBHOOK_SECRET", FS_DEFAULT_STRIPE_WEBHOOK_SECRET);
	cfg->stripe_pro_price_id = env_or("STRIPE_PRO_PRICE_ID", "");
	cfg->stripe_enterprise_price_id = env_or("STRIPE_ENTERPRISE_PRICE_ID", "");
	cfg->stripe_api_base = env_or("STRIPE_API_BASE", "https://api.stripe.com");
	if (strncmp(cfg->stripe_api_base, "https://", 8) != 0 &&
	    strncmp(cfg->stripe_api_base, "http://", 7) != 0) {
		snprintf(err, errlen, "STRIPE_API_BASE must be an https:// URL");
		return -1;
	}
	/* It goes into an Authorization header as it is. */
	for (const char *k = cfg->stripe_secret_key; *k; k++) {
		if ((unsigned char)*k <= 0x20 || (unsigned char)*k >= 0x7f) {
			snprintf(err, errlen, "STRIPE_SECRET_KEY holds a space or a control character");
			return -1;
		}
	}
	if (env_long("FLOWSEND_STRIPE_TIMEOUT_MS", 20000, 100, 120000, &cfg->stripe_timeout_ms, err,
		     errlen) < 0)
		return -1;
	cfg->postal_address = env_or("FLOWSEND_POSTAL_ADDRESS", "FlowSend, 1 Example Street, Springfield");
	cfg->dns_server = env_or("FLOWSEND_DNS_SERVER", "");
	cfg->spf_include = env_or("FLOWSEND_SPF_INCLUDE", "");
	{
		const char *key = env_or("FLOWSEND_SECRET_KEY", FS_DEFAULT_SECRET_KEY);
		if (fs_config_parse_key32(key, cfg->secret_key) < 0) {
			snprintf(err, errlen,
				 "FLOWSEND_SECRET_KEY must be 32 bytes written as 64 hex digits or "
				 "base64 (make one with: openssl rand -hex 32)");
			return -1;
		}
		unsigned char def[32];
		fs_config_parse_key32(FS_DEFAULT_SECRET_KEY, def);
		/* The same bytes in base64 are the same default. */
		cfg->secret_key_is_default = memcmp(def, cfg->secret_key, 32) == 0;
	}
	cfg->log_level = env_or("FLOWSEND_LOG_LEVEL", "info");
	/* The domain ends every envelope sender: only what a mail domain may
	 * hold, short enough that "bounce+<56>@" and it stay within 254. */
	{
		size_t blen = strlen(cfg->bounce_domain);
		int ok = blen <= 180 && strspn(cfg->bounce_domain,
					    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789.-") == blen &&
			 (blen == 0 || (strchr(cfg->bounce_domain, '.') && cfg->bounce_domain[0] != '.' &&
				     cfg->bounce_domain[blen - 1] != '.'));
		if (!ok) {
			snprintf(err, errlen, "FLOWSEND_BOUNCE_DOMAIN must be a domain name such as"
				 " bounces.example.com");
			return -1;
		}
	}

	if (env_on_off("FLOWSEND_PLATFORM_LEGACY_SIGNATURES", !cfg->production,
		       &cfg->platform_legacy_signatures, err, errlen) < 0 ||
	    env_on_off("FLOWSEND_RATE_LIMITS", cfg->production, &cfg->rate_limits, err, errlen) < 0)
		return -1;
	if (env_long("FLOWSEND_RATE_LIMIT_FREE", 60, 1, 1000000, &cfg->rate_limit_free, err, errlen) < 0 ||
	    env_long("FLOWSEND_RATE_LIMIT_PRO", 600, 1, 1000000, &cfg->rate_limit_pro, err, errlen) < 0 ||
	    env_long("FLOWSEND_RATE_LIMIT_ENTERPRISE", 3000, 1, 1000000, &cfg->rate_limit_enterprise,
		     err, errlen) < 0 ||
	    env_long("FLOWSEND_RATE_LIMIT_JWT", 1200, 1, 1000000, &cfg->rate_limit_jwt, err, errlen) < 0)
		return -1;
	/* Short: Redis answers in well under a millisecond, and a stalled one
	 * must not hold a login for long (lib/queue/redis.c). */
	if (env_long("FLOWSEND_REDIS_TIMEOUT_MS", 250, 10, 60000, &cfg->redis_timeout_ms, err,
		     errlen) < 0)
		return -1;
	if (strcmp(cfg->smtp_tls, "auto") != 0 && strcmp(cfg->smtp_tls, "starttls") != 0 &&
	    strcmp(cfg->smtp_tls, "none") != 0) {
		snprintf(err, errlen, "FLOWSEND_SMTP_TLS must be auto, starttls or none");
		return -1;
	}
	if (*cfg->smtp_url && strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
		snprintf(err, errlen, "FLOWSEND_SMTP_URL must start with smtp:// or smtps://");
		return -1;
	}
	if (env_long("FLOWSEND_SMTP_CONCURRENCY", 128, 1, 256, &cfg->smtp_concurrency, err, errlen) < 0 ||
	    env_long("FLOWSEND_SMTP_RATE", 0, 0, 1000000, &cfg->smtp_rate, err, errlen) < 0 ||
	    env_long("FLOWSEND_SMTP_MAX_ATTEMPTS", 8, 1, 50, &cfg->smtp_max_attempts, err, errlen) < 0 ||
	    env_long("FLOWSEND_SMTP_TIMEOUT", 60, 5, 300, &cfg->smtp_timeout, err, errlen) < 0)
		return -1;
	if (env_long("FLOWSEND_ACCESS_TOKEN_TTL", 15 * 60, 1, 86400 * 30, &cfg->access_token_ttl,
		     err, errlen) < 0)
		return -1;
	if (env_long("FLOWSEND_REFRESH_TOKEN_TTL", 7 * 86400, 1, 86400 * 365,
		     &cfg->refresh_token_ttl, err, errlen) < 0)
		return -1;
	if (env_long("FLOWSEND_JSON_BODY_MAX", 1024 * 1024, 1024, 64L * 1024 * 1024, &n, err,
		     errlen) < 0)
		return -1;
	cfg->json_body_max = (size_t)n;
	if (fs_config_parse_origins(cfg, getenv("FLOWSEND_CORS_ORIGINS"), err, errlen) < 0)
		return -1;

	if (strcmp(cfg->env, "development") != 0 && strcmp(cfg->env, "test") != 0 &&
	    !cfg->production) {
		snprintf(err, errlen, "FLOWSEND_ENV must be development, test or production");
		return -1;
	}
	if (cfg->production) {
		static const struct {
			const char *name;
			const char *def;
		} secrets[] = {
			{ "FLOWSEND_JWT_SECRET", FS_DEFAULT_JWT_SECRET },
			{ "FLOWSEND_PLATFORM_WEBHOOK_SECRET", FS_DEFAULT_PLATFORM_SECRET },
			{ "STRIPE_WEBHOOK_SECRET", FS_DEFAULT_STRIPE_WEBHOOK_SECRET },
			{ "FLOWSEND_LINK_SECRET", FS_DEFAULT_LINK_SECRET },
		};
		for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
			if (strcmp(env_or(secrets[i].name, secrets[i].def), secrets[i].def) == 0) {
				snprintf(err, errlen,
					 "FLOWSEND_ENV=production refuses to start: %s still has its "
					 "local default; set a secret of your own",
					 secrets[i].name);
				return -1;
			}
		}
		if (strlen(cfg->jwt_secret) < 32) {
			snprintf(err, errlen,
				 "FLOWSEND_JWT_SECRET must be at least 32 characters in production");
			return -1;
		}
		if (strlen(cfg->link_secret) < 32) {
			snprintf(err, errlen,
				 "FLOWSEND_LINK_SECRET must be at least 32 characters in production");
			return -1;
		}
		/* A stand-in for SNS is for tests: in production it would let anyone
		 * who can aim it sign bounce and complaint reports. */
		if (cfg->sns_base_url[0]) {
			snprintf(err, errlen,
				 "FLOWSEND_ENV=production refuses to start: FLOWSEND_SNS_BASE_URL is "
				 "for tests; unset it so SNS certificates come from AWS over https");
			return -1;
		}
		/* The secret key travels in every call to Stripe: never in clear. */
		if (strncmp(cfg->stripe_api_base, "https://", 8) != 0) {
			snprintf(err, errlen,
				 "FLOWSEND_ENV=production refuses to start: STRIPE_API_BASE must use "
				 "https://");
			return -1;
		}
		/* Without a key of its own, anyone with the source could open the
		 * DKIM private keys kept in the database. */
		if (cfg->secret_key_is_default) {
			snprintf(err, errlen,
				 "FLOWSEND_ENV=production refuses to start: FLOWSEND_SECRET_KEY is "
				 "unset or still the local default; make one with: openssl rand -hex 32");
			return -1;
		}
	}
	return 0;
}

const struct fs_config *fs_config(void)
{
	return &global_config;
}

int fs_config_load_global(char *err, size_t errlen)
{
	return fs_config_load(&global_config, err, errlen);
}
