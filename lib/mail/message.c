/* Outgoing mail as bytes: RFC 5322 headers (RFC 2047 encoded words where a
 * name or the subject is not plain ASCII) over a MIME multipart/alternative. */
#include "mail/message.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/crypto.h"
#include "core/utf8.h"

#define LINE_SOFT 78 /* RFC 5322 2.1.1: lines SHOULD stay within 78 (without CRLF) */
#define WORD_MAX 75  /* RFC 2047 2: an encoded word is at most 75 characters */
#define WORD_FRAME 12 /* "=?UTF-8?Q?" and "?=" */
#define QP_LINE 76   /* RFC 2045 6.7 */
#define B64_LINE 76
#define ADDR_MAX 254
#define ID_MAX 250
#define URL_MAX 900  /* a header line stays well within 998 */

static const char hex_digits[] = "0123456789ABCDEF";
static const char b64_table[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- checks on what may become a header ---- */

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext: what an atom (and a dot-atom between its dots) is made of. */
static int is_atext(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* An ASCII addr-spec of the shape core/email accepts: local@domain, atext
 * and dots before the @-sign, letters, digits, hyphens and dots after it. */
static int addr_ok(const char *s)
{
	size_t len, at = 0, n_at = 0;

	if (!s || (len = strlen(s)) == 0 || len > ADDR_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '@') {
			n_at++;
			at = i;
		} else if (n_at == 0 ? !(is_atext(c) || c == '.')
				     : !(is_alnum(c) || c == '-' || c == '.')) {
			return 0;
		}
	}
	return n_at == 1 && at > 0 && at + 1 < len;
}

/* A plain token (an outbox id, either side of a Message-ID): atext and dots. */
static int token_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_atext((unsigned char)s[i]) && s[i] != '.')
			return 0;
	return 1;
}

static int msgid_ok(const char *s)
{
	size_t len;
	const char *at;

	if (!s || (len = strlen(s)) < 5 || len > ID_MAX || s[0] != '<' || s[len - 1] != '>')
		return 0;
	at = memchr(s, '@', len);
	return at && token_ok(s + 1, (size_t)(at - s) - 1, ID_MAX) &&
	       token_ok(at + 1, len - (size_t)(at - s) - 2, ID_MAX);
}

/* Text for a header (a name, the subject): UTF-8 without NUL, CR or LF. */
static int header_text_ok(const char *s)
{
	size_t len;

	if (!s)
		return 1;
	len = strlen(s);
	return utf8_valid(s, len) && !memchr(s, '\r', len) && !memchr(s, '\n', len);
}

/* 1: an https URL to announce; 0: none (absent or not https, RFC 8058 wants
 * https); -1: something that cannot be written inside <...> on one line. */
static int unsubscribe_url_kind(const char *url)
{
	size_t len;

	if (!url || !*url)
		return 0;
	len = strlen(url);
	if (len > URL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
			return -1;
	}
	return len > 8 && strncasecmp(url, "https://", 8) == 0 ? 1 : 0;
}

static int printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Text holding "=?" is always encoded: a reader must never take the
 * caller's characters for an encoded word of ours. */
static int looks_encoded(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '=' && s[i + 1] == '?')
			return 1;
	return 0;
}

/* ---- headers, folded ---- */

/* A header being written: where its current line starts, for folding. */
struct hdr {
	struct strbuf *out;
	size_t line;
};

static size_t hdr_col(const struct hdr *h)
{
	return h->out->len - h->line;
}

static void hdr_start(struct hdr *h, const char *name)
{
	h->line = h->out->len;
	strbuf_appends(h->out, name);
	strbuf_appendc(h->out, ':');
}

/* Fold: CRLF and the space that continues the header. */
static void hdr_fold(struct hdr *h)
{
	strbuf_append(h->out, "\r\n ", 3);
	h->line = h->out->len - 1;
}

/* The space before len more characters, or a fold when they would pass the
 * soft limit (never two folds in a row: a line of only spaces is illegal). */
static void hdr_space_for(struct hdr *h, size_t len)
{
	if (hdr_col(h) + 1 + len > LINE_SOFT && hdr_col(h) > 1)
		hdr_fold(h);
	else
		strbuf_appendc(h->out, ' ');
}

static void hdr_end(struct hdr *h)
{
	strbuf_append(h->out, "\r\n", 2);
}

/* A header whose value is one unbreakable token. */
static void hdr_simple(struct strbuf *out, const char *name, const char *value)
{
	struct hdr h = { out, 0 };

	hdr_start(&h, name);
	hdr_space_for(&h, strlen(value));
	strbuf_appends(out, value);
	hdr_end(&h);
}

/* ---- RFC 2047 encoded words ---- */

/* Q's safe set in a phrase (RFC 2047 5(3)), which serves the subject too. */
static int q_literal(unsigned char c)
{
	return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_size(unsigned char c)
{
	return q_literal(c) || c == ' ' ? 1 : 3;
}

static size_t b64_size(size_t n)
{
	return 4 * ((n + 2) / 3);
}

/* Bytes in the UTF-8 character at s[i] (s is well-formed). */
static size_t char_len(const char *s, size_t len, size_t i)
{
	unsigned char c = (unsigned char)s[i];
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	return n <= len - i ? n : len - i;
}

static void b64_block(struct strbuf *out, const unsigned char *in, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		char q[4];
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		q[0] = b64_table[v >> 18];
		q[1] = b64_table[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64_table[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64_table[v & 63] : '=';
		strbuf_append(out, q, 4);
	}
}

/* s[0..len) as encoded words, each whole UTF-8 characters, each at most 75
 * characters, folded so that lines stay within 78. Q or B, whichever is
 * shorter for this text. */
static void hdr_words(struct hdr *h, const char *s, size_t len)
{
	size_t qlen = 0, i = 0;
	int q;

	for (size_t k = 0; k < len; k++)
		qlen += q_size((unsigned char)s[k]);
	q = qlen <= b64_size(len);
	while (i < len) {
		size_t first = char_len(s, len, i), cost = 0, n = 0, room;

		for (size_t k = 0; k < first; k++)
			cost += q ? q_size((unsigned char)s[i + k]) : 0;
		if (!q)
			cost = b64_size(first);
		hdr_space_for(h, WORD_FRAME + cost);
		room = LINE_SOFT - hdr_col(h) < WORD_MAX ? LINE_SOFT - hdr_col(h) : WORD_MAX;
		room = room > WORD_FRAME ? room - WORD_FRAME : 0;
		/* Take whole characters while they fit (the first always does:
		 * after a fold 63 characters of payload are free, a character
		 * needs at most 12). */
		cost = 0;
		while (i + n < len) {
			size_t cl = char_len(s, len, i + n), c = 0;
			if (q) {
				for (size_t k = 0; k < cl; k++)
					c += q_size((unsigned char)s[i + n + k]);
				if (n && cost + c > room)
					break;
				cost += c;
			} else if (n && b64_size(n + cl) > room) {
				break;
			}
			n += cl;
		}
		strbuf_appends(h->out, q ? "=?UTF-8?Q?" : "=?UTF-8?B?");
		if (q) {
			for (size_t k = i; k < i + n; k++) {
				unsigned char c = (unsigned char)s[k];
				if (q_literal(c)) {
					strbuf_appendc(h->out, (char)c);
				} else if (c == ' ') {
					strbuf_appendc(h->out, '_');
				} else {
					char e[3] = { '=', hex_digits[c >> 4], hex_digits[c & 15] };
					strbuf_append(h->out, e, 3);
				}
			}
		} else {
			b64_block(h->out, (const unsigned char *)s + i, n);
		}
		strbuf_append(h->out, "?=", 2);
		i += n;
	}
}

/* A display name as written: a run of atoms with single spaces goes bare. */
static int is_atom_phrase(const char *s, size_t len)
{
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ' ? s[i + 1] == ' ' : !is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* "name <addr>", the name bare, quoted or encoded; a bare addr without one. */
static void hdr_mailbox(struct hdr *h, const char *name, const char *addr)
{
	size_t nlen = name ? strlen(name) : 0, alen = strlen(addr);

	if (nlen == 0) {
		hdr_space_for(h, alen);
		strbuf_appends(h->out, addr);
		return;
	}
	if (printable_ascii(name, nlen) && !looks_encoded(name, nlen)) {
		int bare = is_atom_phrase(name, nlen);
		size_t need = nlen;
		if (!bare)
			for (size_t i = 0; i < nlen; i++)
				need += (name[i] == '"' || name[i] == '\\') ? 1 : 0;
		need += bare ? 0 : 2;
		/* A quoted string could be folded at its spaces, but some
		 * readers lose them: a long name is encoded instead. */
		if (hdr_col(h) + 1 + need <= LINE_SOFT) {
			strbuf_appendc(h->out, ' ');
			if (bare) {
				strbuf_append(h->out, name, nlen);
			} else {
				strbuf_appendc(h->out, '"');
				for (size_t i = 0; i < nlen; i++) {
					if (name[i] == '"' || name[i] == '\\')
						strbuf_appendc(h->out, '\\');
					strbuf_appendc(h->out, name[i]);
				}
				strbuf_appendc(h->out, '"');
			}
			goto addr;
		}
	}
	hdr_words(h, name, nlen);
addr:
	hdr_space_for(h, alen + 2);
	strbuf_appendc(h->out, '<');
	strbuf_append(h->out, addr, alen);
	strbuf_appendc(h->out, '>');
}

/* Plain ASCII words with single spaces, each short enough to fold onto a
 * line of its own: written as they are. Anything else is encoded. */
static int subject_plain(const char *s, size_t len)
{
	size_t word = 0;

	if (!printable_ascii(s, len) || looks_encoded(s, len) ||
	    (len && (s[0] == ' ' || s[len - 1] == ' ')))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ') {
			if (++word > LINE_SOFT - 2)
				return 0;
		} else if (s[i + 1] == ' ') {
			return 0;
		} else {
			word = 0;
		}
	}
	return 1;
}

static void hdr_subject(struct strbuf *out, const char *s)
{
	struct hdr h = { out, 0 };
	size_t len = strlen(s);

	hdr_start(&h, "Subject");
	if (len && subject_plain(s, len)) {
		for (size_t i = 0; i < len;) {
			size_t w = 0;
			while (i + w < len && s[i + w] != ' ')
				w++;
			hdr_space_for(&h, w);
			strbuf_append(out, s + i, w);
			i += w + 1;
		}
	} else if (len) {
		hdr_words(&h, s, len);
	}
	hdr_end(&h);
}

/* RFC 5322 3.3, in UTC: "Tue, 01 Dec 2026 14:27:10 +0000". */
static int format_date(long long t, char *out, size_t size)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt;

	if (t < 0 || t > 253402300799LL) /* 1970 to the end of year 9999 */
		return -1;
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm))
		return -1;
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

/* ---- bodies ---- */

/* Output collected in a small buffer: the encoders write byte by byte. */
struct sink {
	struct strbuf *out;
	size_t n;
	char buf[4096];
};

static void sink_flush(struct sink *k)
{
	strbuf_append(k->out, k->buf, k->n);
	k->n = 0;
}

static void sink_put(struct sink *k, const char *s, size_t n)
{
	if (k->n + n > sizeof(k->buf)) {
		sink_flush(k);
		if (n > sizeof(k->buf)) {
			strbuf_append(k->out, s, n);
			return;
		}
	}
	memcpy(k->buf + k->n, s, n);
	k->n += n;
}

/* One pass over a body: its size once every line break (CRLF, LF, a lone
 * CR) is CRLF, how many bytes quoted-printable must encode, and whether it
 * may go as it is: printable ASCII in lines of at most 76, none ending in a
 * space or starting with "." or "From ". */
struct body_scan {
	size_t canonical;
	size_t encoded;
	int plain;
};

/* Byte classes for the body passes (session 12: a table lookup per byte
 * instead of a chain of comparisons; the scan and quoted-printable were
 * ~40 instructions a byte, most of a message's build). */
enum { BC_EOL = 1, BC_ENCODE = 2, BC_UNSAFE = 4, BC_BLANK = 8 };

/* Indexed by byte: CR, LF: BC_EOL; '=': BC_ENCODE; other controls but TAB,
 * DEL and above: BC_ENCODE | BC_UNSAFE; space and TAB: BC_BLANK; the rest
 * (printable ASCII) 0. */
static const unsigned char body_classes[256] = {
	6, 6, 6, 6, 6, 6, 6, 6, 6, 8, 1, 6, 6, 1, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

/* The checks of one line s[start..end) (no line break in it) for 7bit:
 * its length, a blank at its end, a "." or "From " at its start. */
static int line_plain(const char *s, size_t start, size_t end)
{
	size_t n = end - start;

	if (n == 0)
		return 1;
	if (n > QP_LINE || s[end - 1] == ' ' || s[end - 1] == '\t' || s[start] == '.')
		return 0;
	return !(s[start] == 'F' && n >= 5 && memcmp(s + start, "From ", 5) == 0);
}

/* The first i in [from, to) whose byte is not printable ASCII (a control,
 * TAB, CR, LF, DEL or above) or is '=', else to: the bytes the body passes
 * must look at one by one; every other byte (class 0, or a space) is copied
 * or skipped in runs. Session 13: 16 bytes a step with SSE2 (every x86-64),
 * the scan and the quoted-printable runs were ~100 k instructions of an
 * 11 KB message's build at one table look-up and branch a byte. */
static size_t first_special(const char *s, size_t from, size_t to)
{
	size_t i = from;

#if defined(__SSE2__)
	const __m128i lo = _mm_set1_epi8(0x20), eq = _mm_set1_epi8('='), del = _mm_set1_epi8(0x7f);

	for (; to - i >= 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		/* Signed: bytes 0x80..0xff are negative, so below 0x20 too. */
		__m128i m = _mm_or_si128(_mm_cmplt_epi8(v, lo),
					 _mm_or_si128(_mm_cmpeq_epi8(v, eq), _mm_cmpeq_epi8(v, del)));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	for (; i < to; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '=')
			return i;
	}
	return to;
}

static void scan_body(const char *s, size_t len, struct body_scan *b)
{
	size_t line = 0, lone = 0, encoded = 0;
	int plain = 1;

	for (size_t i = 0; i < len; i++) {
		unsigned char k;

		i = first_special(s, i, len);
		if (i == len)
			break;
		k = body_classes[(unsigned char)s[i]];
		if (!(k & (BC_EOL | BC_ENCODE)))
			continue;
		if (k & BC_ENCODE) {
			encoded++;
			if (k & BC_UNSAFE)
				plain = 0;
			continue;
		}
		if (plain && !line_plain(s, line, i))
			plain = 0;
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		else
			lone++; /* a lone CR or LF: one byte that becomes two */
		line = i + 1;
	}
	if (plain && !line_plain(s, line, len))
		plain = 0;
	b->canonical = len + lone;
	b->encoded = encoded;
	b->plain = plain;
}

static int holds(const char *s, size_t len, const char *what)
{
	size_t n = strlen(what);

	if (n == 0)
		return 1;
	for (const char *p = s, *end = s + len; (size_t)(end - p) >= n;) {
		p = memchr(p, what[0], (size_t)(end - p) - n + 1);
		if (!p)
			return 0;
		if (memcmp(p, what, n) == 0)
			return 1;
		p++;
	}
	return 0;
}

static void write_7bit(struct sink *k, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;
		/* To the next line break (a plain body's only other special is TAB). */
		while ((j = first_special(s, j, len)) < len && s[j] != '\r' && s[j] != '\n')
			j++;
		if (j > i) {
			sink_put(k, s + i, j - i);
			i = j;
			continue;
		}
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		sink_put(k, "\r\n", 2);
		i++;
	}
}

/* Quoted-printable (RFC 2045 6.7): lines of at most 76 with soft breaks,
 * whitespace before a line end encoded, and a "." or "From " at the start of
 * a line encoded too, so no relay or mbox can take it for something else. */
static int qp_encoded(const char *s, size_t len, size_t i, int at_end, int at_start)
{
	unsigned char c = (unsigned char)s[i];

	if (c == '=' || (c < 0x20 && c != '\t') || c > 0x7e)
		return 1;
	if ((c == ' ' || c == '\t') && at_end)
		return 1;
	return at_start && (c == '.' || (len - i >= 5 && memcmp(s + i, "From ", 5) == 0));
}

static void write_qp(struct sink *k, const char *s, size_t len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int at_end, enc;
		size_t w;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			sink_put(k, "\r\n", 2);
			col = 0;
			continue;
		}
		if (col > 0) {
			/* Most text: a run of bytes written as they are, up to the
			 * room left before a soft break (a space only where no line
			 * end follows it). The byte by byte path below decides the rest. */
			size_t n = 0, room = col < QP_LINE - 1 ? QP_LINE - 1 - col : 0;
			if (room > len - i)
				room = len - i;
			n = first_special(s, i, i + room) - i;
			/* A space just before a line end (or the text's end) is
			 * encoded: the run stops before it. A TAB is special above,
			 * so only a space can end the run here. */
			if (n && s[i + n - 1] == ' ' &&
			    (i + n >= len || (body_classes[(unsigned char)s[i + n]] & BC_EOL)))
				n--;
			if (n) {
				sink_put(k, s + i, n);
				col += n;
				i += n - 1;
				continue;
			}
		}
		at_end = i + 1 == len || s[i + 1] == '\r' || s[i + 1] == '\n';
		enc = qp_encoded(s, len, i, at_end, col == 0);
		w = enc ? 3 : 1;
		/* Room for the "=" of a soft break, unless the line ends here. */
		if (col + w > (at_end ? QP_LINE : QP_LINE - 1)) {
			sink_put(k, "=\r\n", 3);
			col = 0;
			enc = qp_encoded(s, len, i, at_end, 1);
			w = enc ? 3 : 1;
		}
		if (enc) {
			char e[3] = { '=', hex_digits[c >> 4], hex_digits[c & 15] };
			sink_put(k, e, 3);
		} else {
			sink_put(k, (const char *)&s[i], 1);
		}
		col += w;
	}
}

/* Base64 of the canonical text, in lines of 76 (57 bytes each). */
static void write_base64(struct sink *k, const char *s, size_t len)
{
	unsigned char in[57];
	size_t n, lines = 0, i = 0;
	int lf = 0; /* the LF of a line break still to come */

	for (;;) {
		char line[76];
		size_t o = 0;

		for (n = 0; n < sizeof(in) && (lf || i < len);) {
			char c;
			if (lf) {
				in[n++] = '\n';
				lf = 0;
				continue;
			}
			c = s[i++];
			if (c == '\r' || c == '\n') {
				if (c == '\r' && i < len && s[i] == '\n')
					i++;
				in[n++] = '\r';
				lf = 1;
			} else {
				in[n++] = (unsigned char)c;
			}
		}
		if (n == 0)
			break;
		for (size_t j = 0; j < n; j += 3) {
			unsigned v = (unsigned)in[j] << 16;
			if (j + 1 < n)
				v |= (unsigned)in[j + 1] << 8;
			if (j + 2 < n)
				v |= in[j + 2];
			line[o++] = b64_table[v >> 18];
			line[o++] = b64_table[(v >> 12) & 63];
			line[o++] = j + 1 < n ? b64_table[(v >> 6) & 63] : '=';
			line[o++] = j + 2 < n ? b64_table[v & 63] : '=';
		}
		if (lines++)
			sink_put(k, "\r\n", 2);
		sink_put(k, line, o);
	}
}

/* One part: its headers, then the body in whichever encoding is smallest. */
static void write_part(struct strbuf *out, const char *boundary, const char *type,
		       const char *s, size_t len)
{
	struct sink k;
	struct body_scan scan;
	size_t head, start, b64;
	int qp;

	k.out = out;
	k.n = 0;
	strbuf_appends(out, "--");
	strbuf_appends(out, boundary);
	strbuf_appends(out, "\r\nContent-Type: ");
	strbuf_appends(out, type);
	strbuf_appends(out, "; charset=UTF-8\r\nContent-Transfer-Encoding: ");
	head = out->len;
	scan_body(s, len, &scan);
	if (scan.plain && !holds(s, len, boundary)) {
		strbuf_appends(out, "7bit\r\n\r\n");
		write_7bit(&k, s, len);
		sink_flush(&k);
		strbuf_append(out, "\r\n", 2);
		return;
	}
	b64 = b64_size(scan.canonical);
	b64 += b64 ? 2 * ((b64 - 1) / B64_LINE) : 0;
	/* Quoted-printable is at least its bytes plus two for each one it must
	 * encode: when that already passes base64, it is not tried. */
	qp = scan.canonical + 2 * scan.encoded <= b64;
	if (qp) {
		strbuf_appends(out, "quoted-printable\r\n\r\n");
		start = out->len;
		write_qp(&k, s, len);
		sink_flush(&k);
		qp = out->oom || out->len - start <= b64;
	}
	if (!qp) {
		if (out->buf) {
			out->len = head;
			out->buf[head] = '\0';
		}
		strbuf_appends(out, "base64\r\n\r\n");
		write_base64(&k, s, len);
		sink_flush(&k);
	}
	/* The CRLF before the next delimiter belongs to the delimiter. */
	strbuf_append(out, "\r\n", 2);
}

/* Derived from what names the message, with "=_" in it: quoted-printable
 * ("=" then hex digits or a line end) and base64 (no "_") can never hold it,
 * and a 7bit part that does is sent quoted-printable instead. */
static void make_boundary(const struct mail_message *m, char out[48])
{
	char seed[ID_MAX + 128 + 80], hash[SHA256_HEX_LEN + 1];
	int n = snprintf(seed, sizeof(seed), "%s\n%s\n%lld\n%zu\n%zu", m->outbox_id,
			 m->message_id, m->date, m->text_len, m->html_len);

	sha256_hex(seed, n > 0 && (size_t)n < sizeof(seed) ? (size_t)n : sizeof(seed) - 1, hash);
	snprintf(out, 48, "=_fs_%.32s", hash);
}

int mail_message_build(const struct mail_message *m, struct strbuf *out)
{
	size_t start = out->len;
	const char *html = m->html ? m->html : "", *text = m->text ? m->text : "";
	char date[64], boundary[48];
	struct hdr h = { out, 0 };
	int unsub;

	if (!addr_ok(m->from_email) || !addr_ok(m->to_email) ||
	    (m->reply_to && *m->reply_to && !addr_ok(m->reply_to)) || !m->subject ||
	    !header_text_ok(m->subject) || !header_text_ok(m->from_name) ||
	    !header_text_ok(m->to_name) || !msgid_ok(m->message_id) || !m->outbox_id ||
	    !token_ok(m->outbox_id, strlen(m->outbox_id), 128) ||
	    (!m->html && m->html_len) || (!m->text && m->text_len) ||
	    format_date(m->date, date, sizeof(date)) < 0)
		return -1;
	if ((unsub = unsubscribe_url_kind(m->unsubscribe_url)) < 0)
		return -1;
	make_boundary(m, boundary);

	hdr_simple(out, "Date", date);
	hdr_start(&h, "From");
	hdr_mailbox(&h, m->from_name, m->from_email);
	hdr_end(&h);
	if (m->reply_to && *m->reply_to)
		hdr_simple(out, "Reply-To", m->reply_to);
	hdr_start(&h, "To");
	hdr_mailbox(&h, m->to_name, m->to_email);
	hdr_end(&h);
	hdr_subject(out, m->subject);
	hdr_simple(out, "Message-ID", m->message_id);
	strbuf_appends(out, "MIME-Version: 1.0\r\n");
	hdr_simple(out, "X-FlowSend-Outbox", m->outbox_id);
	if (unsub) {
		hdr_start(&h, "List-Unsubscribe");
		hdr_space_for(&h, strlen(m->unsubscribe_url) + 2);
		strbuf_appendc(out, '<');
		strbuf_appends(out, m->unsubscribe_url);
		strbuf_appendc(out, '>');
		hdr_end(&h);
		strbuf_appends(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	}
	strbuf_appendf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
		       boundary);
	write_part(out, boundary, "text/plain", text, m->text_len);
	write_part(out, boundary, "text/html", html, m->html_len);
	strbuf_appendf(out, "--%s--\r\n", boundary);
	if (out->oom) {
		if (out->buf && start <= out->len) {
			out->len = start;
			out->buf[start] = '\0';
		}
		return -1;
	}
	return 0;
}

int mail_message_id(const char *outbox_id, const char *domain, char *out, size_t size)
{
	size_t ilen, dlen;

	if (!outbox_id || !domain)
		return -1;
	ilen = strlen(outbox_id);
	dlen = strlen(domain);
	if (!token_ok(outbox_id, ilen, ID_MAX) || dlen == 0 || domain[0] == '.' ||
	    domain[dlen - 1] == '.')
		return -1;
	for (size_t i = 0; i < dlen; i++)
		if (!is_alnum((unsigned char)domain[i]) && domain[i] != '-' && domain[i] != '.')
			return -1;
	if (ilen + dlen + 3 > ID_MAX || ilen + dlen + 4 > size)
		return -1;
	snprintf(out, size, "<%s@%s>", outbox_id, domain);
	return 0;
}
