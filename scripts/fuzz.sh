#!/usr/bin/env bash
# make fuzz: builds every libFuzzer target in tests/fuzz with clang (ASan+UBSan)
# and runs each for FUZZ_SECONDS (default 60), starting from tests/fuzz/corpus.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
seconds=${FUZZ_SECONDS:-60}
make --no-print-directory -s BUILD=build/fuzz CC=clang FUZZ=1 fuzz-targets
status=0
for target in build/fuzz/fuzz/fuzz_*; do
	name=$(basename "$target" | sed 's/^fuzz_//')
	work=build/fuzz/corpus/$name
	mkdir -p "$work"
	seeds=()
	[[ -d tests/fuzz/corpus/$name ]] && seeds=("tests/fuzz/corpus/$name")
	echo "== fuzzing $name for ${seconds}s"
	if ! "$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="build/fuzz/crash-$name-" "$work" "${seeds[@]}" \
		>"build/fuzz/$name.log" 2>&1; then
		echo "   $name: FAILED, see build/fuzz/$name.log and build/fuzz/crash-$name-*"
		tail -n 30 "build/fuzz/$name.log"
		status=1
	else
		grep -E '^#[0-9]+.*DONE' "build/fuzz/$name.log" | tail -1 | sed 's/^/   /'
	fi
done
exit $status
