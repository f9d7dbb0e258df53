/* Link scanners: the user agents of mail security gateways and prefetchers
 * that fetch every link and image of a message before (or instead of) the
 * person. The one list of them; hits from them are recorded with is_bot. */
#ifndef FS_SCANNERS_H
#define FS_SCANNERS_H

#include <stddef.h>

/* Seconds after delivery within which any hit counts as a scanner's. */
#define SCANNER_WINDOW_SECONDS 2

/* 1 when the User-Agent (NULL or "": none) is a known scanner's or an HTTP
 * library's rather than a mail client's or a browser's. */
int scanner_agent(const char *ua);

#endif
