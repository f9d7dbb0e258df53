/* Timestamped log lines, written with one fprintf so lines from several
 * prefork workers sharing a file never interleave mid-line. Every line is
 * escaped on its way out, so no logged value can start a line of its own. */
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_program = "flowsend";
static enum log_level log_min = LOG_INFO;

/* The pid, asked once per process (getpid is a real syscall on every log
 * line otherwise); log_after_fork forgets it in a new worker. */
static pid_t cached_pid;
static pid_t log_pid(void)
{
	if (!cached_pid)
		cached_pid = getpid();
	return cached_pid;
}

void log_after_fork(void)
{
	cached_pid = 0;
}

void log_setup(const char *program, enum log_level min_level)
{
	log_program = program;
	log_min = min_level;
}

static void access_flush_pending(void);

/* s[0..len) into out as one line of printable text and its newline: a
 * backslash, control bytes, DEL, C1 controls, U+2028/U+2029 and bytes that
 * are not UTF-8 become escapes (\n, \r, \t, \\, \xHH), so what a client sent
 * (a decoded %0a in a path) can neither forge a line nor drive a terminal.
 * Cut short rather than split an escape when out is full. Returns the length. */
static size_t log_escape_line(const char *str, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef", briefly[] = "\n\r\t\\";
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, i = 0, valid = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n = 1, need;
		int escape;
		const char *b;
		char brief;

		if (c >= 0x20 && c < 0x7f && c != '\\') { /* the common case, first */
			/* A run of plain bytes, copied at once (a byte at a time was
			 * most of a tracking hit's log line, callgrind of fs-track),
			 * as far as the room left before the newline and the NUL. */
			size_t j = i + 1, room = size >= o + 2 ? size - 2 - o : 0;

			while (j < len && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '\\')
				j++;
			if (j - i > room) {
				memcpy(out + o, s + i, room);
				o += room;
				break;
			}
			memcpy(out + o, s + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		b = c ? strchr(briefly, c) : NULL;
		brief = b ? "nrt\\"[b - briefly] : 0;
		if (c < 0x80) {
			escape = c < 0x20 || c == 0x7f || c == '\\';
		} else {
			if (i >= valid)
				valid = i + utf8_valid_prefix(str + i, len - i);
			if (i < valid)
				n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			escape = i >= valid || (c == 0xc2 && s[i + 1] < 0xa0) ||
				 (c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8);
		}
		need = !escape ? n : brief ? 2 : 4 * n;
		if (o + need + 2 > size) /* room for the newline and the NUL */
			break;
		if (!escape) {
			memcpy(out + o, s + i, n);
			o += n;
		} else if (brief) {
			out[o++] = '\\';
			out[o++] = brief;
		} else {
			for (size_t k = 0; k < n; k++) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[s[i + k] >> 4];
				out[o++] = hex[s[i + k] & 15];
			}
		}
		i += n;
	}
	out[o++] = '\n';
	out[o] = '\0';
	return o;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char stamp[32], line[2048], out[4096];
	va_list ap;
	int n, k;

	if (level < log_min)
		return;
	access_flush_pending(); /* keep lines in order */
	time_now_iso(stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line), "%s %s[%d] %s ", stamp, log_program, (int)log_pid(),
		     names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	n = (size_t)n + (size_t)k >= sizeof(line) ? (int)sizeof(line) - 1 : n + k;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--; /* libpq's messages end with one: the line ends anyway */
	log_escape_line(line, (size_t)n, out, sizeof(out));
	fputs(out, stderr);
}

/* Access lines are buffered per process and written in batches: a write(2)
 * per request cost a measured 15-20% of throughput. The batch is written when
 * it passes 8 KiB, when a request ends a second after the last write, and by
 * the server whenever no other request is waiting (log_pending). A periodic
 * timer was tried and dropped: its signal restarts the socket timeouts of
 * hiredis, so a stalled Redis was never noticed. */
static char access_buf[16384];
static size_t access_len;
static int access_buffered;
static time_t access_flushed_at;

static void access_write(void)
{
	size_t off = 0;

	while (off < access_len) {
		ssize_t n = write(STDERR_FILENO, access_buf + off, access_len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	access_len = 0;
}

void log_flush(void)
{
	if (access_len)
		access_write();
	access_flushed_at = time(NULL);
}

void log_buffer_access_lines(void)
{
	access_buffered = 1;
	access_flushed_at = time(NULL);
}

int log_pending(void)
{
	return access_len > 0;
}

/* At most max bytes of s (up to its NUL) at buf + k, within size - 1; the new length. */
static size_t put(char *buf, size_t k, size_t size, const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] && k + n < size - 1)
		n++;
	memcpy(buf + k, s, n);
	return k + n;
}

static size_t put_long(char *buf, size_t k, size_t size, long long v)
{
	char digits[24];
	size_t n = sizeof(digits);
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

	do {
		digits[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n > 1);
	if (v < 0)
		digits[--n] = '-';
	return put(buf, k, size, digits + n, sizeof(digits) - n);
}

void log_request(const char *request_id, const char *method, const char *path, int status,
		 double duration_ms)
{
	char stamp[32], raw[1024], line[4096];
	size_t n, k = 0;

	if (LOG_INFO < log_min)
		return;
	time_now_iso(stamp, sizeof(stamp));
	/* "STAMP PROGRAM[PID] request rid=%.64s method=%.32s path=%.512s
	 * status=%d ms=%.2f", put together by hand: snprintf was most of what a
	 * small request cost the responder (callgrind of fs-track). */
	k = put(raw, k, sizeof(raw), stamp, sizeof(stamp));
	k = put(raw, k, sizeof(raw), " ", 1);
	k = put(raw, k, sizeof(raw), log_program, 64);
	k = put(raw, k, sizeof(raw), "[", 1);
	k = put_long(raw, k, sizeof(raw), (long long)log_pid());
	k = put(raw, k, sizeof(raw), "] request rid=", 14);
	k = put(raw, k, sizeof(raw), request_id ? request_id : "(null)", 64);
	k = put(raw, k, sizeof(raw), " method=", 8);
	k = put(raw, k, sizeof(raw), method ? method : "(null)", 32);
	k = put(raw, k, sizeof(raw), " path=", 6);
	k = put(raw, k, sizeof(raw), path ? path : "(null)", 512);
	k = put(raw, k, sizeof(raw), " status=", 8);
	k = put_long(raw, k, sizeof(raw), status);
	k = put(raw, k, sizeof(raw), " ms=", 4);
	if (duration_ms >= 0 && duration_ms < 1e12) {
		long long centi = (long long)(duration_ms * 100 + 0.5);
		char frac[3] = { (char)('0' + centi % 100 / 10), (char)('0' + centi % 10), 0 };

		k = put_long(raw, k, sizeof(raw), centi / 100);
		k = put(raw, k, sizeof(raw), ".", 1);
		k = put(raw, k, sizeof(raw), frac, 2);
	} else {
		char num[64];
		int m = snprintf(num, sizeof(num), "%.2f", duration_ms);

		if (m > 0)
			k = put(raw, k, sizeof(raw), num, (size_t)m);
	}
	n = log_escape_line(raw, k, line, sizeof(line));
	if (!access_buffered) {
		fputs(line, stderr);
		return;
	}
	if (access_len + n > sizeof(access_buf))
		access_write();
	memcpy(access_buf + access_len, line, n);
	access_len += n;
	if (access_len > sizeof(access_buf) / 2 || time(NULL) != access_flushed_at)
		log_flush();
}

static void access_flush_pending(void)
{
	if (access_buffered && access_len)
		log_flush();
}
