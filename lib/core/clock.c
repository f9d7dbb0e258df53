/* The clock behind every date decision (expiries, schedules, delays), in C
 * and, through the flowsend.clock_offset setting, in SQL's flowsend_now(). */
#include "core/clock.h"

#include <stdio.h>

#include "core/timeutil.h"

/* Responders and the batch worker are single-threaded processes: the offset
 * is set at startup (or by a test) and read on the same thread. */
static long clock_offset_s;
static unsigned long clock_gen;

time_t clock_now(void)
{
	return time(NULL) + (time_t)clock_offset_s;
}

double clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + (double)clock_offset_s) * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void clock_set_offset(long seconds)
{
	if (seconds != clock_offset_s) {
		clock_offset_s = seconds;
		clock_gen++;
	}
}

long clock_offset(void)
{
	return clock_offset_s;
}

int clock_set_now_iso(const char *iso)
{
	char canon[40];
	struct tm tm = { 0 };
	time_t t;

	if (!iso || time_parse_iso(iso, canon, sizeof(canon)) < 0)
		return -1;
	/* time_parse_iso validated and normalised to UTC: "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
	if (sscanf(canon, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	clock_set_offset((long)(t - time(NULL)));
	return 0;
}

unsigned long clock_generation(void)
{
	return clock_gen;
}
