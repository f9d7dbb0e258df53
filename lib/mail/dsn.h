/* Reading what comes back to a VERP address: RFC 3464 delivery status
 * notifications and RFC 5965 (ARF) complaint reports. Pure, tolerant of what
 * real relays write (LF or CRLF, folded headers, nested multiparts) and
 * bounded: nothing is allocated beyond a decoded report part. */
#ifndef FS_DSN_H
#define FS_DSN_H

#include <stddef.h>

enum dsn_kind {
	DSN_NONE = 0,  /* not a report, or one that says nothing went wrong */
	DSN_SOFT,      /* Action delayed, or failed with a 4.x.x status */
	DSN_HARD,      /* Action failed with a 5.x.x status (or none) */
	DSN_COMPLAINT, /* a feedback report of abuse, fraud, virus or other */
};

/* Everything is NUL-terminated, printable ASCII ('?' for any other byte), and
 * cut to its buffer; empty when absent. */
struct dsn_report {
	enum dsn_kind kind;
	char action[16];         /* failed, delayed, delivered, ... (lower case) */
	char status[16];         /* "5.1.1" */
	char recipient[256];     /* Final-Recipient (or Original-Rcpt-To), the address only */
	char diagnostic[256];    /* Diagnostic-Code */
	char feedback_type[32];  /* abuse, fraud, ... (lower case) */
	char outbox_id[40];      /* X-FlowSend-Outbox of the returned message */
	char message_id[200];    /* Message-ID of the returned message */
};

/* Nesting of multiparts followed before a part is skipped. */
#define DSN_MAX_DEPTH 6
/* Parts looked at, across every level, before the rest is skipped. */
#define DSN_MAX_PARTS 64

/* Parse the message msg[0..len) into out. Returns the kind (also in
 * out->kind); DSN_NONE for anything that is not such a report. Never fails
 * otherwise: a field that is missing or malformed is left empty. */
enum dsn_kind dsn_parse(const char *msg, size_t len, struct dsn_report *out);

/* "hard", "soft", "complaint", or "none". */
const char *dsn_kind_name(enum dsn_kind k);

#endif
