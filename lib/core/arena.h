/* Per-request memory: bump allocation in chained blocks, freed all at once.
 * Cleanup hooks release what the arena does not own (PGresult, json-c roots). */
#ifndef FS_ARENA_H
#define FS_ARENA_H

#include <stddef.h>

struct arena_block;
struct arena_cleanup;

struct arena {
	struct arena_block *head;    /* current block; older ones chain behind */
	struct arena_cleanup *cleanups;
	size_t block_size;
};

typedef void (*arena_cleanup_fn)(void *);

/* Initialise with a default block size (0 picks 16 KiB). */
void arena_init(struct arena *a, size_t block_size);
/* Zeroed memory aligned for any type; NULL only when malloc fails. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);
char *arena_sprintf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Run fn(ptr) at the next reset or destroy, newest first. Returns 0, or -1 on OOM
 * (in which case fn(ptr) has already run, so the caller never leaks). */
int arena_add_cleanup(struct arena *a, arena_cleanup_fn fn, void *ptr);
/* Run cleanups and free every block but the first, ready for the next request. */
void arena_reset(struct arena *a);
void arena_destroy(struct arena *a);

#endif
