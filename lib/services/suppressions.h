/* The suppression list: addresses never mailed, whatever is imported or
 * signed up later. Sends, claims, imports and forms honour it; bounces,
 * complaints and erasure add to it (reason bounce, complaint, erasure). */
#ifndef FS_SUPPRESSIONS_H
#define FS_SUPPRESSIONS_H

#include <json-c/json.h>

#include "core/env.h"
#include "core/status.h"
#include "json/page.h"

/* What the API may add; erasure rows are added by erasure alone. */
#define SUPPRESSION_REASONS "manual, bounce, complaint, unsubscribe"

/* 1 when reason is one of SUPPRESSION_REASONS. */
int suppression_reason_valid(const char *reason);

/* One page, newest first; search (or NULL) is a case-insensitive part of the address. */
enum fs_status suppression_index(struct fs_env *env, const char *search, const struct fs_page *page,
				 json_object **out, struct fs_error *err);
/* Suppress email (reason NULL: manual): FS_CONFLICT when it already is. */
enum fs_status suppression_add(struct fs_env *env, const char *email, const char *reason,
			       json_object **out, struct fs_error *err);
enum fs_status suppression_get(struct fs_env *env, const char *id, json_object **out,
			       struct fs_error *err);
/* Mail may go to the address again; an erasure's row stays (FS_BAD_REQUEST). */
enum fs_status suppression_remove(struct fs_env *env, const char *id, struct fs_error *err);

#endif
