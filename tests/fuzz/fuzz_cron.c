/* libFuzzer target: the cron parser. Whatever the input, an error or bit sets
 * within their fields' ranges; a search from a fixed minute ends (or says none)
 * and what it finds matches. */
#include <stddef.h>
#include <stdint.h>

#include "core/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron c;
	struct cron_time t = { 2026, 3, 29, 1, 59 }, n;
	char err[128];

	if (cron_parse((const char *)data, size, &c, err, sizeof(err)) < 0)
		return 0;
	if ((c.minutes >> 60) || (c.hours >> 24) || (c.mdays & 1) || (c.months & 1) ||
	    (c.months >> 13) || (c.wdays >> 7))
		__builtin_trap();
	if (cron_next(&c, &t, &n) == 0) {
		static const int tt[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
		int y = n.month < 3 ? n.year - 1 : n.year;
		int wday = (y + y / 4 - y / 100 + y / 400 + tt[n.month - 1] + n.mday) % 7;
		if (!cron_matches(&c, &n, wday))
			__builtin_trap();
	}
	return 0;
}
