/* Settings from the environment (API.md's variables), with safe local defaults. */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stddef.h>

#define FS_CORS_MAX_ORIGINS 32

struct fs_config {
	const char *env;                 /* FLOWSEND_ENV: development, test, production */
	int production;
	const char *database_url;        /* tenant role: row-level security applies */
	const char *database_system_url; /* narrow role that crosses tenants */
	const char *database_migrate_url;/* owner role, migrations only */
	const char *redis_url;
	long redis_timeout_ms;           /* connect and command timeout */
	const char *jwt_secret;
	const char *link_secret;         /* FLOWSEND_LINK_SECRET: signs the links in mail */
	const char *public_url;
	const char *smtp_url;            /* empty: mock mode */
	const char *smtp_user;
	const char *smtp_password;
	const char *smtp_ca_file;        /* PEM bundle that verifies the server; "": the system's */
	const char *smtp_tls;            /* auto, starttls or none (smtp:// only) */
	long smtp_concurrency;           /* messages in flight, all worker processes together */
	long smtp_rate;                  /* messages per second, all together; 0: no ceiling */
	long smtp_max_attempts;          /* tries of a message before a 4xx becomes final */
	long smtp_timeout;               /* seconds one message may take */
	const char *mail_from;
	const char *dkim_domain;
	const char *dkim_selector;
	const char *dkim_key_file;
	const char *sns_base_url;        /* FLOWSEND_SNS_BASE_URL: where SNS certificates and
					  * subscription URLs are fetched instead (tests) */
	const char *sns_topic_arns;      /* FLOWSEND_SNS_TOPIC_ARNS: when set, the only topics
					  * whose messages are accepted (comma-separated) */
	const char *sendgrid_webhook_key;/* FLOWSEND_SENDGRID_WEBHOOK_KEY: base64 DER public key */
	const char *bounce_domain;       /* FLOWSEND_BOUNCE_DOMAIN: envelope senders become
					  * bounce+<token>@ it (VERP); "": the From address */
	const char *platform_webhook_secret;
	const char *stripe_secret_key;
	const char *stripe_webhook_secret;
	const char *stripe_pro_price_id;
	const char *stripe_enterprise_price_id;
	const char *stripe_api_base;
	long stripe_timeout_ms;          /* FLOWSEND_STRIPE_TIMEOUT_MS: one call to Stripe */
	const char *postal_address;
	const char *dns_server;          /* FLOWSEND_DNS_SERVER: host[:port] for sender-domain
					  * checks; "": the system's resolver */
	const char *spf_include;         /* FLOWSEND_SPF_INCLUDE: what the SPF hint of a sender
					  * domain authorises ("include:<mail domain>" by default) */
	/* FLOWSEND_SECRET_KEY (64 hex digits or base64 of 32 bytes): seals what is
	 * stored secret, such as sender domains' DKIM private keys. */
	unsigned char secret_key[32];
	int secret_key_is_default;
	const char *log_level;
	int platform_legacy_signatures;  /* FLOWSEND_PLATFORM_LEGACY_SIGNATURES=on|off: body-only
					  * platform signatures (no timestamp) accepted */
	int rate_limits;                 /* FLOWSEND_RATE_LIMITS=on|off */
	long rate_limit_free;            /* requests per minute per key, by plan */
	long rate_limit_pro;
	long rate_limit_enterprise;
	long rate_limit_jwt;             /* per user, for dashboard tokens */
	long access_token_ttl;           /* seconds */
	long refresh_token_ttl;          /* seconds */
	size_t json_body_max;            /* bytes */
	/* FLOWSEND_CORS_ORIGINS: browser origins on other sites allowed to call the
	 * API, normalised ("https://app.example.com", "http://localhost:3000"), or
	 * any origin ("*") when cors_any. Empty: no CORS headers at all. */
	int cors_any;
	size_t cors_norigins;
	const char *cors_origins[FS_CORS_MAX_ORIGINS];
	char cors_storage[2048];         /* the normalised origins, NUL-separated */
	char derived_urls[2][1024];      /* storage for the derived database URLs */
};

#define FS_DEFAULT_JWT_SECRET "flowsend-local-jwt-secret-change-me"
#define FS_DEFAULT_PLATFORM_SECRET "dev-platform-bridge-secret"
#define FS_DEFAULT_STRIPE_WEBHOOK_SECRET "whsec_flowsend_dev"
#define FS_DEFAULT_LINK_SECRET "flowsend-local-link-secret-change-me"
/* The bytes of "flowsend local secret, change me" in hex: dev and tests only. */
#define FS_DEFAULT_SECRET_KEY "666c6f7773656e64206c6f63616c207365637265742c206368616e6765206d65"

/* Read the environment into cfg. Returns 0, or -1 with a message in err when a
 * value is malformed or production still uses a local default secret. */
int fs_config_load(struct fs_config *cfg, char *err, size_t errlen);
/* FLOWSEND_SECRET_KEY's forms: 64 hex digits, or base64 (standard or URL
 * alphabet, padded or not) of exactly 32 bytes. 0 with out filled, or -1. */
int fs_config_parse_key32(const char *s, unsigned char out[32]);
/* Parse a comma-separated origin list into cfg's cors_* fields (called by
 * fs_config_load). 0, or -1 with a message naming the bad entry in err. */
int fs_config_parse_origins(struct fs_config *cfg, const char *list, char *err, size_t errlen);
/* The process-wide configuration, loaded by fs_config_load_global. */
const struct fs_config *fs_config(void);
int fs_config_load_global(char *err, size_t errlen);

#endif
