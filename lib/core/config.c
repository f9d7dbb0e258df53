/* Configuration: every knob is an environment variable, so nginx, cron and
 * systemd users all configure FlowSend the same way. */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int fs_config_load(struct fs_config *cfg, char *err, size_t errlen)
{
	const char *rl;
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
	cfg->public_url = env_or("FLOWSEND_PUBLIC_URL", "http://127.0.0.1:8080");
	cfg->smtp_url = env_or("FLOWSEND_SMTP_URL", "");
	cfg->smtp_user = env_or("FLOWSEND_SMTP_USER", "");
	cfg->smtp_password = env_or("FLOWSEND_SMTP_PASSWORD", "");
	cfg->mail_from = env_or("FLOWSEND_MAIL_FROM", "FlowSend <noreply@flowsend.local>");
	cfg->dkim_domain = env_or("FLOWSEND_DKIM_DOMAIN", "");
	cfg->dkim_selector = env_or("FLOWSEND_DKIM_SELECTOR", "flowsend");
	cfg->dkim_key_file = env_or("FLOWSEND_DKIM_KEY_FILE", "");
	cfg->platform_webhook_secret =
		env_or("FLOWSEND_PLATFORM_WEBHOOK_SECRET", FS_DEFAULT_PLATFORM_SECRET);
	cfg->stripe_secret_key = env_or("STRIPE_SECRET_KEY", "");
	cfg->stripe_webhook_secret =
		env_or("STRIPE_WEBHOOK_SECRET", FS_DEFAULT_STRIPE_WEBHOOK_SECRET);
	cfg->stripe_pro_price_id = env_or("STRIPE_PRO_PRICE_ID", "");
	cfg->stripe_enterprise_price_id = env_or("STRIPE_ENTERPRISE_PRICE_ID", "");
	cfg->stripe_api_base = env_or("STRIPE_API_BASE", "https://api.stripe.com");
	cfg->postal_address = env_or("FLOWSEND_POSTAL_ADDRESS", "FlowSend, 1 Example Street, Springfield");
	cfg->dns_server = env_or("FLOWSEND_DNS_SERVER", "");
	cfg->log_level = env_or("FLOWSEND_LOG_LEVEL", "info");

	rl = env_or("FLOWSEND_PLATFORM_LEGACY_SIGNATURES", cfg->production ? "off" : "on");
	if (strcmp(rl, "on") == 0) {
		cfg->platform_legacy_signatures = 1;
	} else if (strcmp(rl, "off") == 0) {
		cfg->platform_legacy_signatures = 0;
	} else {
		snprintf(err, errlen, "FLOWSEND_PLATFORM_LEGACY_SIGNATURES must be on or off");
		return -1;
	}

	rl = env_or("FLOWSEND_RATE_LIMITS", cfg->production ? "on" : "off");
	if (strcmp(rl, "on") == 0) {
		cfg->rate_limits = 1;
	} else if (strcmp(rl, "off") == 0) {
		cfg->rate_limits = 0;
	} else {
		snprintf(err, errlen, "FLOWSEND_RATE_LIMITS must be on or off");
		return -1;
	}
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
