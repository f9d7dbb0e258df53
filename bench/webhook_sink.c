/* A webhook receiver for make bench: HTTP/1.1 keep-alive on 127.0.0.1:port,
 * answers every POST 200 at once, counts them; on SIGTERM prints the count. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_long hits;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void *conn(void *arg)
{
	int fd = (int)(long)arg;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char buf[65536];
	size_t got = 0;

	for (;;) {
		char *end;
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		while ((end = strstr(buf, "\r\n\r\n"))) {
			size_t head = (size_t)(end + 4 - buf), want = 0;
			for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
				if (strncasecmp(p, "Content-Length:", 15) == 0)
					want = (size_t)strtoul(p + 15, NULL, 10);
			if (got < head + want)
				break;
			atomic_fetch_add(&hits, 1);
			if (send(fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) < 0)
				goto out;
			memmove(buf, buf + head + want, got - head - want);
			got -= head + want;
			buf[got] = '\0';
		}
		if (got >= sizeof(buf) - 1)
			break;
	}
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction act;
	int one = 1, fd;

	if (argc != 2)
		return 2;
	memset(&act, 0, sizeof(act));
	act.sa_handler = on_term;
	sigaction(SIGTERM, &act, NULL);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		perror("webhook_sink");
		return 1;
	}
	while (!stop) {
		pthread_t t;
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		if (pthread_create(&t, NULL, conn, (void *)(long)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
	printf("%ld\n", atomic_load(&hits));
	return 0;
}
