#!/usr/bin/env bash
# Contacts at scale, for make bench: a tenant with 1,000,000 contacts loaded
# with COPY (once; later runs reuse it), then page 1, a search, a tag filter
# and a dynamic list's count through nginx. Expects the bench instance up and
# bench/run.sh's measure and json_field functions.
set -euo pipefail

email=bench-1m@example.com
password=bench-password-1m
rows=${BENCH_CONTACTS:-1000000}

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
	echo "loading $rows contacts with COPY (once; the bench instance keeps them)..."
	psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE id = '$user_id'" \
		-c "DELETE FROM contacts WHERE user_id = '$user_id'"
	t0=$(date +%s.%N)
	awk -v uid="$user_id" -v n="$rows" 'BEGIN {
		for (i = 1; i <= n; i++) {
			tags = (i % 10 == 0) ? "{vip,newsletter}" : ((i % 3 == 0) ? "{newsletter}" : "{}")
			printf "%s\tuser%d@bench.example\tFirst%d\tLast%d\t%s\t{\"orders\": %d}\n", uid, i, i, i % 1000, tags, i % 50
		}
	}' | psql_owner -c "\\copy contacts (user_id, email, first_name, last_name, tags, custom_fields) FROM STDIN"
	psql_owner -c "ANALYZE contacts"
	t1=$(date +%s.%N)
	python3 -c "import sys; r, s = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]); print(f'  loaded {r} rows in {s:.1f} s ({r / s:,.0f} rows/s)')" "$rows" "$t0" "$t1"
	echo "  search index caught up $(search_caught_up) s later"
	psql_owner -c "ANALYZE contact_search"
fi

list_id=$(curl -fsS -X POST "$base/api/v1/contacts/lists" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d '{"name":"bench dynamic","list_type":"dynamic","rules":{"match":"all","conditions":[{"field":"tags","op":"contains","value":"vip"},{"field":"custom_fields.orders","op":"gt","value":25}]}}' |
	json_field id)

# Latency matters here more than throughput: one connection per core, p50 and p99.
latency() {
	local label=$1 url=$2 out
	out=$(wrk -t2 -c"${BENCH_LATENCY_CONNECTIONS:-2}" -d"${duration}s" --latency \
		-H "Authorization: Bearer $token" "$url")
	printf '%-38s %10s %10s %10s\n' "$label" \
		"$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
		"$(awk '$1 == "50%" { print $2 }' <<<"$out")" \
		"$(awk '$1 == "99%" { print $2 }' <<<"$out")"
}

echo
echo "1,000,000-contact tenant, wrk -t2 -c${BENCH_LATENCY_CONNECTIONS:-2} -d${duration}s"
printf '%-38s %10s %10s %10s\n' endpoint req/s p50 p99
latency "GET /contacts (page 1, 50)" "$base/api/v1/contacts?page=1&page_size=50"
latency "GET /contacts?search=user12345" "$base/api/v1/contacts?search=user12345"
latency "GET /contacts?tag=vip" "$base/api/v1/contacts?tag=vip"
latency "GET /contacts/lists/{id} (dynamic count)" "$base/api/v1/contacts/lists/$list_id"
curl -fsS -X DELETE "$base/api/v1/contacts/lists/$list_id" -H "Authorization: Bearer $token" >/dev/null
BENCH_LATENCY_CONNECTIONS=64 latency "GET /contacts (page 1), 64 connections" "$base/api/v1/contacts?page=1&page_size=50"
