/* One anonymous shared mapping: the header (mutex, head, tail) then the
 * slots. head and tail only grow; a slot is written only while head - tail <
 * slots, so the consumer can copy records below head outside the lock.
 *
 * The ring's shape (slots, record size, mapping size) lives in the handle,
 * memory of each process's own (made before the fork, never written after),
 * not in the shared mapping: a process that scribbles over shared memory
 * (a bug, a stray write) can lose or garble records, but never make another
 * process copy out of bounds or divide by zero. Counts read from the mapping
 * are clamped to the slots for the same reason. */
#include "queue/shm_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct ring_shared {
	pthread_mutex_t lock;
	uint64_t head, tail;
	unsigned char data[];
};

struct shm_ring {
	struct ring_shared *sh;
	size_t slots, size, bytes;
};

struct shm_ring *shm_ring_new(size_t slots, size_t size)
{
	pthread_mutexattr_t at;
	struct ring_shared *sh;
	struct shm_ring *r;
	size_t bytes;

	if (slots == 0 || size == 0 || slots > SIZE_MAX / size ||
	    slots * size > SIZE_MAX - sizeof(*sh))
		return NULL;
	bytes = sizeof(*sh) + slots * size;
	if (!(r = malloc(sizeof(*r))))
		return NULL;
	sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		free(r);
		return NULL;
	}
	memset(sh, 0, sizeof(*sh));
	r->sh = sh;
	r->slots = slots;
	r->size = size;
	r->bytes = bytes;
	if (pthread_mutexattr_init(&at) != 0)
		goto fail;
	/* Shared by processes, and usable after one dies holding it. */
	if (pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&sh->lock, &at) != 0) {
		pthread_mutexattr_destroy(&at);
		goto fail;
	}
	pthread_mutexattr_destroy(&at);
	return r;
fail:
	munmap(sh, bytes);
	free(r);
	return NULL;
}

void shm_ring_free(struct shm_ring *r)
{
	if (r) {
		pthread_mutex_destroy(&r->sh->lock);
		munmap(r->sh, r->bytes);
		free(r);
	}
}

void *shm_ring_shared(struct shm_ring *r, size_t *bytes)
{
	*bytes = r->bytes;
	return r->sh;
}

/* A holder that died mid-append never advanced head: its half slot is not
 * the ring's, so the state is consistent as it stands. */
static void lock(struct shm_ring *r)
{
	if (pthread_mutex_lock(&r->sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&r->sh->lock);
}

/* Records held (under the lock): never more than the slots, whatever the
 * mapping says. */
static size_t held(const struct shm_ring *r)
{
	uint64_t n = r->sh->head - r->sh->tail;

	return n > r->slots ? r->slots : (size_t)n;
}

int shm_ring_put(struct shm_ring *r, const void *rec)
{
	int ret = -1;

	lock(r);
	if (r->sh->head - r->sh->tail < r->slots) {
		memcpy(r->sh->data + (r->sh->head % r->slots) * r->size, rec, r->size);
		r->sh->head++;
		ret = 0;
	}
	pthread_mutex_unlock(&r->sh->lock);
	return ret;
}

size_t shm_ring_peek(struct shm_ring *r, void *out, size_t max)
{
	uint64_t tail;
	size_t n;

	lock(r);
	tail = r->sh->tail;
	n = held(r);
	pthread_mutex_unlock(&r->sh->lock);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		memcpy((unsigned char *)out + i * r->size,
		       r->sh->data + ((tail + i) % r->slots) * r->size, r->size);
	return n;
}

void shm_ring_release(struct shm_ring *r, size_t n)
{
	lock(r);
	if (r->sh->head - r->sh->tail > r->slots) {
		r->sh->tail = r->sh->head; /* garbled counts: start afresh */
	} else {
		if (n > held(r))
			n = held(r);
		r->sh->tail += n;
	}
	pthread_mutex_unlock(&r->sh->lock);
}

size_t shm_ring_count(struct shm_ring *r)
{
	size_t n;

	lock(r);
	n = held(r);
	pthread_mutex_unlock(&r->sh->lock);
	return n;
}
