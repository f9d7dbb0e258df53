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

/* The tenant's rollup rows of the last $1 UTC days, oldest first, each day
 * as days since 1970-01-01. "today" is computed once (an InitPlan), so both
 * bounds are index conditions on (user_id, day). */
static const char daily_sql[] =
	"SELECT s.day - DATE '1970-01-01', s.sent, s.opened, s.clicked, s.bounced"
	" FROM daily_stats s"
	" WHERE s.user_id = flowsend_current_user()"
	" AND s.day >= (SELECT (flowsend_now() AT TIME ZONE 'UTC')::date) - ($1::int - 1)"
	" AND s.day <= (SELECT (flowsend_now() AT TIME ZONE 'UTC')::date)"
	" ORDER BY s.day";

/* Today (the same transaction, so the same day as daily_sql's) and the
 * current counts. */
static const char counts_sql[] =
	"SELECT (flowsend_now() AT TIME ZONE 'UTC')::date - DATE '1970-01-01',"
	" (SELECT coalesce(sum(contacts), 0) FROM tenant_counters),"
	" coalesce((SELECT campaigns FROM usage_counters WHERE user_id = flowsend_current_user()), 0),"
	" coalesce((SELECT flows FROM usage_counters WHERE user_id = flowsend_current_user()), 0)";

/* The most recent campaigns that have sent anything, with their counters. */
static const char campaigns_sql[] =
	"SELECT c.id, c.name, c.status, c.sent_count, c.open_count, c.click_count, c.bounce_count"
	" FROM campaigns c WHERE c.user_id = flowsend_current_user() AND c.status <> 'draft'"
	" AND c.status <> 'scheduled' ORDER BY c.created_at DESC LIMIT $1::int";

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
	long long sent = cell_ll(r, i, 3), opened = cell_ll(r, i, 4), clicked = cell_ll(r, i, 5),
		  bounced = cell_ll(r, i, 6);

	strbuf_appends(sb, "{\"campaign_id\":");
	fs_json_append_string(sb, PQgetvalue(r, i, 0));
	strbuf_appends(sb, ",\"campaign_name\":");
	fs_json_append_string(sb, PQgetvalue(r, i, 1));
	strbuf_appends(sb, ",\"status\":");
	fs_json_append_string(sb, PQgetvalue(r, i, 2));
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
	const char *dp[1] = { ndays }, *cp[1] = { limit };
	struct db_stmt q[3] = {
		{ daily_sql, 1, dp, 1, NULL },
		{ counts_sql, 0, NULL, 1, NULL },
		{ campaigns_sql, 1, cp, 1, NULL },
	};
	long long sent = 0, opened = 0, clicked = 0, bounced = 0, today, first;
	const PGresult *r, *c;
	int row, rows;

	if (days < 1 || days > ANALYTICS_DAYS_MAX)
		return fs_fail(err, FS_INVALID, "days must be between 1 and %d", ANALYTICS_DAYS_MAX);
	snprintf(ndays, sizeof(ndays), "%d", days);
	snprintf(limit, sizeof(limit), "%d", ANALYTICS_CAMPAIGNS_MAX);
	/* One snapshot, one round trip. */
	if (db_tenant_pipeline(env->db, env->arena, env->user_id, q, 3) < 0 ||
	    PQntuples(q[1].result) != 1 || PQnfields(q[0].result) != 5 ||
	    PQnfields(q[1].result) != 4 || PQnfields(q[2].result) != 7)
		return fs_fail(err, FS_ERROR, "reading the analytics failed");
	r = q[0].result;
	c = q[1].result;
	rows = PQntuples(r);
	today = cell_ll(c, 0, 0);
	first = today - (days - 1);
	/* The totals are the series' sums: the rows inside the window. */
	for (row = 0; row < rows; row++) {
		long long day = cell_ll(r, row, 0);
		if (day < first || day > today)
			continue;
		sent += cell_ll(r, row, 1);
		opened += cell_ll(r, row, 2);
		clicked += cell_ll(r, row, 3);
		bounced += cell_ll(r, row, 4);
	}
	strbuf_grow(out, (size_t)days * 80 + (size_t)PQntuples(q[2].result) * 400 + 1024);
	strbuf_appendf(out,
		       "{\"days\":%d,\"total_emails_sent\":%lld,\"total_opens\":%lld,"
		       "\"total_clicks\":%lld,\"total_bounces\":%lld,\"total_contacts\":%lld,"
		       "\"total_campaigns\":%lld,\"total_flows\":%lld,\"overall_open_rate\":",
		       days, sent, opened, clicked, bounced, cell_ll(c, 0, 1), cell_ll(c, 0, 2),
		       cell_ll(c, 0, 3));
	append_rate(out, opened, sent);
	strbuf_appends(out, ",\"overall_click_rate\":");
	append_rate(out, clicked, sent);
	strbuf_appends(out, ",\"overall_bounce_rate\":");
	append_rate(out, bounced, sent);
	strbuf_appends(out, ",\"campaigns\":[");
	for (int i = 0; i < PQntuples(q[2].result); i++) {
		if (i)
			strbuf_appendc(out, ',');
		append_campaign(out, q[2].result, i);
	}
	/* The series, oldest first: one entry a day, zeros where no row is. */
	strbuf_appends(out, "],\"daily\":[");
	row = 0;
	for (long long day = first; day <= today; day++) {
		long long f[4] = { 0, 0, 0, 0 };

		while (row < rows && cell_ll(r, row, 0) < day)
			row++;
		if (row < rows && cell_ll(r, row, 0) == day) {
			for (int k = 0; k < 4; k++)
				f[k] = cell_ll(r, row, k + 1);
			row++;
		}
		append_day(out, day == first, day, f);
	}
	strbuf_appends(out, "]}");
	if (out->oom)
		return fs_fail(err, FS_ERROR, "out of memory writing the analytics");
	return FS_OK;
}
