#!/usr/bin/env bash
# ?search= in a database of many tenants, for make bench: p50 and p99 of
# searches by a tenant holding one contact and by the 1,000,000-contact tenant
# (contacts.sh's), in a database of BENCH_SEARCH_CONTACTS contacts. A search
# should cost what the tenant holds, not what the database holds
# (schema/0017_tenant_search.sql). The other tenants are generated with SQL
# once (about 4 minutes for 4,000,000 contacts on 2 cores); later runs reuse
# them. Expects the bench instance up and bench/run.sh's psql_owner, json_field
# and base.
#
# Knobs: BENCH_SEARCH_CONTACTS (5,000,000: contacts in the database, the big
# tenant's included), BENCH_SEARCH_BIG (1,000,000: the big tenant, made here
# when contacts.sh did not run), BENCH_SEARCH_MID (4 tenants of
# BENCH_SEARCH_MID_ROWS, 250,000, each added in one go), the rest added row by
# row over BENCH_SEARCH_TENANTS (20,000) small tenants; BENCH_SEARCH_DURATION
# (5: seconds of wrk -t1 -c1 per search); BENCH_SEARCH_CONTACTS=0 skips it.
# Another shape deletes the generated tenants first (minutes for millions).
set -euo pipefail

search_total=${BENCH_SEARCH_CONTACTS:-5000000}
search_big=${BENCH_SEARCH_BIG:-1000000}
search_mid=${BENCH_SEARCH_MID:-4}
search_mid_rows=${BENCH_SEARCH_MID_ROWS:-250000}
search_tenants=${BENCH_SEARCH_TENANTS:-20000}
search_duration=${BENCH_SEARCH_DURATION:-5}
search_small_rows=$((search_total - search_big - search_mid * search_mid_rows))
((search_small_rows > 0)) || search_small_rows=0

search_login() { # email password: a token, registering the account the first time
	local token
	if ! token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$1\",\"password\":\"$2\"}" 2>/dev/null | json_field access_token 2>/dev/null); then
		token=$(curl -fsS -X POST "$base/api/v1/auth/register" -H 'Content-Type: application/json' \
			-d "{\"email\":\"$1\",\"password\":\"$2\"}" | json_field access_token)
		psql_owner -c "UPDATE users SET plan = 'enterprise' WHERE lower(email) = lower('$1')"
	fi
	echo "$token"
}
search_count() { curl -fsS "$base/api/v1/contacts/count" -H "Authorization: Bearer $1" | json_field count; }
search_seconds() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.0f}")' "$1" "$2"; }

# Contacts for the tenants of query $1 (user ids), $2 rows numbered from $3,
# the tenant by row number. The names come from short lists, so that "ada",
# "lovelace" and "example" match many of the database's rows. The rows are
# indexed for search in the same transaction, not queued for the worker.
search_fill() {
	psql_owner <<SQL
BEGIN;
WITH t AS (SELECT array_agg(id ORDER BY id) AS ids FROM ($1) q (id)),
     n AS (SELECT '{ada,adam,grace,alan,linus,barbara,edsger,donald,margaret,katherine,john,mary,dennis,ken,frances,radia,sophie,tim,hedy,annie,claude,niklaus,bjarne,guido,larry,karen,jean,shafi,leslie,joan,adele}'::text[] AS f,
                  '{lovelace,hopper,turing,torvalds,liskov,dijkstra,knuth,hamilton,johnson,backus,ritchie,thompson,allen,perlman,wilson,lee,lamarr,easley,shannon,wirth,stroustrup,rossum,wall,jones,sammet,goldwasser,lamport,clarke,canada}'::text[] AS l,
                  '{example.com,example.org,mail.example,shop.example,acme.test,corp.test,post.test}'::text[] AS d)
INSERT INTO contacts (user_id, email, first_name, last_name)
SELECT t.ids[1 + g % cardinality(t.ids)],
       f[1 + (g * 7) % cardinality(f)] || '.' || l[1 + (g * 11) % cardinality(l)] || g || '@'
           || d[1 + (g * 5) % cardinality(d)],
       initcap(f[1 + (g * 7) % cardinality(f)]), initcap(l[1 + (g * 11) % cardinality(l)])
  FROM t, n, generate_series($3::bigint, $3::bigint + $2 - 1) g;
DELETE FROM contact_search_backlog WHERE user_id IN ($1);
INSERT INTO contact_search (contact_id, user_id, doc)
SELECT id, user_id, flowsend_contact_search_text(email, first_name, last_name)
  FROM contacts WHERE user_id IN ($1)
ON CONFLICT DO NOTHING;
COMMIT;
SQL
}

# The big tenant: contacts.sh's, in its shape, made here when it did not run.
search_loaded=0
search_big_token=$(search_login bench-1m@example.com bench-password-1m)
if (($(search_count "$search_big_token") < search_big)); then
	echo "loading the $search_big-contact tenant with SQL (once; the bench instance keeps it)..."
	t0=$(date +%s.%N)
	big_id=$(curl -fsS "$base/api/v1/auth/me" -H "Authorization: Bearer $search_big_token" | json_field id)
	psql_owner -c "DELETE FROM contacts WHERE user_id = '$big_id'"
	psql_owner <<SQL
BEGIN;
INSERT INTO contacts (user_id, email, first_name, last_name, tags, custom_fields)
SELECT '$big_id', 'user' || i || '@bench.example', 'First' || i, 'Last' || i % 1000,
       CASE WHEN i % 10 = 0 THEN '{vip,newsletter}'::text[] WHEN i % 3 = 0 THEN '{newsletter}' ELSE '{}' END,
       jsonb_build_object('orders', i % 50)
  FROM generate_series(1, $search_big) i;
DELETE FROM contact_search_backlog WHERE user_id = '$big_id';
INSERT INTO contact_search (contact_id, user_id, doc)
SELECT id, user_id, flowsend_contact_search_text(email, first_name, last_name)
  FROM contacts WHERE user_id = '$big_id'
ON CONFLICT DO NOTHING;
COMMIT;
SQL
	echo "  loaded in $(search_seconds "$t0" "$(date +%s.%N)") s"
	search_loaded=1
fi

# The other tenants, made again when the knobs ask for another shape.
search_others=$((search_mid * search_mid_rows + search_small_rows))
search_users=$((search_mid + (search_small_rows > 0 ? search_tenants : 0)))
have=$(psql_owner -Atc "SELECT count(*) || ' ' || COALESCE(sum(c.contacts), 0) FROM users u
	LEFT JOIN tenant_counters c ON c.user_id = u.id WHERE u.email LIKE 'bench-search-%@tenants.example'")
if [[ $have != "$search_users $search_others" ]]; then
	echo "generating $search_others contacts over $search_users tenants with SQL (once)..."
	t0=$(date +%s.%N)
	psql_owner -c "DELETE FROM users WHERE email LIKE 'bench-search-%@tenants.example'"
	psql_owner -c "INSERT INTO users (email, password_hash, plan)
		SELECT 'bench-search-mid-' || g || '@tenants.example', 'bench: no login', 'enterprise'
		  FROM generate_series(1, $search_mid) g
		UNION ALL
		SELECT 'bench-search-small-' || g || '@tenants.example', 'bench: no login', 'enterprise'
		  FROM generate_series(1, CASE WHEN $search_small_rows > 0 THEN $search_tenants ELSE 0 END) g"
	# Two connections, one per core: the big imports beside the small tenants.
	(
		for ((k = 1; k <= search_mid; k++)); do
			search_fill "SELECT id FROM users WHERE email = 'bench-search-mid-$k@tenants.example'" \
				"$search_mid_rows" "$(((k - 1) * search_mid_rows + 1))"
		done
	) &
	mid_pid=$!
	if ((search_small_rows > 0)); then
		search_fill "SELECT id FROM users WHERE email LIKE 'bench-search-small-%@tenants.example'" \
			"$search_small_rows" "$((search_mid * search_mid_rows + 1))"
	fi
	wait "$mid_pid"
	echo "  generated in $(search_seconds "$t0" "$(date +%s.%N)") s"
	search_loaded=1
fi
# As autovacuum would leave them: statistics, and the visibility map that
# lets the total's probes read the index alone (3 s for "example" without).
if ((search_loaded)); then
	psql_owner -c "VACUUM ANALYZE contacts" -c "VACUUM ANALYZE contact_search"
fi

# The tenant with one contact.
search_one_token=$(search_login bench-search-one@example.com bench-password-one)
if (($(search_count "$search_one_token") == 0)); then
	curl -fsS -X POST "$base/api/v1/contacts" -H "Authorization: Bearer $search_one_token" \
		-H 'Content-Type: application/json' \
		-d '{"email":"ada.lovelace@example.com","first_name":"Ada","last_name":"Lovelace"}' >/dev/null
fi

search_latency() { # label token query
	local out
	out=$(wrk -t1 -c1 -d"${search_duration}s" --timeout 60s --latency -H "Authorization: Bearer $2" \
		"$base/api/v1/contacts?search=$3")
	printf '%-42s %10s %10s %10s\n' "$1 ?search=$3" \
		"$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
		"$(awk '$1 == "50%" { print $2 }' <<<"$out")" \
		"$(awk '$1 == "99%" { print $2 }' <<<"$out")"
}

echo
read -r search_db search_tenants_now < <(psql_owner -Atc "SELECT to_char(sum(contacts), 'FM9,999,999,999'),
	to_char(count(*) FILTER (WHERE contacts > 0), 'FM9,999,999') FROM tenant_counters" | tr '|' ' ')
echo "?search= in a database of $search_db contacts over $search_tenants_now tenants, wrk -t1 -c1 -d${search_duration}s"
printf '%-42s %10s %10s %10s\n' search req/s p50 p99
for q in ada lovelace example user12345; do
	search_latency "1-contact tenant" "$search_one_token" "$q"
done
for q in user12345 ada lovelace; do
	search_latency "$(python3 -c "print(f'{$search_big:,}')")-contact tenant" "$search_big_token" "$q"
done
# "example" matches every contact of the big tenant, and its total counts them
# all: seconds a request, too slow for wrk's seconds; the median of three.
times=()
for _ in 1 2 3; do
	times+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $search_big_token" \
		"$base/api/v1/contacts?search=example")")
done
printf '%-42s %10s %10s %10s\n' "$(python3 -c "print(f'{$search_big:,}')")-contact tenant ?search=example" - \
	"$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p | awk '{ printf "%.2fs", $1 }')" -
