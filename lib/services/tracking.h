/* Opens and clicks (issue 17): hits are queued in Redis as they arrive and
 * written to PostgreSQL in batches by a flush that the tracking responder
 * runs on its own (cgi/track.c), every hit once, whatever is retried. */
#ifndef FS_TRACKING_H
#define FS_TRACKING_H

#include <stddef.h>

#include "core/env.h"
#include "core/status.h"
#include "mail/track_hit.h"
#include "mail/track_token.h"

struct shm_ring;

/* Hits first go to a ring shared by the responder's processes (no system
 * call on the hot path), made by its master before it forks, records of
 * sizeof(struct track_hit); when it is full (or there is none), to the Redis
 * list; when Redis cannot take them, to PostgreSQL at once. */
void tracking_use_ring(struct shm_ring *ring);

/* The Redis list hits wait in, oldest first. */
#define TRACKING_QUEUE "fs:track:hits"

/* The keys tokens are minted with (the first) and checked against: their
 * number, at most 2. */
size_t tracking_keys(const struct fs_config *cfg, struct track_key keys[2]);

/* Queue a hit for the flush (the ring, else Redis); when neither can take
 * it, write it to PostgreSQL at once. FS_OK, or FS_ERROR when nothing could. */
enum fs_status tracking_record(struct fs_env *env, const struct track_hit *hit,
			       struct fs_error *err);

/* The URL of a campaign link, from this process's cache (a database read the
 * first time): borrowed until the process ends. FS_OK, FS_NOT_FOUND, FS_ERROR. */
enum fs_status tracking_link_url(struct fs_env *env, const char *link_id, const char **url,
				 struct fs_error *err);

/* Write up to max queued hits (the ring's first, then Redis's) to
 * PostgreSQL and take them off their queue: the number taken off, 0 when
 * both are empty, TRACKING_BUSY when
 * another flush holds the lock (one that was killed holds it for at most
 * TRACKING_LOCK_MS), -1 when Redis or PostgreSQL failed (the hits stay
 * queued). */
#define TRACKING_BUSY (-2)
#define TRACKING_LOCK_MS 3000
long tracking_flush(struct fs_env *env, long max);

/* How many hits wait in the Redis list, or -1 when Redis does not answer. */
long tracking_queued(struct fs_env *env);

#endif
