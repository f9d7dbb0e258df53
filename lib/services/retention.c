/* Retention (retention.h). One statement, so one round trip a pass. */
#include "services/retention.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static const char prune_sql[] =
	"WITH calls AS ("
	" DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events"
	"  WHERE status <> 'pending' AND completed_at < flowsend_now() - interval '" STR(RETENTION_DAYS) " days'"
	"  ORDER BY completed_at LIMIT " STR(RETENTION_CHUNK) ") RETURNING 1),"
	" signups AS ("
	" DELETE FROM form_submissions WHERE id IN (SELECT id FROM form_submissions"
	"  WHERE status <> 'confirmed' AND expires_at < flowsend_now() - interval '" STR(RETENTION_DAYS) " days'"
	"  ORDER BY expires_at LIMIT " STR(RETENTION_CHUNK) ") RETURNING 1)"
	" SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM signups) AS n";

long retention_prune(struct fs_db *sysdb, struct arena *a)
{
	PGresult *r = db_query_cached(sysdb, a, prune_sql, 0, NULL);

	return r ? (long)db_get_ll(r, 0, "n", -1) : -1;
}
