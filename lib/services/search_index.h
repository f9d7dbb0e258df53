/* The batch worker's share of ?search=: it indexes the contacts a big insert
 * queued in contact_search_backlog (schema/0011_async_search.sql), a chunk
 * per transaction, so imports do not pay for the trigram index row by row. */
#ifndef FS_SEARCH_INDEX_H
#define FS_SEARCH_INDEX_H

#include "core/arena.h"
#include "db/db.h"

#define SEARCH_INDEX_CHUNK 5000
/* How long a worker pass indexes before it looks for mail again. */
#define SEARCH_INDEX_SLICE_MS 500
/* A statement inserting more contacts than this queues them (the insert
 * trigger in schema/0011_async_search.sql holds the same figure). */
#define SEARCH_INDEX_INLINE_MAX 1000

/* The running worker leaves contacts created one at a time queued until
 * 1,000 are queued or the oldest has waited this long, and then indexes them
 * in one step: a step's fixed cost (the trigram index's pending-list
 * clean-up above all) made steps of a few rows cost ten times more per
 * contact (schema/0072_settled_search_queue.sql). Searches read queued
 * contacts directly, so the wait is not seen. */
#define SEARCH_INDEX_SETTLE_MS 2000

/* Index queued contacts until the backlog is empty or deadline_ms (monotonic)
 * passes; with settle_ms > 0, single creates stay queued as above (0: index
 * everything queued, as `flowsend-batch --once` does). How many contacts it
 * indexed, or -1 on a database error; *more is 1 when work is left, -1 when
 * only single creates are queued, left to settle (look again within a
 * second), 0 when nothing is queued. */
long search_index_catch_up(struct fs_db *db, struct arena *a, int settle_ms, double deadline_ms,
			   int *more);

#endif
