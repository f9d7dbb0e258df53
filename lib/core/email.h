/* Email address checks shaped on RFC 5321: local@domain, lengths capped. */
#ifndef FS_EMAIL_H
#define FS_EMAIL_H

#include <stddef.h>

/* NULL when s[0..len) is an acceptable address, else why not (for a 422). */
const char *email_invalid_reason(const char *s, size_t len);

#endif
