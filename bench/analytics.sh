#!/usr/bin/env bash
# Analytics and usage for make bench (issue 22): one tenant holding
# BENCH_ANALYTICS_EVENTS (default 10,000,000) events over the last 365 days,
# with the per-day rollup those events give (daily_stats, as the recording
# paths keep it). GET /analytics?days=365 reads the rollup and counters, never
# the events, so its p99 must stay under 50 ms at 64 connections; GET /usage
# reads counters only and is measured beside /auth/me in the same run.
# Expects the stack up and bench/run.sh's measure, json_field and psql_owner.
set -euo pipefail

events=${BENCH_ANALYTICS_EVENTS:-10000000}
echo
echo "analytics: $events events over 365 days, wrk -t2 -c$conns -d${duration}s, median of $runs runs"
# The seeded tenant is kept between runs (seeding 10,000,000 events takes
# minutes): a later run logs in to it when it holds the events already.
email="bench-analytics-$events@example.com"
if token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" 2>/dev/null | json_field access_token 2>/dev/null) &&
	uid=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $token" | json_field id) &&
	[[ $(psql_owner -Atc "SELECT count(*) FROM email_events WHERE user_id = '$uid'") == "$events" ]]; then
	echo "reusing the tenant seeded by an earlier run ($email)"
else
	psql_owner -c "DELETE FROM users WHERE email = '$email'" >/dev/null
	token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
	uid=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $token" | json_field id)
	t0=$(date +%s.%N)
	# Sent, opened, clicked and bounced in the proportions 100:30:10:2 (humans;
	# a few bot opens too), spread evenly over the year; then the rollup.
	psql_owner <<SQL
SET synchronous_commit = off;
INSERT INTO email_events (user_id, event_type, is_bot, created_at)
SELECT '$uid'::uuid,
       CASE WHEN k < 70 THEN 'sent' WHEN k < 91 THEN 'opened' WHEN k < 98 THEN 'clicked'
            ELSE 'bounced' END,
       k = 90,
       now() - (i % 365) * interval '1 day' - (i % 86400) * interval '1 second'
  FROM generate_series(1, $events) AS i, LATERAL (SELECT (i::bigint * 7919) % 100 AS k) x;
INSERT INTO daily_stats (user_id, day, sent, opened, clicked, bounced)
SELECT user_id, (created_at AT TIME ZONE 'UTC')::date,
       count(*) FILTER (WHERE event_type = 'sent'),
       count(*) FILTER (WHERE event_type = 'opened' AND NOT is_bot),
       count(*) FILTER (WHERE event_type = 'clicked' AND NOT is_bot),
       count(*) FILTER (WHERE event_type = 'bounced')
  FROM email_events WHERE user_id = '$uid'::uuid GROUP BY 1, 2
ON CONFLICT (user_id, day) DO UPDATE SET sent = EXCLUDED.sent, opened = EXCLUDED.opened,
    clicked = EXCLUDED.clicked, bounced = EXCLUDED.bounced;
ANALYZE email_events;
ANALYZE daily_stats;
SQL
	t1=$(date +%s.%N)
	printf 'seeded in %.0f s\n' "$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$t1")"
	# A long seeding outlives the access token (15 minutes).
	token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
fi
# The figures agree with a direct count of the events (humans only).
answer=$(curl -fsS "$base/api/v1/analytics?days=365" -H "Authorization: Bearer $token")
direct=$(psql_owner -Atc "SELECT count(*) FILTER (WHERE event_type = 'sent') || ' ' ||
	count(*) FILTER (WHERE event_type = 'opened' AND NOT is_bot) FROM email_events
	WHERE user_id = '$uid'::uuid AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
	AT TIME ZONE 'UTC' - interval '364 days'")
python3 -c "
import json, sys
a = json.loads(sys.argv[1]); sent, opens = map(int, sys.argv[2].split())
ok = a['total_emails_sent'] == sent and a['total_opens'] == opens and len(a['daily']) == 365
print(f\"analytics?days=365: total_emails_sent {a['total_emails_sent']} (events: {sent}), total_opens {a['total_opens']} (events: {opens}): {'equal' if ok else 'DIFFERENT'}\")
sys.exit(0 if ok else 1)" "$answer" "$direct"
printf '%-34s %12s %10s\n' endpoint req/s p99
read -r an_rps an_p99 < <(measure "$base/api/v1/analytics?days=365" -H "Authorization: Bearer $token")
printf '%-34s %12s %10s\n' "GET /api/v1/analytics?days=365" "$an_rps" "$an_p99"
read -r me_rps me_p99 < <(measure "$base/api/v1/auth/me" -H "Authorization: Bearer $token")
printf '%-34s %12s %10s\n' "GET /api/v1/auth/me (JWT)" "$me_rps" "$me_p99"
read -r us_rps us_p99 < <(measure "$base/api/v1/usage" -H "Authorization: Bearer $token")
printf '%-34s %12s %10s\n' "GET /api/v1/usage (JWT)" "$us_rps" "$us_p99"
python3 -c "import sys; u, m = float(sys.argv[1]), float(sys.argv[2]); print(f'GET /usage / GET /auth/me = {u / m:.2f}')" \
	"$us_rps" "$me_rps"
python3 -c "import sys; a, m = float(sys.argv[1]), float(sys.argv[2]); print(f'GET /analytics?days=365 / GET /auth/me = {a / m:.2f}')" \
	"$an_rps" "$me_rps"

# CPU time (utime + stime) per request of each process taking part, from
# /proc/<pid>/stat around one more run of each (as bench/tracking.sh does):
# unlike req/s, it hardly moves with what else the machine runs. A run whose
# answers were not all 2xx (say, a test instance's API rate limits) is
# reported as such instead of a figure.
state=${BENCH_STATE:?}
# shellcheck source=bench/lib/cpu.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cpu.sh"
# "fs-billing fs-auth nginx postgres redis" ticks
an_cpu_snap() {
	echo "$(group_ticks "$(cat "$state/pid/fs-billing.pid")") $(group_ticks "$(cat "$state/pid/fs-auth.pid")")" \
		"$(tree_ticks "$(cat "$state/nginx/nginx.pid")") $(tree_ticks "$(head -1 "$state/pg/data/postmaster.pid")")" \
		"$(tree_ticks "$(cat "$state/pid/redis.pid")")"
}
# an_cpu LABEL URL [wrk args]: one run, then "LABEL: CPU µs per request ..."
an_cpu() {
	local label=$1 url=$2 a b out
	shift 2
	a=$(an_cpu_snap)
	out=$(wrk -t2 -c"$conns" -d"${duration}s" "$@" "$url")
	b=$(an_cpu_snap)
	python3 - "$label" "$a" "$b" "$out" "$(getconf CLK_TCK)" <<'PY'
import re, sys
label, a, b, out, hz = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4], int(sys.argv[5])
n = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
if bad or n == 0:
    print(f"CPU µs per request, {label}: not measured, {bad.group(1) if bad else 0} of {n} answers were not 2xx")
    sys.exit(0)
d = [(int(y) - int(x)) * 1e6 / hz / n for x, y in zip(a, b)]
names = ["fs-billing", "fs-auth", "nginx", "postgres", "redis"]
parts = [(k, v) for k, v in zip(names, d) if v >= 0.5]
print(f"CPU µs per request, {label} ({n} requests): " + ", ".join(f"{k} {v:.0f}" for k, v in parts)
      + f"; total {sum(v for _, v in parts):.0f}")
PY
}
an_cpu "GET /analytics?days=365" "$base/api/v1/analytics?days=365" -H "Authorization: Bearer $token"
an_cpu "GET /auth/me" "$base/api/v1/auth/me" -H "Authorization: Bearer $token"
