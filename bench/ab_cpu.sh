#!/usr/bin/env bash
# CPU cost per request of two builds, interleaved on the running bench stack
# (scripts/stack.sh start bench): the responders named in AB_RESPONDERS
# (default auth health) are swapped between build A's and build B's binaries,
# and for each round the CPU time (utime + stime) that those responders' processes
# and the bench PostgreSQL cluster spend per request is printed. Unlike req/s,
# this hardly moves with what else runs on the machine.
#   bench/ab_cpu.sh /path/to/old/build/bin build/bin
# Knobs: AB_ROUNDS (3), AB_WORKERS (6), AB_SECONDS (6).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=/var/tmp/flowsend-28080 base=http://127.0.0.1:28080
A=${1:?usage: bench/ab_cpu.sh BIN_DIR_A BIN_DIR_B} B=${2:?usage: bench/ab_cpu.sh BIN_DIR_A BIN_DIR_B}
rounds=${AB_ROUNDS:-3} workers=${AB_WORKERS:-6} seconds=${AB_SECONDS:-6}
read -r -a responders <<<"${AB_RESPONDERS:-auth health}"
[[ -f $D/env ]] || { echo "start the bench stack first: scripts/stack.sh start bench" >&2; exit 1; }
set -a; . "$D/env"; set +a
hz=$(getconf CLK_TCK)

swap() {
	local n pid
	for n in "${responders[@]}"; do
		pid=$(cat "$D/pid/fs-$n.pid")
		kill -- "-$pid" 2>/dev/null || kill "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		rm -f "$D/sock/$n.sock"
		setsid "$1/fs-$n" --socket "$D/sock/$n.sock" --workers "$workers" >>"$D/log/fs-$n.log" 2>&1 </dev/null &
		echo $! >"$D/pid/fs-$n.pid"
		for _ in $(seq 100); do [[ -S $D/sock/$n.sock ]] && break; sleep 0.05; done
	done
	sleep 1
}
group_ticks() {
	local t=0 p
	for p in $(pgrep -g "$(cat "$D/pid/fs-$1.pid")"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
pg_ticks() {
	local pm t=0 p
	pm=$(head -1 "$D/pg/data/postmaster.pid")
	for p in $pm $(pgrep -P "$pm"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
# cost RESPONDER URL [wrk args]: "RESPONDER <µs> + pg <µs>" per request
cost() {
	local n=$1 url=$2 a pa b pb reqs
	shift 2
	a=$(group_ticks "$n"); pa=$(pg_ticks)
	reqs=$(wrk -t1 -c8 -d"${seconds}s" "$@" "$url" | awk '/requests in/ { print $1 }')
	b=$(group_ticks "$n"); pb=$(pg_ticks)
	echo "$n $(((b - a) * 1000000 / hz / reqs)) µs + pg $(((pb - pa) * 1000000 / hz / reqs)) µs"
}

email="ab-$(date +%s%N)@example.com"
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
for ((r = 1; r <= rounds; r++)); do
	for side in A B; do
		if [[ $side == A ]]; then swap "$A"; else swap "$B"; fi
		line="round $r $side:"
		for n in "${responders[@]}"; do
			case $n in
			auth) line+=" $(cost auth "$base/api/v1/auth/me" -H "Authorization: Bearer $token") |" ;;
			health) line+=" $(cost health "$base/api/v1/health") |" ;;
			esac
		done
		echo "$line"
	done
done
swap "$ROOT/build/bin"
