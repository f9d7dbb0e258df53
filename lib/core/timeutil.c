/* Time helpers shared by logs, responses and the batch worker. */
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

double time_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void time_now_iso(char *out, size_t size)
{
	/* The text up to the seconds, made once a second: every log line
	 * (an access line per request) asks for the time. Per thread: the SMTP
	 * drivers log too. */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char prefix[32];
	static _Thread_local size_t prefix_len;
	struct timespec ts;
	long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;
		int n;

		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(prefix, sizeof(prefix), "%04d-%02d-%02dT%02d:%02d:%02d.",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec);
		if (n < 0 || (size_t)n >= sizeof(prefix))
			n = 0;
		prefix_len = (size_t)n;
		cached_sec = ts.tv_sec;
	}
	if (size < prefix_len + 5) {
		if (size)
			out[0] = '\0';
		return;
	}
	ms = ts.tv_nsec / 1000000;
	memcpy(out, prefix, prefix_len);
	out[prefix_len] = (char)('0' + ms / 100);
	out[prefix_len + 1] = (char)('0' + ms / 10 % 10);
	out[prefix_len + 2] = (char)('0' + ms % 10);
	out[prefix_len + 3] = 'Z';
	out[prefix_len + 4] = '\0';
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int time_parse_iso(const char *s, char *out, size_t size)
{
	int year, month, day, hour, minute, second = 0, micros = 0, off_h = 0, off_m = 0, sign = 1;
	struct tm tm;
	time_t t;
	size_t i = 16;

	if (strlen(s) < 16 || digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &month) ||
	    s[7] != '-' || digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &hour) || s[13] != ':' || digits(s + 14, 2, &minute))
		return -1;
	if (s[i] == ':') {
		if (digits(s + i + 1, 2, &second))
			return -1;
		i += 3;
		if (s[i] == '.') {
			int n = 0;
			for (i++; s[i] >= '0' && s[i] <= '9'; i++, n++)
				if (n < 6)
					micros = micros * 10 + (s[i] - '0');
			if (n == 0)
				return -1;
			for (; n < 6; n++)
				micros *= 10;
		}
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		if (digits(s + i + 1, 2, &off_h))
			return -1;
		i += 3;
		if (s[i] == ':')
			i++;
		if (digits(s + i, 2, &off_m))
			return -1;
		i += 2;
	}
	if (s[i] != '\0' || year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 ||
	    off_h > 14 || off_m > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	t = timegm(&tm) - sign * (off_h * 3600 + off_m * 60);
	if (!gmtime_r(&t, &tm))
		return -1;
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
	return 0;
}
