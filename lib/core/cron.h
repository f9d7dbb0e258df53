/* Five-field cron expressions (minute hour day-of-month month day-of-week):
 * a pure parser, a matcher and a "next civil minute" search, no time zones. */
#ifndef FS_CRON_H
#define FS_CRON_H

#include <stddef.h>
#include <stdint.h>

#define CRON_MAX_LEN 256

/* One bit per allowed value. dom_any / dow_any remember a literal "*": as in
 * Vixie cron, when both day fields are restricted a day matches either. */
struct cron {
	uint64_t minutes; /* bits 0..59 */
	uint32_t hours;   /* bits 0..23 */
	uint32_t mdays;   /* bits 1..31 */
	uint16_t months;  /* bits 1..12 */
	uint8_t wdays;    /* bits 0..6, Sunday = 0 (7 is folded into 0) */
	int dom_any, dow_any;
};

/* A civil (wall-clock) minute, as in struct tm but 1-based months. */
struct cron_time {
	int year, month, mday, hour, minute;
};

/* Parse len bytes: five space-separated fields of `*`, `N`, `A-B`, lists with
 * commas, steps `/S` after `*` or a range; month and weekday names (jan, mon)
 * accepted. 0, or -1 with a human message in err (never longer than errlen). */
int cron_parse(const char *s, size_t len, struct cron *out, char *err, size_t errlen);
/* 1 when that civil minute matches (wday 0..6, Sunday = 0). */
int cron_matches(const struct cron *c, const struct cron_time *t, int wday);
/* The first matching civil minute strictly after `after`, searching up to
 * five years ahead: 0, or -1 when none (e.g. "0 0 31 2 *"). */
int cron_next(const struct cron *c, const struct cron_time *after, struct cron_time *next);

#endif
