/* queue/shm_batch: requests of forked processes done together by one of
 * them, each answered with its own result, and what happens when a leader
 * dies holding some. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/shm_batch.h"
#include "unit.h"

/* What the processes tell the test, in memory shared with it. */
struct seen {
	_Atomic int calls;     /* batches run */
	_Atomic int items;     /* requests in them */
	_Atomic int biggest;   /* the largest batch */
	_Atomic int wrong_key; /* a request of another key in a batch */
	_Atomic int leading;   /* set by a leader's function when it starts */
};

/* The queue under test, reachable from a global: the forked children end
 * with _exit and never free it, which valgrind would otherwise count as
 * their leak. */
static struct shm_batch *volatile under_test;

static struct shm_batch *new_batch(size_t slots, size_t leaders, size_t req_max, size_t res_max)
{
	return under_test = shm_batch_new(slots, leaders, req_max, res_max);
}

static struct seen *shared_seen(void)
{
	struct seen *s =
		mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(s, MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

enum role { ROLE_ECHO, ROLE_SLOW, ROLE_DIE };
struct run_arg {
	struct seen *seen;
	enum role role;
};

/* The answer to "key:n" is "key:n!" with status n; a batch takes a moment
 * so that others queue behind it. */
static void answer_all(void *argp, const char *key, struct shm_batch_item *items, size_t n)
{
	struct run_arg *arg = argp;
	int prev;

	atomic_store(&arg->seen->leading, 1);
	if (arg->role == ROLE_DIE)
		_exit(7);
	atomic_fetch_add(&arg->seen->calls, 1);
	atomic_fetch_add(&arg->seen->items, (int)n);
	prev = atomic_load(&arg->seen->biggest);
	while ((int)n > prev && !atomic_compare_exchange_weak(&arg->seen->biggest, &prev, (int)n))
		;
	for (size_t k = 0; k < n; k++) {
		const char *req = items[k].req;
		size_t klen = strlen(key);

		if (items[k].req_len <= klen || memcmp(req, key, klen) != 0 || req[klen] != ':')
			atomic_fetch_add(&arg->seen->wrong_key, 1);
		memcpy(items[k].res, req, items[k].req_len);
		((char *)items[k].res)[items[k].req_len] = '!';
		items[k].res_len = items[k].req_len + 1;
		{
			char num[16] = "";
			size_t nl = items[k].req_len - klen - 1;
			memcpy(num, req + klen + 1, nl < sizeof(num) - 1 ? nl : sizeof(num) - 1);
			items[k].status = atoi(num); /* a request is not NUL-terminated */
		}
	}
	sleep_ms(arg->role == ROLE_SLOW ? 300 : 1);
}

/* One process's requests: each must come back as its own answer. */
static int client(struct shm_batch *b, struct seen *seen, const char *key, int first, int count)
{
	struct run_arg arg = {seen, ROLE_ECHO};
	char req[64], res[128], want[64];

	for (int i = first; i < first + count; i++) {
		size_t len;
		int status;
		int n = snprintf(req, sizeof(req), "%s:%d", key, i);

		if (shm_batch_run(b, key, req, (size_t)n, res, sizeof(res), &len, &status,
				  answer_all, &arg) != SHM_BATCH_DONE)
			return 1;
		snprintf(want, sizeof(want), "%s:%d!", key, i);
		if (status != i || len != strlen(want) || memcmp(res, want, len) != 0) {
			fprintf(stderr, "want %s (%d) got %.*s (%d)\n", want, i, (int)len, res,
				status);
			return 2;
		}
	}
	return 0;
}

/* One request "k:n" from a new process in role: its pid. The child exits 0
 * when the outcome (and, done, the status n) is the one wanted. */
static pid_t fork_one(struct shm_batch *b, struct seen *seen, enum role role, int n,
		      enum shm_batch_outcome want)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct run_arg arg = {seen, role};
		char req[16], res[128];
		size_t len;
		int status, k = snprintf(req, sizeof(req), "k:%d", n);
		enum shm_batch_outcome out = shm_batch_run(b, "k", req, (size_t)k, res, sizeof(res),
							   &len, &status, answer_all, &arg);

		_exit(out == want && (out != SHM_BATCH_DONE || status == n) ? 0 : 1);
	}
	return pid;
}

static void wait_ok(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", (int)pid, st);
}

START_TEST(each_request_gets_its_own_answer_and_batches_form)
{
	struct shm_batch *b = new_batch(16, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t kids[8];

	ck_assert_ptr_nonnull(b);
	for (int c = 0; c < 8; c++) {
		kids[c] = fork();
		ck_assert_int_ge(kids[c], 0);
		if (kids[c] == 0)
			_exit(client(b, seen, c % 2 ? "tenant-b" : "tenant-a", c * 1000, 60));
	}
	for (int c = 0; c < 8; c++)
		wait_ok(kids[c]);
	ck_assert_int_eq(atomic_load(&seen->items), 8 * 60);
	ck_assert_int_eq(atomic_load(&seen->wrong_key), 0);
	/* Queued behind a leader's batch, requests went down together. */
	ck_assert_int_lt(atomic_load(&seen->calls), 8 * 60);
	ck_assert_int_gt(atomic_load(&seen->biggest), 1);
	ck_assert_int_le(atomic_load(&seen->biggest), 4); /* one key's four processes */
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

START_TEST(too_big_or_no_room_goes_alone)
{
	struct shm_batch *b = new_batch(1, 1, 8, 16);
	struct seen *seen = shared_seen();
	struct run_arg arg = {seen, ROLE_ECHO};
	char res[32], big[9] = "k:123456";
	size_t len;
	int status;
	pid_t slow;

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(shm_batch_new(0, 1, 8, 8));
	ck_assert_ptr_null(shm_batch_new(4, 0, 8, 8));
	ck_assert_int_eq(
		shm_batch_run(b, "k", big, 9, res, sizeof(res), &len, &status, answer_all, &arg),
		SHM_BATCH_ALONE); /* 9 bytes > 8 */
	ck_assert_int_eq(shm_batch_run(b, "k", "k:1", 3, res, 8, &len, &status, answer_all, &arg),
			 SHM_BATCH_ALONE); /* room for less than an answer */
	ck_assert_int_eq(shm_batch_run(b, "a-key-longer-than-forty-seven-bytes-is-refused-here",
				       "k:1", 3, res, sizeof(res), &len, &status, answer_all, &arg),
			 SHM_BATCH_ALONE);
	/* The only slot held by a slow leader: the next request goes alone. */
	slow = fork_one(b, seen, ROLE_SLOW, 5, SHM_BATCH_DONE);
	while (!atomic_load(&seen->leading))
		sleep_ms(1);
	ck_assert_int_eq(
		shm_batch_run(b, "k", "k:6", 3, res, sizeof(res), &len, &status, answer_all, &arg),
		SHM_BATCH_ALONE);
	wait_ok(slow);
	ck_assert_int_eq(
		shm_batch_run(b, "k", "k:6", 3, res, sizeof(res), &len, &status, answer_all, &arg),
		SHM_BATCH_DONE);
	ck_assert_int_eq(status, 6);
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

/* A (slow) leads alone; B and C queue behind it; the lead passes to B, the
 * older, which takes C's request with its own and dies in the middle: C's
 * comes back lost, and a later request is led again. */
START_TEST(a_leader_that_dies_loses_what_it_held_and_the_lead_passes_on)
{
	struct shm_batch *b = new_batch(8, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t a, bp, c;
	int st;

	ck_assert_ptr_nonnull(b);
	a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	while (!atomic_load(&seen->leading))
		sleep_ms(1);
	bp = fork_one(b, seen, ROLE_DIE, 2, SHM_BATCH_DONE); /* dies leading: exit 7 */
	sleep_ms(30);
	c = fork_one(b, seen, ROLE_ECHO, 3, SHM_BATCH_LOST);
	wait_ok(a);
	ck_assert_int_eq(waitpid(bp, &st, 0), bp);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	wait_ok(c);
	/* The key has no leader left: the next request leads and is done. */
	{
		struct run_arg arg = {seen, ROLE_ECHO};
		char res[128];
		size_t len;
		int status;
		ck_assert_int_eq(shm_batch_run(b, "k", "k:4", 3, res, sizeof(res), &len, &status,
					       answer_all, &arg),
				 SHM_BATCH_DONE);
		ck_assert_int_eq(status, 4);
	}
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

/* A follower whose leader died before taking it leads its own request. */
START_TEST(a_queued_request_whose_leader_died_is_led_by_its_owner)
{
	struct shm_batch *b = new_batch(8, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t a, c;
	int st;

	ck_assert_ptr_nonnull(b);
	a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	while (!atomic_load(&seen->leading))
		sleep_ms(1);
	c = fork_one(b, seen, ROLE_ECHO, 3, SHM_BATCH_DONE);
	sleep_ms(20);
	kill(a, SIGKILL); /* in the middle of its batch, c queued behind it */
	ck_assert_int_eq(waitpid(a, &st, 0), a);
	wait_ok(c);
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

Suite *shm_batch_suite(void)
{
	Suite *s = suite_create("shm_batch");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, each_request_gets_its_own_answer_and_batches_form);
	tcase_add_test(tc, too_big_or_no_room_goes_alone);
	tcase_add_test(tc, a_leader_that_dies_loses_what_it_held_and_the_lead_passes_on);
	tcase_add_test(tc, a_queued_request_whose_leader_died_is_led_by_its_owner);
	suite_add_tcase(s, tc);
	return s;
}
