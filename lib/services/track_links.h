/* Tracking in the worker (issue 17): a campaign message's HTML gets its links
 * through /t/c/{token} and an open pixel /t/o/{token}.gif. Each distinct URL
 * is a campaign_links row, upserted the first time a batch meets it. */
#ifndef FS_TRACK_LINKS_H
#define FS_TRACK_LINKS_H

#include <stddef.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "db/db.h"

/* A campaign's links met in this batch (URL -> link id), in the batch's
 * arena: start with NULL, nothing to free. */
struct track_links;

/* The links a message gets through /t/c/ (the first in the HTML); the rest
 * go as they are. Each distinct URL is a row, and personalised ones (a URL
 * per recipient) a row per message: this bounds what one message costs. */
#define TRACK_LINKS_PER_MESSAGE 250

/* Rewrite html in place for outbox row outbox_id of campaign_id, or of
 * flow_id when campaign_id is NULL (a flow's email step; tenant user_id).
 * 0; -1 when the database did not answer (try the row later); -2
 * when the message cannot be tracked (a malformed id, out of memory). */
int track_links_apply(struct track_links **links, struct fs_db *db, struct arena *a,
		      const struct fs_config *cfg, const char *user_id, const char *campaign_id,
		      const char *flow_id, const char *outbox_id, struct strbuf *html);

#endif
