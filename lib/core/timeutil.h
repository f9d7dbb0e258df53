/* Clocks and ISO 8601 formatting. */
#ifndef FS_TIMEUTIL_H
#define FS_TIMEUTIL_H

#include <stddef.h>
#include <time.h>

/* Monotonic milliseconds, for durations. */
double time_monotonic_ms(void);
/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 25 bytes). */
void time_now_iso(char *out, size_t size);

/* An ISO 8601 date-time ("2026-11-25T10:00", seconds, fraction and a Z or
 * +HH:MM offset optional; no offset means UTC) as canonical UTC text
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out (at least 28 bytes). 0, or -1 when
 * it is not a valid date-time. */
int time_parse_iso(const char *s, char *out, size_t size);

#endif
