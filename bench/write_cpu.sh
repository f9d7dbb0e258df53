#!/usr/bin/env bash
# CPU, WAL and flushes per write request (issues 14 and 19), on a running
# stack: GET /auth/me (the yardstick), POST /contacts (unique addresses, one
# Enterprise tenant), POST /events and signed platform events (a tenant with a
# custom and a purchase flow, 1,000 contacts). For each: wrk -t1 -cAB_CONNS
# for AB_SECONDS, then per request the utime + stime of the responder's
# processes, of the PostgreSQL cluster and of nginx (/proc/<pid>/stat), the
# WAL bytes and records, full-page images, writes and flushes (pg_stat_wal).
# CPU per request hardly moves with what else runs on the machine; req/s does.
#   FLOWSEND_BENCH_RESPONDERS=1 scripts/stack.sh start test4   # no rate limits
#   bench/write_cpu.sh test4
# Knobs: AB_SECONDS (8), AB_CONNS (8), AB_THREADS (1), AB_ROUNDS (1), AB_ONLY=events (skip
# /auth/me and the creates), AB_ONLY=creates (skip the events).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
instance=${1:-bench}
case "$instance" in
bench) http_port=28080 pg_port=25499 ;;
test[1-9]) n=${instance#test}; http_port=$((18080 + n)) pg_port=$((15499 + n)) ;;
*) echo "usage: bench/write_cpu.sh bench|test1..test9" >&2; exit 2 ;;
esac
D=/var/tmp/flowsend-$http_port base=http://127.0.0.1:$http_port hz=$(getconf CLK_TCK)
[[ -f $D/env ]] || { echo "start the stack first: scripts/stack.sh start $instance" >&2; exit 1; }
seconds=${AB_SECONDS:-8} conns=${AB_CONNS:-8}
psql_owner() { psql -q -X -h "$D/pgsock" -p "$pg_port" -U flowsend_owner -d flowsend -v ON_ERROR_STOP=1 "$@"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
group_ticks() { ticks $(pgrep -g "$(cat "$D/pid/fs-$1.pid")"); }
tree_ticks() { local pm; pm=$1; ticks "$pm" $(pgrep -P "$pm"); }
pg_ticks() { tree_ticks "$(head -1 "$D/pg/data/postmaster.pid")"; }
ngx_ticks() { tree_ticks "$(cat "$D/nginx/nginx.pid")"; }
# WAL, then the database's commits and (where pg_stat_statements is loaded)
# the statements run, counted as executions.
stmts_sql="SELECT 0"
walsnap() {
	psql_owner -Atc "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, wal_records, wal_fpi, wal_write, wal_sync,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		($stmts_sql) FROM pg_stat_wal" | tr '|' ' '
}
if [[ $(psql_owner -Atc "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == 1 ]] &&
	psql_owner -Atc "SELECT 1 FROM pg_stat_statements LIMIT 1" >/dev/null 2>&1; then
	stmts_sql="SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements"
fi
tenant() {
	local email="write-cpu-$1-$(date +%s%N)@example.com" token
	token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
	psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'" >/dev/null
	echo "$token"
}
token=$(tenant events)
sleep 1.5 # the plan change reaches the auth caches
for t in 'custom {"event":"viewed"}' 'purchase {"allow_reentry":true}'; do
	read -r trig cfg <<<"$t"
	id=$(curl -fsS -X POST "$base/api/v1/flows" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d "{\"name\":\"w $trig\",\"trigger_type\":\"$trig\",\"trigger_config\":$cfg,\"steps\":[{\"type\":\"email\",\"template_id\":\"00000000-0000-4000-8000-000000000001\"},{\"type\":\"delay\",\"delay_hours\":24}]}" |
		json_field id)
	curl -fsS -X POST "$base/api/v1/flows/$id/activate" -H "Authorization: Bearer $token" >/dev/null
done
awk 'BEGIN { printf "{\"emails\":["; for (i = 0; i < 1000; i++) printf "%s\"e%d@flows.example\"", i ? "," : "", i; print "]}" }' |
	curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' --data-binary @- >/dev/null
shop="write-cpu-shop-$(date +%s%N)"
uid=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $token" | json_field id)
psql_owner -c "UPDATE users SET external_platform_id = '$shop' WHERE id = '$uid'" >/dev/null
secret=dev-platform-bridge-secret
if grep -q 'FLOWSEND_PLATFORM_WEBHOOK_SECRET=' "$D/env"; then
	secret=$(sed -n 's/.*FLOWSEND_PLATFORM_WEBHOOK_SECRET=//p' "$D/env" | tr -d "'\"")
fi
pbody="{\"event\":\"order.created\",\"user_id\":\"$shop\",\"data\":{\"email\":\"e7@flows.example\",\"order_id\":\"bench-1\",\"total_cents\":4200}}"
psig=$(printf '%s' "$pbody" | openssl dgst -sha256 -hmac "$secret" | awk '{ print $NF }')

cost() { # label responder wrk-args...
	local label=$1 n=$2 a pa na b pb nb out w0 w1
	shift 2
	w0=$(walsnap); a=$(group_ticks "$n"); pa=$(pg_ticks); na=$(ngx_ticks)
	out=$(wrk -t"${AB_THREADS:-1}" -c"$conns" -d"${seconds}s" --latency "$@")
	b=$(group_ticks "$n"); pb=$(pg_ticks); nb=$(ngx_ticks); w1=$(walsnap)
	python3 - "$label" "$n" "$((b - a))" "$((pb - pa))" "$((nb - na))" "$hz" "$w0" "$w1" "$out" <<'PY'
import re, sys
label, n, rt, pt, nt, hz, w0, w1, out = sys.argv[1:]
reqs = int(re.search(r"(\d+) requests in", out).group(1))
rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
d = [b - a for a, b in zip(map(int, w0.split()), map(int, w1.split()))]
us = lambda t: int(t) * 1e6 / int(hz) / reqs
print(f"{label:16} {reqs:7} reqs {rps:>9}/s p99 {p99:>8} non-2xx {bad.group(1) if bad else 0}: "
      f"{n} {us(rt):.0f} + pg {us(pt):.0f} + nginx {us(nt):.0f} = {us(rt) + us(pt) + us(nt):.0f} µs; "
      f"WAL {d[0] / reqs:.0f} B, {d[1] / reqs:.1f} records, {d[2] / reqs:.2f} fpi, "
      f"{d[3] / reqs:.2f} writes, {d[4] / reqs:.2f} flushes; "
      f"{d[5] / reqs:.2f} commits, {d[6] / reqs:.2f} statements")
PY
}
only=${AB_ONLY:-all}
for ((r = 1; r <= ${AB_ROUNDS:-1}; r++)); do
	if [[ $only == all || $only == creates ]]; then
		cost "GET /auth/me" auth -H "Authorization: Bearer $token" "$base/api/v1/auth/me"
		BENCH_TOKEN=$token cost "POST /contacts" contacts -s bench/post_contacts.lua "$base/api/v1/contacts"
	fi
	[[ $only == creates ]] && continue
	BENCH_BODY='{"event":"viewed","email":"e%d@flows.example","data":{"page":"/p"}}' BENCH_MOD=1000 \
		BENCH_HEADER="Authorization: Bearer $token" cost "POST /events" flows -s bench/flows_post.lua "$base/api/v1/events"
	BENCH_BODY=$pbody BENCH_HEADER="X-Platform-Signature: sha256=$psig" \
		cost "platform event" flows -s bench/flows_post.lua "$base/api/v1/webhooks/platform-events"
done
