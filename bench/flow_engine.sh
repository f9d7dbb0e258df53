#!/usr/bin/env bash
# The flow engine (issue 20): BENCH_FLOW_EXECUTIONS (default 100,000)
# executions waiting on a delay all become due at once, then run a condition
# and an email step each. A worker of its own (the stack's is stopped
# meanwhile) runs them with --now past the delay; prints executions advanced
# per second (until the last one completed, its mail queued), CPU time per
# execution of the worker and of PostgreSQL, WAL per execution and the
# worker's peak RSS. It starts from a database without other benches' flow
# data (their leftover tenants are dropped first, and what else would come
# due or be delivered alongside is reported) and drops its own tenant at the
# end. Expects bench/run.sh's base, psql_owner, json_field and drop_tenants.
set -euo pipefail

executions=${BENCH_FLOW_EXECUTIONS:-100000}
state=${BENCH_STATE:-/var/tmp/flowsend-28080}
pg_port=${pg_port:-25499}

# Leftovers of an interrupted run of this bench or of the flows bench.
drop_tenants 'bench-engine-%@example.com'
drop_tenants 'bench-flows-%@example.com'
email="bench-engine-$(date +%s%N)@example.com"
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'"
sleep 0.5 # the plan reaches the responders' caches by NOTIFY
awk -v n="$executions" 'BEGIN { print "email,first_name,tags"; for (i = 1; i <= n; i++) printf "f%d@flows.example,Reader%d,%s\n", i, i, (i % 2 ? "vip" : "") }' |
	curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $token" \
		-H 'Content-Type: text/csv' --data-binary @- >/dev/null
# delay, condition, email: the condition reads the contact's tags (both branches mail)
flow=$(curl -fsS -X POST "$base/api/v1/flows" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d '{"name":"Bench","trigger_type":"custom","trigger_config":{"event":"bench"},"steps":[
	     {"type":"delay","delay_hours":24},
	     {"type":"condition","condition_type":"tag_equals","value":"vip","then_step":2,"else_step":2},
	     {"type":"email","template_id":"00000000-0000-4000-8000-000000000004","subject":"Hi {{first_name}}"}]}' |
	json_field id)
curl -fsS -X POST "$base/api/v1/flows/$flow/activate" -H "Authorization: Bearer $token" >/dev/null
# Every contact waits past the delay, due in a day (as the engine leaves them).
psql_owner -c "INSERT INTO flow_executions (user_id, flow_id, flow_version, contact_id, status,
	current_step, visit, next_run_at, enrollment_key)
	SELECT c.user_id, '$flow', 1, c.id, 'waiting', 1, 1, now() + interval '1 day', 'once'
	FROM contacts c JOIN users u ON u.id = c.user_id WHERE u.email = '$email'" \
	-c "VACUUM ANALYZE flow_executions" >/dev/null
later=$(date -u -d '+1 day +1 minute' +%Y-%m-%dT%H:%M:%SZ)
# What else the bench worker would do: other tenants' executions due by then
# and mail still queued (they would be charged to these executions).
others=$(psql_owner -Atc "SELECT (SELECT count(*) FROM flow_executions WHERE status IN ('active', 'waiting')
	AND next_run_at <= '$later' AND flow_id <> '$flow') || ' other executions due, '
	|| (SELECT count(*) FROM outbox WHERE due_at IS NOT NULL) || ' messages queued'")
echo
echo "flow engine bench: before the run, $others (want 0 and 0)"
# Queue rows of other flows due by then (a paused flow's executions stay in
# the queue without being claimed): the wait below ends when only as many
# are left, so leftovers of a test run cannot hold it forever.
stay=$(psql_owner -Atc "SELECT count(*) FROM flow_due d JOIN flow_executions e ON e.id = d.execution_id
	WHERE d.due_at <= '$later' AND e.flow_id <> '$flow'")

worker_group=$(cat "$state/pid/batch.pid")
kill -STOP -- "-$worker_group"
# CPU time (utime + stime, ticks) of the PostgreSQL cluster's processes, per
# process id, to charge the database's share of each execution.
pg_ticks() {
	local pm p
	pm=$(head -1 "$state/pg/data/postmaster.pid")
	for p in $pm $(pgrep -P "$pm"); do
		awk -v p="$p" '{ print p, $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
	done
}
# A checkpoint first, so the run writes its full-page images the same way
# each time (the first change of each page after it).
psql_super -c "CHECKPOINT" >/dev/null
# WAL written (bytes from the insert position, records and full-page images
# from pg_stat_wal, which backends update at least once a second).
wal_now() { psql_owner -Atc "SELECT pg_current_wal_insert_lsn(), wal_records, wal_fpi FROM pg_stat_wal" | tr '|' ' '; }
read -r lsn_before rec_before fpi_before < <(wal_now)
pg_before=$(pg_ticks)
# BENCH_PGSS=1: statements' calls, time and WAL per execution (needs
# pg_stat_statements in the cluster's shared_preload_libraries).
if [[ ${BENCH_PGSS:-0} == 1 ]]; then
	psql_super -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
		-c "SELECT pg_stat_statements_reset()" >/dev/null
fi
t0=$(date +%s.%N)
# The instance's settings (database, Redis) as the stack's own worker has them.
(
	set -a
	. "$state/env"
	set +a
	exec setsid build/bin/flowsend-batch --worker --now "$later" >>"$state/log/bench-flows.log" 2>&1
) &
bench_worker=$!
peak=0
left=1
while [[ $left == 1 ]]; do
	sleep 0.2
	# Any execution still due? The first rows of the due queue, which the
	# worker empties as it goes (beyond the $stay rows of other flows; counting
	# the flow's rows every 0.2 s cost PostgreSQL 15% of its statements'
	# time, and a join to the flow's executions was planned as a hash join
	# of all of them: 1.5 s a poll).
	left=$(psql_owner -Atc "SELECT count(*) > $stay FROM (SELECT 1 FROM flow_due WHERE due_at <= '$later'
		LIMIT $stay + 1) x" | sed 's/^t$/1/; s/^f$/0/')
	for p in $(pgrep -s "$bench_worker" || true); do
		r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status" 2>/dev/null || echo 0)
		((r > peak)) && peak=$r
	done
done
t1=$(date +%s.%N)
worker_ticks=0
for p in $(pgrep -s "$bench_worker" || true); do
	r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status" 2>/dev/null || echo 0)
	((r > peak)) && peak=$r
	worker_ticks=$((worker_ticks + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
done
pg_after=$(pg_ticks)
kill -TERM -- "-$bench_worker" 2>/dev/null || true
wait "$bench_worker" 2>/dev/null || true
sleep 1.2 # the backends' WAL figures reach pg_stat_wal
read -r lsn_after rec_after fpi_after < <(wal_now)
kill -CONT -- "-$worker_group"
done_count=$(psql_owner -Atc "SELECT count(*) FROM flow_executions WHERE flow_id = '$flow' AND status = 'completed'")
queued=$(psql_owner -Atc "SELECT count(*) FROM outbox o JOIN flow_executions e ON e.id = o.flow_execution_id
	WHERE e.flow_id = '$flow'")

echo
echo "Flow engine: $executions executions due at once (delay -> condition -> email), $done_count completed, $queued emails queued"
python3 -c 'import sys; a, b, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]); print(f"all advanced in {b - a:.1f} s: {n / (b - a):,.0f} executions/s (with their mail delivered in mock mode alongside)")' \
	"$t0" "$t1" "$executions"
# Ticks of processes that ended before t1 (none of the worker's or the
# cluster's are expected to) are not counted.
python3 -c '
import os, sys
hz, n, worker = os.sysconf("SC_CLK_TCK"), int(sys.argv[1]), int(sys.argv[2])
before = dict(l.split() for l in sys.argv[3].splitlines() if l.strip())
after = dict(l.split() for l in sys.argv[4].splitlines() if l.strip())
pg = sum(int(v) - int(before.get(p, 0)) for p, v in after.items())
us = lambda t: t / hz / n * 1e6
print(f"CPU per execution: worker {us(worker):.0f} µs + PostgreSQL {us(pg):.0f} µs = {us(worker + pg):.0f} µs"
      f" (=> {2e6 / max(us(worker + pg), 1):,.0f} executions/s on 2 cores if CPU-bound)")' \
	"$executions" "$worker_ticks" "$pg_before" "$pg_after"
wal_bytes=$(psql_owner -Atc "SELECT pg_wal_lsn_diff('$lsn_after', '$lsn_before')::bigint")
python3 -c '
import sys
n, b, r, f = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"WAL per execution (engine and its mail delivered, until the last advanced): {r / n:.1f} records, {b / n:,.0f} bytes, {f / n:.2f} full-page images")' \
	"$executions" "$wal_bytes" "$((rec_after - rec_before))" "$((fpi_after - fpi_before))"
if [[ ${BENCH_PGSS:-0} == 1 ]]; then
	psql_super -P pager=off -c "SELECT calls, round(total_exec_time::numeric / $executions * 1000, 1) AS us_per_exec,
		round(wal_records::numeric / $executions, 2) AS wal_per_exec, rows,
		left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"
fi
echo "flow worker peak RSS: $peak MiB (per process, FLOWSEND_BATCH_WORKERS=${FLOWSEND_BATCH_WORKERS:-one per core})"
# Its tenant goes with its executions and their mail.
tc0=$(date +%s.%N)
drop_tenants "$email"
tc1=$(date +%s.%N)
python3 -c 'import sys; print(f"clean-up: the tenant and its rows dropped in {float(sys.argv[2]) - float(sys.argv[1]):.1f} s")' "$tc0" "$tc1"
