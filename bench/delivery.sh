#!/usr/bin/env bash
# Real SMTP delivery for make bench: a campaign to BENCH_SMTP_CONTACTS
# (default 100,000) contacts, each message personalised, sent by
# `flowsend-batch --worker` over SMTP into postfix's smtp-sink (which accepts
# and discards), measured from POST /send to "sent": messages/s and the
# worker processes' peak RSS (VmHWM). Expects the bench instance up and
# bench/run.sh's json_field, psql_owner and send_and_wait.
set -euo pipefail

recipients=${BENCH_SMTP_CONTACTS:-100000}
# The bench instance, unless told otherwise (a test instance on a shared machine).
instance=${BENCH_INSTANCE:-bench}
state=${BENCH_STATE:-/var/tmp/flowsend-28080}
sink_port=${BENCH_SINK_PORT:-21025} # the bench instance's SMTP port: below 32768, otherwise unused
SMTP_SINK=/usr/sbin/smtp-sink

# smtp-sink comes with Debian's postfix. Installing postfix must not leave a
# system mail server running: no service starts (policy-rc.d), no
# configuration is asked for, and one that runs anyway is stopped.
if [[ ! -x $SMTP_SINK ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "bench: $SMTP_SINK is missing; install postfix (apt-get install postfix)" >&2
		exit 1
	fi
	echo "installing postfix for smtp-sink (no system mail service is started)..."
	policy=/usr/sbin/policy-rc.d
	created_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created_policy=1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
	((created_policy)) && rm -f "$policy"
fi
if command -v postfix >/dev/null && postfix status >/dev/null 2>&1; then
	postfix stop >/dev/null 2>&1 || true
fi

sink_args=()
[[ $(id -u) -eq 0 ]] && sink_args=(-u nobody)
"$SMTP_SINK" "${sink_args[@]}" "127.0.0.1:$sink_port" 1024 &
sink_pid=$!
# The bench's own worker runs in mock mode: replace it with one that sends
# over SMTP for this measurement, and put the mock one back afterwards.
restore_worker() {
	local pid
	pid=$(cat "$state/pid/batch.pid")
	kill -TERM -- "-$pid" 2>/dev/null || true
	# stack.sh starts a worker only when the one in the pid file is gone.
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill "$sink_pid" 2>/dev/null || true
	wait "$sink_pid" 2>/dev/null || true
	scripts/stack.sh start "$instance" >/dev/null
}
trap 'restore_worker; scripts/stack.sh stop "$instance" >/dev/null' EXIT # run.sh's, plus ours
# The worker over SMTP, with extra environment words (the DKIM settings): as
# `make run` starts it, FLOWSEND_BATCH_WORKERS processes (one per core unless
# the environment says otherwise), which worker_cpu and the RSS figures sum.
start_smtp_worker() {
	local lines
	kill -TERM -- "-$(cat "$state/pid/batch.pid")" 2>/dev/null || true
	sleep 1
	lines=$(wc -l <"$state/log/batch.log" 2>/dev/null || echo 0)
	(
		set -a
		# shellcheck disable=SC1091
		. "$state/env"
		set +a
		export FLOWSEND_SMTP_URL="smtp://127.0.0.1:$sink_port"
		export "$@"
		exec setsid build/bin/flowsend-batch --worker >>"$state/log/batch.log" 2>&1 </dev/null
	) &
	echo $! >"$state/pid/batch.pid"
	worker=$(cat "$state/pid/batch.pid")
	for _ in $(seq 50); do
		tail -n +"$((lines + 1))" "$state/log/batch.log" 2>/dev/null |
			grep -q "delivery: SMTP to smtp://127.0.0.1:$sink_port" && break
		sleep 0.1
	done
}

# Settling (session 13): the earlier parts' writes (make bench runs the
# campaign and contacts parts first) can leave a checkpoint running, and a
# checkpoint that begins during the send makes the first change of every page
# after it a full-page image (WAL 4,500-8,500 bytes a message instead of
# ~2,200, PostgreSQL's CPU per message up by 70 %). So a CHECKPOINT before the
# contacts are imported (pages the send changes are then all written after
# it: no full-page images, and no checkpoint is due for checkpoint_timeout),
# and before each run the autovacuum workers are awaited (at most 60 s).
# Both printed, with the checkpoints that began during each run.
settle() {
	local t=$SECONDS what="autovacuum"
	if [[ ${1:-} == checkpoint ]]; then
		psql_super -c "CHECKPOINT" >/dev/null 2>&1 || true
		what="CHECKPOINT and autovacuum"
	fi
	while [[ $(psql_super -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'" 2>/dev/null || echo 0) != 0 ]] &&
		((SECONDS - t < 60)); do
		sleep 1
	done
	echo "  (settled before the SMTP run: $what, $((SECONDS - t)) s)"
}
checkpoints() { psql_super -Atc "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter" 2>/dev/null || echo 0; }
settle checkpoint

email="bench-smtp-$(date +%s%N)@example.com"
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
psql_owner -c "UPDATE users SET plan = 'enterprise', from_name = 'Bench Shop', from_email = 'news@bench.example' WHERE email = '$email'"
sleep 0.5 # the plan reaches the responders' caches by NOTIFY
awk -v n="$recipients" 'BEGIN { print "email,first_name,last_name"; for (i = 1; i <= n; i++) printf "r%d@smtp.example,Reader%d,Number%d\n", i, i, i }' |
	curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $token" \
		-H 'Content-Type: text/csv' --data-binary @- >/dev/null
# Let the import's search indexing finish, so the worker measures sending only.
while [[ $(psql_owner -Atc "SELECT count(*) FROM contact_search_backlog") != 0 ]]; do sleep 0.2; done

# CPU ticks (user + system) of the worker and its processes.
worker_cpu() {
	local p t=0
	for p in $worker $(ps -o pid= --ppid "$worker"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# CPU ticks of the PostgreSQL cluster: the postmaster, its live processes and
# (its cutime and cstime) those that ended and were reaped, so a backend that
# exits during the send does not take its CPU out of the sum.
pg_cpu() {
	local pm p t=0
	pm=$(head -1 "$state/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	t=$(awk '{ print $16 + $17 }' "/proc/$pm/stat" 2>/dev/null || echo 0)
	for p in $pm $(ps -o pid= --ppid "$pm"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# CPU ticks of smtp-sink (one process).
sink_cpu() { awk '{ print $14 + $15 }' "/proc/$sink_pid/stat" 2>/dev/null || echo 0; }

# BENCH_PGSS=1 (a cluster started with shared_preload_libraries =
# pg_stat_statements and the extension created): the statements of the send,
# each with its calls, rows and execution time per message.
pgss_reset() {
	[[ ${BENCH_PGSS:-0} == 1 ]] || return 0
	psql_super -Atc "SELECT pg_stat_statements_reset()" >/dev/null
}
pgss_report() {
	[[ ${BENCH_PGSS:-0} == 1 ]] || return 0
	psql_super -c "SELECT round((total_exec_time * 1000 / $1)::numeric, 1) AS us_per_msg,
	  calls, rows, round((total_exec_time / greatest(calls, 1))::numeric, 3) AS ms_per_call,
	  round((total_plan_time * 1000 / $1)::numeric, 1) AS plan_us_per_msg,
	  round((wal_records::numeric / $1), 2) AS wal_rec_per_msg,
	  left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
	  FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12"
}

# One campaign to every contact, timed from the send to "sent". $1 names the run.
smtp_campaign() {
	# The newsletter system template: about 6 KB of HTML, unsubscribe link, postal address.
	local id t0 t_accepted t1 status sent failed bounced rss r
	id=$(curl -fsS -X POST "$base/api/v1/campaigns" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' \
		-d '{"name":"Bench SMTP","subject":"Hello {{first_name|there}} {{last_name}}","template_id":"00000000-0000-4000-8000-000000000004"}' |
		json_field id)
	# Commits and WAL flushes of the whole cluster and the worker's CPU over the
	# send, per message: with durable commits the flushes set the pace.
	local c0 c1 cpu0 cpu1 pg0 pg1 sk0 sk1
	settle
	local ck0 ck1
	ck0=$(checkpoints)
	c0=$(psql_owner -Atc "SELECT (SELECT sum(xact_commit) FROM pg_stat_database), (SELECT wal_sync FROM pg_stat_wal), (SELECT wal_records FROM pg_stat_wal), (SELECT wal_bytes FROM pg_stat_wal)")
	pgss_reset
	cpu0=$(worker_cpu)
	pg0=$(pg_cpu)
	sk0=$(sink_cpu)
	send_and_wait "$id" "$token"
	cpu1=$(worker_cpu)
	pg1=$(pg_cpu)
	sk1=$(sink_cpu)
	ck1=$(checkpoints)
	c1=$(psql_owner -Atc "SELECT (SELECT sum(xact_commit) FROM pg_stat_database), (SELECT wal_sync FROM pg_stat_wal), (SELECT wal_records FROM pg_stat_wal), (SELECT wal_bytes FROM pg_stat_wal)")
	read -r sent failed bounced < <(psql_owner -Atc "SELECT sent_count, failed_count, bounce_count FROM campaigns WHERE id = '$id'" | tr '|' ' ')
	rss=0 rss_total=0 nproc=0
	for p in $worker $(ps -o pid= --ppid "$worker"); do
		r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status" 2>/dev/null || echo 0)
		((r > rss)) && rss=$r
		rss_total=$((rss_total + r))
		nproc=$((nproc + 1))
	done

	echo
	echo "SMTP campaign to $recipients contacts into smtp-sink, $1 (status $status; $sent sent, $failed failed, $bounced bounced)"
	grep "delivery: SMTP" "$state/log/batch.log" | tail -1 | sed 's/.*delivery: /worker: /'
	python3 -c 'import sys; a, b, c = map(float, sys.argv[1:4]); print(f"send answered in {b - a:.2f} s; send to \"sent\": {c - a:.1f} s ({int(sys.argv[4]) / (c - a):,.0f} messages/s)")' \
		"$t0" "$t_accepted" "$t1" "$sent"
	echo "checkpoints begun during the send: $((ck1 - ck0)) (0 is the measured condition: none lands full-page images on it)"
	echo "batch worker peak RSS (largest process): $rss MiB; $nproc worker processes, $rss_total MiB together"
	python3 -c 'import sys, os
c0 = sys.argv[1].split("|"); c1 = sys.argv[2].split("|"); n = max(int(sys.argv[5]), 1)
hz = os.sysconf("SC_CLK_TCK")
print(f"per message: {(int(c1[0]) - int(c0[0])) / n:.3f} commits, {(int(c1[1]) - int(c0[1])) / n:.3f} WAL flushes, {(int(c1[2]) - int(c0[2])) / n:.1f} WAL records, {(float(c1[3]) - float(c0[3])) / n:,.0f} WAL bytes (cluster-wide); worker CPU {(int(sys.argv[4]) - int(sys.argv[3])) / hz / n * 1e6:.0f} us, PostgreSQL CPU {(int(sys.argv[7]) - int(sys.argv[6])) / hz / n * 1e6:.0f} us, smtp-sink CPU {(int(sys.argv[9]) - int(sys.argv[8])) / hz / n * 1e6:.0f} us")' \
		"$c0" "$c1" "$cpu0" "$cpu1" "$sent" "$pg0" "$pg1" "$sk0" "$sk1"
	pgss_report "$sent"
	# The next run starts from the same outbox size.
	psql_owner -c "DELETE FROM outbox WHERE campaign_id = '$id'" -c "VACUUM ANALYZE outbox" >/dev/null
}

# DKIM: unsigned, then signed with a 2048-bit key (as FLOWSEND_DKIM_* name
# it; the tenant's From is not a verified domain, so the global key signs).
# BENCH_SMTP_DKIM=unsigned or signed runs one of them.
dkim_key="$state/dkim-bench.pem"
[[ -s $dkim_key ]] || openssl genrsa -out "$dkim_key" 2048 2>/dev/null
case ${BENCH_SMTP_DKIM:-both} in
both | unsigned)
	start_smtp_worker FLOWSEND_DKIM_DOMAIN= FLOWSEND_DKIM_KEY_FILE=
	smtp_campaign "unsigned"
	;;
esac
case ${BENCH_SMTP_DKIM:-both} in
both | signed)
	start_smtp_worker FLOWSEND_DKIM_DOMAIN=bench.flowsend.example FLOWSEND_DKIM_SELECTOR=bench \
		FLOWSEND_DKIM_KEY_FILE="$dkim_key"
	smtp_campaign "DKIM-signed (rsa-sha256, 2048-bit)"
	;;
esac
# See bench/campaign.sh for why the delete needs fresh statistics.
psql_owner -c "ANALYZE outbox" -c "ANALYZE contacts" -c "SET enable_bitmapscan = off" \
	-c "DELETE FROM users WHERE email = '$email'" >/dev/null
restore_worker
trap 'scripts/stack.sh stop "$instance" >/dev/null' EXIT
