#!/usr/bin/env bash
# CPU time helpers for the bench scripts (sourced by bench/tracking.sh,
# bench/analytics.sh and bench/reads_cpu.sh): utime + stime in clock ticks
# from /proc/<pid>/stat, which unlike req/s hardly moves with what else the
# machine runs.

# group_ticks PGID: every process of a process group (a responder's master
# and its workers).
group_ticks() {
	local t=0 p
	for p in $(pgrep -g "$1"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# tree_ticks PID: a process and its children (nginx, PostgreSQL, Redis),
# those that ended and were reaped included (the root's cutime and cstime).
tree_ticks() {
	local t p
	t=$(awk '{ print $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0)
	for p in "$1" $(pgrep -P "$1"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# pg_split_ticks POSTMASTER_PID: PostgreSQL's ticks in three parts,
# "backends ended other": the live client backends (the tracking flush's
# connection, the responders'), the processes that ended and were reaped (the
# postmaster's cutime and cstime: autovacuum workers, short psql sessions), and
# the rest (the postmaster, walwriter, checkpointer, background writer,
# launchers, a live autovacuum worker). A backend that ends between two
# snapshots moves its ticks from the first part to the second.
pg_split_ticks() {
	local backends=0 other ended p t
	ended=$(awk '{ print $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0)
	other=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0)
	for p in $(pgrep -P "$1"); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q '\[local\]\|([0-9]*)'; then
			backends=$((backends + t))
		else
			other=$((other + t))
		fi
	done
	echo "$backends $ended $other"
}
