/* Requests of a responder's processes done together by one of them (group
 * commit in the application). A process queues its request under a key (a
 * tenant); when no process leads that key it leads: it takes every request
 * queued under the key, its own first, runs them through the caller's
 * function in one go (one statement, one commit) and hands each its answer,
 * then passes the lead to the oldest request queued meanwhile. The others
 * sleep on a futex until their answer or the lead arrives. A key has up to
 * a given number of leaders at once (one batch can run while another waits
 * for its commit's flush); keys do not wait for each other.
 *
 * Made by the master before it forks, like shm_ring. A leader that dies
 * while holding requests is noticed by their owners (they look every 20 ms
 * whether it still holds its slot's robust mutex): those requests come back
 * SHM_BATCH_LOST, done or not, and the lead passes on. Slots of the dead are
 * taken back when a request finds no free one. */
#ifndef FS_SHM_BATCH_H
#define FS_SHM_BATCH_H

#include <stddef.h>

#define SHM_BATCH_KEY_MAX 48 /* bytes of a key, its NUL included */

struct shm_batch;

/* One request as the leader's function sees it: req is read-only; the
 * function writes at most res_max bytes to res, then res_len and status. */
struct shm_batch_item {
	const void *req;
	size_t req_len;
	void *res;
	size_t res_max;
	size_t res_len;
	int status;
};

typedef void (*shm_batch_fn)(void *arg, const char *key, struct shm_batch_item *items, size_t n);

enum shm_batch_outcome {
	SHM_BATCH_DONE,	 /* res, res_len and status are the function's answer */
	SHM_BATCH_ALONE, /* not queued (too big, no free slot): do it alone */
	SHM_BATCH_LOST,	 /* its leader died holding it: it may or may not have been done */
};

/* slots requests at most at once (a responder's workers), each at most
 * req_max bytes with an answer of at most res_max, and at most leaders
 * batches of one key at once; NULL when it cannot be made. */
struct shm_batch *shm_batch_new(size_t slots, size_t leaders, size_t req_max, size_t res_max);
void shm_batch_free(struct shm_batch *b);
/* Queue req under key and wait for its answer, leading when no one else
 * does (fn then runs in this process with arg). */
enum shm_batch_outcome shm_batch_run(struct shm_batch *b, const char *key, const void *req,
				     size_t req_len, void *res, size_t res_max, size_t *res_len,
				     int *status, shm_batch_fn fn, void *arg);
/* The shared mapping and its size (tests scribble on it). */
void *shm_batch_shared(struct shm_batch *b, size_t *bytes);

#endif
