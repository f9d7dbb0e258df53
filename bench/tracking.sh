#!/usr/bin/env bash
# Tracking for make bench (issue 17): wrk on the open pixel and the click
# redirect beside the nginx -> libfcgi hello ceiling of the same run (req/s,
# p99), then every hit of the run counted: after the responder's own flush,
# the events recorded must equal the hits the responder answered (its request
# log), each once, and the campaign's figures must equal a direct count.
# BENCH_TRACK_CONTACTS (default 200) recipients, their real outbox rows and
# tokens minted with the instance's FLOWSEND_LINK_SECRET. Expects the stack up
# and bench/run.sh's measure, json_field and psql_owner.
set -euo pipefail

contacts=${BENCH_TRACK_CONTACTS:-200}
state=${BENCH_STATE:-/var/tmp/flowsend-28080}
redis_sock=$state/redis/redis.sock

echo
echo "tracking: $contacts recipients, wrk -t2 -c$conns -d${duration}s, median of $runs runs"
if [[ -z ${hello_rps:-} ]]; then
	read -r hello_rps hello_p99 < <(measure "$base/api/v1/bench-hello")
fi

email="bench-track-$(date +%s%N)@example.com"
token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'" >/dev/null
sleep 0.5
awk -v n="$contacts" 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "t%d@track.example,Reader%d\n", i, i }' |
	curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $token" \
		-H 'Content-Type: text/csv' --data-binary @- >/dev/null
camp=$(curl -fsS -X POST "$base/api/v1/campaigns" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d '{"name":"Bench tracking","subject":"Hi","template_id":"00000000-0000-4000-8000-000000000004"}' |
	json_field id)
curl -fsS -X POST "$base/api/v1/campaigns/$camp/send" -H "Authorization: Bearer $token" >/dev/null
for _ in $(seq 300); do
	[[ $(psql_owner -Atc "SELECT status FROM campaigns WHERE id = '$camp'") == sent ]] && break
	sleep 0.2
done
# Three links, as the worker upserts them; delivered a minute ago, so the
# hits are a person's (not "within 2 s of delivery").
psql_owner -q -c "INSERT INTO campaign_links (user_id, campaign_id, url)
	SELECT user_id, id, 'https://shop.example/' || n FROM campaigns, generate_series(1, 3) n
	WHERE id = '$camp'" \
	-c "UPDATE outbox SET sent_at = now() - interval '1 minute' WHERE campaign_id = '$camp'"
psql_owner -Atc "SELECT id FROM outbox WHERE campaign_id = '$camp'" >"$state/track-rows"
psql_owner -Atc "SELECT id FROM campaign_links WHERE campaign_id = '$camp'" >"$state/track-links"
# Tokens as lib/mail/track_token.c mints them (key id 1 = FLOWSEND_LINK_SECRET).
(
	set -a
	# shellcheck disable=SC1091
	. "$state/env"
	set +a
	python3 - "$state" <<'PY'
import base64, hashlib, hmac, os, sys, uuid
state = sys.argv[1]
secret = os.environ["FLOWSEND_LINK_SECRET"].encode()
rows = open(f"{state}/track-rows").read().split()
links = open(f"{state}/track-links").read().split()
def token(kind, ids):
    raw = bytes([1]) + b"".join(uuid.UUID(i).bytes for i in ids)
    mac = hmac.new(secret, b"t" + kind + raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")
with open(f"{state}/track-open", "w") as f:
    for r in rows:
        f.write(f"/t/o/{token(b'o', [r])}.gif\n")
with open(f"{state}/track-click", "w") as f:
    for r in rows:
        for l in links:
            f.write(f"/t/c/{token(b'c', [r, l])}\n")
PY
)
curl -fsS -o /dev/null -w '%{http_code}' "$base$(head -1 "$state/track-click")" | grep -qx 302 ||
	{ echo "bench: a minted click token did not redirect" >&2; exit 1; }

log_lines() { wc -l <"$state/log/fs-track.log"; }
# CPU time (utime + stime, clock ticks) of a process group, of a process and
# its children, for CPU µs per hit: group_ticks and tree_ticks.
# shellcheck source=bench/lib/cpu.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cpu.sh"
# "track nginx pg redis hello" ticks, then PostgreSQL's "backends ended other"
cpu_snap() {
	echo "$(group_ticks "$(cat "$state/pid/fs-track.pid")") $(tree_ticks "$(cat "$state/nginx/nginx.pid")")" \
		"$(tree_ticks "$(head -1 "$state/pg/data/postmaster.pid")") $(tree_ticks "$(cat "$state/pid/redis.pid")")" \
		"$(group_ticks "$(cat "$state/pid/fs-hello.pid")")" "$(pg_split_ticks "$(head -1 "$state/pg/data/postmaster.pid")")"
}
# cpu_per LABEL "BEFORE" "AFTER" N: CPU µs per request of each part
cpu_per() {
	python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import sys
label, a, b, n, hz = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), int(sys.argv[5])
d = [(int(y) - int(x)) * 1e6 / hz / max(n, 1) for x, y in zip(a, b)]
names = ["fs-track", "nginx", "postgres", "redis", "fs-hello"]
parts = [(k, v) for k, v in zip(names, d) if v >= 0.5]
# PostgreSQL's part split: its client backends (the tracking flush's
# connection above all), the processes that ended (autovacuum workers), the rest.
pg = d[2]
split = "" if pg < 0.5 or len(d) < 8 else \
    f" (postgres: backends {d[5]:.0f}, ended processes {d[6]:.0f}, background {d[7]:.0f})"
print(f"CPU µs per request, {label} ({n} requests): " + ", ".join(f"{k} {v:.0f}" for k, v in parts)
      + f"; total {sum(v for _, v in parts):.0f}" + split)
PY
}
events() {
	psql_owner -Atc "SELECT count(*) FROM email_events WHERE campaign_id = '$camp'
		AND event_type IN ('opened', 'clicked')"
}
sleep 1 # the check above, written
baseline=$(events)
before=$(log_lines)
# The hello ceiling's CPU per request beside the hits' (one short run).
cpu0=$(cpu_snap)
hello_n=$(wrk -t2 -c"$conns" -d"${duration}s" "$base/api/v1/bench-hello" | awk '/requests in/ { print $1 }')
cpu_hello=$(cpu_per "hello ceiling" "$cpu0" "$(cpu_snap)" "$hello_n")
cpu0=$(cpu_snap)
read -r open_rps open_p99 < <(BENCH_TRACK_PATHS=$state/track-open measure "$base/" -s bench/tracking.lua)
read -r click_rps click_p99 < <(BENCH_TRACK_PATHS=$state/track-click measure "$base/" -s bench/tracking.lua)
cpu1=$(cpu_snap)
printf '%-34s %12s %10s\n' endpoint req/s p99
printf '%-34s %12s %10s\n' "nginx->libfcgi hello (ceiling)" "$hello_rps" "$hello_p99"
printf '%-34s %12s %10s\n' "GET /t/o/{token}.gif (pixel)" "$open_rps" "$open_p99"
printf '%-34s %12s %10s\n' "GET /t/c/{token} (302)" "$click_rps" "$click_p99"
python3 -c "import sys; h, o, c = map(float, sys.argv[1:4]); print(f'pixel / hello = {o / h:.2f}, click / hello = {c / h:.2f} (target >= 0.80, p99 < 20 ms)')" \
	"$hello_rps" "$open_rps" "$click_rps"

# Every hit the responder answered (its request log), recorded once. The
# hits wait in the responder's shared ring (or Redis) until its flush.
t0=$(date +%s.%N)
sleep 0.3 # the responders write their request logs when idle
answered=$(tail -n +"$((before + 1))" "$state/log/fs-track.log" |
	grep -cE 'path=/t/(o|c)/[^ ]* status=(200|302) ' || true)
for _ in $(seq 1200); do
	(($(events) - baseline >= answered)) && [[ $(redis-cli -s "$redis_sock" llen fs:track:hits) == 0 ]] && break
	sleep 0.1
done
t1=$(date +%s.%N)
cpu2=$(cpu_snap)
sleep 1 # anything more (a hit written twice) would show now
# Counted again: requests nginx still had queued when wrk stopped are answered
# (and logged) after the first count (25 of 522,597 in one run).
answered=$(tail -n +"$((before + 1))" "$state/log/fs-track.log" |
	grep -cE 'path=/t/(o|c)/[^ ]* status=(200|302) ' || true)
read -r recorded distinct_ids opens_ok clicks_ok links_ok < <(psql_owner -At -F ' ' -c "
	SELECT count(*), count(DISTINCT id),
	 (SELECT open_count FROM campaigns WHERE id = '$camp') = count(DISTINCT contact_id) FILTER (WHERE event_type = 'opened' AND NOT is_bot),
	 (SELECT click_count FROM campaigns WHERE id = '$camp') = count(DISTINCT contact_id) FILTER (WHERE event_type = 'clicked' AND NOT is_bot),
	 (SELECT sum(total_clicks) FROM campaign_links WHERE campaign_id = '$camp') = count(*) FILTER (WHERE event_type = 'clicked' AND NOT is_bot)
	FROM email_events WHERE campaign_id = '$camp' AND event_type IN ('opened', 'clicked')")
recorded=$((recorded - baseline))
distinct_ids=$((distinct_ids - baseline))
python3 -c 'import sys; print(f"every hit written {float(sys.argv[2]) - float(sys.argv[1]):.2f} s after the last run ended")' "$t0" "$t1"
echo "hits answered (responder log): $answered; events recorded: $recorded ($distinct_ids distinct ids);" \
	"counts equal a direct count: opens $opens_ok, clicks $clicks_ok, per-link $links_ok"
if [[ $answered != "$recorded" || $recorded != "$distinct_ids" || $opens_ok$clicks_ok$links_ok != ttt ]]; then
	echo "bench: tracking hits were lost or doubled" >&2
	exit 1
fi
echo "every hit recorded exactly once"
echo "$cpu_hello"
cpu_per "pixel and click, during the runs" "$cpu0" "$cpu1" "$answered"
cpu_per "pixel and click, until every hit was written" "$cpu0" "$cpu2" "$answered"
