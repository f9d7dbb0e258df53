/* GET /analytics. The totals are the sums of the daily series they come
 * with, so the two always agree; opens and clicks count each contact once
 * per campaign (the tracking flush's firsts), humans only, as the
 * campaigns' own figures do.
 *
 * The answer is written as text straight into a buffer: PostgreSQL hands
 * back only the tenant's rollup rows inside the window (an index range scan
 * of daily_stats' primary key, oldest first) and the days without a row are
 * filled in here as zeros. Building the same 365 days with generate_series,
 * a join and json-c objects cost about twice the CPU per request (README,
 * "GET /analytics: where the time went"). */
#include "services/analytics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "json/json.h"

/* "12.34": part as a % of whole, 2 decimals, 0 when whole is 0 (as before:
 * the same rounding of the same double). */
static void append_rate(struct strbuf *sb, long long part, long long whole)
{
	double v = whole > 0 ? round((double)part * 10000.0 / (double)whole) / 100.0 : 0.0;

	strbuf_appendf(sb, "%.2f", v);
}

/* Writes v's decimal digits at p; returns the end. */
static char *put_ll(char *p, long long v)
{
	char digits[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	if (v < 0)
		*p++ = '-';
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*p++ = digits[--n];
	return p;
}

static char *put_2(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

void analytics_day_text(long long epoch_day, char out[ANALYTICS_DAY_TEXT])
{
	/* Days since 1970-01-01 to the proleptic Gregorian y-m-d (H. Hinnant's
	 * civil_from_days), for the whole range of PostgreSQL's date - date. */
	long long z = epoch_day + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long y = yoe + era * 400;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	char *p = out;

	if (m <= 2)
		y++;
	if (y < 1 || y > 9999) {
		/* Outside any window this answer shows; kept well formed anyway. */
		snprintf(out, ANALYTICS_DAY_TEXT, "%04lld-%02d-%02d", y, m, d);
		return;
	}
	p = put_2(p, (int)(y / 100));
	p = put_2(p, (int)(y % 100));
	*p++ = '-';
	p = put_2(p, m);
	*p++ = '-';
	p = put_2(p, d);
	*p = '\0';
}

/* Everything in one statement (each statement of a pipeline costs the server
 * a portal, a snapshot and an executor start: about 100 µs each here), as
 * rows of one shape, (part, k, id, name, status, n1, n2, n3, n4):
 *   part 0, once: k today (days since 1970-01-01, UTC), n1 contacts,
 *     n2 campaigns, n3 flows;
 *   part 1: the tenant's rollup rows of the last $1 UTC days, k the day
 *     (days since 1970-01-01), n1..n4 sent, opened, clicked, bounced; "today"
 *     is computed once (InitPlans), so both bounds are index conditions on
 *     daily_stats' primary key (user_id, day);
 *   part 2: the $2 most recent campaigns that have sent anything (read in
 *     the order of campaigns_user_created_idx, no sort), k their rank
 *     (1 = newest), n1..n4 their counters.
 * The rows may come in any order: they are placed by (part, k). */
static const char overview_sql[] =
	"SELECT 0 AS part, (flowsend_now() AT TIME ZONE 'UTC')::date - DATE '1970-01-01' AS k,"
	" NULL::text AS id, NULL::text AS name, NULL::text AS status,"
	" (SELECT coalesce(sum(contacts), 0) FROM tenant_counters_all)::bigint AS n1,"
	" coalesce((SELECT campaigns FROM usage_counters WHERE user_id = flowsend_current_user()),"
	"  0)::bigint AS n2,"
	" coalesce((SELECT flows FROM usage_counters WHERE user_id = flowsend_current_user()),"
	"  0)::bigint AS n3,"
	" 0::bigint AS n4"
	" UNION ALL"
	" SELECT 1, s.day - DATE '1970-01-01', NULL, NULL, NULL, s.sent, s.opened, s.clicked,"
	"  s.bounced"
	" FROM daily_stats s"
	" WHERE s.user_id = flowsend_current_user()"
	" AND s.day >= (SELECT (flowsend_now() AT TIME ZONE 'UTC')::date) - ($1::int - 1)"
	" AND s.day <= (SELECT (flowsend_now() AT TIME ZONE 'UTC')::date)"
	" UNION ALL"
	" SELECT 2, row_number() OVER (ORDER BY c.created_at DESC), c.id::text, c.name,"
	"  c.status, c.sent_count, c.open_count, c.click_count, c.bounce_count"
	" FROM (SELECT id, name, status, created_at, sent_count, open_count, click_count,"
	"  bounce_count FROM campaigns WHERE user_id = flowsend_current_user()"
	"  AND status <> 'draft' AND status <> 'scheduled'"
	"  ORDER BY created_at DESC LIMIT $2::int) c";

enum { COL_PART, COL_K, COL_ID, COL_NAME, COL_STATUS, COL_N1, COL_COLS = COL_N1 + 4 };

/* An integer cell (PostgreSQL's text form: an optional '-', digits); NULL
 * is 0. By hand: strtoll was a noticeable part of the 1,800 cells a year. */
static long long cell_ll(const PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);
	unsigned long long u = 0;
	int neg = *v == '-';

	if (PQgetisnull(r, row, col))
		return 0;
	for (v += neg; *v >= '0' && *v <= '9'; v++)
		u = u * 10 + (unsigned long long)(*v - '0');
	return neg ? (long long)(0ULL - u) : (long long)u;
}

/* One entry of the series: {"date":"2026-11-29","sent":1,...}. */
static void append_day(struct strbuf *sb, int first, long long day, const long long f[4])
{
	static const char *const names[4] = { "\",\"sent\":", ",\"opened\":", ",\"clicked\":",
					      ",\"bounced\":" };
	char buf[ANALYTICS_DAY_TEXT + 160], *p = buf;

	if (!first)
		*p++ = ',';
	memcpy(p, "{\"date\":\"", 9);
	p += 9;
	analytics_day_text(day, p);
	p += strlen(p);
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(names[i]);
		memcpy(p, names[i], n);
		p = put_ll(p + n, f[i]);
	}
	*p++ = '}';
	strbuf_append(sb, buf, (size_t)(p - buf));
}

static void append_campaign(struct strbuf *sb, const PGresult *r, int i)
{
	long long sent = cell_ll(r, i, COL_N1), opened = cell_ll(r, i, COL_N1 + 1),
		  clicked = cell_ll(r, i, COL_N1 + 2), bounced = cell_ll(r, i, COL_N1 + 3);

	strbuf_appends(sb, "{\"campaign_id\":");
	fs_json_append_string(sb, PQgetvalue(r, i, COL_ID));
	strbuf_appends(sb, ",\"campaign_name\":");
	fs_json_append_string(sb, PQgetvalue(r, i, COL_NAME));
	strbuf_appends(sb, ",\"status\":");
	fs_json_append_string(sb, PQgetvalue(r, i, COL_STATUS));
	strbuf_appendf(sb, ",\"total_sent\":%lld,\"total_opened\":%lld,\"total_clicked\":%lld,"
			   "\"total_bounced\":%lld,\"open_rate\":",
		       sent, opened, clicked, bounced);
	append_rate(sb, opened, sent);
	strbuf_appends(sb, ",\"click_rate\":");
	append_rate(sb, clicked, sent);
	strbuf_appends(sb, ",\"bounce_rate\":");
	append_rate(sb, bounced, sent);
	strbuf_appendc(sb, '}');
}

enum fs_status analytics_overview(struct fs_env *env, int days, struct strbuf *out,
				  struct fs_error *err)
{
	char ndays[16], limit[16];
	const char *params[2] = { ndays, limit };
	struct db_stmt q = { overview_sql, 2, params, 1, NULL };
	/* Per day of the window (oldest first): sent, opened, clicked, bounced. */
	long long series[ANALYTICS_DAYS_MAX][4], totals[4] = { 0, 0, 0, 0 }, today = 0, first;
	int campaign_row[ANALYTICS_CAMPAIGNS_MAX], ncampaigns = 0, counts_row = -1, rows;
	const PGresult *r;

	if (days < 1 || days > ANALYTICS_DAYS_MAX)
		return fs_fail(err, FS_INVALID, "days must be between 1 and %d", ANALYTICS_DAYS_MAX);
	snprintf(ndays, sizeof(ndays), "%d", days);
	snprintf(limit, sizeof(limit), "%d", ANALYTICS_CAMPAIGNS_MAX);
	/* One statement, one snapshot, one round trip. */
	if (db_tenant_read(env->db, env->arena, env->user_id, &q, 1) < 0 ||
	    PQnfields(q.result) != COL_COLS)
		return fs_fail(err, FS_ERROR, "reading the analytics failed");
	r = q.result;
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++)
		if (cell_ll(r, i, COL_PART) == 0) {
			counts_row = i;
			today = cell_ll(r, i, COL_K);
		}
	if (counts_row < 0)
		return fs_fail(err, FS_ERROR, "reading the analytics failed: no counts");
	first = today - (days - 1);
	memset(series, 0, sizeof(series[0]) * (size_t)days);
	for (int i = 0; i < ANALYTICS_CAMPAIGNS_MAX; i++)
		campaign_row[i] = -1;
	for (int i = 0; i < rows; i++) {
		long long part = cell_ll(r, i, COL_PART), k = cell_ll(r, i, COL_K);

		if (part == 1 && k >= first && k <= today) {
			/* The totals are the series' sums. */
			for (int f = 0; f < 4; f++) {
				series[k - first][f] = cell_ll(r, i, COL_N1 + f);
				totals[f] += series[k - first][f];
			}
		} else if (part == 2 && k >= 1 && k <= ANALYTICS_CAMPAIGNS_MAX) {
			campaign_row[k - 1] = i;
			ncampaigns++;
		}
	}
	strbuf_grow(out, (size_t)days * 80 + (size_t)ncampaigns * 400 + 1024);
	strbuf_appendf(out,
		       "{\"days\":%d,\"total_emails_sent\":%lld,\"total_opens\":%lld,"
		       "\"total_clicks\":%lld,\"total_bounces\":%lld,\"total_contacts\":%lld,"
		       "\"total_campaigns\":%lld,\"total_flows\":%lld,\"overall_open_rate\":",
		       days, totals[0], totals[1], totals[2], totals[3], cell_ll(r, counts_row, COL_N1),
		       cell_ll(r, counts_row, COL_N1 + 1), cell_ll(r, counts_row, COL_N1 + 2));
	append_rate(out, totals[1], totals[0]);
	strbuf_appends(out, ",\"overall_click_rate\":");
	append_rate(out, totals[2], totals[0]);
	strbuf_appends(out, ",\"overall_bounce_rate\":");
	append_rate(out, totals[3], totals[0]);
	/* Newest first. */
	strbuf_appends(out, ",\"campaigns\":[");
	for (int i = 0, n = 0; i < ANALYTICS_CAMPAIGNS_MAX; i++) {
		if (campaign_row[i] < 0)
			continue;
		if (n++)
			strbuf_appendc(out, ',');
		append_campaign(out, r, campaign_row[i]);
	}
	/* The series, oldest first: one entry a day, zeros where no row is. */
	strbuf_appends(out, "],\"daily\":[");
	for (int d = 0; d < days; d++)
		append_day(out, d == 0, first + d, series[d]);
	strbuf_appends(out, "]}");
	if (out->oom)
		return fs_fail(err, FS_ERROR, "out of memory writing the analytics");
	return FS_OK;
}
