/* Timestamped log lines, written with one fprintf so lines from several
 * prefork workers sharing a file never interleave mid-line. */
#include "core/log.h"
#include "core/timeutil.h"

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

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char stamp[32], line[2048];
	va_list ap;

	if (level < log_min)
		return;
	access_flush_pending(); /* keep lines in order */
	time_now_iso(stamp, sizeof(stamp));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s[%d] %s %s\n", stamp, log_program, (int)log_pid(), names[level],
		line);
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

void log_request(const char *request_id, const char *method, const char *path, int status,
		 double duration_ms)
{
	char stamp[32], line[1024];
	int n;

	if (LOG_INFO < log_min)
		return;
	time_now_iso(stamp, sizeof(stamp));
	n = snprintf(line, sizeof(line),
		     "%s %s[%d] request rid=%s method=%s path=%.512s status=%d ms=%.2f\n", stamp,
		     log_program, (int)log_pid(), request_id, method, path, status, duration_ms);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (!access_buffered) {
		fputs(line, stderr);
		return;
	}
	if (access_len + (size_t)n > sizeof(access_buf))
		access_write();
	memcpy(access_buf + access_len, line, (size_t)n);
	access_len += (size_t)n;
	if (access_len > sizeof(access_buf) / 2 || time(NULL) != access_flushed_at)
		log_flush();
}

static void access_flush_pending(void)
{
	if (access_buffered && access_len)
		log_flush();
}
