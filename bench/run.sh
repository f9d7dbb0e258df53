#!/usr/bin/env bash
# make bench: starts the bench instance (its own ports, no access log) and
# measures with wrk. Each figure is the median of BENCH_RUNS runs (default 3);
# the nginx -> libfcgi "hello" ceiling is measured in the same run for ratios.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

runs=${BENCH_RUNS:-3}
duration=${BENCH_DURATION:-10}
conns=${BENCH_CONNECTIONS:-64}
# BENCH_INSTANCE=test1..test9 measures on a test instance instead (when the
# bench instance is someone else's on a shared machine); its SMTP sink port
# is the last of the instance's test-sink range (tests/e2e/test_delivery.c).
instance=${BENCH_INSTANCE:-bench}
case "$instance" in
bench) http_port=28080 pg_port=25499 sink_port=21025 ;;
test[1-9]) n=${instance#test}; http_port=$((18080 + n)) pg_port=$((15499 + n)) sink_port=$((12025 + 10 * n + 9)) ;;
*) echo "BENCH_INSTANCE must be bench or test1..test9" >&2; exit 2 ;;
esac
base=http://127.0.0.1:$http_port
export BENCH_INSTANCE=$instance BENCH_STATE=/var/tmp/flowsend-$http_port BENCH_SINK_PORT=$sink_port

mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/fs-hello bench/hello.c -lfcgi
# The hello ceiling (bench/responders) on a test instance too.
export FLOWSEND_BENCH_RESPONDERS=1
scripts/stack.sh start "$instance" >/dev/null
trap 'scripts/stack.sh stop "$instance" >/dev/null' EXIT

psql_owner() {
	psql -q -X -h "$BENCH_STATE/pgsock" -p "$pg_port" -U flowsend_owner -d flowsend \
		-v ON_ERROR_STOP=1 "$@"
}
# The cluster's superuser (CHECKPOINT, pg_stat_statements, settings): the
# postgres role as root, else the user who ran initdb.
psql_super() {
	psql -q -X -h "$BENCH_STATE/pgsock" -p "$pg_port" -d flowsend -v ON_ERROR_STOP=1 \
		-U "$(if [[ $(id -u) == 0 ]]; then echo postgres; else id -un; fi)" "$@"
}
# After a big insert the worker indexes the new contacts for ?search=
# (schema/0011_async_search.sql); prints how long it took to catch up.
search_caught_up() {
	local t0 t1
	t0=$(date +%s.%N)
	while [[ $(psql_owner -Atc "SELECT count(*) FROM contact_search_backlog") != 0 ]]; do
		sleep 0.2
	done
	t1=$(date +%s.%N)
	python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$t1"
}
# Deletes the tenants whose email is LIKE $1 (bench tenants) with all their
# rows, fast: as the superuser with triggers and foreign-key actions off
# (session_replication_role = replica), one DELETE by tenant per table that
# has a user_id (and the flow engine's due queue, which has none), instead of
# the cascades' one statement per row (a minute per 100,000 executions with
# their contacts and mail); then VACUUM, so no bench leaves anything behind
# that slows the next one.
drop_tenants() {
	psql -q -X -h "$BENCH_STATE/pgsock" -p "$pg_port" -d flowsend -v ON_ERROR_STOP=1 -v pat="$1" \
		-U "$(if [[ $(id -u) == 0 ]]; then echo postgres; else id -un; fi)" >/dev/null <<'SQL'
SET client_min_messages = warning;
SET session_replication_role = replica;
CREATE TEMP TABLE gone AS SELECT id FROM users WHERE email LIKE :'pat';
DELETE FROM flow_due d USING flow_executions e, gone g WHERE d.execution_id = e.id AND e.user_id = g.id;
DO $$
DECLARE
    t text;
    ids uuid[] := ARRAY(SELECT id FROM gone);
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped
             WHERE n.nspname = 'public' AND c.relkind = 'r' LOOP
        EXECUTE format('DELETE FROM public.%I WHERE user_id = ANY ($1)', t) USING ids;
    END LOOP;
    DELETE FROM public.users WHERE id = ANY (ids);
END
$$;
SQL
	psql_owner -c "VACUUM ANALYZE outbox, email_events, flow_executions, contacts" >/dev/null 2>&1 || true
}
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# Sends campaign $1 with token $2 and waits until it leaves "sending"; sets
# t0 (the send), t_accepted (its answer), t1 (the end) and status.
send_and_wait() {
	t0=$(date +%s.%N)
	curl -fsS -X POST "$base/api/v1/campaigns/$1/send" -H "Authorization: Bearer $2" >/dev/null
	t_accepted=$(date +%s.%N)
	status=sending
	while [[ $status == sending ]]; do
		sleep 0.2
		status=$(curl -fsS "$base/api/v1/campaigns/$1" -H "Authorization: Bearer $2" | json_field status)
	done
	t1=$(date +%s.%N)
}

# wrk prints "Requests/sec: N" and, with --latency, a "99%" line.
measure() {
	local url=$1 rps=() p99=() out i
	shift
	for ((i = 0; i < runs; i++)); do
		out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency "$@" "$url")
		rps+=("$(awk '/Requests\/sec/ { print $2 }' <<<"$out")")
		p99+=("$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	done
	local mid=$((runs / 2))
	printf '%s %s\n' "$(printf '%s\n' "${rps[@]}" | sort -n | sed -n "$((mid + 1))p")" \
		"$(printf '%s\n' "${p99[@]}" | sort -V | sed -n "$((mid + 1))p")"
}

curl -fsS "$base/api/v1/health" >/dev/null
# BENCH_WRK=0 skips the request figures (to measure only the campaigns, say).
if [[ ${BENCH_WRK:-1} != 0 ]]; then
echo "FlowSend bench: $(nproc) cores, wrk -t2 -c$conns -d${duration}s, median of $runs runs"
printf '%-34s %12s %10s\n' endpoint req/s p99
read -r hello_rps hello_p99 < <(measure "$base/api/v1/bench-hello")
printf '%-34s %12s %10s\n' "nginx->libfcgi hello (ceiling)" "$hello_rps" "$hello_p99"
read -r health_rps health_p99 < <(measure "$base/api/v1/health")
printf '%-34s %12s %10s\n' "GET /api/v1/health (PG + Redis)" "$health_rps" "$health_p99"
python3 -c "import sys; h, c = float(sys.argv[1]), float(sys.argv[2]); print(f'health / hello = {h / c:.2f}')" \
	"$health_rps" "$hello_rps"

# An account with a JWT and an API key, for the authenticated endpoints.
email="bench-$(date +%s%N)@example.com"
access=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
# Keys the user creates need a plan with API access (mock checkout: active at once).
curl -fsS -X POST "$base/api/v1/billing/checkout" -H "Authorization: Bearer $access" \
	-H 'Content-Type: application/json' -d '{"plan":"enterprise"}' >/dev/null
key=$(curl -fsS -X POST "$base/api/v1/api-keys" -H "Authorization: Bearer $access" \
	-H 'Content-Type: application/json' -d '{"name":"bench","scopes":["read"]}' | json_field key)
read -r me_jwt_rps me_jwt_p99 < <(measure "$base/api/v1/auth/me" -H "Authorization: Bearer $access")
printf '%-34s %12s %10s\n' "GET /api/v1/auth/me (JWT)" "$me_jwt_rps" "$me_jwt_p99"
read -r me_key_rps me_key_p99 < <(measure "$base/api/v1/auth/me" -H "X-API-Key: $key")
printf '%-34s %12s %10s\n' "GET /api/v1/auth/me (API key)" "$me_key_rps" "$me_key_p99"
# One contact by id: the tenant's transaction, a prepared statement, one round trip.
contact_id=$(curl -fsS -X POST "$base/api/v1/contacts" -H "Authorization: Bearer $access" \
	-H 'Content-Type: application/json' \
	-d '{"email":"one@bench.example","first_name":"Ada","tags":["vip"],"custom_fields":{"orders":3}}' |
	json_field id)
read -r get_rps get_p99 < <(measure "$base/api/v1/contacts/$contact_id" -H "Authorization: Bearer $access")
printf '%-34s %12s %10s\n' "GET /api/v1/contacts/{id} (JWT)" "$get_rps" "$get_p99"
python3 -c "import sys; g, m = float(sys.argv[1]), float(sys.argv[2]); print(f'GET /contacts/{{id}} / GET /auth/me = {g / m:.2f}')" \
	"$get_rps" "$me_jwt_rps"
# Creates into one Enterprise tenant, a new address each (bench/post_contacts.lua).
psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'"
sleep 1
read -r post_rps post_p99 < <(BENCH_TOKEN=$access measure "$base/api/v1/contacts" -s bench/post_contacts.lua)
printf '%-34s %12s %10s\n' "POST /api/v1/contacts (JWT)" "$post_rps" "$post_p99"
python3 -c "import sys; p, m = float(sys.argv[1]), float(sys.argv[2]); print(f'POST /contacts / GET /auth/me = {p / m:.2f}')" \
	"$post_rps" "$me_jwt_rps"
# What the creates left to the worker when the runs ended (their counts' rows,
# which also queue them for search: schema 0103) is folded and indexed now,
# by the worker or here, so that no later figure pays for it; how much was
# left and how long it took are printed.
t_fold=$SECONDS
created=$(psql_owner -Atc "SELECT count(*) FROM contacts c JOIN users u ON u.id = c.user_id WHERE u.email = '$email'")
left=$(psql_owner -Atc "SELECT count(*) FROM contact_count_deltas")
while [[ $(psql_owner -Atc "SELECT count(*) FROM contact_count_deltas") != 0 ]] && ((SECONDS - t_fold < 600)); do
	psql_owner -Atc "SELECT flowsend_counters_fold(10000)" >/dev/null
done
printf "queued by the creates when the runs ended: %'d of %'d (counts and search rows), folded and indexed %d s later\n" \
	"$left" "$created" "$((SECONDS - t_fold))"

# Rendering is CPU only: one core, a compiled 20 KB template, 5 variables.
read -r render_rate render_size render_out < <(build/bench/render 200000)
echo
printf 'render: %s messages/s on one core (%s-byte HTML template, %s bytes out per message)\n' \
	"$(printf "%'.0f" "$render_rate")" "$render_size" "$render_out"
fi

if [[ ${BENCH_CAMPAIGN_CONTACTS:-100000} != 0 ]]; then
	# shellcheck source=bench/campaign.sh
	. bench/campaign.sh
fi

if [[ ${BENCH_SMTP_CONTACTS:-100000} != 0 ]]; then
	# shellcheck source=bench/delivery.sh
	. bench/delivery.sh
fi

if [[ ${BENCH_CONTACTS:-1000000} != 0 ]]; then
	# shellcheck source=bench/contacts.sh
	. bench/contacts.sh
fi

# Opens and clicks (issue 17): BENCH_TRACKING=0 skips.
if [[ ${BENCH_TRACKING:-1} != 0 ]]; then
	# shellcheck source=bench/tracking.sh
	. bench/tracking.sh
fi

if [[ ${BENCH_IMPORT_ROWS:-1000000} != 0 ]]; then
	# shellcheck source=bench/import.sh
	. bench/import.sh
fi

if [[ ${BENCH_SEARCH_CONTACTS:-5000000} != 0 ]]; then
	# shellcheck source=bench/search.sh
	. bench/search.sh
fi

# Flows (issue 19): events and platform events, imports with signup flows.
if [[ ${BENCH_FLOWS:-1} != 0 ]]; then
	# shellcheck source=bench/flows.sh
	. bench/flows.sh
fi

# Outbound webhooks (issue 21): BENCH_WEBHOOKS=0 skips.
if [[ ${BENCH_WEBHOOKS:-10000} != 0 ]]; then
	# shellcheck source=bench/webhooks.sh
	. bench/webhooks.sh
fi

# Analytics and usage (issue 22): BENCH_ANALYTICS_EVENTS=0 skips.
if [[ ${BENCH_ANALYTICS_EVENTS:-10000000} != 0 ]]; then
	# shellcheck source=bench/analytics.sh
	. bench/analytics.sh
fi

# DKIM is CPU only: RSA-2048 signatures of a 10 KB message on one core, ours
# (the key parsed once) beside libopendkim's signer (the key parsed per message).
if [[ ${BENCH_DKIM:-1} != 0 ]]; then
	read -r dkim_ours dkim_lib dkim_size dkim_raw < <(build/bench/dkim 3000)
	echo
	printf 'dkim: %s signatures/s on one core (%s-byte message); libopendkim dkim_sign: %s/s\n' \
		"$(printf "%'.0f" "$dkim_ours")" "$dkim_size" "$(printf "%'.0f" "$dkim_lib")"
	# The RSA-2048 operation alone in the same run: the signer's overhead is the gap.
	printf 'dkim: RSA-2048 sign alone (prepared context): %s/s; ours / raw = %s\n' \
		"$(printf "%'.0f" "$dkim_raw")" "$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$dkim_ours" "$dkim_raw")"
fi

# The flow engine (issue 20): 100,000 executions due at once; BENCH_FLOW_ENGINE=0 skips.
if [[ ${BENCH_FLOW_ENGINE:-1} != 0 ]]; then
	# shellcheck source=bench/flow_engine.sh
	. bench/flow_engine.sh
fi
