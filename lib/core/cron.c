/* Cron expressions: parse into bit sets, then match or search minute by
 * minute-field (days are skipped whole, so a search costs at most a few
 * thousand steps). */
#include "core/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct field {
	const char *name;
	int lo, hi;
	const char *const *names; /* 3-letter names for lo.., or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const wday_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, wday_names },
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A number or a name at s[*i..end); -1 when neither (or out of int range). */
static int parse_value(const char *s, size_t *i, size_t end, const struct field *f)
{
	size_t p = *i;
	long v = 0;

	if (p < end && s[p] >= '0' && s[p] <= '9') {
		while (p < end && s[p] >= '0' && s[p] <= '9') {
			v = v * 10 + (s[p] - '0');
			if (v > 1000)
				return -1;
			p++;
		}
		*i = p;
		return (int)v;
	}
	if (f->names && p + 3 <= end) {
		for (int k = 0; f->names[k]; k++) {
			int match = 1;
			for (int j = 0; j < 3; j++) {
				char c = s[p + (size_t)j];
				if (c >= 'A' && c <= 'Z')
					c = (char)(c + 32);
				if (c != f->names[k][j])
					match = 0;
			}
			if (match) {
				*i = p + 3;
				return f->lo + k;
			}
		}
	}
	return -1;
}

/* One field s[b..e) into bits; *star set for a lone "*". */
static int parse_field(const char *s, size_t b, size_t e, const struct field *f, uint64_t *bits,
		       int *star, char *err, size_t errlen)
{
	size_t i = b;

	*bits = 0;
	*star = (e - b == 1 && s[b] == '*');
	while (i < e) {
		int lo, hi, step = 1, single = 0;
		if (s[i] == '*') {
			lo = f->lo;
			hi = f->hi;
			i++;
		} else {
			lo = parse_value(s, &i, e, f);
			if (lo < 0)
				return fail(err, errlen, "invalid %s field", f->name);
			hi = lo;
			single = 1;
			if (i < e && s[i] == '-') {
				single = 0;
				i++;
				hi = parse_value(s, &i, e, f);
				if (hi < 0)
					return fail(err, errlen, "invalid range in %s field", f->name);
			}
		}
		if (i < e && s[i] == '/') {
			int st;
			i++;
			if (i >= e || s[i] < '0' || s[i] > '9')
				return fail(err, errlen, "invalid step in %s field", f->name);
			st = parse_value(s, &i, e, &(struct field){ f->name, 0, 0, NULL });
			if (st < 1 || st > f->hi + 1)
				return fail(err, errlen, "invalid step in %s field", f->name);
			step = st;
			if (single) /* "N/S" means N..max every S, as Vixie cron reads it */
				hi = f->hi;
		}
		if (lo < f->lo || hi > f->hi || lo > hi)
			return fail(err, errlen, "%s field out of range (%d-%d)", f->name, f->lo, f->hi);
		for (int v = lo; v <= hi; v += step)
			*bits |= (uint64_t)1 << v;
		if (i < e) {
			if (s[i] != ',')
				return fail(err, errlen, "invalid %s field", f->name);
			i++;
			if (i >= e)
				return fail(err, errlen, "invalid %s field", f->name);
		}
	}
	return 0;
}

int cron_parse(const char *s, size_t len, struct cron *out, char *err, size_t errlen)
{
	size_t i = 0, nf = 0, b[5], e[5];

	memset(out, 0, sizeof(*out));
	if (!s || len == 0)
		return fail(err, errlen, "cron expression is empty");
	if (len > CRON_MAX_LEN)
		return fail(err, errlen, "cron expression is longer than %d characters", CRON_MAX_LEN);
	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= len)
			break;
		if (nf == 5)
			return fail(err, errlen, "cron expression must have 5 fields");
		b[nf] = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		e[nf++] = i;
	}
	if (nf != 5)
		return fail(err, errlen, "cron expression must have 5 fields");
	for (size_t k = 0; k < 5; k++) {
		uint64_t bits;
		int star;
		for (size_t j = b[k]; j < e[k]; j++) {
			unsigned char c = (unsigned char)s[j];
			if (!((c >= '0' && c <= '9') || c == '*' || c == ',' || c == '-' || c == '/' ||
			      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
				return fail(err, errlen, "invalid character in %s field", fields[k].name);
		}
		if (parse_field(s, b[k], e[k], &fields[k], &bits, &star, err, errlen) < 0)
			return -1;
		switch (k) {
		case 0: out->minutes = bits; break;
		case 1: out->hours = (uint32_t)bits; break;
		case 2: out->mdays = (uint32_t)bits; out->dom_any = star; break;
		case 3: out->months = (uint16_t)bits; break;
		default:
			if (bits & (1u << 7))
				bits = (bits | 1u) & 0x7f;
			out->wdays = (uint8_t)bits;
			out->dow_any = star;
		}
	}
	return 0;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Day of week (Sunday = 0), Sakamoto's method. */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (m < 3)
		y -= 1;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

static int day_matches(const struct cron *c, int y, int m, int d)
{
	int dom = (c->mdays >> d) & 1, dow = (c->wdays >> weekday(y, m, d)) & 1;

	if (!((c->months >> m) & 1))
		return 0;
	if (c->dom_any || c->dow_any)
		return dom && dow;
	return dom || dow;
}

int cron_matches(const struct cron *c, const struct cron_time *t, int wday)
{
	int dom, dow;

	if (t->minute < 0 || t->minute > 59 || t->hour < 0 || t->hour > 23 || t->month < 1 ||
	    t->month > 12 || t->mday < 1 || t->mday > 31 || wday < 0 || wday > 6)
		return 0;
	if (!((c->minutes >> t->minute) & 1) || !((c->hours >> t->hour) & 1) ||
	    !((c->months >> t->month) & 1))
		return 0;
	dom = (c->mdays >> t->mday) & 1;
	dow = (c->wdays >> wday) & 1;
	if (c->dom_any || c->dow_any)
		return dom && dow;
	return dom || dow;
}

int cron_next(const struct cron *c, const struct cron_time *after, struct cron_time *next)
{
	int y = after->year, m = after->month, d = after->mday, h = after->hour, mi = after->minute + 1;

	if (m < 1 || m > 12 || d < 1 || d > month_days(y, m) || h < 0 || h > 23 || mi < 1 || mi > 60)
		return -1;
	for (int days = 0; days < 5 * 366 + 2; days++) {
		if (day_matches(c, y, m, d)) {
			for (; h < 24; h++, mi = 0) {
				if (!((c->hours >> h) & 1))
					continue;
				for (; mi < 60; mi++) {
					if ((c->minutes >> mi) & 1) {
						next->year = y;
						next->month = m;
						next->mday = d;
						next->hour = h;
						next->minute = mi;
						return 0;
					}
				}
			}
		}
		h = 0;
		mi = 0;
		if (++d > month_days(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	return -1;
}
