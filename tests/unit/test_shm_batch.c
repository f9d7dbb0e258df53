/* queue/shm_batch: requests of forked processes done together by one of
 * them, each answered with its own result, and what happens when a leader
 * dies holding some. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
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
	_Atomic int leads;     /* leaders' functions started */
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
	atomic_fetch_add(&arg->seen->leads, 1);
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

/* One request "key:n" from a new process in role: its pid. The child exits
 * 0 when the outcome (and, done, the status n) is the one wanted. */
static pid_t fork_key(struct shm_batch *b, struct seen *seen, const char *key, enum role role,
		      int n, enum shm_batch_outcome want)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct run_arg arg = {seen, role};
		char req[32], res[128];
		size_t len;
		int status, k = snprintf(req, sizeof(req), "%s:%d", key, n);
		enum shm_batch_outcome out = shm_batch_run(b, key, req, (size_t)k, res, sizeof(res),
							   &len, &status, answer_all, &arg);

		_exit(out == want && (out != SHM_BATCH_DONE || status == n) ? 0 : 1);
	}
	return pid;
}

static pid_t fork_one(struct shm_batch *b, struct seen *seen, enum role role, int n,
		      enum shm_batch_outcome want)
{
	return fork_key(b, seen, "k", role, n, want);
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

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* 1 once *v >= want, 0 when ms passed first. */
static int wait_at_least(_Atomic int *v, int want, long ms)
{
	long end = now_ms() + ms;

	while (atomic_load(v) < want)
		if (now_ms() > end)
			return 0;
		else
			sleep_ms(1);
	return 1;
}

/* The child's wait status, or -1 (and the child killed) when it has not
 * ended within ms: every wait of these tests is bounded. */
static int wait_bounded(pid_t pid, long ms)
{
	long end = now_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		ck_assert_int_eq(r, 0);
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		sleep_ms(2);
	}
}

static void kill_reap(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* Two slots left behind by processes killed mid-batch with nobody of their
 * key waiting: the leader's (LEADING) and the one it had taken (TAKEN, its
 * owner dead too). No request of that key ever comes again, so only a new
 * request that finds no free slot can take them back; then all three slots
 * serve three requests at once. */
START_TEST(slots_of_dead_processes_are_taken_back)
{
	struct shm_batch *b = new_batch(3, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t l1, q1, q2, y, z;

	ck_assert_ptr_nonnull(b);
	l1 = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	ck_assert(wait_at_least(&seen->leads, 1, 30000));
	q1 = fork_one(b, seen, ROLE_SLOW, 2, SHM_BATCH_DONE); /* leads next, takes q2 */
	sleep_ms(30);
	q2 = fork_one(b, seen, ROLE_ECHO, 3, SHM_BATCH_DONE);
	ck_assert_int_eq(wait_bounded(l1, 30000), 0);
	ck_assert(wait_at_least(&seen->leads, 2, 30000)); /* q1 in its batch */
	kill_reap(q2);
	kill_reap(q1);
	/* Two leaders of other keys hold a slot each while a third request
	 * comes: each needs a slot of the dead. */
	y = fork_key(b, seen, "y", ROLE_SLOW, 4, SHM_BATCH_DONE);
	z = fork_key(b, seen, "z", ROLE_SLOW, 5, SHM_BATCH_DONE);
	ck_assert_msg(wait_at_least(&seen->leads, 4, 30000), "a slot of the dead was never freed");
	{
		struct run_arg arg = {seen, ROLE_ECHO};
		char res[128];
		size_t len;
		int status;

		ck_assert_int_eq(shm_batch_run(b, "w", "w:6", 3, res, sizeof(res), &len, &status,
					       answer_all, &arg),
				 SHM_BATCH_DONE);
		ck_assert_int_eq(status, 6);
	}
	ck_assert_int_eq(wait_bounded(y, 30000), 0);
	ck_assert_int_eq(wait_bounded(z, 30000), 0);
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

static void on_alarm(int sig)
{
	(void)sig;
}

/* A follower whose process gets a signal every 5 ms (a profiler, a timer):
 * each interrupts its futex wait, and it must still look after its dead
 * leader every 20 ms or so instead of starting its wait over. */
START_TEST(a_follower_interrupted_by_signals_still_notices_its_dead_leader)
{
	struct shm_batch *b = new_batch(8, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t a, c;

	ck_assert_ptr_nonnull(b);
	a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	ck_assert(wait_at_least(&seen->leads, 1, 30000));
	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		struct sigaction sa;
		struct itimerval it = {{0, 5000}, {0, 5000}};
		struct run_arg arg = {seen, ROLE_ECHO};
		char res[128];
		size_t len;
		int status;
		enum shm_batch_outcome out;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		out = shm_batch_run(b, "k", "k:3", 3, res, sizeof(res), &len, &status, answer_all,
				    &arg);
		_exit(out == SHM_BATCH_DONE && status == 3 ? 0 : 1);
	}
	sleep_ms(30); /* c queued behind a */
	kill_reap(a);
	ck_assert_msg(wait_bounded(c, 30000) == 0, "the follower never took the lead");
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

struct as_pid {
	struct shm_batch *b;
	struct seen *seen;
	int request; /* 0: it sleeps; else it sends "k:request" */
};

/* A process that gets pid (made so through ns_last_pid) and does what a
 * says, or -1 when the kernel will not be told (not root) or another
 * process took pid first every time. */
static pid_t fork_with_pid(pid_t pid, const struct as_pid *a)
{
	for (int tries = 0; tries < 50; tries++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		pid_t got;

		if (!f)
			return -1;
		fprintf(f, "%d", (int)pid - 1);
		if (fclose(f) != 0)
			return -1;
		got = fork();
		ck_assert_int_ge(got, 0);
		if (got == 0 && getpid() != pid)
			_exit(0);
		if (got == 0 && a->request) {
			struct run_arg arg = {a->seen, ROLE_ECHO};
			char req[16], res[128];
			size_t len;
			int status, k = snprintf(req, sizeof(req), "k:%d", a->request);

			_exit(shm_batch_run(a->b, "k", req, (size_t)k, res, sizeof(res), &len,
					    &status, answer_all, &arg) == SHM_BATCH_DONE &&
					      status == a->request
				      ? 0
				      : 1);
		}
		if (got == 0) {
			for (;;)
				pause();
		}
		if (got == pid)
			return got;
		kill_reap(got);
	}
	return -1;
}

/* A leader killed alone on its key, its pid then taken by a process that
 * lives on and knows nothing of the queue: the key's next request must not
 * wait for it. */
START_TEST(a_dead_leaders_pid_taken_by_another_process_does_not_hold_its_key)
{
	struct shm_batch *b = new_batch(8, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t a, other, c;

	ck_assert_ptr_nonnull(b);
	a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	ck_assert(wait_at_least(&seen->leads, 1, 30000));
	kill_reap(a);
	other = fork_with_pid(a, &(struct as_pid){b, seen, 0});
	if (other < 0) {
		fprintf(stderr,
			"SKIP a_dead_leaders_pid_taken...: cannot make a process of pid %d\n",
			(int)a);
	} else {
		int st;

		c = fork_one(b, seen, ROLE_ECHO, 2, SHM_BATCH_DONE);
		st = wait_bounded(c, 30000);
		kill_reap(other);
		ck_assert_msg(st == 0, "the key waits for a dead leader whose pid lives on");
	}
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

/* The same, the pid taken by a process that then sends a request of that
 * key: it must not take the dead leader for itself and wait for itself. */
START_TEST(a_process_with_a_dead_leaders_pid_does_not_wait_for_itself)
{
	struct shm_batch *b = new_batch(8, 1, 64, 128);
	struct seen *seen = shared_seen();
	pid_t a, again;

	ck_assert_ptr_nonnull(b);
	a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE);
	ck_assert(wait_at_least(&seen->leads, 1, 30000));
	kill_reap(a);
	again = fork_with_pid(a, &(struct as_pid){b, seen, 2});
	if (again < 0)
		fprintf(stderr, "SKIP a_process_with_a_dead_leaders_pid...: cannot make pid %d\n",
			(int)a);
	else
		ck_assert_msg(wait_bounded(again, 30000) == 0, "it waits for itself");
	munmap(seen, sizeof(*seen));
	shm_batch_free(b);
}
END_TEST

/* A stray write that gives a waiting request's slot a state it never has
 * (here 77, and FREE) must not leave its owner waiting for ever: it comes
 * back lost, and the slot serves again. The slot's place comes from the
 * mapping's sizes (slots follow the header, a stride each); its state is
 * its first word. */
START_TEST(a_garbled_state_does_not_hang_its_owner)
{
	static const uint32_t garbage[] = {77, 0};
	struct shm_batch *one = shm_batch_new(1, 1, 64, 128);
	size_t bytes1, bytes2;
	unsigned char *map;

	ck_assert_ptr_nonnull(one);
	shm_batch_shared(one, &bytes1);
	shm_batch_free(one);
	for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
		struct shm_batch *b = new_batch(2, 1, 64, 128);
		struct seen *seen = shared_seen();
		pid_t a, c;

		ck_assert_ptr_nonnull(b);
		map = shm_batch_shared(b, &bytes2);
		ck_assert_uint_gt(bytes2, bytes1);
		a = fork_one(b, seen, ROLE_SLOW, 1, SHM_BATCH_DONE); /* slot 0 */
		ck_assert(wait_at_least(&seen->leads, 1, 30000));
		c = fork_one(b, seen, ROLE_ECHO, 2, SHM_BATCH_LOST); /* slot 1, queued */
		{
			/* Slot 1 starts where a mapping of one slot ends. */
			_Atomic uint32_t *state = (_Atomic uint32_t *)(map + bytes1);
			long end = now_ms() + 30000;

			while (atomic_load(state) != 1 && now_ms() < end) /* QUEUED */
				sleep_ms(1);
			atomic_store(state, garbage[g]);
		}
		ck_assert_msg(wait_bounded(c, 30000) == 0, "its owner waits for ever (state %u)",
			      (unsigned)garbage[g]);
		ck_assert_int_eq(wait_bounded(a, 30000), 0);
		c = fork_one(b, seen, ROLE_ECHO, 3, SHM_BATCH_DONE);
		ck_assert_int_eq(wait_bounded(c, 30000), 0);
		munmap(seen, sizeof(*seen));
		shm_batch_free(b);
	}
}
END_TEST

/* The storm: STORM_PROCS processes send requests on three keys (two leaders
 * a key) for STORM_MS while the test kills one of them every few
 * milliseconds and forks another in its place. Request n is "key:n"; its
 * answer must be "key:n!" with status n, each request is run by at most one
 * batch, and one comes back lost only when the process that took it died. */
#define STORM_PROCS 12
#define STORM_MS 2500
#define STORM_KILLS 400
#define STORM_MAX_REQ 400000
#define STORM_SLOTS 64

enum { OUT_NONE, OUT_DONE, OUT_LOST, OUT_ALONE, OUT_WRONG };

struct storm {
	_Atomic int stop;
	_Atomic int next;		    /* the next request's number */
	_Atomic int ran[STORM_MAX_REQ];	    /* batches that ran it */
	_Atomic int ran_by[STORM_MAX_REQ];  /* the process that led it */
	_Atomic int outcome[STORM_MAX_REQ]; /* OUT_*, as its owner saw it */
	_Atomic int wrong_key;
	_Atomic int holding; /* hold_all: leaders waiting for the others */
};

static const char *const storm_keys[] = {"tenant-a", "tenant-b", "tenant-c"};

/* Request n as the leader's function sees it: n, or -1 when garbled. */
static int storm_number(const struct shm_batch_item *it, const char *key)
{
	size_t klen = strlen(key);
	const char *req = it->req;
	int n = 0;

	if (it->req_len <= klen + 1 || it->req_len > klen + 10 || memcmp(req, key, klen) != 0 ||
	    req[klen] != ':')
		return -1;
	for (size_t i = klen + 1; i < it->req_len; i++) {
		if (req[i] < '0' || req[i] > '9')
			return -1;
		n = n * 10 + (req[i] - '0');
	}
	return n < STORM_MAX_REQ ? n : -1;
}

/* A short batch, some of them long enough to be killed in. */
static void storm_answer(void *argp, const char *key, struct shm_batch_item *items, size_t n)
{
	struct storm *st = argp;
	pid_t me = getpid();

	for (size_t k = 0; k < n; k++) {
		int num = storm_number(&items[k], key);

		if (num < 0) {
			atomic_fetch_add(&st->wrong_key, 1);
			continue;
		}
		atomic_fetch_add(&st->ran[num], 1);
		atomic_store(&st->ran_by[num], (int)me);
		memcpy(items[k].res, items[k].req, items[k].req_len);
		((char *)items[k].res)[items[k].req_len] = '!';
		items[k].res_len = items[k].req_len + 1;
		items[k].status = num;
	}
	if (n > 1 || me % 4 == 0)
		sleep_ms(1);
}

static int storm_client(struct shm_batch *b, struct storm *st)
{
	char req[48], res[128], want[64];

	while (!atomic_load(&st->stop)) {
		int n = atomic_fetch_add(&st->next, 1), len, status;
		const char *key = storm_keys[n % 3];
		size_t res_len;
		enum shm_batch_outcome out;

		if (n >= STORM_MAX_REQ)
			return 0;
		len = snprintf(req, sizeof(req), "%s:%d", key, n);
		out = shm_batch_run(b, key, req, (size_t)len, res, sizeof(res), &res_len, &status,
				    storm_answer, st);
		snprintf(want, sizeof(want), "%s!", req);
		if (out == SHM_BATCH_DONE)
			atomic_store(&st->outcome[n],
				     status == n && res_len == strlen(want) &&
						     memcmp(res, want, res_len) == 0
					     ? OUT_DONE
					     : OUT_WRONG);
		else
			atomic_store(&st->outcome[n], out == SHM_BATCH_LOST ? OUT_LOST : OUT_ALONE);
	}
	return 0;
}

static pid_t storm_fork(struct shm_batch *b, struct storm *st)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(storm_client(b, st));
	return pid;
}

/* Every leader waits until all hold a slot at once. */
static void hold_all(void *argp, const char *key, struct shm_batch_item *items, size_t n)
{
	struct storm *st = argp;

	(void)key;
	atomic_fetch_add(&st->holding, 1);
	wait_at_least(&st->holding, STORM_SLOTS, 60000);
	for (size_t k = 0; k < n; k++)
		items[k].status = 1;
}

START_TEST(a_storm_of_kills_loses_nothing_and_leaks_no_slot)
{
	struct shm_batch *b = new_batch(STORM_SLOTS, 2, 64, 128);
	struct storm *st =
		mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[STORM_PROCS], killed[STORM_KILLS], holders[STORM_SLOTS];
	int nkilled = 0, running = STORM_PROCS, counts[5] = {0}, lost_unknown = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	long start = now_ms(), stop = start + STORM_MS, end = stop + 120000;

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(st, MAP_FAILED);
	memset(st, 0, sizeof(*st));
	for (int c = 0; c < STORM_PROCS; c++)
		kids[c] = storm_fork(b, st);
	while (running > 0) {
		int c = rand_r(&seed) % STORM_PROCS;

		if (now_ms() >= end) {
			for (int k = 0; k < STORM_PROCS; k++)
				if (kids[k] > 0)
					kill_reap(kids[k]);
			ck_abort_msg("the storm's processes did not end: a request hangs");
		}
		sleep_ms(2 + rand_r(&seed) % 6);
		if (now_ms() >= stop)
			atomic_store(&st->stop, 1);
		else if (nkilled < STORM_KILLS && kids[c] > 0) {
			kill_reap(kids[c]);
			killed[nkilled++] = kids[c];
			kids[c] = storm_fork(b, st);
		}
		for (int k = 0; k < STORM_PROCS; k++) {
			int ws;

			if (kids[k] <= 0 || waitpid(kids[k], &ws, WNOHANG) != kids[k])
				continue;
			ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child %d: status %d",
				      (int)kids[k], ws);
			kids[k] = 0;
			running--;
		}
	}
	ck_assert_int_eq(atomic_load(&st->wrong_key), 0);
	for (int n = 0; n < STORM_MAX_REQ && n < atomic_load(&st->next); n++) {
		int out = atomic_load(&st->outcome[n]), ran = atomic_load(&st->ran[n]);

		counts[out]++;
		ck_assert_msg(ran <= 1, "request %d ran %d times", n, ran);
		ck_assert_msg(out != OUT_WRONG, "request %d got another's answer (seed %u)", n,
			      seed);
		ck_assert_msg(out != OUT_DONE || ran == 1, "request %d done but never run", n);
		if (out == OUT_LOST) {
			int by = atomic_load(&st->ran_by[n]), was_killed = 0;

			for (int k = 0; k < nkilled; k++)
				was_killed |= killed[k] == by;
			/* Its leader died before running it (by 0) or it was killed. */
			ck_assert_msg(by == 0 || was_killed, "request %d lost, its leader %d lives",
				      n, by);
			lost_unknown += by == 0;
		}
	}
	ck_assert_int_eq(counts[OUT_ALONE], 0); /* 64 slots, at most 13 processes */
	fprintf(stderr,
		"shm_batch storm: %d requests, %d done, %d lost (%d before their batch ran), "
		"%d killed mid-request, %d processes killed, %ld ms\n",
		atomic_load(&st->next), counts[OUT_DONE], counts[OUT_LOST], lost_unknown,
		counts[OUT_NONE], nkilled, now_ms() - start);
	/* Served promptly afterwards, each key. */
	for (int k = 0; k < 3; k++) {
		char req[48], res[128];
		int status, len = snprintf(req, sizeof(req), "%s:%d", storm_keys[k], k);
		size_t res_len;
		long t0 = now_ms();

		memset(st->ran, 0, sizeof(st->ran));
		ck_assert_int_eq(shm_batch_run(b, storm_keys[k], req, (size_t)len, res, sizeof(res),
					       &res_len, &status, storm_answer, st),
				 SHM_BATCH_DONE);
		ck_assert_int_eq(status, k);
		ck_assert_int_lt(now_ms() - t0, 10000);
	}
	/* No slot leaked: all 64 serve at once (a leader each, on its own key). */
	for (int c = 0; c < STORM_SLOTS; c++) {
		holders[c] = fork();
		ck_assert_int_ge(holders[c], 0);
		if (holders[c] == 0) {
			char key[16], res[128];
			int status, len = snprintf(key, sizeof(key), "hold-%d", c);
			size_t res_len;

			_exit(shm_batch_run(b, key, key, (size_t)len, res, sizeof(res), &res_len,
					    &status, hold_all, st) == SHM_BATCH_DONE &&
					      status == 1
				      ? 0
				      : 1);
		}
	}
	for (int c = 0; c < STORM_SLOTS; c++)
		ck_assert_msg(wait_bounded(holders[c], 120000) == 0, "holder %d: a slot leaked", c);
	munmap(st, sizeof(*st));
	shm_batch_free(b);
}
END_TEST

Suite *shm_batch_suite(void)
{
	Suite *s = suite_create("shm_batch");
	TCase *tc = tcase_create("core"), *storm;

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, each_request_gets_its_own_answer_and_batches_form);
	tcase_add_test(tc, too_big_or_no_room_goes_alone);
	tcase_add_test(tc, a_leader_that_dies_loses_what_it_held_and_the_lead_passes_on);
	tcase_add_test(tc, a_queued_request_whose_leader_died_is_led_by_its_owner);
	tcase_add_test(tc, slots_of_dead_processes_are_taken_back);
	tcase_add_test(tc, a_follower_interrupted_by_signals_still_notices_its_dead_leader);
	tcase_add_test(tc, a_dead_leaders_pid_taken_by_another_process_does_not_hold_its_key);
	tcase_add_test(tc, a_process_with_a_dead_leaders_pid_does_not_wait_for_itself);
	tcase_add_test(tc, a_garbled_state_does_not_hang_its_owner);
	suite_add_tcase(s, tc);
	storm = tcase_create("storm");
	tcase_set_timeout(storm, 400);
	tcase_add_test(storm, a_storm_of_kills_loses_nothing_and_leaks_no_slot);
	suite_add_tcase(s, storm);
	return s;
}
