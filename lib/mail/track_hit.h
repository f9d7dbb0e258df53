/* One tracking hit as it waits in the queue between the responder and the
 * flush: a line of tab-separated fields, written and read only here. */
#ifndef FS_TRACK_HIT_H
#define FS_TRACK_HIT_H

#include <stddef.h>

#define TRACK_HIT_AGENT_MAX 255 /* bytes of the User-Agent kept */
#define TRACK_HIT_MAX 512       /* longest encoded hit */

struct track_hit {
	char id[37];        /* the event's id, given when the hit arrives */
	char kind;          /* 'o' open, 'c' click */
	char outbox_id[37];
	char link_id[37];   /* "" for an open */
	long long at_ms;    /* when it arrived, Unix milliseconds */
	int head;           /* a HEAD request */
	int agent_bot;      /* the User-Agent is a scanner's (mail/scanners.h) */
	char agent[TRACK_HIT_AGENT_MAX + 1]; /* printable ASCII only */
};

/* A time-ordered id (UUID version 7: at_ms then random bits) into out. 0, or
 * -1 when no randomness could be had. */
int track_hit_id(long long at_ms, char out[37]);
/* Copy a User-Agent into h->agent, keeping printable ASCII (other bytes
 * become '?') and at most TRACK_HIT_AGENT_MAX bytes. */
void track_hit_set_agent(struct track_hit *h, const char *ua);
/* The line for h into out (TRACK_HIT_MAX bytes); its length, or -1 when a
 * field is malformed. */
int track_hit_encode(const struct track_hit *h, char *out, size_t size);
/* Read a line back; 0, or -1 for anything encode would not have written. */
int track_hit_decode(const char *s, size_t len, struct track_hit *h);
/* A hit copied from memory another process wrote (the shared ring): its
 * strings cut to their arrays, then checked as track_hit_encode checks. 0
 * when it is a hit that can be written, -1 when it is not (drop it). */
int track_hit_settle(struct track_hit *h);

#endif
