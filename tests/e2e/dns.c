/* A real DNS server for the tests: Debian's dnsmasq on the port the stack put
 * in FLOWSEND_DNS_SERVER, answering for *.example from a configuration file
 * the test writes (TXT strings quoted there: on dnsmasq's command line the
 * quotes would stay in the record). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "mail/dns.h"

#define PROBE "probe.flowsend-e2e.example"

static pid_t dns_pid;

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

static void pid_path(char *out, size_t size)
{
	snprintf(out, size, "%s/pid/dnsmasq.pid", state_dir());
}

/* A dnsmasq a failed test left running would hold the port. */
static void stop_leftover(void)
{
	char path[512], comm[64] = "", proc[64];
	long pid = 0;
	FILE *f;

	pid_path(path, sizeof(path));
	if (!(f = fopen(path, "r")))
		return;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	if (pid > 0 && (f = fopen(proc, "r"))) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "dnsmasq", 7) == 0) {
			kill((pid_t)pid, SIGTERM);
			for (int i = 0; i < 50 && kill((pid_t)pid, 0) == 0; i++)
				usleep(20000);
		}
	}
	unlink(path);
}

void e2e_dns_txt_line(struct strbuf *conf, const char *name, const char *const *strings,
		      size_t n)
{
	strbuf_appendf(conf, "txt-record=%s", name);
	for (size_t i = 0; i < n; i++) {
		strbuf_appends(conf, ",\"");
		for (const char *p = strings[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				strbuf_appendc(conf, '\\');
			strbuf_appendc(conf, *p);
		}
		strbuf_appendc(conf, '"');
	}
	strbuf_appendc(conf, '\n');
}

void e2e_dns_start(const char *records)
{
	const char *server = getenv("FLOWSEND_DNS_SERVER");
	char conf_path[512], log_path[512], pidfile[512], port_arg[32], conf_arg[540],
		log_arg[540], addr[16];
	unsigned port;
	FILE *f;

	ck_assert_msg(server && dns_server_parse(server, addr, &port) == 0,
		      "FLOWSEND_DNS_SERVER is not set to host:port");
	e2e_dns_stop();
	stop_leftover();
	snprintf(conf_path, sizeof(conf_path), "%s/dnsmasq.conf", state_dir());
	snprintf(log_path, sizeof(log_path), "%s/log/dnsmasq.log", state_dir());
	f = fopen(conf_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "txt-record=" PROBE ",\"ready\"\n%s", records ? records : "");
	fclose(f);
	snprintf(port_arg, sizeof(port_arg), "--port=%u", port);
	snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s", conf_path);
	snprintf(log_arg, sizeof(log_arg), "--log-facility=%s", log_path);
	dns_pid = fork();
	ck_assert_int_ge(dns_pid, 0);
	if (dns_pid == 0) {
		char listen[40];
		/* Only the names the test wrote; everything under example is
		 * answered here (NXDOMAIN when absent), nothing asked upstream.
		 * "--pid-file" alone: no pid file of its own (we keep one). */
		char *argv[16] = { "dnsmasq", "--keep-in-foreground", conf_arg, port_arg, listen,
				   "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
				   "--local=/example/", "--pid-file", "--log-queries", log_arg,
				   NULL, NULL };
		if (geteuid() == 0)
			argv[13] = "--user=nobody"; /* it drops root after binding */
		snprintf(listen, sizeof(listen), "--listen-address=%s", addr);
		execvp("dnsmasq", argv);
		_exit(127);
	}
	pid_path(pidfile, sizeof(pidfile));
	if ((f = fopen(pidfile, "w"))) { /* scripts/stack.sh stop ends it too */
		fprintf(f, "%ld\n", (long)dns_pid);
		fclose(f);
	}
	for (int i = 0; i < 600; i++) { /* 30 s: a loaded machine */
		struct strbuf out = STRBUF_INIT;
		size_t count = 0;
		enum dns_result r = dns_txt(server, PROBE, &out, &count);
		strbuf_free(&out);
		if (r == DNS_FOUND)
			return;
		ck_assert_msg(waitpid(dns_pid, NULL, WNOHANG) == 0,
			      "dnsmasq exited at once (is dnsmasq-base installed? see %s)", log_path);
		usleep(50000);
	}
	ck_abort_msg("dnsmasq never answered on %s", server);
}

void e2e_dns_stop(void)
{
	char pidfile[512];

	if (dns_pid <= 0)
		return;
	kill(dns_pid, SIGTERM);
	while (waitpid(dns_pid, NULL, 0) < 0 && errno == EINTR)
		;
	dns_pid = 0;
	pid_path(pidfile, sizeof(pidfile));
	unlink(pidfile);
}
