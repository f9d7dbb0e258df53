/* UTF-8 checks for untrusted text before it reaches PostgreSQL or JSON, and
 * case folding for keys that must not tell JÖRG from jörg. */
#ifndef FS_UTF8_H
#define FS_UTF8_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

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
/* The code point at s[*i] of well-formed UTF-8 s[0..len); *i moves past it. */
uint32_t utf8_next(const char *s, size_t len, size_t *i);
/* 1 for a code point that shows nothing or only space: C0/C1 controls,
 * spaces other than U+0020, zero-width and format characters, joiners,
 * direction marks, variation selectors, tags, the BOM. Two addresses that
 * differ only by such characters look the same to a person. */
int utf8_is_invisible(uint32_t c);
/* The simple case folding of code point c (CaseFolding.txt, C and S), with
 * U+0130 to U+0069 as glibc's towlower has it. */
uint32_t utf8_fold_char(uint32_t c);
/* s[0..len) case-folded onto out. Strings that PostgreSQL's lower() makes
 * equal (libc UTF-8 locale, which lowers code point by code point) fold to
 * the same bytes; bytes that are not UTF-8 are copied. 0, or -1 out of memory. */
int utf8_casefold(struct strbuf *out, const char *s, size_t len);

#endif
