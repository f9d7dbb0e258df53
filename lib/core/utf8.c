/* A strict UTF-8 validator (RFC 3629 table), so PostgreSQL never sees a byte
 * sequence it would reject with an error we would turn into a 500; and
 * Unicode simple case folding from a generated table. */
#include "core/utf8.h"

#include "core/strbuf.h"

size_t utf8_valid_prefix(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c == 0)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return i;
		}
		if (len - i - 1 < n)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n + 1;
	}
	return len;
}

int utf8_valid(const char *str, size_t len)
{
	return utf8_valid_prefix(str, len) == len;
}

size_t utf8_length(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

int utf8_has_controls(const char *s, size_t len, int allow_newline)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == '\n' && allow_newline)
			continue;
		if (c == '\r' && allow_newline && i + 1 < len && p[i + 1] == '\n')
			continue;
		if (c < 0x20 || c == 0x7f)
			return 1;
		/* U+0080..U+009F are C2 80..C2 9F; U+2028/U+2029 are E2 80 A8/A9. */
		if (c == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return 1;
		if (c == 0xe2 && i + 2 < len && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
			return 1;
	}
	return 0;
}

/* Runs of code points that fold alike: every stride-th one from first to
 * last folds to itself plus delta. Sorted by first; runs never overlap. */
static const struct fold_run {
	uint32_t first, last;
	uint8_t stride;
	int32_t delta;
} fold_runs[] = {
#include "core/utf8_fold.inc"
};

uint32_t utf8_fold_char(uint32_t c)
{
	size_t lo = 0, hi = sizeof(fold_runs) / sizeof(fold_runs[0]);

	if (c < 'A')
		return c;
	while (lo < hi) { /* the last run with first <= c */
		size_t mid = lo + (hi - lo) / 2;
		if (fold_runs[mid].first <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct fold_run *r = &fold_runs[lo - 1];
		if (c <= r->last && (c - r->first) % r->stride == 0)
			return (uint32_t)((int32_t)c + r->delta);
	}
	return c;
}

static size_t utf8_encode(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

int utf8_casefold(struct strbuf *out, const char *str, size_t len)
{
	size_t i = 0, valid = 0;
	char enc[4];

	while (i < len) {
		if (i >= valid)
			valid = i + utf8_valid_prefix(str + i, len - i);
		if (i >= valid) { /* not UTF-8 (or a NUL): the byte as it is */
			if (strbuf_append(out, str + i, 1) < 0)
				return -1;
			i++;
			continue;
		}
		if (strbuf_append(out, enc, utf8_encode(utf8_fold_char(utf8_next(str, len, &i)), enc)) < 0)
			return -1;
	}
	return strbuf_append(out, "", 0);
}

uint32_t utf8_next(const char *str, size_t len, size_t *i)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c = s[*i];
	size_t n = 1;

	if (c >= 0xf0) {
		n = 4;
		c &= 0x07;
	} else if (c >= 0xe0) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xc0) {
		n = 2;
		c &= 0x1f;
	}
	for (size_t k = 1; k < n && *i + k < len; k++)
		c = (c << 6) | (s[*i + k] & 0x3f);
	*i += n;
	return c;
}

int utf8_is_invisible(uint32_t c)
{
	static const struct {
		uint32_t first, last;
	} ranges[] = {
		{ 0x0000, 0x001f }, { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad },   { 0x034f, 0x034f },
		{ 0x061c, 0x061c }, { 0x115f, 0x1160 }, { 0x1680, 0x1680 },   { 0x17b4, 0x17b5 },
		{ 0x180b, 0x180f }, { 0x2000, 0x200f }, { 0x2028, 0x202f },   { 0x205f, 0x206f },
		{ 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xfe00, 0xfe0f },   { 0xfeff, 0xfeff },
		{ 0xffa0, 0xffa0 }, { 0xfff0, 0xfffb }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a },
		{ 0xe0000, 0xe0fff },
	};

	/* ASCII, nearly every character of an address or a name: the first
	 * range and the start of the second, without the table. */
	if (c < 0x7f)
		return c <= 0x1f;
	for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++)
		if (c >= ranges[k].first && c <= ranges[k].last)
			return 1;
	return 0;
}
