/* The service's one clock: the wall clock plus a process-wide offset that a
 * test or flowsend-batch --now sets, so delays, expiries and schedules can be
 * run ahead. Durations and timeouts use time_monotonic_ms, not this. */
#ifndef FS_CLOCK_H
#define FS_CLOCK_H

#include <time.h>

/* Seconds since the epoch as the service sees them: wall clock + offset. */
time_t clock_now(void);
/* The same in milliseconds. */
double clock_now_ms(void);
/* Run the clock seconds ahead of the wall clock (negative: behind; 0: real). */
void clock_set_offset(long seconds);
long clock_offset(void);
/* Set the offset so that now reads as iso (an ISO 8601 date-time as
 * time_parse_iso accepts it; fractions of a second are dropped). 0, or -1
 * with the offset unchanged when iso is not a valid date-time. */
int clock_set_now_iso(const char *iso);
/* Changes whenever the offset does: a database session compares it with the
 * one it last saw to know, without a round trip, that its copy is current. */
unsigned long clock_generation(void);

#endif
