#!/usr/bin/env bash
# Opt-in (not part of make test): the dashboard's contacts page with
# 1,000,000 contacts. Loads them once with COPY into a tenant of a running
# instance (like bench/contacts.sh), then measures in Chromium how long the
# first page of the table takes to show (dashboard/tests/contacts-million.mjs).
#
#   scripts/stack.sh start test3 && scripts/dashboard.sh
#   nice -n 19 bench/dashboard_contacts.sh test3      # BENCH_CONTACTS=1000000
set -euo pipefail

instance=${1:-test}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$instance" in
test) http=18080 ;;
test[1-9]) http=$((18080 + ${instance#test})) ;;
bench) http=28080 ;;
*) echo "instance: test, test1..test9 or bench" >&2; exit 2 ;;
esac
state=/var/tmp/flowsend-$http
base=http://127.0.0.1:$http
pg_port=$(sed -n 's/.*FLOWSEND_DATABASE_URL=.*port=\([0-9]*\).*/\1/p' "$state/env")
rows=${BENCH_CONTACTS:-1000000}
email=dash-1m@example.com
password=dash-password-1m

psql_owner() { psql -q -X -h "$state/pgsock" -p "$pg_port" -U flowsend_owner -d flowsend -v ON_ERROR_STOP=1 "$@"; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login() {
	curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$password\"}"
}

if ! login >/dev/null 2>&1; then
	curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
fi
tokens=$(login)
token=$(json_field access_token <<<"$tokens")
refresh=$(json_field refresh_token <<<"$tokens")
user_id=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $token" | json_field id)
have=$(curl -fsS "$base/api/v1/contacts/count" -H "Authorization: Bearer $token" | json_field count)
if ((have < rows)); then
	echo "loading $rows contacts with COPY (once; the instance keeps them until destroyed)..."
	psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE id = '$user_id'" \
		-c "DELETE FROM contacts WHERE user_id = '$user_id'"
	awk -v uid="$user_id" -v n="$rows" 'BEGIN {
		for (i = 1; i <= n; i++) {
			tags = (i % 10 == 0) ? "{vip,newsletter}" : ((i % 3 == 0) ? "{newsletter}" : "{}")
			printf "%s\tuser%d@bench.example\tFirst%d\tLast%d\t%s\t{\"orders\": %d}\t%s\n", uid, i, i, i % 1000, tags, i % 50, (i % 7 == 0) ? "f" : "t"
		}
	}' | psql_owner -c "\\copy contacts (user_id, email, first_name, last_name, tags, custom_fields, is_subscribed) FROM STDIN"
	psql_owner -c "ANALYZE contacts"
fi
# A 60-contact tenant, timed in the same run for comparison.
small_email=dash-60@example.com
if ! small=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$small_email\",\"password\":\"$password\"}" 2>/dev/null); then
	curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$small_email\",\"password\":\"$password\"}" >/dev/null
	small=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$small_email\",\"password\":\"$password\"}")
fi
small_token=$(json_field access_token <<<"$small")
small_refresh=$(json_field refresh_token <<<"$small")
if (($(curl -fsS "$base/api/v1/contacts/count" -H "Authorization: Bearer $small_token" | json_field count) < 60)); then
	seq 1 60 | awk 'BEGIN { print "email,first_name" } { printf "small%d@bench.example,Small%d\n", $1, $1 }' |
		curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $small_token" \
			-H 'Content-Type: text/csv' --data-binary @- >/dev/null
fi
cd "$ROOT"
FLOWSEND_SMALL_TOKEN=$small_token FLOWSEND_SMALL_REFRESH=$small_refresh \
FLOWSEND_TEST_URL=$base FLOWSEND_TOKEN=$token FLOWSEND_REFRESH=$refresh \
	FLOWSEND_ARTEFACTS=${FLOWSEND_ARTEFACTS:-$ROOT/build/browser} node dashboard/tests/contacts-million.mjs
