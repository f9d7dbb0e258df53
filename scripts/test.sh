#!/usr/bin/env bash
# make test: unit tests, end-to-end tests through nginx on a private instance
# (its own PostgreSQL, Redis and ports), then the unit tests under valgrind and
# under ASan+UBSan. Runs every stage, reports each, fails if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
failed=()
# A loaded or slow machine stretches the slowest cases (valgrind, a killed
# worker's recovery, flow delays) towards their limits: give them room.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-2}
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"

# Each stage's output also goes to build/test-logs/<n>.log, so that the end of
# the run can repeat the failing checks: CI shows only the last lines.
stage() {
	local name=$1
	shift
	echo
	echo "== $name"
	local t0=$SECONDS log=$LOGS/stage$stage_count.log
	stage_count=$((stage_count + 1))
	"$@" 2>&1 | tee "$log"
	if ((PIPESTATUS[0] == 0)); then
		echo "== $name: passed ($((SECONDS - t0))s)"
	else
		echo "== $name: FAILED ($((SECONDS - t0))s)"
		failed+=("$name")
		failed_logs+=("$log")
	fi
}
stage_count=0
failed_logs=()

# FLOWSEND_TEST_INSTANCE=test1..test9 runs on other ports (see stack.sh), so
# two checkouts can test at once; CK_RUN_SUITE=<name> runs one e2e suite.
INSTANCE=${FLOWSEND_TEST_INSTANCE:-test}
case "$INSTANCE" in
test) HTTP_PORT=18080 ;;
test[1-9]) HTTP_PORT=$((18080 + ${INSTANCE#test})) ;;
*) echo "FLOWSEND_TEST_INSTANCE must be test or test1..test9" >&2; exit 2 ;;
esac
STATE=/var/tmp/flowsend-$HTTP_PORT

run_e2e() {
	scripts/stack.sh destroy "$INSTANCE" >/dev/null
	scripts/stack.sh start "$INSTANCE" || return 1
	local rc=0
	(
		set -a
		# shellcheck disable=SC1091
		. "$STATE/env"
		set +a
		CK_XML_LOG_FILE_NAME=$LOGS/e2e.xml \
			FLOWSEND_TEST_URL=http://127.0.0.1:$HTTP_PORT FLOWSEND_TEST_STATE=$STATE FLOWSEND_TEST_BIN=$ROOT/build/bin \
			build/tests/e2e_tests
	) || rc=1
	if ((rc)); then
		echo "-- last responder log lines:"
		tail -n 20 "$STATE"/log/fs-*.log
	fi
	scripts/stack.sh stop "$INSTANCE"
	return $rc
}

run_valgrind() {
	CK_FORK=no valgrind -q --error-exitcode=66 --leak-check=full --errors-for-leak-kinds=definite \
		build/tests/unit_tests
}

run_sanitizers() {
	make --no-print-directory -s BUILD=build/asan SAN=1 build/asan/tests/unit_tests || return 1
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build/asan/tests/unit_tests
}

# The dashboard and the landing page in Chromium against a real stack
# (dashboard/tests/*.test.mjs, landing/tests/*.test.mjs): builds the exports
# when their sources changed, serves it through nginx, keeps
# screenshots under build/browser/.
run_browser() {
	scripts/dashboard.sh || return 1
	scripts/landing.sh || return 1
	scripts/stack.sh destroy "$INSTANCE" >/dev/null
	scripts/stack.sh start "$INSTANCE" || return 1
	local rc=0
	rm -rf build/browser
	mkdir -p build/browser
	(
		set -a
		# shellcheck disable=SC1091
		. "$STATE/env"
		set +a
		FLOWSEND_TEST_URL=http://127.0.0.1:$HTTP_PORT FLOWSEND_ARTEFACTS=$ROOT/build/browser \
			node --test dashboard/tests/colours.test.mjs dashboard/tests/browser.test.mjs dashboard/tests/audience.test.mjs landing/tests/landing.test.mjs
	) || rc=1
	scripts/stack.sh stop "$INSTANCE"
	return $rc
}

# FLOWSEND_TEST_STAGES (e.g. "e2e" or "unit valgrind") runs only some stages
# while working on one thing; make test runs them all.
STAGES=${FLOWSEND_TEST_STAGES:-unit e2e valgrind asan browser}
want() { [[ " $STAGES " == *" $1 "* ]]; }
want unit && stage "unit tests (Check)" build/tests/unit_tests
want e2e && stage "end-to-end tests through nginx" run_e2e
want valgrind && stage "unit tests under valgrind" run_valgrind
want asan && stage "unit tests under ASan+UBSan" run_sanitizers
want browser && stage "dashboard in Chromium (playwright-core)" run_browser

echo
if ((${#failed[@]})); then
	for i in "${!failed[@]}"; do
		echo "-- what failed in: ${failed[$i]}"
		grep -E ':[FE]:|^not ok|Checks: |^# fail|FAILED|Error [0-9]' "${failed_logs[$i]}" | tail -n 40
	done
	echo "make test: FAILED stages: ${failed[*]}"
	exit 1
fi
echo "make test: every stage passed"
