/* UTF-8 checks for untrusted text before it reaches PostgreSQL or JSON. */
#ifndef FS_UTF8_H
#define FS_UTF8_H

#include <stddef.h>

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates) without NUL. */
int utf8_valid(const char *s, size_t len);
/* How many leading bytes of s[0..len) are well-formed UTF-8 without NUL. */
size_t utf8_valid_prefix(const char *s, size_t len);
/* Number of code points in well-formed UTF-8. */
size_t utf8_length(const char *s, size_t len);
/* 1 when well-formed UTF-8 s[0..len) holds a control character (C0, DEL, C1)
 * or a Unicode line or paragraph separator; with allow_newline, LF (and the
 * CR of a CRLF) pass. Text that may reach a mail header must hold none. */
int utf8_has_controls(const char *s, size_t len, int allow_newline);

#endif
