#!/usr/bin/env bash
# Import and export at scale, for make bench: a generated CSV of
# BENCH_IMPORT_ROWS (default 1,000,000) rows imported through the API as a
# streamed text/csv body, beside a raw COPY of the same rows into the same
# indexed table in the same run; then the export of those rows. Expects the
# bench instance up and bench/run.sh's json_field.
set -euo pipefail

rows=${BENCH_IMPORT_ROWS:-1000000}
work=/var/tmp/flowsend-28080/bench-import
mkdir -p "$work"

# A fresh enterprise tenant for each side (no plan limit in the way).
tenant() {
	local email="bench-import-$1-$(date +%s%N)@example.com" token
	token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$email\",\"password\":\"bench-password\"}" | json_field access_token)
	psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE email = '$email'"
	echo "$token"
}
api_token=$(tenant api)
raw_token=$(tenant raw)
raw_user=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $raw_token" | json_field id)

gen() { # $1: a user id column to prepend, or empty
	awk -v n="$rows" -v uid="$1" 'BEGIN {
		if (uid == "") print "email,first_name,last_name,tags,city,orders"
		for (i = 1; i <= n; i++) {
			line = sprintf("import%d@bench.example,First%d,Last%d,%s,City%d,%d", i, i, i % 1000,
				(i % 10 == 0) ? "vip;newsletter" : "newsletter", i % 100, i % 50)
			print (uid == "" ? line : uid "," line)
		}
	}'
}
gen "" >"$work/api.csv"
gen "$raw_user" | awk -F, -v OFS=, '{ tags = $5; gsub(";", ",", tags);
	print $1, $2, $3, $4, "\"{" tags "}\"", "\"{\"\"city\"\": \"\"" $6 "\"\", \"\"orders\"\": \"\"" $7 "\"\"}\"" }' \
	>"$work/raw.csv"

seconds() { python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$1" "$2"; }
rate() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):,.0f}")' "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Each side leaves the table as it found it: the rows go, and so do their dead tuples.
cleanup() {
	psql_owner -c "DELETE FROM contacts WHERE email LIKE 'import%@bench.example'"
	psql_owner -c "VACUUM contacts, contact_search"
}

# Raw COPY and the API alternate, BENCH_IMPORT_RUNS times (default 3): the
# machine's speed drifts between runs, so each figure is a median.
import_runs=${BENCH_IMPORT_RUNS:-3}
raw_times=() api_times=() caught_times=()
for ((run = 0; run < import_runs; run++)); do
	t0=$(date +%s.%N)
	psql_owner -c "\\copy contacts (user_id, email, first_name, last_name, tags, custom_fields) FROM '$work/raw.csv' CSV"
	t1=$(date +%s.%N)
	raw_times+=("$(seconds "$t0" "$t1")")
	search_caught_up >/dev/null
	cleanup

	t0=$(date +%s.%N)
	result=$(curl -fsS -X POST "$base/api/v1/contacts/import" -H "Authorization: Bearer $api_token" \
		-H 'Content-Type: text/csv' --data-binary @"$work/api.csv")
	t1=$(date +%s.%N)
	api_times+=("$(seconds "$t0" "$t1")")
	imported=$(json_field imported <<<"$result")
	caught_times+=("$(search_caught_up)")
	if ((run < import_runs - 1)); then cleanup; fi
done
raw_s=$(median "${raw_times[@]}")
api_s=$(median "${api_times[@]}")
caught_up=$(median "${caught_times[@]}")
rss=$(for p in $(pgrep -f 'fs-contacts'); do awk '/VmHWM/ { print $2 }' "/proc/$p/status"; done | sort -n | tail -1)

t0=$(date +%s.%N)
exported=$(curl -fsS "$base/api/v1/contacts/export" -H "Authorization: Bearer $api_token" | wc -l)
t1=$(date +%s.%N)
exp_s=$(seconds "$t0" "$t1")

echo
echo "Import and export of $rows generated rows ($(du -h "$work/api.csv" | cut -f1) of CSV), median of $import_runs runs"
printf '%-46s %12s %10s\n' what rows/s seconds
printf '%-46s %12s %10.1f\n' "raw COPY into the indexed contacts table" "$(rate "$rows" "$raw_s")" "$raw_s"
printf '%-46s %12s %10.1f\n' "POST /contacts/import (text/csv, $imported imported)" "$(rate "$imported" "$api_s")" "$api_s"
echo "  each run, raw COPY:$(printf ' %.1f' "${raw_times[@]}") s; import:$(printf ' %.1f' "${api_times[@]}") s"
python3 -c 'import sys; print(f"import / raw COPY = {float(sys.argv[1]) / float(sys.argv[2]):.2f}")' "$raw_s" "$api_s"
echo "responder peak RSS: $((rss / 1024)) MiB; search index caught up ${caught_up} s after the import"
printf '%-46s %12s %10.1f\n' "GET /contacts/export ($((exported - 1)) rows)" "$(rate "$((exported - 1))" "$exp_s")" "$exp_s"
cleanup
rm -f "$work/api.csv" "$work/raw.csv"
