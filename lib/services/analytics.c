/* GET /analytics. The totals are the sums of the daily series they come
 * with, so the two always agree; opens and clicks count each contact once
 * per campaign (the tracking flush's firsts), humans only, as the
 * campaigns' own figures do. */
#include "services/analytics.h"

#include <math.h>
#include <stdio.h>

#include "db/db.h"
#include "json/json.h"

static json_object *rate(long long part, long long whole)
{
	char text[32];
	double v = whole > 0 ? round((double)part * 10000.0 / (double)whole) / 100.0 : 0.0;

	snprintf(text, sizeof(text), "%.2f", v);
	return json_object_new_double_s(v, text);
}

/* One row per day, oldest first, days with nothing included as zeros. */
static const char daily_sql[] =
	"SELECT d.day::text AS day, coalesce(s.sent, 0) AS sent, coalesce(s.opened, 0) AS opened,"
	" coalesce(s.clicked, 0) AS clicked, coalesce(s.bounced, 0) AS bounced"
	" FROM generate_series((flowsend_now() AT TIME ZONE 'UTC')::date - ($1::int - 1),"
	"  (flowsend_now() AT TIME ZONE 'UTC')::date, interval '1 day') AS g(t)"
	" CROSS JOIN LATERAL (SELECT g.t::date AS day) d"
	" LEFT JOIN daily_stats s ON s.user_id = flowsend_current_user() AND s.day = d.day"
	" ORDER BY d.day";

static const char counts_sql[] =
	"SELECT (SELECT coalesce(sum(contacts), 0) FROM tenant_counters) AS contacts,"
	" coalesce((SELECT campaigns FROM usage_counters WHERE user_id = flowsend_current_user()), 0)"
	"  AS campaigns,"
	" coalesce((SELECT flows FROM usage_counters WHERE user_id = flowsend_current_user()), 0)"
	"  AS flows";

/* The most recent campaigns that have sent anything, with their counters. */
static const char campaigns_sql[] =
	"SELECT c.id, c.name, c.status, c.sent_count, c.open_count, c.click_count, c.bounce_count"
	" FROM campaigns c WHERE c.user_id = flowsend_current_user() AND c.status <> 'draft'"
	" AND c.status <> 'scheduled' ORDER BY c.created_at DESC LIMIT $1::int";

static json_object *campaign_json(const PGresult *r, int i)
{
	json_object *o = json_object_new_object();
	long long sent = db_get_ll(r, i, "sent_count", 0), opened = db_get_ll(r, i, "open_count", 0),
		  clicked = db_get_ll(r, i, "click_count", 0),
		  bounced = db_get_ll(r, i, "bounce_count", 0);

	json_object_object_add(o, "campaign_id", json_object_new_string(db_get(r, i, "id")));
	json_object_object_add(o, "campaign_name", json_object_new_string(db_get(r, i, "name")));
	json_object_object_add(o, "status", json_object_new_string(db_get(r, i, "status")));
	json_object_object_add(o, "total_sent", json_object_new_int64(sent));
	json_object_object_add(o, "total_opened", json_object_new_int64(opened));
	json_object_object_add(o, "total_clicked", json_object_new_int64(clicked));
	json_object_object_add(o, "total_bounced", json_object_new_int64(bounced));
	json_object_object_add(o, "open_rate", rate(opened, sent));
	json_object_object_add(o, "click_rate", rate(clicked, sent));
	json_object_object_add(o, "bounce_rate", rate(bounced, sent));
	return o;
}

enum fs_status analytics_overview(struct fs_env *env, int days, json_object **out,
				  struct fs_error *err)
{
	char ndays[16], limit[16];
	const char *dp[1] = { ndays }, *cp[1] = { limit };
	struct db_stmt q[3] = {
		{ daily_sql, 1, dp, 1, NULL },
		{ counts_sql, 0, NULL, 1, NULL },
		{ campaigns_sql, 1, cp, 1, NULL },
	};
	long long sent = 0, opened = 0, clicked = 0, bounced = 0;
	json_object *o, *daily, *campaigns;
	const PGresult *r;

	if (days < 1 || days > ANALYTICS_DAYS_MAX)
		return fs_fail(err, FS_INVALID, "days must be between 1 and %d", ANALYTICS_DAYS_MAX);
	snprintf(ndays, sizeof(ndays), "%d", days);
	snprintf(limit, sizeof(limit), "%d", ANALYTICS_CAMPAIGNS_MAX);
	/* One snapshot, one round trip. */
	if (db_tenant_pipeline(env->db, env->arena, env->user_id, q, 3) < 0 ||
	    PQntuples(q[1].result) != 1)
		return fs_fail(err, FS_ERROR, "reading the analytics failed");
	daily = json_object_new_array();
	r = q[0].result;
	for (int i = 0; i < PQntuples(r); i++) {
		json_object *d = json_object_new_object();
		long long s = db_get_ll(r, i, "sent", 0), op = db_get_ll(r, i, "opened", 0),
			  cl = db_get_ll(r, i, "clicked", 0), bo = db_get_ll(r, i, "bounced", 0);
		json_object_object_add(d, "date", json_object_new_string(db_get(r, i, "day")));
		json_object_object_add(d, "sent", json_object_new_int64(s));
		json_object_object_add(d, "opened", json_object_new_int64(op));
		json_object_object_add(d, "clicked", json_object_new_int64(cl));
		json_object_object_add(d, "bounced", json_object_new_int64(bo));
		json_object_array_add(daily, d);
		sent += s;
		opened += op;
		clicked += cl;
		bounced += bo;
	}
	campaigns = json_object_new_array();
	for (int i = 0; i < PQntuples(q[2].result); i++)
		json_object_array_add(campaigns, campaign_json(q[2].result, i));
	r = q[1].result;
	o = json_object_new_object();
	json_object_object_add(o, "days", json_object_new_int(days));
	json_object_object_add(o, "total_emails_sent", json_object_new_int64(sent));
	json_object_object_add(o, "total_opens", json_object_new_int64(opened));
	json_object_object_add(o, "total_clicks", json_object_new_int64(clicked));
	json_object_object_add(o, "total_bounces", json_object_new_int64(bounced));
	json_object_object_add(o, "total_contacts", json_object_new_int64(db_get_ll(r, 0, "contacts", 0)));
	json_object_object_add(o, "total_campaigns",
			       json_object_new_int64(db_get_ll(r, 0, "campaigns", 0)));
	json_object_object_add(o, "total_flows", json_object_new_int64(db_get_ll(r, 0, "flows", 0)));
	json_object_object_add(o, "overall_open_rate", rate(opened, sent));
	json_object_object_add(o, "overall_click_rate", rate(clicked, sent));
	json_object_object_add(o, "overall_bounce_rate", rate(bounced, sent));
	json_object_object_add(o, "campaigns", campaigns);
	json_object_object_add(o, "daily", daily);
	*out = o;
	return FS_OK;
}
