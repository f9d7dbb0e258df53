#!/usr/bin/env bash
# Outbound webhooks for make bench (issue 21): BENCH_WEBHOOKS (default 10000)
# contact.created events queued by one CSV import for one endpoint, then
# delivered by flowsend-batch --once to a local keep-alive receiver
# (bench/webhook_sink.c on the port FLOWSEND_WEBHOOK_ALLOW lets through):
# deliveries/s and the worker's peak RSS, and every event checked delivered
# exactly as often as the receiver counted. The stack's own worker is paused
# meanwhile. Expects the stack up and bench/run.sh's json_field and psql_owner.
set -euo pipefail

deliveries=${BENCH_WEBHOOKS:-10000}
state=${BENCH_STATE:-/var/tmp/flowsend-28080}
allow=$(sed -n 's/^declare -x FLOWSEND_WEBHOOK_ALLOW="\(.*\)"$/\1/p' "$state/env")
port=${allow##*:}

cc -O2 -Wall -Wextra -Werror -pthread -o build/bench/webhook_sink bench/webhook_sink.c
build/bench/webhook_sink "$port" >"$state/webhook-sink.count" &
sink_pid=$!
worker=$(cat "$state/pid/batch.pid")
kill -STOP -- "-$worker"
resume() { kill -CONT -- "-$worker" 2>/dev/null || true; kill "$sink_pid" 2>/dev/null || true; }
trap 'resume; scripts/stack.sh stop "$instance" >/dev/null' EXIT

email="bench-hooks-$(date +%s%N)@example.com"
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'" >/dev/null
sleep 0.5
curl -fsS -X POST "$base/api/v1/webhooks/endpoints" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d "{\"url\":\"http://127.0.0.1:$port/hooks\",\"events\":[\"contact.created\"]}" >/dev/null
t0=$(date +%s.%N)
awk -v n="$deliveries" 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "h%d@hooks.example,Reader%d\n", i, i }' |
	curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $token" \
		-H 'Content-Type: text/csv' --data-binary @- >/dev/null
t1=$(date +%s.%N)
queued=$(psql_owner -Atc "SELECT count(*) FROM webhook_events w JOIN users u ON u.id = w.user_id
	WHERE u.email = '$email' AND w.status = 'pending'")

(
	set -a
	# shellcheck disable=SC1091
	. "$state/env"
	set +a
	/usr/bin/time -f '%e %M' -o "$state/webhook-batch.time" build/bin/flowsend-batch --once \
		>>"$state/log/webhook-bench.log" 2>&1
)
read -r secs rss_kb <"$state/webhook-batch.time"
delivered=$(psql_owner -Atc "SELECT count(*) FROM webhook_events w JOIN users u ON u.id = w.user_id
	WHERE u.email = '$email' AND w.status = 'delivered'")
kill "$sink_pid"
wait "$sink_pid" || true
received=$(cat "$state/webhook-sink.count")
resume
trap 'scripts/stack.sh stop "$instance" >/dev/null' EXIT

echo
printf 'webhooks: %s events queued by a %s-row import in %.2f s; delivered %s (receiver counted %s)\n' \
	"$queued" "$deliveries" "$(python3 -c "print($t1 - $t0)")" "$delivered" "$received"
printf 'webhooks: %s deliveries/s (flowsend-batch --once, %s s, one endpoint, in order), worker peak RSS %s MiB\n' \
	"$(python3 -c "print(f'{$delivered / $secs:,.0f}')")" "$secs" "$(python3 -c "print(f'{$rss_kb / 1024:.1f}')")"
[[ $delivered == "$deliveries" && $received == "$deliveries" ]]
