/* Reading a message back: header lookup with unfolding, RFC 2047 words,
 * addresses, quoted-printable, base64 and the parts of a multipart body.
 * Pure and strict where our own writer must be exact (tests, the fuzz
 * target, the SMTP sink's checks); bounce reports can use it later. */
#ifndef FS_MESSAGE_READ_H
#define FS_MESSAGE_READ_H

#include <stddef.h>

#include "core/strbuf.h"

/* 1 when every line of msg[0..len) ends in CRLF (the last one too), there is
 * no bare CR or LF and no NUL, and no line is longer than max octets. */
int mail_read_lines_ok(const char *msg, size_t len, size_t max);

/* Offset of the body (after the blank line that ends the headers), or -1. */
long mail_read_body_offset(const char *msg, size_t len);

/* The first header called name (any case) in the header block of msg,
 * unfolded (CRLF before a continuation removed) and trimmed, into out.
 * Returns how many headers have that name, or -1 for a malformed block (a
 * line without a colon, a continuation first, no blank line). */
int mail_read_header(const char *msg, size_t len, const char *name, struct strbuf *out);

struct mail_words_info {
	size_t words;   /* encoded words decoded */
	size_t longest; /* characters in the longest one */
	int split;      /* a word's bytes were not whole UTF-8 characters */
};

/* Decode the RFC 2047 words (UTF-8, B or Q) in unstructured text; space
 * between two encoded words is dropped. 0, or -1 for a malformed word.
 * info may be NULL. */
int mail_read_words(const char *s, size_t len, struct strbuf *out, struct mail_words_info *info);

/* A mailbox: "name <addr>" (name bare, quoted or encoded) or a bare addr.
 * The decoded name (empty when none) and the addr-spec. 0 or -1. */
int mail_read_address(const char *s, size_t len, struct strbuf *name, struct strbuf *addr,
		      struct mail_words_info *info);

/* Quoted-printable and base64 bodies; -1 for anything malformed. */
int mail_read_qp(const char *s, size_t len, struct strbuf *out);
int mail_read_base64(const char *s, size_t len, struct strbuf *out);

struct mail_read_part {
	struct strbuf content_type; /* unfolded header value */
	struct strbuf encoding;     /* Content-Transfer-Encoding, lower case; "7bit" by default */
	struct strbuf body;         /* decoded */
	const char *raw;            /* the encoded body inside the message */
	size_t raw_len;
};

/* The parts of a multipart message, in order, up to max; *n says how many.
 * The boundary comes from the top Content-Type. 0, or -1 when the structure
 * is malformed (no boundary, no closing delimiter, a part that does not
 * decode). Free the parts with mail_read_parts_free, on failure too. */
int mail_read_parts(const char *msg, size_t len, struct mail_read_part *parts, size_t max,
		    size_t *n, struct strbuf *boundary);
void mail_read_parts_free(struct mail_read_part *parts, size_t n);

/* A message as mail_message_build writes it, read back whole: each header
 * decoded, the text and HTML parts decoded. */
struct mail_read_message {
	struct strbuf date, from_name, from_addr, reply_to, to_name, to_addr, subject;
	struct strbuf message_id, outbox_id, list_unsubscribe, list_unsubscribe_post;
	struct strbuf text, html, boundary;
	struct mail_read_part parts[2];
	size_t nparts;
	struct mail_words_info words; /* over every encoded word read */
};

/* 0, or -1 with why set when msg is not such a message: lines not CRLF or
 * over 998, a header missing or repeated, a word or part that does not
 * decode, parts other than text/plain then text/html in UTF-8, a boundary
 * that occurs in an encoded body. Free m with mail_read_message_free. */
int mail_read_message(const char *msg, size_t len, struct mail_read_message *m,
		      const char **why);
void mail_read_message_free(struct mail_read_message *m);

#endif
