/* A pragmatic address check: what mail servers accept, not every corner of
 * RFC 5322 (no quoted local parts, no IP literals). International domains
 * and local parts in UTF-8 pass (SMTPUTF8); control characters never do. */
#include "core/email.h"

#include <string.h>

#include "core/utf8.h"

static int local_char_ok(unsigned char c)
{
	if (c >= 0x80)
		return 1; /* UTF-8, validated as a whole below */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL && c != '\0';
}

static int domain_char_ok(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

const char *email_invalid_reason(const char *s, size_t len)
{
	const char *at;
	size_t local_len, dom_len, label = 0, labels = 0;

	if (len == 0)
		return "value is not a valid email address: it is empty";
	if (len > 254)
		return "value is not a valid email address: it is longer than 254 characters";
	if (!utf8_valid(s, len))
		return "value is not a valid email address: it is not valid UTF-8";
	for (size_t i = 0; i < len;)
		if (utf8_is_invisible(utf8_next(s, len, &i)))
			return "value is not a valid email address: it contains a space, an invisible or a"
			       " control character";
	at = memchr(s, '@', len);
	if (!at || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
		return "value is not a valid email address: it must have exactly one @-sign";
	local_len = (size_t)(at - s);
	dom_len = len - local_len - 1;
	if (local_len == 0 || local_len > 64)
		return "value is not a valid email address: the part before the @-sign is empty "
		       "or too long";
	if (s[0] == '.' || s[local_len - 1] == '.')
		return "value is not a valid email address: the part before the @-sign cannot "
		       "start or end with a period";
	for (size_t i = 0; i < local_len; i++) {
		if (!local_char_ok((unsigned char)s[i]))
			return "value is not a valid email address: the part before the @-sign "
			       "contains an invalid character";
		if (s[i] == '.' && s[i + 1] == '.')
			return "value is not a valid email address: the part before the @-sign "
			       "cannot contain two periods in a row";
	}
	if (dom_len == 0)
		return "value is not a valid email address: there must be something after the "
		       "@-sign";
	for (size_t i = 0; i <= dom_len; i++) {
		unsigned char c = i < dom_len ? (unsigned char)at[1 + i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63)
				return "value is not a valid email address: the domain name is not "
				       "valid";
			if (at[i] == '-' || at[1 + i - label] == '-')
				return "value is not a valid email address: a domain label cannot "
				       "start or end with a hyphen";
			labels++;
			label = 0;
		} else if (!domain_char_ok(c)) {
			return "value is not a valid email address: the domain name contains an "
			       "invalid character";
		} else {
			label++;
		}
	}
	if (labels < 2)
		return "value is not a valid email address: the domain name needs a period";
	return NULL;
}
