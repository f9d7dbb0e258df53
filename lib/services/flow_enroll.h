/* The batch worker's share of enrollment: a big insert of contacts (an
 * import) records id ranges per active signup flow in flow_enroll_backlog
 * (schema/0028_flow_enrollment.sql); this turns them into executions, a chunk
 * per autocommitted statement. The unique enrollment key makes a chunk done
 * twice (a worker killed mid-way) harmless. */
#ifndef FS_FLOW_ENROLL_H
#define FS_FLOW_ENROLL_H

#include "core/arena.h"
#include "db/db.h"

#define FLOW_ENROLL_CHUNK 5000
/* How long a worker pass enrolls before it looks for mail again. */
#define FLOW_ENROLL_SLICE_MS 500

/* Enroll queued contacts until the backlog is empty or deadline_ms
 * (monotonic) passes: how many contacts were looked at, or -1 on a database
 * error; *more is set when work is left. */
long flow_enroll_catch_up(struct fs_db *db, struct arena *a, double deadline_ms, int *more);

#endif
