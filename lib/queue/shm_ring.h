/* A ring of fixed-size records in memory shared by a responder's processes:
 * workers append, one consumer (the master's background process) reads and
 * then releases what it has dealt with. Made by the master before it forks,
 * so every child inherits it; an append is a memcpy under a robust
 * process-shared mutex, no system call. What is appended survives any child
 * (not the master): a consumer that dies before releasing leaves its records
 * for the next one. */
#ifndef FS_SHM_RING_H
#define FS_SHM_RING_H

#include <stddef.h>

struct shm_ring;

/* A ring of slots records of size bytes each; NULL when it cannot be made. */
struct shm_ring *shm_ring_new(size_t slots, size_t size);
void shm_ring_free(struct shm_ring *r);
/* Copy rec (size bytes) in; 0, or -1 when the ring is full. */
int shm_ring_put(struct shm_ring *r, const void *rec);
/* Copy up to max of the oldest records not yet released into out (max *
 * size bytes), without releasing them; their number. */
size_t shm_ring_peek(struct shm_ring *r, void *out, size_t max);
/* Release the n oldest records (after they were dealt with). */
void shm_ring_release(struct shm_ring *r, size_t n);
/* Records held now. */
size_t shm_ring_count(struct shm_ring *r);
/* The shared mapping itself and its size (tests scribble on it as a stray
 * write of another process would). The ring's shape is not kept there. */
void *shm_ring_shared(struct shm_ring *r, size_t *bytes);

#endif
