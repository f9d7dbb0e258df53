#!/usr/bin/env bash
# Where a read's CPU goes, on a running instance (scripts/stack.sh start <inst>):
# for GET /auth/me and the frequent dashboard reads, one wrk -t2 -c64 run each
# (req/s, p99, the ratio to the run's /auth/me) and the CPU time (utime +
# stime from /proc) per request of the responder that served it, nginx,
# PostgreSQL (postmaster, its children and the children that ended) and Redis.
# CPU per request hardly moves with the load of others; req/s does. Start a
# test instance with FLOWSEND_BENCH_RESPONDERS=1 (as bench/run.sh does), or its
# rate limits answer 429 after 1,200 requests a minute.
#   READS_INSTANCE=test3 bench/reads_cpu.sh
# Knobs: READS_SECONDS (8), READS_WARMUP (2), READS_CONNS (64), READS_CONTACTS (10000, the tenant's
# contacts, loaded once with COPY), READS_ROUNDS (1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
instance=${READS_INSTANCE:?READS_INSTANCE=test1..test9 or bench}
case "$instance" in
bench) http_port=28080 pg_port=25499 ;;
test[1-9]) n=${instance#test}; http_port=$((18080 + n)) pg_port=$((15499 + n)) ;;
*) echo "READS_INSTANCE must be bench or test1..test9" >&2; exit 2 ;;
esac
D=/var/tmp/flowsend-$http_port base=http://127.0.0.1:$http_port
seconds=${READS_SECONDS:-8} conns=${READS_CONNS:-64} rows=${READS_CONTACTS:-10000}
rounds=${READS_ROUNDS:-1}
hz=$(getconf CLK_TCK)
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
psql_owner() {
	psql -q -X -h "$D/pgsock" -p "$pg_port" -U flowsend_owner -d flowsend -v ON_ERROR_STOP=1 "$@"
}

# shellcheck source=bench/lib/cpu.sh
. "$ROOT/bench/lib/cpu.sh"
# ticks of the responders whose pid files are named $@ (a pool may be absent)
responder_ticks() {
	local t=0 f
	for f in "$@"; do
		[[ -f $D/pid/$f.pid ]] || continue
		t=$((t + $(group_ticks "$(cat "$D/pid/$f.pid")")))
	done
	echo "$t"
}
nginx_ticks() { tree_ticks "$(cat "$D/nginx/nginx.pid")"; }
pg_ticks() { tree_ticks "$(head -1 "$D/pg/data/postmaster.pid")"; }
redis_ticks() { tree_ticks "$(cat "$D/pid/redis.pid")"; }

email=reads-cpu@example.com password=reads-cpu-password
login() {
	curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$password\"}" | json_field access_token
}
if ! token=$(login 2>/dev/null); then
	curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
	token=$(login)
fi
user_id=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $token" | json_field id)
have=$(curl -fsS "$base/api/v1/contacts/count" -H "Authorization: Bearer $token" | json_field count)
if ((have < rows)); then
	psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE id = '$user_id'" \
		-c "DELETE FROM contacts WHERE user_id = '$user_id'" >/dev/null
	awk -v uid="$user_id" -v n="$rows" 'BEGIN {
		for (i = 1; i <= n; i++) {
			tags = (i % 10 == 0) ? "{vip,newsletter}" : ((i % 3 == 0) ? "{newsletter}" : "{}")
			printf "%s\treads%d@bench.example\tFirst%d\tLast%d\t%s\t{\"orders\": %d}\n", uid, i, i, i % 1000, tags, i % 50
		}
	}' | psql_owner -c "\\copy contacts (user_id, email, first_name, last_name, tags, custom_fields) FROM STDIN"
	psql_owner -c "ANALYZE contacts" >/dev/null
	for i in 1 2 3; do
		curl -fsS -X POST "$base/api/v1/templates" -H "Authorization: Bearer $token" \
			-H 'Content-Type: application/json' \
			-d "{\"name\":\"reads $i\",\"subject\":\"Hi {{first_name}}\",\"html_content\":\"<p>Hello {{first_name}}</p>\"}" >/dev/null
	done
fi
contact_id=$(psql_owner -Atc "SELECT id FROM contacts WHERE user_id = '$user_id' ORDER BY email LIMIT 1")

# cost LABEL RESPONDER URL: req/s, p99, µs per request by component
me_rps=0
cost() {
	local label=$1 resp=$2 url=$3 out reqs rps p99 a b na nb pa pb ra rb
	# a short warm-up: new sessions, prepared statements, caches
	wrk -t2 -c"$conns" -d"${READS_WARMUP:-2}s" -H "Authorization: Bearer $token" "$url" >/dev/null
	a=$(responder_ticks "fs-$resp" "fs-$resp-read"); na=$(nginx_ticks); pa=$(pg_ticks); ra=$(redis_ticks)
	out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "$url")
	b=$(responder_ticks "fs-$resp" "fs-$resp-read"); nb=$(nginx_ticks); pb=$(pg_ticks); rb=$(redis_ticks)
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	[[ $label == "GET /auth/me" ]] && me_rps=$rps
	python3 - "$label" "$rps" "$p99" "$me_rps" "$reqs" "$hz" "$resp" $((b - a)) $((nb - na)) $((pb - pa)) $((rb - ra)) \
		"$(grep -c 'Non-2xx' <<<"$out" || true)" <<'PY'
import sys
label, rps, p99, me, reqs, hz, resp = sys.argv[1:8]
r, n, p, x, bad = (int(v) for v in sys.argv[8:13])
rps, me, reqs, hz = float(rps), float(me), int(reqs), int(hz)
us = lambda t: t / hz / reqs * 1e6
print(f"{label:<34} {rps:>9,.0f} req/s p99 {p99:>8} ratio {rps / me if me else 0:4.2f} | CPU µs/req"
      f" total {us(r + n + p + x):4.0f}: fs-{resp} {us(r):4.0f}, nginx {us(n):3.0f}, pg {us(p):4.0f},"
      f" redis {us(x):3.0f}{'  NON-2xx!' if bad else ''}")
PY
}

echo "$(date -u +%H:%M:%S) $instance, wrk -t2 -c$conns -d${seconds}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= rounds; round++)); do
	cost "GET /auth/me" auth "$base/api/v1/auth/me"
	cost "GET /contacts/{id}" contacts "$base/api/v1/contacts/$contact_id"
	cost "GET /contacts?page=1&page_size=50" contacts "$base/api/v1/contacts?page=1&page_size=50"
	[[ ${READS_MORE:-1} == 0 ]] && continue
	cost "GET /contacts/lists" contacts "$base/api/v1/contacts/lists"
	cost "GET /templates" templates "$base/api/v1/templates"
done
