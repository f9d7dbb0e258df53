/* The nginx -> libfcgi ceiling for `make bench`: a prefork responder that only
 * says hello, with none of FlowSend's work, measured beside /health. */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = NULL;
	int workers = 2, fd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--routes") == 0)
			return 0;
	}
	if (!path || workers < 1) {
		fprintf(stderr, "usage: %s --socket PATH [--workers N]\n", argv[0]);
		return 2;
	}
	FCGX_Init();
	unlink(path);
	fd = FCGX_OpenSocket(path, 1024);
	if (fd < 0)
		return 1;
	chmod(path, 0666);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < workers; i++) {
		if (fork() == 0) {
			FCGX_Request r;
			FCGX_InitRequest(&r, fd, 0);
			while (FCGX_Accept_r(&r) >= 0) {
				FCGX_FPrintF(r.out, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n");
				FCGX_Finish_r(&r);
			}
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
