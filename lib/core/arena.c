/* Per-request arena, after nginx's ngx_pool: allocations live until arena_reset,
 * which runs the registered cleanups and keeps one block for reuse. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK (16 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	arena_cleanup_fn fn;
	void *ptr;
};

void arena_init(struct arena *a, size_t block_size)
{
	a->head = NULL;
	a->cleanups = NULL;
	a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
}

static struct arena_block *arena_block_new(size_t size)
{
	struct arena_block *b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

void *arena_alloc(struct arena *a, size_t size)
{
	size_t need;
	struct arena_block *b = a->head;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

	if (!b || b->size - b->used < need) {
		size_t bsize = need > a->block_size ? need : a->block_size;
		struct arena_block *nb = arena_block_new(bsize);
		if (!nb)
			return NULL;
		if (b && need > a->block_size) {
			/* A large one-off goes behind the current block so the
			 * current block's free space stays usable. */
			nb->next = b->next;
			b->next = nb;
			nb->used = need;
			memset(nb->data, 0, need);
			return nb->data;
		}
		nb->next = b;
		a->head = nb;
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += need;
	memset(p, 0, need);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX)
		return NULL;
	p = arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int arena_add_cleanup(struct arena *a, arena_cleanup_fn fn, void *ptr)
{
	/* Plain malloc so the hook survives even when the arena block it
	 * would live in is the one being released. */
	struct arena_cleanup *c = malloc(sizeof(*c));
	if (!c) {
		fn(ptr);
		return -1;
	}
	c->fn = fn;
	c->ptr = ptr;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

static void arena_run_cleanups(struct arena *a)
{
	while (a->cleanups) {
		struct arena_cleanup *c = a->cleanups;
		a->cleanups = c->next;
		c->fn(c->ptr);
		free(c);
	}
}

void arena_reset(struct arena *a)
{
	struct arena_block *keep = NULL;

	arena_run_cleanups(a);
	/* Keep the oldest block when it has the standard size: every request
	 * needs at least one, and reusing it avoids a malloc per request. */
	while (a->head) {
		struct arena_block *b = a->head;
		a->head = b->next;
		if (!a->head && b->size == a->block_size)
			keep = b;
		else
			free(b);
	}
	if (keep)
		keep->used = 0;
	a->head = keep;
}

void arena_destroy(struct arena *a)
{
	arena_run_cleanups(a);
	while (a->head) {
		struct arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}
