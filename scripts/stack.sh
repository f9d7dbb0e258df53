#!/usr/bin/env bash
# Brings a FlowSend instance up or down: PostgreSQL cluster, Redis, migrations,
# the FastCGI responders, the batch worker, nginx and (for `run`) a mail catcher.
#
#   scripts/stack.sh start|stop|status|destroy run|test|bench
#
# Each instance keeps its state under /var/tmp/flowsend-<http port>/ (a short
# path the postgres user can reach even when the checkout is under a mode-700
# home) and uses its own ports, so `make test` never touches `make run`'s data.
set -euo pipefail

cmd=${1:-}
instance=${2:-run}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${FLOWSEND_BIN:-$ROOT/build/bin}
PGBIN=/usr/lib/postgresql/15/bin

case "$instance" in
run)   HTTP_PORT=8080;  PG_PORT=5499;  REDIS_PORT=6399;  SMTP_PORT=1025; MAILWEB_PORT=1080; DNS_PORT= ;;
test)  HTTP_PORT=18080; PG_PORT=15499; REDIS_PORT=16399; SMTP_PORT=11025; MAILWEB_PORT=11080; DNS_PORT=13053 ;;
bench) HTTP_PORT=28080; PG_PORT=25499; REDIS_PORT=26399; SMTP_PORT=21025; MAILWEB_PORT=21080; DNS_PORT=23053 ;;
# test1..test9: further test instances, so several checkouts can run their
# suites at once on one machine.
test[1-9]) n=${instance#test}
	HTTP_PORT=$((18080 + n)); PG_PORT=$((15499 + n)); REDIS_PORT=$((16399 + n))
	SMTP_PORT=$((11025 + n)); MAILWEB_PORT=$((11080 + n)); DNS_PORT=$((13053 + n)) ;;
*) echo "unknown instance '$instance' (run, test, test1..test9 or bench)" >&2; exit 2 ;;
esac

STATE=${FLOWSEND_STATE_DIR:-/var/tmp/flowsend-$HTTP_PORT}
PGDATA=$STATE/pg/data
PGSOCK=$STATE/pgsock
SOCK=$STATE/sock
LOG=$STATE/log
PIDS=$STATE/pid
# One nginx worker serves a 2-core host best: the cores are needed by the
# responders, PostgreSQL and Redis. Larger hosts get one per core.
if (($(nproc) <= 2)); then NGINX_WORKERS=${FLOWSEND_NGINX_WORKERS:-1}; else NGINX_WORKERS=${FLOWSEND_NGINX_WORKERS:-auto}; fi
# Kept FastCGI connections pin a libfcgi worker each; off by default, since
# measured p99 latency was several times worse with them (bench/run.sh).
KEEPALIVE=${FLOWSEND_FASTCGI_KEEPALIVE:-0}

is_root() { [[ $(id -u) -eq 0 ]]; }
# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_super() { if is_root; then echo postgres; else id -un; fi; }
alive() {
	local pid
	pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}
say() { printf '  %-10s %s\n' "$1" "$2"; }

configure_env() {
	if [[ $instance == run && -f $ROOT/flowsend.env ]]; then
		set -a
		# shellcheck disable=SC1091
		. "$ROOT/flowsend.env"
		set +a
	fi
	if [[ $instance != run ]]; then
		# Tests and benchmarks are hermetic: the caller's settings do not leak in.
		unset FLOWSEND_SMTP_URL FLOWSEND_DATABASE_URL FLOWSEND_REDIS_URL FLOWSEND_PUBLIC_URL
		export FLOWSEND_ENV=test
		# Tests exercise the API rate limits; benchmarks (bench/run.sh on a test
		# instance too: FLOWSEND_BENCH_RESPONDERS=1) measure without them.
		if [[ $instance == test* && ${FLOWSEND_BENCH_RESPONDERS:-0} != 1 ]]; then export FLOWSEND_RATE_LIMITS=on; else export FLOWSEND_RATE_LIMITS=off; fi
		# Links in test mail are signed with a key of their own, not the JWT
		# secret (tests/e2e/test_unsubscribe.c mints with both).
		export FLOWSEND_LINK_SECRET=flowsend-test-link-secret-not-the-jwt-one
		# Sender-domain checks ask the DNS server the tests start on this port
		# (tests/e2e/test_domains.c runs dnsmasq there); nothing answers otherwise.
		export FLOWSEND_DNS_SERVER=127.0.0.1:$DNS_PORT
		# Provider webhooks (tests/e2e/test_webhooks.c): SNS certificates and
		# subscription URLs come from a stand-in the tests start on this port,
		# and SendGrid events are signed with the tests' own key pair.
		export FLOWSEND_SNS_BASE_URL=http://127.0.0.1:$((DNS_PORT + 100))
		export FLOWSEND_SNS_TOPIC_ARNS=arn:aws:sns:eu-west-1:123456789012:ses-events
		export FLOWSEND_SENDGRID_WEBHOOK_KEY=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECuBQwVbETqrFYpwQnLbBBKeVZ0hlm5yLI7J8wridjA77X9MMPot1CCBiQ5+axY1e4MLzSm0Naf5qRF6ZiPK6+w==
		# Outbound webhooks may reach the receiver the tests and the benchmark start
		# on this loopback port, and no other non-public address
		# (tests/e2e/test_outbound_webhooks.c, bench/webhooks.sh).
		export FLOWSEND_WEBHOOK_ALLOW=127.0.0.1:$((DNS_PORT + 200))
		# Tests call the API as a dashboard on another origin would (tests/e2e/test_edge.c).
		if [[ $instance == test* ]]; then export FLOWSEND_CORS_ORIGINS=http://dashboard.test:3000; else unset FLOWSEND_CORS_ORIGINS; fi
	fi
	export FLOWSEND_ENV=${FLOWSEND_ENV:-development}
	export FLOWSEND_DATABASE_URL=${FLOWSEND_DATABASE_URL:-"postgresql://flowsend_app@/flowsend?host=$PGSOCK&port=$PG_PORT"}
	export FLOWSEND_REDIS_URL=${FLOWSEND_REDIS_URL:-"unix://$STATE/redis/redis.sock"}
	export FLOWSEND_PUBLIC_URL=${FLOWSEND_PUBLIC_URL:-"http://127.0.0.1:$HTTP_PORT"}
	if [[ $instance == run ]]; then
		export FLOWSEND_SMTP_URL=${FLOWSEND_SMTP_URL-"smtp://127.0.0.1:$SMTP_PORT"}
	else
		export FLOWSEND_SMTP_URL=${FLOWSEND_TEST_SMTP_URL:-}
	fi
	if is_root; then
		export FLOWSEND_SOCKET_GROUP=www-data
	fi
}

start_postgres() {
	mkdir -p "$STATE/pg" "$PGSOCK"
	if is_root; then chown postgres "$STATE/pg" "$PGSOCK"; fi
	if [[ ! -f $PGDATA/PG_VERSION ]]; then
		as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U "$(pg_super)" -E UTF8 \
			--locale=C.UTF-8 >"$LOG/initdb.log" 2>&1 ||
			{ cat "$LOG/initdb.log" >&2; exit 1; }
		# Only the local socket, never TCP: the socket folder is the boundary.
		# A quarter of the memory for buffers (at most 4 GB), and room for a
		# million-row import's WAL between checkpoints, with segments recycled
		# rather than created and zero-filled during the import.
		local mem_mb buffers_mb
		mem_mb=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
		buffers_mb=$((mem_mb / 4 > 4096 ? 4096 : mem_mb / 4 < 128 ? 128 : mem_mb / 4))
		cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$PGSOCK'
max_connections = ${FLOWSEND_PG_MAX_CONNECTIONS:-400}
shared_buffers = ${buffers_mb}MB
max_wal_size = 4GB
min_wal_size = 1GB
checkpoint_timeout = 15min
CONF
		if [[ $instance == test* ]]; then
			# Test data is thrown away: durability buys nothing. The bench
			# cluster keeps make run's durable commits: it measures what users run.
			printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' \
				>>"$PGDATA/postgresql.conf"
		fi
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
		touch "$LOG/postgres.log"
		if is_root; then chown postgres "$LOG/postgres.log"; fi
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG/postgres.log" -w -t 60 start >/dev/null ||
			{ tail -20 "$LOG/postgres.log" >&2; exit 1; }
	fi
	# Bench clusters made before they became durable carry the test settings.
	if [[ $instance == bench ]]; then
		as_pg psql -q -X -h "$PGSOCK" -p "$PG_PORT" -U "$(pg_super)" -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT format('ALTER SYSTEM SET %I = on', name) FROM pg_settings
 WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') AND setting <> 'on' \gexec
SELECT pg_reload_conf();
SQL
	fi
	# Roles: the owner runs migrations; the app role owns nothing and is bound by
	# row-level security; the system role crosses tenants for a few lookups.
	as_pg psql -q -h "$PGSOCK" -p "$PG_PORT" -U "$(pg_super)" -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_owner') THEN
    CREATE ROLE flowsend_owner LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_app') THEN
    CREATE ROLE flowsend_app LOGIN NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_system') THEN
    CREATE ROLE flowsend_system LOGIN BYPASSRLS;
  END IF;
END $$;
SELECT 'CREATE DATABASE flowsend OWNER flowsend_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'flowsend') \gexec
SQL
	# What only a superuser may do (schema/superuser.sql explains why).
	as_pg psql -q -X -h "$PGSOCK" -p "$PG_PORT" -U "$(pg_super)" -d flowsend -v ON_ERROR_STOP=1 \
		-f - <"$ROOT/schema/superuser.sql" >/dev/null
	"$BIN/flowsend-migrate" --dir "$ROOT/schema" >>"$LOG/migrate.log" 2>&1 ||
		{ tail -20 "$LOG/migrate.log" >&2; exit 1; }
	say postgres "ready on $PGSOCK port $PG_PORT ($(tail -1 "$LOG/migrate.log" | sed 's/.*] //'))"
}

start_redis() {
	mkdir -p "$STATE/redis"
	if alive "$PIDS/redis.pid"; then return; fi
	local persist=(--save "")
	[[ $instance == run ]] && persist=(--save "300 10" --appendonly no)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
		--unixsocket "$STATE/redis/redis.sock" --unixsocketperm 700 \
		--pidfile "$PIDS/redis.pid" --logfile "$LOG/redis.log" --dir "$STATE/redis" \
		"${persist[@]}" --protected-mode yes >/dev/null
	for _ in $(seq 50); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	say redis "ready on $STATE/redis/redis.sock and 127.0.0.1:$REDIS_PORT"
}

# nginx/responders, plus bench/responders for the bench instance (or any
# instance bench/run.sh measures on: FLOWSEND_BENCH_RESPONDERS=1).
responder_table() {
	cat "$ROOT/nginx/responders"
	if [[ $instance == bench || ${FLOWSEND_BENCH_RESPONDERS:-0} == 1 ]]; then cat "$ROOT/bench/responders"; fi
}

responders() {
	responder_table | grep -v '^#' | awk 'NF == 3 { print $2 }' | sort -u
}

responder_bin() {
	if [[ -x $BIN/fs-$1 ]]; then echo "$BIN/fs-$1"; else echo "$ROOT/build/bench/fs-$1"; fi
}

# Workers per responder (FLOWSEND_WORKERS overrides). A worker serves one
# request at a time and spends most of it waiting on PostgreSQL, so 2 x cores
# + 2 keep the cores busy while others wait: 6 on 2 cores. The contacts
# responder takes the tenants' writes (creates from forms, platforms and
# integrations, edits, imports): with durable commits (synchronous_commit on,
# as under make run) each create waits for a WAL flush and its throughput is
# how many commits share one, i.e. its workers, so it gets at least 16 there
# (2 cores, fsync on: 6 workers 600 creates/s, 16 workers 1,000). Without
# (the test clusters) nothing waits on the disk and extra workers
# only contend for the cores and PostgreSQL's lock manager (6: 1,330/s, 16:
# 840/s), so it gets the same as the others. FLOWSEND_WRITE_WORKERS
# overrides. Each worker holds up to two PostgreSQL connections (tenant and
# system roles; a contacts worker a third for an import's second shard):
# both defaults are capped so that every responder's workers, the batch
# workers (one per core) and 20 spare (psql, migrations, reserved) fit in the
# server's max_connections.
size_workers() {
	local cores settings max_conn durable nresp budget
	cores=$(nproc)
	settings=$(as_pg psql -X -At -F ' ' -h "$PGSOCK" -p "$PG_PORT" -U "$(pg_super)" -d postgres \
		-c "SELECT current_setting('max_connections'), current_setting('synchronous_commit') <> 'off'
		    AND current_setting('fsync') = 'on'" 2>/dev/null) || settings="100 t"
	read -r max_conn durable <<<"$settings"
	WORKERS=${FLOWSEND_WORKERS:-$((2 * cores + 2))}
	if [[ $durable == t ]]; then
		WRITE_WORKERS=$((WORKERS > 16 ? WORKERS : 16))
	else
		WRITE_WORKERS=$WORKERS
	fi
	WRITE_WORKERS=${FLOWSEND_WRITE_WORKERS:-${FLOWSEND_WORKERS:-$WRITE_WORKERS}}
	# The contacts responder counts twice: its write pool and its read pool.
	nresp=$(responders | wc -l)
	budget=$((max_conn - 20 - cores))
	while ((WORKERS > 2 || WRITE_WORKERS > 2)) &&
		((2 * nresp * WORKERS + 3 * WRITE_WORKERS > budget)); do
		if ((WRITE_WORKERS > WORKERS)); then WRITE_WORKERS=$((WRITE_WORKERS - 1)); else
			[[ -n ${FLOWSEND_WORKERS:-} ]] && break
			WORKERS=$((WORKERS - 1)); WRITE_WORKERS=$((WRITE_WORKERS > WORKERS ? WRITE_WORKERS : WORKERS))
		fi
	done
}

workers_for() { if [[ $1 == contacts ]]; then echo "$WRITE_WORKERS"; else echo "$WORKERS"; fi; }

# Responders whose reads (GET, HEAD) nginx sends to a second instance of the
# same binary with WORKERS workers, on <name>-read.sock: the writes' big pool
# (WRITE_WORKERS, sized to group WAL flushes) would otherwise serve the reads
# too, and 16 runnable workers on 2 cores cost a read its share of the cores
# (GET /contacts/{id}: 0.60 of /auth/me with 6 workers, 0.47 with 16; README,
# "Worker sizing"). Both instances log to fs-<name>.log.
READ_POOLS=" contacts "
has_read_pool() { [[ $READ_POOLS == *" $1 "* ]]; }
# FLOWSEND_READ_WORKERS sizes the read pools below WORKERS (at most WORKERS:
# the connection budget above counts them as WORKERS), to compare sizes on a
# quiet machine (README, "Session 12: the tails"); by default WORKERS.
read_workers() {
	local n=${FLOWSEND_READ_WORKERS:-$WORKERS}
	((n >= 1 && n <= WORKERS)) || n=$WORKERS
	echo "$n"
}

start_responders() {
	mkdir -p "$SOCK"
	size_workers
	chmod 755 "$SOCK"
	local name started=0
	for name in $(responders); do
		if alive "$PIDS/fs-$name.pid"; then continue; fi
		[[ -x $(responder_bin "$name") ]] || { echo "missing $BIN/fs-$name: run make" >&2; exit 1; }
		setsid "$(responder_bin "$name")" --socket "$SOCK/$name.sock" --workers "$(workers_for "$name")" \
			>>"$LOG/fs-$name.log" 2>&1 </dev/null &
		echo $! >"$PIDS/fs-$name.pid"
		started=$((started + 1))
	done
	for name in $(responders); do
		has_read_pool "$name" || continue
		if alive "$PIDS/fs-$name-read.pid"; then continue; fi
		setsid "$(responder_bin "$name")" --socket "$SOCK/$name-read.sock" --workers "$(read_workers)" \
			>>"$LOG/fs-$name.log" 2>&1 </dev/null &
		echo $! >"$PIDS/fs-$name-read.pid"
		started=$((started + 1))
	done
	for name in $(responders); do
		for _ in $(seq 100); do [[ -S $SOCK/$name.sock ]] && break; sleep 0.05; done
		[[ -S $SOCK/$name.sock ]] || { echo "fs-$name did not start; see $LOG/fs-$name.log" >&2; exit 1; }
		has_read_pool "$name" || continue
		for _ in $(seq 100); do [[ -S $SOCK/$name-read.sock ]] && break; sleep 0.05; done
		[[ -S $SOCK/$name-read.sock ]] || { echo "fs-$name (reads) did not start; see $LOG/fs-$name.log" >&2; exit 1; }
	done
	say responders "$(responders | wc -l) running, $WORKERS workers each, $WRITE_WORKERS for contacts' writes and $(read_workers) for its reads ($started started now)"
}

start_batch() {
	if alive "$PIDS/batch.pid"; then return; fi
	setsid "$BIN/flowsend-batch" --worker >>"$LOG/batch.log" 2>&1 </dev/null &
	echo $! >"$PIDS/batch.pid"
	say batch "worker running (log: $LOG/batch.log)"
}

nginx_conf() {
	local upstreams="" locations="" prefix name match user_line access_log seen=" "
	while read -r prefix name match; do
		[[ -z $prefix || $prefix == \#* ]] && continue
		if [[ $seen != *" $name "* ]]; then
			seen+="$name "
			upstreams+="	upstream fs_$name { server unix:$SOCK/$name.sock;"
			if ((KEEPALIVE > 0)); then upstreams+=" keepalive $KEEPALIVE;"; fi
			upstreams+=" }"$'\n'
			if has_read_pool "$name"; then
				upstreams+="	upstream fs_${name}_read { server unix:$SOCK/$name-read.sock;"
				if ((KEEPALIVE > 0)); then upstreams+=" keepalive $KEEPALIVE;"; fi
				upstreams+=" }"$'\n'
				upstreams+="	map \$request_method \$fs_${name}_pass { default fs_$name; GET fs_${name}_read; HEAD fs_${name}_read; }"$'\n'
			fi
		fi
		# Reads to the read pool, writes (and imports) to the write pool.
		local pass="fs_$name"
		if has_read_pool "$name" && [[ $match != upload ]]; then pass="\$fs_${name}_pass"; fi
		local op="=" extra=""
		[[ $match == prefix ]] && op="^~"
		if [[ $match == upload ]]; then
			# Imports stream straight through to the responder, up to 100 MiB.
			extra="
			client_max_body_size 100m;
			fastcgi_request_buffering off;
			fastcgi_read_timeout 900s;
			fastcgi_send_timeout 900s;"
		fi
		# A prefix from the root ("/u/": public pages outside the API) as it is.
		local where="/api/v1/$prefix"
		[[ $prefix == /* ]] && where=$prefix
		# Opens and clicks: the tracking responder logs every hit itself
		# (fs-track.log, the line bench/tracking.sh counts), so nginx does not
		# write a second line per pixel.
		[[ $prefix == /t/ ]] && extra+="
			access_log off;"
		# Opens and clicks again: the few parameters fs-track reads (the
		# framework's request line and the User-Agent), not the ~20 of
		# fastcgi_params and every request header, which nginx built and the
		# responder parsed, allocated and searched on every hit.
		local params="
			include /etc/nginx/fastcgi_params;"
		[[ $prefix == /t/ ]] && params="
			fastcgi_pass_request_headers off;
			fastcgi_param REQUEST_METHOD \$request_method;
			fastcgi_param DOCUMENT_URI \$document_uri;
			fastcgi_param QUERY_STRING \$query_string if_not_empty;
			fastcgi_param CONTENT_TYPE \$content_type if_not_empty;
			fastcgi_param CONTENT_LENGTH \$content_length if_not_empty;
			fastcgi_param REMOTE_ADDR \$remote_addr;
			fastcgi_param HTTP_USER_AGENT \$http_user_agent if_not_empty;
			fastcgi_param HTTP_ORIGIN \$http_origin if_not_empty;"
		locations+="		location $op $where {$extra$params
			fastcgi_param REQUEST_ID \$request_id;
			fastcgi_pass $pass;"
		if ((KEEPALIVE > 0)); then locations+="
			fastcgi_keep_conn on;"; fi
		locations+="
		}"$'\n'
	done < <(responder_table)
	# nginx's own error pages get the CORS headers for the origins the
	# responders accept; they parse and validate the list (one source of truth).
	local origins o cors_map="" cors_headers=""
	origins=$("$(responder_bin health)" --cors-origins) || exit 1
	if [[ $origins == "*" ]]; then
		cors_map='	map $http_origin $fs_cors_origin { default "*"; "" ""; }'
	elif [[ -n $origins ]]; then
		cors_map='	map $http_origin $fs_cors_origin {'$'\n''		default "";'
		while read -r o; do cors_map+=$'\n'"		\"$o\" \"$o\";"; done <<<"$origins"
		cors_map+=$'\n''	}'
	fi
	if [[ -n $origins ]]; then
		cors_map+=$'\n''	map $fs_cors_origin $fs_cors_credentials { default "true"; "" ""; "*" ""; }'
		cors_headers='add_header Vary Origin always; add_header Access-Control-Allow-Origin $fs_cors_origin always; add_header Access-Control-Allow-Credentials $fs_cors_credentials always; '
	fi
	user_line=""
	if is_root; then user_line="user www-data www-data;"; fi
	access_log="$LOG/nginx-access.log"
	[[ $instance == bench ]] && access_log="off"
	# The dashboard's per-page CSP (scripts/dashboard.sh); without a build, a
	# strict policy (the /app/ pages are then absent anyway).
	local dashboard_csp="		default \"default-src 'self'; object-src 'none'; frame-ancestors 'none'\";"
	[[ -f $ROOT/build/dashboard/csp.map ]] && dashboard_csp=$(cat "$ROOT/build/dashboard/csp.map")
	# The landing page's (scripts/landing.sh); without a build, nginx/index.html
	# stands in for it, which has no script.
	local landing_csp="		default \"default-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'\";"
	[[ -f $ROOT/build/landing/csp.map ]] && landing_csp=$(cat "$ROOT/build/landing/csp.map")
	FS_CORS_MAP=$cors_map FS_CORS_HEADERS=$cors_headers FS_DASHBOARD_CSP=$dashboard_csp FS_LANDING_CSP=$landing_csp \
	python3 - "$ROOT/nginx/flowsend.conf.in" "$STATE/nginx/nginx.conf" <<PY
import os, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
for k, v in {
    "@CORS_MAP@": os.environ["FS_CORS_MAP"], "@DASHBOARD_CSP@": os.environ["FS_DASHBOARD_CSP"], "@CORS_HEADERS@": os.environ["FS_CORS_HEADERS"],
    "@LANDING_CSP@": os.environ["FS_LANDING_CSP"],
    "@STATE@": "$STATE", "@HTTP_PORT@": "$HTTP_PORT", "@NGINX_WORKERS@": "$NGINX_WORKERS",
    "@USER_LINE@": """$user_line""", "@ACCESS_LOG@": "$access_log",
    "@UPSTREAMS@": """$upstreams""", "@LOCATIONS@": """$locations""",
}.items():
    text = text.replace(k, v)
open(dst, "w").write(text)
PY
}

start_nginx() {
	mkdir -p "$STATE/nginx" "$STATE/www"
	# The landing page's export at / (make run / the browser tests build it
	# first); without one, a plain page that points at the API.
	rm -rf "$STATE/www/site.new"
	if [[ -f $ROOT/build/landing/out/index.html ]]; then
		cp -R "$ROOT/build/landing/out" "$STATE/www/site.new"
	else
		mkdir -p "$STATE/www/site.new"
		cp "$ROOT/nginx/index.html" "$STATE/www/site.new/index.html"
	fi
	chmod -R a+rX "$STATE/www/site.new"
	rm -rf "$STATE/www/site"
	mv "$STATE/www/site.new" "$STATE/www/site"
	# The dashboard's export (make run / the browser tests build it first).
	if [[ -f $ROOT/build/dashboard/out/index.html ]]; then
		rm -rf "$STATE/www/app.new"
		cp -R "$ROOT/build/dashboard/out" "$STATE/www/app.new"
		chmod -R a+rX "$STATE/www/app.new"
		rm -rf "$STATE/www/app"
		mv "$STATE/www/app.new" "$STATE/www/app"
	fi
	nginx_conf
	if alive "$STATE/nginx/nginx.pid"; then
		nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s reload 2>>"$LOG/nginx-error.log"
	else
		nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -t >/dev/null 2>"$LOG/nginx-test.log" ||
			{ cat "$LOG/nginx-test.log" >&2; exit 1; }
		nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" 2>>"$LOG/nginx-error.log"
	fi
	say nginx "http://127.0.0.1:$HTTP_PORT"
}

start_mailcatcher() {
	[[ $instance == run ]] || return 0
	[[ $FLOWSEND_SMTP_URL == "smtp://127.0.0.1:$SMTP_PORT" ]] || {
		say mail "using FLOWSEND_SMTP_URL=$FLOWSEND_SMTP_URL"
		return 0
	}
	if alive "$PIDS/maildev.pid"; then return; fi
	local tools=/var/tmp/flowsend-tools
	if [[ ! -x $tools/node_modules/.bin/maildev ]]; then
		mkdir -p "$tools"
		# 2.2.1 is the last maildev that runs on Debian 12's Node 18.
		npm install --silent --no-audit --no-fund --prefix "$tools" maildev@2.2.1 \
			>"$LOG/maildev-install.log" 2>&1 || {
			say mail "could not install maildev (see $LOG/maildev-install.log); sends stay in mock mode"
			return 0
		}
	fi
	setsid "$tools/node_modules/.bin/maildev" --smtp "$SMTP_PORT" --web "$MAILWEB_PORT" \
		--ip 127.0.0.1 >>"$LOG/maildev.log" 2>&1 </dev/null &
	echo $! >"$PIDS/maildev.pid"
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$MAILWEB_PORT/" 2>/dev/null && break
		sleep 0.1
	done
	say mail "catcher at http://127.0.0.1:$MAILWEB_PORT (SMTP 127.0.0.1:$SMTP_PORT)"
}

stop_pidfile() {
	local f=$1 pid
	[[ -f $f ]] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		# Each responder leads its own process group: stop the master and workers.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

do_start() {
	mkdir -p "$STATE" "$LOG" "$PIDS"
	chmod 755 "$STATE"
	configure_env
	echo "FlowSend ($instance instance, state in $STATE)"
	start_postgres
	start_redis
	start_mailcatcher
	start_responders
	start_batch
	start_nginx
	# The settings the services run with, for tests and tools run beside them.
	export -p | grep -E '^declare -x (FLOWSEND_|STRIPE_)' >"$STATE/env"
	for _ in $(seq 50); do
		curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/health" >/dev/null 2>&1 && break
		sleep 0.1
	done
	echo
	echo "  Landing page   http://127.0.0.1:$HTTP_PORT/"
	[[ -f $STATE/www/app/index.html ]] && echo "  Dashboard      http://127.0.0.1:$HTTP_PORT/app/"
	echo "  API            http://127.0.0.1:$HTTP_PORT/api/v1/  (try /api/v1/health)"
	echo "  OpenAPI        http://127.0.0.1:$HTTP_PORT/api/v1/openapi.json"
	[[ $instance == run ]] && alive "$PIDS/maildev.pid" && echo "  Mail catcher   http://127.0.0.1:$MAILWEB_PORT/"
	echo "  Logs           $LOG/"
	return 0
}

do_stop() {
	[[ -d $STATE ]] || { echo "FlowSend ($instance): nothing to stop"; return 0; }
	if alive "$STATE/nginx/nginx.pid"; then
		nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s quit 2>/dev/null || true
		for _ in $(seq 50); do alive "$STATE/nginx/nginx.pid" || break; sleep 0.1; done
		if alive "$STATE/nginx/nginx.pid"; then
			kill -KILL "$(cat "$STATE/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null || true
		fi
	fi
	local f
	for f in "$PIDS"/*.pid; do
		[[ -e $f ]] || continue
		[[ $(basename "$f") == redis.pid ]] && continue
		stop_pidfile "$f"
	done
	if alive "$PIDS/redis.pid"; then
		redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
		for _ in $(seq 50); do alive "$PIDS/redis.pid" || break; sleep 0.1; done
		stop_pidfile "$PIDS/redis.pid"
	fi
	if [[ -f $PGDATA/postmaster.pid ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -f "$SOCK"/*.sock
	echo "FlowSend ($instance) stopped"
}

do_status() {
	local f
	for f in "$PIDS"/*.pid "$STATE/nginx/nginx.pid"; do
		[[ -e $f ]] || continue
		if alive "$f"; then say "$(basename "$f" .pid)" "running (pid $(cat "$f"))"
		else say "$(basename "$f" .pid)" "not running"; fi
	done
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && say postgres running || say postgres "not running"
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
destroy) do_stop >/dev/null; rm -rf "$STATE"; echo "FlowSend ($instance) state removed" ;;
*) echo "usage: $0 start|stop|status|destroy run|test|bench" >&2; exit 2 ;;
esac
