/* Retention (retention.h). One statement, so one round trip a pass. */
#include "services/retention.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Each chunk is chosen once, in an InitPlan, and deleted by its row
 * addresses (a TID scan). As `id IN (SELECT ... LIMIT n)` a plan cached
 * while the tables were empty joined every old row to the chunk again (a
 * nested-loop semi join): 20,000 old rows of each kind took 8 s of CPU and
 * 39 million comparisons a pass. A row changed since the chunk was chosen
 * (a sign-up confirmed meanwhile) is not deleted: its new version has
 * another address. */
static const char prune_sql[] =
	"WITH calls AS ("
	" DELETE FROM webhook_events WHERE ctid = ANY (ARRAY(SELECT ctid FROM webhook_events"
	"  WHERE status <> 'pending' AND completed_at < flowsend_now() - interval '" STR(RETENTION_DAYS) " days'"
	"  ORDER BY completed_at LIMIT " STR(RETENTION_CHUNK) ")) RETURNING 1),"
	" signups AS ("
	" DELETE FROM form_submissions WHERE ctid = ANY (ARRAY(SELECT ctid FROM form_submissions"
	"  WHERE status <> 'confirmed' AND expires_at < flowsend_now() - interval '" STR(RETENTION_DAYS) " days'"
	"  ORDER BY expires_at LIMIT " STR(RETENTION_CHUNK) ")) RETURNING 1)"
	" SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM signups) AS n";

long retention_prune(struct fs_db *sysdb, struct arena *a)
{
	PGresult *r = db_query_queue(sysdb, a, prune_sql, 0, NULL);

	return r ? (long)db_get_ll(r, 0, "n", -1) : -1;
}
