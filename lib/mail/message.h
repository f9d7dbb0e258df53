/* One outgoing message as the exact bytes handed to SMTP: RFC 5322 headers and
 * a MIME multipart/alternative body (text, then HTML), CRLF line ends, every
 * line within 998 octets. Pure: no I/O, no clock, no randomness of its own
 * (the caller passes the date and the Message-ID), so the same input always
 * gives the same bytes (DKIM signs them later). */
#ifndef FS_MESSAGE_H
#define FS_MESSAGE_H

#include <stddef.h>

#include "core/strbuf.h"

struct mail_message {
	const char *from_name;   /* UTF-8 display name, or NULL/"" */
	const char *from_email;  /* addr-spec, ASCII */
	const char *reply_to;    /* addr-spec, or NULL/"" for none */
	const char *to_name;     /* UTF-8 display name, or NULL/"" */
	const char *to_email;    /* addr-spec */
	const char *subject;     /* UTF-8, one line */
	const char *html;        /* UTF-8 */
	size_t html_len;
	const char *text;        /* UTF-8 */
	size_t text_len;
	const char *message_id;  /* "<local@domain>", kept on the outbox row */
	const char *outbox_id;   /* named in X-FlowSend-Outbox for bounce matching */
	const char *unsubscribe_url; /* https URL for List-Unsubscribe (+ One-Click), or NULL */
	long long date;          /* Unix seconds, written as an RFC 5322 Date in UTC */
};

/* Append the whole message to out. 0, or -1 when a field cannot be written
 * safely (an address or id with CR, LF, NUL or a non-ASCII byte, a missing
 * required field) or memory ran out; nothing useful is left in out then.
 * Names and the subject with CR, LF or bytes that are not UTF-8 are refused
 * too; other text becomes RFC 2047 words where it is not plain ASCII. The
 * bodies' line breaks (LF, CRLF or a lone CR) are written as CRLF; each part
 * goes 7bit, quoted-printable or base64, whichever is smallest and safe.
 * List-Unsubscribe and List-Unsubscribe-Post are written only for an https
 * URL (RFC 8058); another URL is left out, one holding a space, a control
 * character, '<', '>' or '"' is refused. mail/message_read.h reads it back. */
int mail_message_build(const struct mail_message *m, struct strbuf *out);

/* A Message-ID for outbox_id at domain: "<outbox_id@domain>" into out. 0, or
 * -1 when it does not fit or the inputs are not plain ASCII tokens. */
int mail_message_id(const char *outbox_id, const char *domain, char *out, size_t size);

#endif
