/* An SMTP server for the end-to-end tests: stores every message it accepts
 * as one file (envelope first), answers chosen addresses with 4xx or 5xx, and
 * speaks STARTTLS and implicit TLS with the certificate it is given.
 *
 *   smtp_sink --dir DIR [--port P] [--tls-port P] [--cert PEM --key PEM]
 *             [--require-tls] [--auth USER:PASSWORD] [--tempfail N] [--delay-ms N]
 *
 * It exits when its parent does, so a test that fails halfway leaves no
 * server holding its ports.
 * Recipients containing "+tempfail" get 451 at RCPT for their first N tries
 * (default 2) and are accepted after; "+bounce" get 550 at RCPT; "+reject"
 * get 554 after the message; "+slow" are answered only after 300 ms. A
 * message is written to DIR/tmp and renamed into DIR/new before the 250, so
 * a reader never sees half a file, and a message whose final dot never came
 * is never stored. Each stored file starts with X-Sink-* envelope lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096
#define MESSAGE_MAX (32u * 1024 * 1024)

static const char *dir = ".";
static SSL_CTX *tls_ctx;
static int require_tls, tempfail_times = 2, delay_ms;
static const char *auth_plain; /* "\0user\0password" base64, or NULL */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long seq;

/* Tries per +tempfail address. */
struct tries {
	char addr[256];
	int n;
};
static struct tries tried[4096];
static size_t ntried;

struct conn {
	int fd;
	SSL *ssl;
	int implicit_tls;
	char buf[LINE_MAX_LEN * 2];
	size_t have;
};

static int conn_read(struct conn *c, char *into, size_t size)
{
	if (c->ssl) {
		int n = SSL_read(c->ssl, into, (int)size);
		return n > 0 ? n : -1;
	}
	ssize_t n = read(c->fd, into, size);
	return n > 0 ? (int)n : -1;
}

static int conn_write(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		int n = c->ssl ? SSL_write(c->ssl, data, (int)len) : (int)write(c->fd, data, len);
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int reply(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reply(struct conn *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	memcpy(line + n, "\r\n", 2);
	return conn_write(c, line, (size_t)n + 2);
}

/* One line without its CRLF into line (NUL-terminated); its length, or -1
 * at the end of the connection or for an over-long line. */
static long read_line(struct conn *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		if (nl) {
			size_t len = (size_t)(nl - c->buf) + 1, keep = len;
			if (len > size)
				return -1;
			while (keep > 0 && (c->buf[keep - 1] == '\n' || c->buf[keep - 1] == '\r'))
				keep--;
			memcpy(line, c->buf, keep);
			line[keep] = '\0';
			memmove(c->buf, c->buf + len, c->have - len);
			c->have -= len;
			return (long)keep;
		}
		if (c->have == sizeof(c->buf))
			return -1;
		int n = conn_read(c, c->buf + c->have, sizeof(c->buf) - c->have);
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
}

static int starts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The address inside <...> of "MAIL FROM:<a>" / "RCPT TO:<a>". */
static int angle_addr(const char *s, char *out, size_t size)
{
	const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (!lt || !gt || (size_t)(gt - lt - 1) >= size)
		return -1;
	memcpy(out, lt + 1, (size_t)(gt - lt - 1));
	out[gt - lt - 1] = '\0';
	return 0;
}

static int tempfail_now(const char *addr)
{
	int fail = 0;

	pthread_mutex_lock(&mu);
	size_t i;
	for (i = 0; i < ntried; i++)
		if (strcasecmp(tried[i].addr, addr) == 0)
			break;
	if (i == ntried && ntried < sizeof(tried) / sizeof(tried[0])) {
		snprintf(tried[i].addr, sizeof(tried[i].addr), "%s", addr);
		tried[i].n = 0;
		ntried++;
	}
	if (i < ntried)
		fail = ++tried[i].n <= tempfail_times;
	pthread_mutex_unlock(&mu);
	return fail;
}

static int store(const char *from, char rcpts[][256], int nrcpt, int tls, const char *data,
		 size_t len, unsigned long *id)
{
	char tmp[1024], final[1024];
	FILE *f;

	pthread_mutex_lock(&mu);
	*id = ++seq;
	pthread_mutex_unlock(&mu);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%d-%lu.eml", dir, (int)getpid(), *id);
	snprintf(final, sizeof(final), "%s/new/%d-%lu.eml", dir, (int)getpid(), *id);
	if (!(f = fopen(tmp, "w")))
		return -1;
	fprintf(f, "X-Sink-Mail-From: <%s>\r\n", from);
	for (int i = 0; i < nrcpt; i++)
		fprintf(f, "X-Sink-Rcpt-To: <%s>\r\n", rcpts[i]);
	fprintf(f, "X-Sink-TLS: %s\r\n", tls ? "yes" : "no");
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
		return -1;
	return rename(tmp, final);
}

static void ehlo(struct conn *c, const char *arg)
{
	conn_write(c, "250-sink.test greets ", 21);
	conn_write(c, arg, strlen(arg));
	conn_write(c, "\r\n250-8BITMIME\r\n250-SIZE 33554432\r\n", 35);
	if (tls_ctx && !c->ssl)
		conn_write(c, "250-STARTTLS\r\n", 14);
	if (auth_plain)
		conn_write(c, "250-AUTH PLAIN\r\n", 16);
	conn_write(c, "250 HELP\r\n", 10);
}

static void session(struct conn *c)
{
	char line[LINE_MAX_LEN], from[256] = "", rcpts[16][256];
	int nrcpt = 0, have_from = 0, authed = 0;
	char *data = NULL;

	if (c->implicit_tls) {
		c->ssl = SSL_new(tls_ctx);
		SSL_set_fd(c->ssl, c->fd);
		if (SSL_accept(c->ssl) != 1)
			goto out;
	}
	if (reply(c, "220 sink.test ESMTP test sink") < 0)
		goto out;
	for (;;) {
		long n = read_line(c, line, sizeof(line));
		if (n < 0)
			goto out;
		if (starts(line, "EHLO")) {
			ehlo(c, n > 5 ? line + 5 : "");
			have_from = nrcpt = 0;
		} else if (starts(line, "HELO")) {
			reply(c, "250 sink.test");
		} else if (starts(line, "STARTTLS")) {
			if (!tls_ctx || c->ssl) {
				reply(c, "502 5.5.1 not here");
				continue;
			}
			reply(c, "220 2.0.0 go ahead");
			c->ssl = SSL_new(tls_ctx);
			SSL_set_fd(c->ssl, c->fd);
			c->have = 0;
			if (SSL_accept(c->ssl) != 1)
				goto out;
			have_from = nrcpt = 0;
		} else if (starts(line, "AUTH PLAIN")) {
			char answer[LINE_MAX_LEN];
			const char *given = n > 11 ? line + 11 : NULL;
			if (!given) {
				reply(c, "334 ");
				if (read_line(c, answer, sizeof(answer)) < 0)
					goto out;
				given = answer;
			}
			if (auth_plain && strcmp(given, auth_plain) == 0) {
				authed = 1;
				reply(c, "235 2.7.0 authenticated");
			} else {
				reply(c, "535 5.7.8 authentication failed");
			}
		} else if (starts(line, "MAIL FROM:")) {
			if (require_tls && !c->ssl) {
				reply(c, "530 5.7.0 must issue STARTTLS first");
			} else if (auth_plain && !authed) {
				reply(c, "530 5.7.0 authentication required");
			} else if (angle_addr(line, from, sizeof(from)) < 0) {
				reply(c, "501 5.1.7 bad sender");
			} else {
				have_from = 1;
				nrcpt = 0;
				reply(c, "250 2.1.0 ok");
			}
		} else if (starts(line, "RCPT TO:")) {
			char to[256];
			if (!have_from) {
				reply(c, "503 5.5.1 MAIL first");
			} else if (angle_addr(line, to, sizeof(to)) < 0) {
				reply(c, "501 5.1.3 bad recipient");
			} else if (strstr(to, "+bounce")) {
				reply(c, "550 5.1.1 <%s>: Recipient address rejected: User unknown", to);
			} else if (strstr(to, "+tempfail") && tempfail_now(to)) {
				reply(c, "451 4.7.1 <%s>: try again later", to);
			} else if (nrcpt >= 16) {
				reply(c, "452 4.5.3 too many recipients");
			} else {
				if (strstr(to, "+slow"))
					usleep(300000);
				snprintf(rcpts[nrcpt++], sizeof(rcpts[0]), "%s", to);
				reply(c, "250 2.1.5 ok");
			}
		} else if (starts(line, "DATA")) {
			size_t len = 0, cap = 65536;
			unsigned long id;
			int reject = 0;
			if (!nrcpt) {
				reply(c, "554 5.5.1 no valid recipients");
				continue;
			}
			reply(c, "354 end with <CRLF>.<CRLF>");
			data = malloc(cap);
			if (!data)
				goto out;
			for (;;) {
				long ln = read_line(c, line, sizeof(line));
				const char *p = line;
				if (ln < 0)
					goto out; /* no final dot: nothing is stored */
				if (ln == 1 && line[0] == '.')
					break;
				if (line[0] == '.') { /* dot-stuffing */
					p++;
					ln--;
				}
				if (len + (size_t)ln + 2 > MESSAGE_MAX)
					goto out;
				while (len + (size_t)ln + 2 > cap) {
					char *more = realloc(data, cap * 2);
					if (!more)
						goto out;
					data = more;
					cap *= 2;
				}
				memcpy(data + len, p, (size_t)ln);
				memcpy(data + len + (size_t)ln, "\r\n", 2);
				len += (size_t)ln + 2;
			}
			for (int i = 0; i < nrcpt; i++)
				reject |= strstr(rcpts[i], "+reject") != NULL;
			if (delay_ms)
				usleep((useconds_t)delay_ms * 1000);
			if (reject)
				reply(c, "554 5.7.1 message content rejected");
			else if (store(from, rcpts, nrcpt, c->ssl != NULL, data, len, &id) < 0)
				reply(c, "451 4.3.0 could not store the message");
			else
				reply(c, "250 2.0.0 Ok: queued as %lu", id);
			free(data);
			data = NULL;
			have_from = nrcpt = 0;
		} else if (starts(line, "RSET")) {
			have_from = nrcpt = 0;
			reply(c, "250 2.0.0 ok");
		} else if (starts(line, "NOOP")) {
			reply(c, "250 2.0.0 ok");
		} else if (starts(line, "QUIT")) {
			reply(c, "221 2.0.0 bye");
			goto out;
		} else {
			reply(c, "502 5.5.2 command not recognised");
		}
	}
out:
	free(data);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
}

static void *session_main(void *arg)
{
	session(arg);
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "smtp_sink: port %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *in, size_t len)
{
	char *out = malloc(len / 3 * 4 + 8), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	int port = 0, tls_port = 0, fds[2], is_tls[2] = { 0, 0 }, nfds = 0;
	char path[1024];
	pid_t parent = getppid();

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--require-tls") == 0) {
			require_tls = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "smtp_sink: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--tls-port") == 0)
			tls_port = atoi(v);
		else if (strcmp(a, "--cert") == 0)
			cert = v;
		else if (strcmp(a, "--key") == 0)
			key = v;
		else if (strcmp(a, "--tempfail") == 0)
			tempfail_times = atoi(v);
		else if (strcmp(a, "--delay-ms") == 0)
			delay_ms = atoi(v);
		else if (strcmp(a, "--auth") == 0) {
			const char *colon = strchr(v, ':');
			unsigned char raw[512];
			size_t ul, pl;
			if (!colon || (ul = (size_t)(colon - v)) + (pl = strlen(colon + 1)) + 2 > sizeof(raw))
				return 2;
			raw[0] = '\0';
			memcpy(raw + 1, v, ul);
			raw[1 + ul] = '\0';
			memcpy(raw + 2 + ul, colon + 1, pl);
			auth_plain = base64(raw, ul + pl + 2);
		} else {
			fprintf(stderr, "smtp_sink: unknown option %s\n", a);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	mkdir(dir, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/new", dir);
	mkdir(path, 0755);
	if (cert && key) {
		tls_ctx = SSL_CTX_new(TLS_server_method());
		if (!tls_ctx || SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
	}
	if (port && (fds[nfds++] = listen_on(port)) < 0)
		return 1;
	if (tls_port) {
		if (!tls_ctx) {
			fprintf(stderr, "smtp_sink: --tls-port needs --cert and --key\n");
			return 2;
		}
		is_tls[nfds] = 1;
		if ((fds[nfds++] = listen_on(tls_port)) < 0)
			return 1;
	}
	if (!nfds) {
		fprintf(stderr, "smtp_sink: give --port and/or --tls-port\n");
		return 2;
	}
	for (;;) {
		struct pollfd pfd[2];
		for (int i = 0; i < nfds; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = POLLIN;
		}
		if (getppid() != parent)
			return 0;
		if (poll(pfd, (nfds_t)nfds, 300) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < nfds; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int fd = accept(fds[i], NULL, NULL);
			struct conn *c;
			pthread_t t;
			if (fd < 0)
				continue;
			c = calloc(1, sizeof(*c));
			if (!c) {
				close(fd);
				continue;
			}
			c->fd = fd;
			c->implicit_tls = is_tls[i];
			if (pthread_create(&t, NULL, session_main, c) != 0) {
				close(fd);
				free(c);
				continue;
			}
			pthread_detach(t);
		}
	}
}
