/* libFuzzer target: provider notification parsers (mail/provider) on any
 * bytes: the SNS envelope, its signed text and certificate URL check, the SES
 * event inside, SendGrid's event array, and Message-IDs. Strings they fill
 * must be NUL-terminated printable ASCII; nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/provider.h"

static void printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			__builtin_trap();
}

static void check(const struct provider_event *ev)
{
	printable(ev->message_id, sizeof(ev->message_id));
	printable(ev->report.status, sizeof(ev->report.status));
	printable(ev->report.recipient, sizeof(ev->report.recipient));
	printable(ev->report.diagnostic, sizeof(ev->report.diagnostic));
	printable(ev->report.feedback_type, sizeof(ev->report.feedback_type));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sns_message m;
	struct strbuf text = STRBUF_INIT;
	struct provider_event ev, evs[16];
	char *copy = malloc(size + 1), id[37];
	size_t n;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (sns_parse(s, size, &m) == 0) {
		sns_string_to_sign(&m, &text);
		sns_url_ok(m.signing_cert_url, 1);
		if (m.subscribe_url)
			sns_url_ok(m.subscribe_url, 0);
		if (ses_event_parse(m.message, strlen(m.message), &ev) == 0)
			check(&ev);
	}
	sns_free(&m);
	if (ses_event_parse(s, size, &ev) == 0)
		check(&ev);
	if (sendgrid_events_parse(s, size, evs, 16, &n) == 0) {
		if (n > 16)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			check(&evs[i]);
	}
	sns_url_ok(copy, 1);
	sns_url_ok(copy, 0);
	if (provider_message_outbox(copy, id) == 0 && strlen(id) != 36)
		__builtin_trap();
	strbuf_free(&text);
	free(copy);
	return 0;
}
