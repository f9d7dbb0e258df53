/* libFuzzer target: the bounce and complaint report parser (mail/dsn) on any
 * bytes, and the VERP token finder and checker on the same bytes. Every
 * field it fills must be NUL-terminated printable ASCII within its buffer,
 * and the kind must agree with the fields that decide it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mail/dsn.h"
#include "mail/links.h"

static void printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_report r;
	enum dsn_kind k = dsn_parse((const char *)data, size, &r);
	size_t off, tlen;
	char id[37];

	if (k != r.kind)
		__builtin_trap();
	printable(r.action, sizeof(r.action));
	printable(r.status, sizeof(r.status));
	printable(r.recipient, sizeof(r.recipient));
	printable(r.diagnostic, sizeof(r.diagnostic));
	printable(r.feedback_type, sizeof(r.feedback_type));
	printable(r.outbox_id, sizeof(r.outbox_id));
	printable(r.message_id, sizeof(r.message_id));
	if (k == DSN_COMPLAINT && !*r.feedback_type)
		__builtin_trap();
	if (k == DSN_SOFT && strcmp(r.action, "delayed") != 0 && r.status[0] != '4')
		__builtin_trap();
	if (*r.status && !(r.status[0] == '2' || r.status[0] == '4' || r.status[0] == '5'))
		__builtin_trap();
	if (verp_find_token((const char *)data, size, &off, &tlen) == 0) {
		if (off + tlen > size)
			__builtin_trap();
		/* A guessed token must not verify. */
		if (verp_token_verify("fuzz-secret-of-at-least-32-characters",
				      (const char *)data + off, tlen, id, sizeof(id)) == 0)
			__builtin_trap();
	}
	return 0;
}
