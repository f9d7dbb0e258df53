/* Clocks and ISO 8601 formatting. */
#ifndef FS_TIMEUTIL_H
#define FS_TIMEUTIL_H

#include <stddef.h>
#include <time.h>

/* Monotonic milliseconds, for durations. */
double time_monotonic_ms(void);
/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 25 bytes). */
void time_now_iso(char *out, size_t size);

#endif
