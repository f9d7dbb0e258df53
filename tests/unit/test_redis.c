/* The Redis client against a server that accepts connections and never
 * answers: one short timeout, then no calls at all until the pause is over. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "queue/redis.h"
#include "unit.h"

/* A TCP listener nobody accepts on: the kernel completes the handshake and
 * takes the command, and no reply ever comes. */
static int hung_server(char *url, size_t size)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, size, "redis://127.0.0.1:%d/0", ntohs(sa.sin_port));
	return fd;
}

static double timed_get(struct fs_redis *r)
{
	const char *argv[] = { "GET", "fs:unit" };
	double t0 = time_monotonic_ms();
	redisReply *rep = fs_redis_argv(r, 2, argv, NULL);

	ck_assert_ptr_null(rep);
	return time_monotonic_ms() - t0;
}

/* How many lines the calls wrote to stderr (the log), counted in a temporary file. */
static int stderr_lines_of(void (*fn)(struct fs_redis *), struct fs_redis *r)
{
	FILE *f = tmpfile();
	int saved, lines = 0, c;

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	fn(r);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	rewind(f);
	while ((c = getc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	return lines;
}

static void first_and_twenty_more(struct fs_redis *r)
{
	double first, rest = 0;

	/* Bounds with room for valgrind on a loaded machine: a call that waited
	 * for the hung server without a timeout would never return, and twenty
	 * that each paid a timeout would take 5 s. */
	first = timed_get(r);
	ck_assert_msg(first < 8 * FS_REDIS_TIMEOUT_MS, "the first call took %.0f ms", first);
	/* The calls that follow do not wait for Redis at all. */
	for (int i = 0; i < 20; i++)
		rest += timed_get(r);
	ck_assert_msg(rest < 4 * FS_REDIS_TIMEOUT_MS, "20 more calls took %.0f ms", rest);
}

START_TEST(a_hung_redis_costs_one_short_timeout)
{
	char url[64];
	int fd = hung_server(url, sizeof(url));
	struct fs_redis r;

	fs_redis_init(&r, url);
	/* One warning for the outage, not one per call. */
	ck_assert_int_eq(stderr_lines_of(first_and_twenty_more, &r), 1);
	fs_redis_close(&r);
	close(fd);
}
END_TEST

START_TEST(the_breaker_tries_again_after_its_pause)
{
	char url[64];
	int fd = hung_server(url, sizeof(url));
	struct fs_redis r;
	double t;

	fs_redis_init(&r, url);
	r.timeout_ms = 100;
	r.cooldown_ms = 300;
	timed_get(&r);
	ck_assert_double_lt(timed_get(&r), 90); /* no wait: under the 100 ms timeout */
	usleep(350 * 1000);
	/* One try (it times out again), then a new pause. */
	t = timed_get(&r);
	ck_assert_msg(t >= 80 && t < 1500, "the retry took %.0f ms", t);
	ck_assert_double_lt(timed_get(&r), 90);
	fs_redis_close(&r);
	close(fd);
}
END_TEST

Suite *redis_suite(void)
{
	Suite *s = suite_create("redis");
	TCase *tc = tcase_create("queue");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_hung_redis_costs_one_short_timeout);
	tcase_add_test(tc, the_breaker_tries_again_after_its_pause);
	suite_add_tcase(s, tc);
	return s;
}
