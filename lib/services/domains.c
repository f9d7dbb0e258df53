/* Sender domains: every query runs as the tenant (row-level security), the
 * tenant-facing column list never names the sealed key, and the DNS check
 * runs outside any transaction (it may wait seconds on a resolver). */
#include "services/domains.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "db/db.h"
#include "json/json.h"
#include "mail/dkim.h"
#include "mail/dns.h"

#define SEALED_PREFIX "v1:"
#define SEALED_MAX (64 * 1024)

/* What the API shows of a domain: never dkim_private_key_sealed. */
#define DOMAIN_COLUMNS                                                                             \
	"id, domain, dkim_selector, dkim_public_key, verified, verified_at, last_checked_at,"     \
	" last_check_error, created_at"

/* ---- names ------------------------------------------------------------ */

/* RFC 3492 punycode: 1 when label[0..len) (after "xn--") decodes to a string
 * with at least one non-ASCII code point, each a Unicode scalar value from
 * U+00A0 up. (Not the full IDNA2008 tables: the registry checks those.) */
static int punycode_ok(const char *s, size_t len)
{
	enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
	uint32_t n = 128, i = 0, bias = 72, out = 0;
	size_t in = 0, delim = 0;
	int has_delim = 0, decoded = 0;

	for (size_t j = 0; j < len; j++)
		if (s[j] == '-') {
			delim = j;
			has_delim = 1;
		}
	if (has_delim) {
		out = (uint32_t)delim;
		in = delim + 1;
	}
	while (in < len) {
		uint32_t oldi = i, w = 1;
		for (uint32_t k = BASE;; k += BASE) {
			char c;
			uint32_t digit, t;
			if (in >= len)
				return 0;
			c = s[in++];
			if (c >= 'a' && c <= 'z')
				digit = (uint32_t)(c - 'a');
			else if (c >= '0' && c <= '9')
				digit = (uint32_t)(c - '0' + 26);
			else
				return 0;
			if (digit > (UINT32_MAX - i) / w)
				return 0;
			i += digit * w;
			t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
			if (digit < t)
				break;
			if (w > UINT32_MAX / (BASE - t))
				return 0;
			w *= BASE - t;
		}
		out++;
		{
			/* adapt the bias (RFC 3492 6.1) */
			uint32_t delta = (i - oldi) / (oldi == 0 ? DAMP : 2), k = 0;
			delta += delta / out;
			while (delta > ((BASE - TMIN) * TMAX) / 2) {
				delta /= BASE - TMIN;
				k += BASE;
			}
			bias = k + (BASE - TMIN + 1) * delta / (delta + SKEW);
		}
		if (i / out > 0x10FFFF - n)
			return 0;
		n += i / out;
		i %= out;
		/* ASCII belongs in the basic part; C1 controls are no letters */
		if (n < 0xA0 || n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF))
			return 0;
		i++;
		decoded = 1;
		if (out > 63)
			return 0;
	}
	return decoded;
}

int domain_normalize(const char *in, size_t len, char *out, size_t size, const char **why)
{
	size_t labels = 0, start = 0, o = 0;

	if (!in || len == 0) {
		*why = "Enter a domain, e.g. mail.example.com";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)in[i] >= 0x80) {
			*why = "Write an internationalised domain in its ASCII (punycode) form, e.g. "
			       "xn--caf-dma.example";
			return -1;
		}
	if (len > 1 && in[len - 1] == '.')
		len--; /* "example.com." names the same domain */
	if (len > DOMAIN_NAME_MAX || len + 1 > size) {
		*why = "The domain is too long: at most 229 characters, so that its DKIM record "
		       "name fits in DNS";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			size_t l = i - start;
			const char *label = out + start;
			if (l == 0) {
				*why = "The domain has an empty label (two dots in a row, or a dot at "
				       "the start)";
				return -1;
			}
			if (l > 63) {
				*why = "A label of the domain is longer than 63 characters";
				return -1;
			}
			if (label[0] == '-' || label[l - 1] == '-') {
				*why = "A label of the domain starts or ends with a hyphen";
				return -1;
			}
			if (l >= 4 && label[2] == '-' && label[3] == '-') {
				if (label[0] != 'x' || label[1] != 'n' || !punycode_ok(label + 4, l - 4)) {
					*why = "A label of the domain is not valid punycode (labels "
					       "with -- in the third and fourth places must be xn-- "
					       "IDNA labels)";
					return -1;
				}
			}
			labels++;
			start = i + 1;
			if (i < len)
				out[o++] = '.';
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			*why = "The domain may hold only letters, digits, hyphens and dots";
			return -1;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	if (labels < 2) {
		*why = "Enter a full domain with a dot, e.g. example.com";
		return -1;
	}
	{
		const char *top = strrchr(out, '.') + 1;
		if (strspn(top, "0123456789") == strlen(top)) {
			*why = "Enter a domain name, not an IP address";
			return -1;
		}
	}
	return 0;
}

/* ---- sealing ---------------------------------------------------------- */

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -1 : 0; /* idempotent and thread-safe */
}

int domain_key_seal(const unsigned char key[32], const char *pem, size_t len,
		    struct strbuf *out)
{
	size_t boxlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len, b64len;
	unsigned char *box;
	int ret = -1;

	if (sodium_ready() < 0 || len == 0 || len > SEALED_MAX / 2)
		return -1;
	b64len = sodium_base64_encoded_len(boxlen, sodium_base64_VARIANT_ORIGINAL);
	box = malloc(boxlen);
	if (!box)
		return -1;
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)pem, len,
			      box, key);
	if (strbuf_appends(out, SEALED_PREFIX) == 0 && strbuf_grow(out, b64len) == 0) {
		sodium_bin2base64(out->buf + out->len, b64len, box, boxlen,
				  sodium_base64_VARIANT_ORIGINAL);
		out->len += strlen(out->buf + out->len);
		ret = 0;
	}
	free(box);
	return ret;
}

int domain_key_open(const unsigned char key[32], const char *sealed, struct strbuf *pem)
{
	const size_t over = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
	const char *b64;
	size_t b64len, binlen = 0, mlen;
	unsigned char *bin = NULL;
	int ret = -1;

	if (sodium_ready() < 0 || !sealed || strncmp(sealed, SEALED_PREFIX, 3) != 0)
		return -1;
	b64 = sealed + 3;
	b64len = strlen(b64);
	if (b64len == 0 || b64len > SEALED_MAX)
		return -1;
	bin = malloc(b64len);
	if (!bin)
		return -1;
	if (sodium_base642bin(bin, b64len, b64, b64len, NULL, &binlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen <= over)
		goto out;
	mlen = binlen - over;
	if (strbuf_grow(pem, mlen + 1) < 0)
		goto out;
	if (crypto_secretbox_open_easy((unsigned char *)pem->buf + pem->len,
				       bin + crypto_secretbox_NONCEBYTES,
				       binlen - crypto_secretbox_NONCEBYTES, bin, key) != 0)
		goto out;
	pem->len += mlen;
	pem->buf[pem->len] = '\0';
	ret = 0;
out:
	free(bin);
	return ret;
}

/* Forget a buffer that held a private key. */
static void strbuf_wipe(struct strbuf *sb)
{
	if (sb->buf)
		sodium_memzero(sb->buf, sb->cap);
	strbuf_free(sb);
}

/* ---- JSON ------------------------------------------------------------- */

/* One TXT record to publish: value in zone-file form ("..." "..."), and
 * the strings themselves, none over 255 bytes. */
static json_object *txt_record(const char *name, const char *value, const char *purpose,
			       int required)
{
	json_object *o = json_object_new_object(), *strings = json_object_new_array();
	struct strbuf q = STRBUF_INIT;
	size_t len = strlen(value), n = dkim_txt_strings(len);

	dkim_txt_quoted(value, len, &q);
	for (size_t i = 0; i < n; i++) {
		size_t at = i * DKIM_TXT_STRING_MAX;
		size_t k = len - at < DKIM_TXT_STRING_MAX ? len - at : DKIM_TXT_STRING_MAX;
		json_object_array_add(strings, json_object_new_string_len(value + at, (int)k));
	}
	json_object_object_add(o, "type", json_object_new_string("TXT"));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "value", json_object_new_string(strbuf_cstr(&q)));
	json_object_object_add(o, "strings", strings);
	json_object_object_add(o, "purpose", json_object_new_string(purpose));
	json_object_object_add(o, "required", json_object_new_boolean(required));
	strbuf_free(&q);
	return o;
}

/* What the SPF hint authorises: FLOWSEND_SPF_INCLUDE, else the SPF record of
 * FlowSend's own mail domain (which covers the relay), else mx. */
static void spf_mechanisms(const struct fs_config *cfg, char *out, size_t size)
{
	const char *at = strrchr(cfg->mail_from, '@');
	size_t n;

	if (*cfg->spf_include) {
		snprintf(out, size, "%s", cfg->spf_include);
		return;
	}
	if (at) {
		n = strcspn(at + 1, "> \t");
		if (dkim_name_ok(at + 1, n, 0) && memchr(at + 1, '.', n)) {
			snprintf(out, size, "include:%.*s", (int)n, at + 1);
			return;
		}
	}
	snprintf(out, size, "mx");
}

static json_object *records_json(const struct fs_config *cfg, const char *domain,
				 const char *selector, const char *pub)
{
	json_object *a = json_object_new_array();
	struct strbuf v = STRBUF_INIT, name = STRBUF_INIT;
	char mech[300];

	strbuf_appendf(&name, "%s._domainkey.%s", selector, domain);
	dkim_txt_value(pub, &v);
	json_object_array_add(a, txt_record(strbuf_cstr(&name), strbuf_cstr(&v), "dkim", 1));
	strbuf_reset(&v);
	spf_mechanisms(cfg, mech, sizeof(mech));
	strbuf_appendf(&v, "v=spf1 %s ~all", mech);
	json_object_array_add(a, txt_record(domain, strbuf_cstr(&v), "spf", 0));
	strbuf_reset(&name);
	strbuf_appendf(&name, "_dmarc.%s", domain);
	json_object_array_add(a, txt_record(strbuf_cstr(&name), "v=DMARC1; p=none; adkim=r; aspf=r",
					    "dmarc", 0));
	strbuf_free(&v);
	strbuf_free(&name);
	return a;
}

static json_object *domain_json(struct fs_env *env, const PGresult *r, int row)
{
	json_object *o = json_object_new_object();
	const char *domain = db_get(r, row, "domain"), *sel = db_get(r, row, "dkim_selector");

	json_object_object_add(o, "id", json_object_new_string(db_get(r, row, "id")));
	json_object_object_add(o, "domain", json_object_new_string(domain));
	json_object_object_add(o, "dkim_selector", json_object_new_string(sel));
	json_object_object_add(o, "dns_records",
			       records_json(env->cfg, domain, sel, db_get(r, row, "dkim_public_key")));
	json_object_object_add(o, "verified", json_object_new_boolean(db_get_bool(r, row, "verified")));
	json_object_object_add(o, "verified_at",
			       fs_json_str_or_null(db_iso_time(env->arena, db_get(r, row, "verified_at"))));
	json_object_object_add(o, "last_checked_at",
			       fs_json_str_or_null(db_iso_time(env->arena,
							       db_get(r, row, "last_checked_at"))));
	json_object_object_add(o, "last_check_error",
			       fs_json_str_or_null(db_get(r, row, "last_check_error")));
	json_object_object_add(o, "created_at",
			       fs_json_str_or_null(db_iso_time(env->arena, db_get(r, row, "created_at"))));
	return o;
}

/* ---- routes ----------------------------------------------------------- */

enum fs_status domains_create(struct fs_env *env, const char *domain, json_object **out,
			      struct fs_error *err)
{
	char norm[DOMAIN_NAME_MAX + 1], selector[16], limit[16];
	unsigned char rnd[5];
	const char *why = NULL;
	struct strbuf priv = STRBUF_INIT, pub = STRBUF_INIT, sealed = STRBUF_INIT;
	enum fs_status st = FS_ERROR;
	PGresult *r;

	if (!domain || domain_normalize(domain, strlen(domain), norm, sizeof(norm), &why) < 0)
		return fs_fail(err, FS_INVALID, "%s", why ? why : "Enter a domain");
	snprintf(limit, sizeof(limit), "%d", DOMAINS_PER_ACCOUNT);
	{
		const char *p[1] = { norm };
		r = db_tenant_query(env->db, env->arena, env->user_id,
				    "SELECT count(*) AS n, coalesce(bool_or(domain = $1), false) AS taken"
				    " FROM sender_domains",
				    1, p);
	}
	if (!r)
		return fs_fail(err, FS_ERROR, "reading sender domains failed");
	if (db_get_bool(r, 0, "taken"))
		return fs_fail(err, FS_CONFLICT, "This domain is already added");
	if (db_get_ll(r, 0, "n", 0) >= DOMAINS_PER_ACCOUNT)
		return fs_fail(err, FS_BAD_REQUEST,
			       "An account can have at most %d sender domains; delete one first",
			       DOMAINS_PER_ACCOUNT);

	/* A fresh selector each time: a domain deleted and added again gets a
	 * new record name, so no resolver's cached old key gets in the way. */
	if (random_bytes(rnd, sizeof(rnd)) < 0)
		return fs_fail(err, FS_ERROR, "random selector failed");
	memcpy(selector, "fs", 2);
	hex_encode(rnd, sizeof(rnd), selector + 2);
	if (dkim_keygen(DOMAIN_KEY_BITS, &priv, &pub) < 0 ||
	    domain_key_seal(env->cfg->secret_key, priv.buf, priv.len, &sealed) < 0 || pub.oom) {
		st = fs_fail(err, FS_ERROR, "generating the DKIM key failed");
		goto out;
	}
	{
		const char *p[6] = { env->user_id, norm, selector, pub.buf, sealed.buf, limit };
		r = db_tenant_query(
			env->db, env->arena, env->user_id,
			"INSERT INTO sender_domains (user_id, domain, dkim_selector, dkim_public_key,"
			" dkim_private_key_sealed, created_at, updated_at)"
			" SELECT $1, $2, $3, $4, $5, flowsend_now(), flowsend_now()"
			" WHERE (SELECT count(*) FROM sender_domains) < $6::int"
			" RETURNING " DOMAIN_COLUMNS,
			6, p);
	}
	if (!r) {
		if (strcmp(db_last_sqlstate(env->db), "23505") == 0) /* a request just added it */
			st = fs_fail(err, FS_CONFLICT, "This domain is already added");
		else
			st = fs_fail(err, FS_ERROR, "storing the sender domain failed");
		goto out;
	}
	if (PQntuples(r) != 1) { /* another request took the last place meanwhile */
		st = fs_fail(err, FS_BAD_REQUEST,
			     "An account can have at most %d sender domains; delete one first",
			     DOMAINS_PER_ACCOUNT);
		goto out;
	}
	*out = domain_json(env, r, 0);
	st = FS_OK;
out:
	strbuf_wipe(&priv);
	strbuf_free(&pub);
	strbuf_free(&sealed);
	return st;
}

enum fs_status domains_list(struct fs_env *env, json_object **out, struct fs_error *err)
{
	PGresult *r = db_tenant_query(env->db, env->arena, env->user_id,
				      "SELECT " DOMAIN_COLUMNS " FROM sender_domains"
				      " ORDER BY created_at, domain",
				      0, NULL);

	if (!r)
		return fs_fail(err, FS_ERROR, "listing sender domains failed");
	*out = json_object_new_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_object_array_add(*out, domain_json(env, r, i));
	return FS_OK;
}

enum fs_status domains_get(struct fs_env *env, const char *id, json_object **out,
			   struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT " DOMAIN_COLUMNS " FROM sender_domains WHERE id = $1", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the sender domain failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	*out = domain_json(env, r, 0);
	return FS_OK;
}

/* s[0..n) for a message: printable ASCII, at most max bytes, "..." after a cut. */
static void shown(const char *s, size_t n, size_t max, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < max && o + 4 < size; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n > max && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* The value of tag t in a DKIM tag list ("v=DKIM1; k=rsa; p=..."), blanks
 * removed, into out; 1 when present, 0 when not, -1 when the list is not a
 * tag list at all. */
static int dkim_tag(const char *rec, char tag, struct strbuf *out)
{
	const char *p = rec;
	int found = 0;

	while (*p) {
		const char *end = strchr(p, ';'), *eq;
		const char *name;
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (p < end) {
			eq = memchr(p, '=', (size_t)(end - p));
			if (!eq)
				return -1;
			name = p;
			while (name < eq && (eq[-1] == ' ' || eq[-1] == '\t'))
				eq--;
			if (eq - name == 1 && *name == tag && !found) {
				const char *v = memchr(name, '=', (size_t)(end - name)) + 1;
				for (; v < end; v++)
					if (*v != ' ' && *v != '\t' && *v != '\r' && *v != '\n')
						strbuf_appendc(out, *v);
				found = 1;
			}
		}
		p = *end ? end + 1 : end;
	}
	return found;
}

/* Whether one TXT value publishes pub: 1 yes, 0 with the reason in why. */
static int record_matches(const char *rec, const char *pub, char *why, size_t size,
			  int *looked_like_dkim)
{
	struct strbuf v = STRBUF_INIT, k = STRBUF_INIT, p = STRBUF_INIT;
	char found[80];
	int hasv, hask, hasp, ok = 0;

	hasv = dkim_tag(rec, 'v', &v);
	hask = dkim_tag(rec, 'k', &k);
	hasp = dkim_tag(rec, 'p', &p);
	*looked_like_dkim = 0;
	if (hasv < 0 || hasp <= 0 || (hasv && strcmp(strbuf_cstr(&v), "DKIM1") != 0)) {
		shown(rec, strlen(rec), 60, found, sizeof(found));
		snprintf(why, size, "is not a DKIM key record: found \"%s\"", found);
	} else if (hask && strcmp(strbuf_cstr(&k), "rsa") != 0) {
		*looked_like_dkim = 1;
		shown(k.buf, k.len, 20, found, sizeof(found));
		snprintf(why, size, "holds a key of type k=%s, not rsa", found);
	} else if (p.len == 0) {
		*looked_like_dkim = 1;
		snprintf(why, size, "holds a revoked key (p= is empty)");
	} else if (strcmp(p.buf, pub) != 0) {
		char head[24], tail[16];
		*looked_like_dkim = 1;
		shown(p.buf, p.len, 16, head, sizeof(head));
		shown(p.len > 10 ? p.buf + p.len - 10 : p.buf, p.len > 10 ? 10 : p.len, 10, tail,
		      sizeof(tail));
		snprintf(why, size,
			 "holds another key: found p=%s%s (%zu characters), expected the p= of "
			 "dns_records",
			 head, tail, p.len);
	} else {
		ok = 1;
	}
	strbuf_free(&v);
	strbuf_free(&k);
	strbuf_free(&p);
	return ok;
}

enum fs_status domains_verify(struct fs_env *env, const char *id, json_object **out,
			      struct fs_error *err)
{
	struct strbuf name = STRBUF_INIT, txt = STRBUF_INIT;
	char why[200] = "", detail[sizeof(err->detail)] = "";
	const char *p[3];
	enum fs_status st = FS_ERROR;
	enum dns_result dr;
	const char *verified = NULL, *pub;
	size_t count = 0;
	PGresult *r;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	p[0] = id;
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT domain, dkim_selector, dkim_public_key FROM sender_domains"
			    " WHERE id = $1",
			    1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the sender domain failed");
	if (PQntuples(r) != 1)
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	pub = db_get(r, 0, "dkim_public_key");
	strbuf_appendf(&name, "%s._domainkey.%s", db_get(r, 0, "dkim_selector"),
		       db_get(r, 0, "domain"));
	if (name.oom)
		goto out;

	dr = dns_txt(env->cfg->dns_server, name.buf, &txt, &count);
	switch (dr) {
	case DNS_BAD_SERVER:
		log_error("FLOWSEND_DNS_SERVER=\"%s\" is not host or host:port (IPv4)",
			  env->cfg->dns_server);
		/* fall through */
	case DNS_UNAVAILABLE:
		snprintf(detail, sizeof(detail),
			 "The DNS server did not answer for %s; try again later", name.buf);
		break;
	case DNS_NO_NAME:
		snprintf(detail, sizeof(detail),
			 "No DKIM record at %s: the name does not exist in DNS (yet)", name.buf);
		verified = "f";
		break;
	case DNS_NO_DATA:
		snprintf(detail, sizeof(detail), "No DKIM record at %s: the name has no TXT record",
			 name.buf);
		verified = "f";
		break;
	case DNS_FOUND: {
		/* Any record that holds the key will do; otherwise report the one
		 * that came closest (a DKIM record with another key). */
		int best = -1;
		verified = "f";
		for (size_t i = 0, at = 0; i < count; i++) {
			const char *rec = txt.buf + at;
			char w[200];
			int dkimish;
			at += strlen(rec) + 1;
			if (record_matches(rec, pub, w, sizeof(w), &dkimish)) {
				verified = "t";
				break;
			}
			if (dkimish > best) {
				best = dkimish;
				snprintf(why, sizeof(why), "%s", w);
			}
		}
		if (*verified == 'f')
			snprintf(detail, sizeof(detail), "The TXT record at %s %s", name.buf, why);
		break;
	}
	}

	p[1] = verified;
	p[2] = *detail ? detail : NULL;
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "UPDATE sender_domains SET"
			    " verified = coalesce($2::boolean, verified),"
			    " verified_at = CASE WHEN coalesce($2::boolean, verified)"
			    "   THEN coalesce(verified_at, flowsend_now()) END,"
			    " last_checked_at = flowsend_now(), last_check_error = $3,"
			    " updated_at = flowsend_now()"
			    " WHERE id = $1 RETURNING " DOMAIN_COLUMNS,
			    3, p);
	if (!r) {
		fs_fail(err, FS_ERROR, "recording the check failed");
		goto out;
	}
	if (PQntuples(r) != 1) { /* deleted while we asked DNS */
		st = fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
		goto out;
	}
	if (!verified)
		st = fs_fail(err, FS_UNAVAILABLE, "%s", detail);
	else if (*verified == 'f')
		st = fs_fail(err, FS_BAD_REQUEST, "%s", detail);
	else {
		*out = domain_json(env, r, 0);
		st = FS_OK;
	}
out:
	strbuf_free(&name);
	strbuf_free(&txt);
	return st;
}

enum fs_status domains_delete(struct fs_env *env, const char *id, struct fs_error *err)
{
	const char *p[1] = { id };
	PGresult *r;

	if (!id || !uuid_valid(id, strlen(id)))
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "DELETE FROM sender_domains WHERE id = $1 RETURNING id", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "deleting the sender domain failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Sender domain not found");
	return FS_OK;
}
