/* One anonymous shared mapping: the header (mutex, head, tail) then the
 * slots. head and tail only grow; a slot is written only while head - tail <
 * slots, so the consumer can copy records below head outside the lock. */
#include "queue/shm_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

struct shm_ring {
	pthread_mutex_t lock;
	uint64_t head, tail;
	size_t slots, size, bytes;
	unsigned char data[];
};

struct shm_ring *shm_ring_new(size_t slots, size_t size)
{
	pthread_mutexattr_t at;
	struct shm_ring *r;
	size_t bytes;

	if (slots == 0 || size == 0 || slots > SIZE_MAX / size ||
	    slots * size > SIZE_MAX - sizeof(*r))
		return NULL;
	bytes = sizeof(*r) + slots * size;
	r = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->slots = slots;
	r->size = size;
	r->bytes = bytes;
	if (pthread_mutexattr_init(&at) != 0)
		goto fail;
	/* Shared by processes, and usable after one dies holding it. */
	if (pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&r->lock, &at) != 0) {
		pthread_mutexattr_destroy(&at);
		goto fail;
	}
	pthread_mutexattr_destroy(&at);
	return r;
fail:
	munmap(r, bytes);
	return NULL;
}

void shm_ring_free(struct shm_ring *r)
{
	if (r) {
		pthread_mutex_destroy(&r->lock);
		munmap(r, r->bytes);
	}
}

/* A holder that died mid-append never advanced head: its half slot is not
 * the ring's, so the state is consistent as it stands. */
static void lock(struct shm_ring *r)
{
	if (pthread_mutex_lock(&r->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&r->lock);
}

int shm_ring_put(struct shm_ring *r, const void *rec)
{
	int ret = -1;

	lock(r);
	if (r->head - r->tail < r->slots) {
		memcpy(r->data + (r->head % r->slots) * r->size, rec, r->size);
		r->head++;
		ret = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

size_t shm_ring_peek(struct shm_ring *r, void *out, size_t max)
{
	uint64_t head, tail;
	size_t n;

	lock(r);
	head = r->head;
	tail = r->tail;
	pthread_mutex_unlock(&r->lock);
	n = head - tail < max ? (size_t)(head - tail) : max;
	for (size_t i = 0; i < n; i++)
		memcpy((unsigned char *)out + i * r->size, r->data + ((tail + i) % r->slots) * r->size,
		       r->size);
	return n;
}

void shm_ring_release(struct shm_ring *r, size_t n)
{
	lock(r);
	if (n > r->head - r->tail)
		n = (size_t)(r->head - r->tail);
	r->tail += n;
	pthread_mutex_unlock(&r->lock);
}

size_t shm_ring_count(struct shm_ring *r)
{
	size_t n;

	lock(r);
	n = (size_t)(r->head - r->tail);
	pthread_mutex_unlock(&r->lock);
	return n;
}
