/* Unsubscribe links. The token is checked before any database read (a forged
 * one costs an HMAC); the row it names is then resolved across tenants by the
 * system role, the one lookup that must be, and everything else runs as that
 * row's tenant, under its row-level security. */
#include "services/unsubscribe.h"

#include <string.h>

#include "db/db.h"
#include "mail/links.h"
#include "services/settings.h"

/* The outbox row a token names and its tenant, or FS_NOT_FOUND. A link signed
 * with the JWT secret (mailed before FLOWSEND_LINK_SECRET) counts only for
 * mail that was sent. */
enum fs_status unsubscribe_resolve(struct fs_env *env, const char *token, char *id,
				   struct fs_error *err)
{
	enum link_key key = link_token_check(env->cfg, "u", token, id, 37);
	const char *p[1] = { id };
	PGresult *r;

	if (key == LINK_KEY_NONE)
		return fs_fail(err, FS_NOT_FOUND, "Unsubscribe link not found");
	r = db_query(env->sysdb, env->arena,
		     "SELECT user_id, sent_at IS NOT NULL AS sent FROM outbox WHERE id = $1", 1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "looking up the unsubscribe link failed");
	if (PQntuples(r) == 0 || (key == LINK_KEY_JWT && !db_get_bool(r, 0, "sent")))
		return fs_fail(err, FS_NOT_FOUND, "Unsubscribe link not found");
	env->user_id = db_get(r, 0, "user_id");
	return FS_OK;
}

static const char *sender_name(struct fs_env *env, const char *from_name)
{
	const char *name, *address;

	if (from_name && *from_name)
		return from_name;
	sender_parse_mailbox(env->arena, env->cfg->mail_from, &name, &address);
	return *name ? name : address;
}

enum fs_status unsubscribe_show(struct fs_env *env, const char *token,
				struct unsubscribe_state *out, struct fs_error *err)
{
	char id[37];
	const char *p[1] = { id };
	enum fs_status st;
	PGresult *r;

	memset(out, 0, sizeof(*out));
	if ((st = unsubscribe_resolve(env, token, id, err)) != FS_OK)
		return st;
	r = db_tenant_query(env->db, env->arena, env->user_id,
			    "SELECT (SELECT from_name FROM users) AS from_name,"
			    " CASE WHEN o.contact_id IS NOT NULL THEN NOT COALESCE(k.is_subscribed, false)"
			    "  ELSE EXISTS (SELECT 1 FROM opt_outs x WHERE x.user_id = o.user_id"
			    "   AND x.email_hash = flowsend_email_hash(o.to_email)) END AS unsubscribed"
			    " FROM outbox o LEFT JOIN contacts k ON k.id = o.contact_id"
			    "  AND k.user_id = o.user_id"
			    " WHERE o.id = $1",
			    1, p);
	if (!r)
		return fs_fail(err, FS_ERROR, "reading the unsubscribe link's mail failed");
	if (PQntuples(r) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Unsubscribe link not found");
	out->sender = sender_name(env, db_get(r, 0, "from_name"));
	out->unsubscribed = db_get_bool(r, 0, "unsubscribed");
	return FS_OK;
}

/* Locks the mail's row first, in a statement of its own, so that a second
 * request for the same link waits and then reads what the first committed
 * (the statement after the lock takes a fresh snapshot). */
static const char lock_sql[] = "SELECT id FROM outbox WHERE id = $1 FOR UPDATE";

/* The contact is unsubscribed only if it still was (the row lock of the
 * UPDATE makes concurrent requests take turns, and the later one finds it
 * done); mail to an address that is no contact records an opt-out for the
 * address unless one exists. Whoever was unsubscribed ("who", one row or
 * none) gets the unsubscribes row (its trigger records the opt-out) and,
 * for mail the figures count (not a test send), the event and the counts;
 * the contact's pending mail is cancelled either way.
 * (PostgreSQL runs every data-modifying WITH once, read or not.) */
static const char confirm_sql[] =
	"WITH o AS ("
	"  SELECT o.id, o.contact_id, o.campaign_id, o.to_email, fe.flow_id,"
	"   o.payload IS NULL AS counted FROM outbox o"
	"  LEFT JOIN flow_executions fe ON fe.id = o.flow_execution_id WHERE o.id = $1),"
	" c AS ("
	"  UPDATE contacts k SET is_subscribed = false, unsubscribed_at = flowsend_now(),"
	"   updated_at = flowsend_now()"
	"  FROM o WHERE k.id = o.contact_id AND k.is_subscribed RETURNING k.id, k.email),"
	" a AS ("
	"  SELECT NULL::uuid AS id, o.to_email AS email FROM o WHERE o.contact_id IS NULL"
	"  AND NOT EXISTS (SELECT 1 FROM opt_outs x WHERE x.user_id = flowsend_current_user()"
	"   AND x.email_hash = flowsend_email_hash(o.to_email))),"
	" who AS (SELECT id, email FROM c UNION ALL SELECT id, email FROM a),"
	" u AS ("
	"  INSERT INTO unsubscribes (user_id, contact_id, email_hash, campaign_id, flow_id, source)"
	"  SELECT flowsend_current_user(), w.id, flowsend_email_hash(w.email), o.campaign_id,"
	"   o.flow_id, $2 FROM who w CROSS JOIN o RETURNING 1),"
	" e AS ("
	"  INSERT INTO email_events (user_id, campaign_id, flow_id, contact_id, outbox_id,"
	"   event_type, metadata)"
	"  SELECT flowsend_current_user(), o.campaign_id, o.flow_id, w.id, o.id, 'unsubscribed',"
	"   jsonb_build_object('source', $2::text) FROM who w CROSS JOIN o WHERE o.counted"
	"  RETURNING 1),"
	" counted AS ("
	"  UPDATE campaigns k SET unsubscribe_count = k.unsubscribe_count + 1"
	"  FROM o WHERE k.id = o.campaign_id AND o.counted AND EXISTS (SELECT 1 FROM who)"
	"  RETURNING 1),"
	" daily AS ("
	"  INSERT INTO daily_stats AS d (user_id, day, unsubscribed)"
	"  SELECT flowsend_current_user(), (flowsend_now() AT TIME ZONE 'UTC')::date, 1"
	"  FROM who CROSS JOIN o WHERE o.counted"
	"  ON CONFLICT (user_id, day) DO UPDATE SET unsubscribed = d.unsubscribed + 1 RETURNING 1),"
	" cancelled AS ("
	"  UPDATE outbox x SET status = 'cancelled', locked_until = NULL, last_error = 'unsubscribed'"
	"  FROM o WHERE x.contact_id = o.contact_id AND x.status = 'pending' RETURNING 1)"
	" SELECT (SELECT count(*) FROM o) AS found, (SELECT count(*) FROM who) AS recorded,"
	" (SELECT count(*) FROM cancelled) AS cancelled, (SELECT from_name FROM users) AS from_name";

enum fs_status unsubscribe_confirm(struct fs_env *env, const char *token, const char *source,
				   struct unsubscribe_state *out, struct fs_error *err)
{
	char id[37];
	const char *lock_p[1] = { id }, *p[2] = { id, source };
	struct db_stmt stmts[2] = { { lock_sql, 1, lock_p, 0, NULL },
				    { confirm_sql, 2, p, 0, NULL } };
	enum fs_status st;
	PGresult *r;

	memset(out, 0, sizeof(*out));
	if ((st = unsubscribe_resolve(env, token, id, err)) != FS_OK)
		return st;
	if (db_tenant_pipeline(env->db, env->arena, env->user_id, stmts, 2) < 0)
		return fs_fail(err, FS_ERROR, "recording the unsubscribe failed");
	r = stmts[1].result;
	if (db_get_ll(r, 0, "found", 0) == 0)
		return fs_fail(err, FS_NOT_FOUND, "Unsubscribe link not found");
	out->sender = sender_name(env, db_get(r, 0, "from_name"));
	out->unsubscribed = 1;
	out->recorded = db_get_ll(r, 0, "recorded", 0) > 0;
	out->cancelled = db_get_ll(r, 0, "cancelled", 0);
	return FS_OK;
}
