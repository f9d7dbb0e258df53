/* One anonymous shared mapping: a robust process-shared mutex, then the slots,
 * each a request and room for its answer. A slot's state is also the futex
 * its owner sleeps on:
 *
 *   FREE -> QUEUED (queued behind a leader) or LEADING (its owner leads)
 *   QUEUED -> TAKEN (a leader is doing it) -> DONE (answer written) -> FREE
 *   QUEUED -> LEADING (the lead passed to it) -> FREE (after its batch)
 *   TAKEN -> LOST (its leader died) -> FREE
 *   any -> claimed again, when no slot is FREE, once the processes that
 *          could still change it (its owner; a TAKEN one's leader) died
 *
 * Every change happens under the mutex; a waiting owner reads its state
 * without it. Whether a slot's owner lives is told by the slot's own robust
 * mutex, which the owner holds from queueing to freeing: the kernel lets it
 * go when the process dies, so neither a pid used again by another process
 * nor a dead process not yet reaped looks alive (kill(pid, 0) is fooled by
 * both). Those mutexes too change hands under the main one only. As in
 * shm_ring, the shape (slots, sizes) lives in the handle, private to each
 * process, and lengths read from the mapping are clamped, so a stray write
 * into shared memory garbles requests at worst. */
#include "queue/shm_batch.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_LEADING, SLOT_TAKEN, SLOT_DONE, SLOT_LOST };

/* How long an owner sleeps before it looks whether its leader still lives. */
#define WAIT_CHECK_NS (20 * 1000 * 1000L)

struct slot {
	_Atomic uint32_t state;
	int32_t owner;	      /* the process whose request this is */
	int32_t leader;	      /* while TAKEN: the process doing it */
	uint32_t leader_slot; /* and the slot it leads from */
	uint32_t req_len, res_len;
	int32_t status;
	uint64_t seq;	      /* queueing order: the lead passes to the oldest */
	pthread_mutex_t life; /* held by the owner while the slot is not FREE */
	char key[SHM_BATCH_KEY_MAX];
	/* then req_max bytes of request and res_max bytes of answer */
};

struct batch_shared {
	pthread_mutex_t lock;
	uint64_t seq;
	unsigned char data[];
};

struct shm_batch {
	struct batch_shared *sh;
	size_t slots, req_max, res_max, stride, bytes;
	size_t leaders; /* at most this many batches of one key at once */
	/* A leader's batch: the items its function sees, the slots they came from. */
	struct shm_batch_item *items;
	struct slot **taken;
};

static struct slot *slot_at(const struct shm_batch *b, size_t i);

struct shm_batch *shm_batch_new(size_t slots, size_t leaders, size_t req_max, size_t res_max)
{
	pthread_mutexattr_t at;
	struct shm_batch *b;
	size_t stride, made = 0;

	if (slots == 0 || slots > 4096 || leaders == 0 || req_max > (1u << 24) ||
	    res_max > (1u << 24))
		return NULL;
	stride = (sizeof(struct slot) + req_max + res_max + 63) & ~(size_t)63;
	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	b->slots = slots;
	b->leaders = leaders;
	b->req_max = req_max;
	b->res_max = res_max;
	b->stride = stride;
	b->bytes = sizeof(struct batch_shared) + slots * stride;
	b->items = calloc(slots, sizeof(*b->items));
	b->taken = calloc(slots, sizeof(*b->taken));
	if (!b->items || !b->taken)
		goto fail_private;
	b->sh = mmap(NULL, b->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->sh == MAP_FAILED)
		goto fail_private;
	memset(b->sh, 0, b->bytes);
	if (pthread_mutexattr_init(&at) != 0)
		goto fail;
	if (pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&b->sh->lock, &at) != 0) {
		pthread_mutexattr_destroy(&at);
		goto fail;
	}
	for (; made < slots; made++)
		if (pthread_mutex_init(&slot_at(b, made)->life, &at) != 0)
			break;
	pthread_mutexattr_destroy(&at);
	if (made < slots) {
		while (made > 0)
			pthread_mutex_destroy(&slot_at(b, --made)->life);
		pthread_mutex_destroy(&b->sh->lock);
		goto fail;
	}
	return b;
fail:
	munmap(b->sh, b->bytes);
fail_private:
	free(b->items);
	free(b->taken);
	free(b);
	return NULL;
}

void shm_batch_free(struct shm_batch *b)
{
	if (b) {
		for (size_t i = 0; i < b->slots; i++)
			pthread_mutex_destroy(&slot_at(b, i)->life);
		pthread_mutex_destroy(&b->sh->lock);
		munmap(b->sh, b->bytes);
		free(b->items);
		free(b->taken);
		free(b);
	}
}

void *shm_batch_shared(struct shm_batch *b, size_t *bytes)
{
	*bytes = b->bytes;
	return b->sh;
}

static struct slot *slot_at(const struct shm_batch *b, size_t i)
{
	return (struct slot *)(b->sh->data + i * b->stride);
}

static unsigned char *req_of(struct slot *s)
{
	return (unsigned char *)(s + 1);
}

static unsigned char *res_of(const struct shm_batch *b, struct slot *s)
{
	return req_of(s) + b->req_max;
}

/* A holder that died mid-change leaves at worst one slot half written: its
 * owner or the next leader deals with that slot's state as it finds it. */
static void lock(struct shm_batch *b)
{
	if (pthread_mutex_lock(&b->sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&b->sh->lock);
}

static void unlock(struct shm_batch *b)
{
	pthread_mutex_unlock(&b->sh->lock);
}

static uint32_t state_of(struct slot *s)
{
	return atomic_load(&s->state);
}

static void set_state(struct slot *s, uint32_t st)
{
	atomic_store(&s->state, st);
	syscall(SYS_futex, &s->state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Sleep while the state is still seen, until the absolute CLOCK_MONOTONIC
 * time at at most; 1 once at has passed. The deadline is absolute so that a
 * signal (EINTR) every few milliseconds cannot restart the wait for ever. */
static int sleep_on(struct slot *s, uint32_t seen, const struct timespec *at)
{
	return syscall(SYS_futex, &s->state, FUTEX_WAIT_BITSET, seen, at, NULL,
		       FUTEX_BITSET_MATCH_ANY) < 0 &&
	       errno == ETIMEDOUT;
}

/* WAIT_CHECK_NS from now. */
static void next_check(struct timespec *at)
{
	clock_gettime(CLOCK_MONOTONIC, at);
	at->tv_nsec += WAIT_CHECK_NS;
	if (at->tv_nsec >= 1000000000L) {
		at->tv_sec++;
		at->tv_nsec -= 1000000000L;
	}
}

/* Under the lock: whether process pid, s's owner, lives (holds s's life;
 * the caller's own slot too: a robust mutex's holder gets EBUSY). The pid
 * alone would not do: this process may have the pid of a dead one. */
static int lives(struct slot *s, pid_t pid)
{
	int r;

	if (pid <= 0 || s->owner != pid)
		return 0;
	r = pthread_mutex_trylock(&s->life);
	if (r == EBUSY)
		return 1;
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(&s->life);
	if (r == 0 || r == EOWNERDEAD)
		pthread_mutex_unlock(&s->life);
	return 0;
}

/* Under the lock: whether the process doing TAKEN s lives. */
static int leader_lives(const struct shm_batch *b, struct slot *s)
{
	return s->leader_slot < b->slots && lives(slot_at(b, s->leader_slot), s->leader);
}

/* Under the lock: s for the calling process, its life held; 0 when another
 * holds it (a garbled state). */
static int take(struct slot *s)
{
	int r = pthread_mutex_trylock(&s->life);

	if (r == EOWNERDEAD)
		pthread_mutex_consistent(&s->life);
	return r == 0 || r == EOWNERDEAD;
}

/* Under the lock: s back to FREE, by its owner. */
static void release(struct slot *s)
{
	atomic_store(&s->state, SLOT_FREE);
	pthread_mutex_unlock(&s->life);
}

static int same_key(const struct slot *s, const char *key)
{
	return strncmp(s->key, key, SHM_BATCH_KEY_MAX) == 0;
}

static void recover(struct shm_batch *b, const char *key);

/* Under the lock: a free slot, else one its processes left behind dying:
 * its owner's, answered or not (never a TAKEN one whose leader lives: it
 * still writes there), or a dead leader's. A key nobody asks for again has
 * nobody to recover it, so a new request does, when it finds no free slot. */
static struct slot *claim(struct shm_batch *b)
{
	for (size_t i = 0; i < b->slots; i++)
		if (state_of(slot_at(b, i)) == SLOT_FREE && take(slot_at(b, i)))
			return slot_at(b, i);
	for (size_t i = 0; i < b->slots; i++) {
		struct slot *s = slot_at(b, i);
		uint32_t st = state_of(s);

		if (st == SLOT_FREE || lives(s, s->owner) ||
		    (st == SLOT_TAKEN && leader_lives(b, s)))
			continue;
		if (st == SLOT_LEADING) {
			char key[SHM_BATCH_KEY_MAX];

			/* What it held is lost and its followers get the lead. */
			memcpy(key, s->key, sizeof(key));
			key[sizeof(key) - 1] = '\0';
			recover(b, key);
		}
		if (take(s))
			return s;
	}
	return NULL;
}

/* Under the lock: how many lead key now. */
static size_t leaders_of(struct shm_batch *b, const char *key)
{
	size_t n = 0;

	for (size_t i = 0; i < b->slots; i++) {
		struct slot *s = slot_at(b, i);
		if (state_of(s) == SLOT_LEADING && same_key(s, key))
			n++;
	}
	return n;
}

/* Under the lock: while key has room for another leader, the lead to its
 * oldest queued request. */
static void pass_lead(struct shm_batch *b, const char *key)
{
	for (size_t leading = leaders_of(b, key); leading < b->leaders; leading++) {
		struct slot *next = NULL;

		for (size_t i = 0; i < b->slots; i++) {
			struct slot *s = slot_at(b, i);
			if (state_of(s) == SLOT_QUEUED && same_key(s, key) &&
			    (!next || s->seq < next->seq))
				next = s;
		}
		if (!next)
			return;
		set_state(next, SLOT_LEADING);
	}
}

/* Under the lock, once key's leader is known dead: what it held is lost,
 * its own slot freed, and the lead passes on. */
static void recover(struct shm_batch *b, const char *key)
{
	for (size_t i = 0; i < b->slots; i++) {
		struct slot *s = slot_at(b, i);
		uint32_t st = state_of(s);

		if (!same_key(s, key))
			continue;
		if (st == SLOT_LEADING && !lives(s, s->owner))
			set_state(s, SLOT_FREE);
		else if (st == SLOT_TAKEN && !leader_lives(b, s))
			set_state(s, SLOT_LOST);
	}
	pass_lead(b, key);
}

/* Lead one batch: mine (the caller's request) and every request queued
 * under key, then pass the lead on. */
static void lead(struct shm_batch *b, struct slot *mine, const char *key, const void *req,
		 size_t req_len, void *res, size_t *res_len, int *status, shm_batch_fn fn,
		 void *arg)
{
	struct shm_batch_item *items = b->items;
	size_t n = 0;
	pid_t me = getpid();
	uint32_t my_slot = (uint32_t)(((unsigned char *)mine - b->sh->data) / b->stride);

	items[n] = (struct shm_batch_item){req, req_len, res, b->res_max, 0, 0};
	b->taken[n++] = mine;
	lock(b);
	for (size_t i = 0; i < b->slots && n < b->slots; i++) {
		struct slot *s = slot_at(b, i);

		if (s == mine || state_of(s) != SLOT_QUEUED || !same_key(s, key))
			continue;
		s->leader = me;
		s->leader_slot = my_slot;
		atomic_store(&s->state, SLOT_TAKEN);
		items[n] = (struct shm_batch_item){
			req_of(s),
			s->req_len < b->req_max ? s->req_len : b->req_max,
			res_of(b, s),
			b->res_max,
			0,
			0,
		};
		b->taken[n++] = s;
	}
	unlock(b);
	fn(arg, key, items, n);
	lock(b);
	for (size_t k = 1; k < n; k++) {
		struct slot *s = b->taken[k];

		if (state_of(s) != SLOT_TAKEN || s->leader != me || s->leader_slot != my_slot)
			continue;
		s->res_len =
			(uint32_t)(items[k].res_len < b->res_max ? items[k].res_len : b->res_max);
		s->status = items[k].status;
		set_state(s, SLOT_DONE);
	}
	release(mine);
	pass_lead(b, key);
	unlock(b);
	*res_len = items[0].res_len < b->res_max ? items[0].res_len : b->res_max;
	*status = items[0].status;
}

/* Sleep until mine is done, lost or handed the lead; while asleep, look now
 * and then whether whoever holds it (or leads its key) still lives. */
static uint32_t wait_turn(struct shm_batch *b, struct slot *mine, const char *key)
{
	struct timespec check;

	next_check(&check);
	for (;;) {
		uint32_t st = state_of(mine);

		if (st == SLOT_DONE || st == SLOT_LOST || st == SLOT_LEADING)
			return st;
		if (st != SLOT_QUEUED && st != SLOT_TAKEN)
			return SLOT_LOST; /* garbled: nobody would ever change it */
		if (!sleep_on(mine, st, &check))
			continue;
		next_check(&check);
		lock(b);
		st = state_of(mine);
		/* Queued, it waits for the key's leaders (recover looks at each);
		 * taken, for the one doing it. */
		if (st == SLOT_QUEUED || (st == SLOT_TAKEN && !leader_lives(b, mine)))
			recover(b, key);
		unlock(b);
	}
}

enum shm_batch_outcome shm_batch_run(struct shm_batch *b, const char *key, const void *req,
				     size_t req_len, void *res, size_t res_max, size_t *res_len,
				     int *status, shm_batch_fn fn, void *arg)
{
	struct slot *mine;
	uint32_t st;

	*res_len = 0;
	*status = 0;
	if (!b || req_len > b->req_max || res_max < b->res_max || strlen(key) >= SHM_BATCH_KEY_MAX)
		return SHM_BATCH_ALONE;
	lock(b);
	if (!(mine = claim(b))) {
		unlock(b);
		return SHM_BATCH_ALONE;
	}
	mine->owner = getpid();
	mine->leader = 0;
	mine->leader_slot = UINT32_MAX;
	mine->req_len = (uint32_t)req_len;
	mine->res_len = 0;
	mine->status = 0;
	mine->seq = ++b->sh->seq;
	memset(mine->key, 0, sizeof(mine->key));
	memcpy(mine->key, key, strlen(key));
	memcpy(req_of(mine), req, req_len);
	atomic_store(&mine->state, leaders_of(b, key) < b->leaders ? SLOT_LEADING : SLOT_QUEUED);
	unlock(b);

	st = wait_turn(b, mine, key);
	if (st == SLOT_LEADING) {
		lead(b, mine, key, req, req_len, res, res_len, status, fn, arg);
		return SHM_BATCH_DONE;
	}
	lock(b);
	if (st == SLOT_DONE) {
		*res_len = mine->res_len < b->res_max ? mine->res_len : b->res_max;
		*status = mine->status;
		memcpy(res, res_of(b, mine), *res_len);
	}
	release(mine);
	unlock(b);
	return st == SLOT_DONE ? SHM_BATCH_DONE : SHM_BATCH_LOST;
}
