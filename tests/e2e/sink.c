/* The tests' SMTP sink (tests/sink/smtp_sink.c) as the delivery, bounce and
 * tracking suites start it: a fresh folder for what it receives, a port each. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "e2e.h"

int e2e_port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int e2e_wait_port(int port)
{
	for (int i = 0; i < 1500; i++) {
		if (e2e_port_open(port))
			return 1;
		usleep(20000);
	}
	return e2e_port_open(port);
}

const char *e2e_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

void e2e_sink_start(struct e2e_sink *s, const char *dir, int port, const char *extra)
{
	char cmd[2048];

	memset(s, 0, sizeof(*s));
	s->port = port;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", s->dir, s->dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "exec %s/../tests/smtp_sink --dir %s --port %d%s%s", e2e_bin(),
		 s->dir, s->port, extra ? " " : "", extra ? extra : "");
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	ck_assert_msg(e2e_wait_port(s->port), "the sink did not start on %d", s->port);
}

void e2e_sink_stop(struct e2e_sink *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

char *e2e_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(f);
	if (len)
		*len = sb.len;
	if (!sb.buf)
		strbuf_appends(&sb, "");
	return sb.buf;
}

int e2e_sink_find(const struct e2e_sink *s, const char *addr, const char *needle, char **raw)
{
	char path[1024], want[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/new", s->dir);
	snprintf(want, sizeof(want), "X-Sink-Rcpt-To: <%s>\r\n", addr);
	if (raw)
		*raw = NULL;
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char file[1400], *text, *rcpt;
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		if (!(text = e2e_slurp(file, NULL)))
			continue;
		/* In the sink's envelope lines, which end with X-Sink-TLS, not in the message. */
		rcpt = strcasestr(text, want);
		if (rcpt && rcpt < strstr(text, "X-Sink-TLS") && (!needle || strstr(text, needle))) {
			n++;
			if (raw) {
				free(*raw);
				*raw = text;
				continue;
			}
		}
		free(text);
	}
	closedir(d);
	return n;
}
