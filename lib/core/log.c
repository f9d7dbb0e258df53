/* Timestamped log lines, written with one fprintf so lines from several
 * prefork workers sharing a file never interleave mid-line. */
#include "core/log.h"
#include "core/timeutil.h"

#include <stdarg.h>
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

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char stamp[32], line[2048];
	va_list ap;

	if (level < log_min)
		return;
	time_now_iso(stamp, sizeof(stamp));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s[%d] %s %s\n", stamp, log_program, (int)log_pid(), names[level],
		line);
}

void log_request(const char *request_id, const char *method, const char *path, int status,
		 double duration_ms)
{
	char stamp[32];

	if (LOG_INFO < log_min)
		return;
	time_now_iso(stamp, sizeof(stamp));
	fprintf(stderr, "%s %s[%d] request rid=%s method=%s path=%.512s status=%d ms=%.2f\n",
		stamp, log_program, (int)log_pid(), request_id, method, path, status,
		duration_ms);
}
