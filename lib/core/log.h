/* Logging to stderr (the responder's log file): one line per event, one per request. */
#ifndef FS_LOG_H
#define FS_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Name printed on every line (the responder or tool), and the lowest level shown. */
void log_setup(const char *program, enum log_level min_level);
/* Call in a child right after fork so lines carry the child's pid. */
void log_after_fork(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* From now on batch access lines; for prefork workers, which call log_flush
 * when they would otherwise sit idle and before exiting. */
void log_buffer_access_lines(void);
void log_flush(void);
/* 1 when access lines wait in the buffer. */
int log_pending(void);
/* The access line: request id, method, path, status and duration in milliseconds. */
void log_request(const char *request_id, const char *method, const char *path, int status,
		 double duration_ms);

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
