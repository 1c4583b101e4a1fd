#!/bin/sh
# Benchmarks the apiserver: starts one (with its embedded etcd, on free
# loopback ports, in a temporary directory) and loads it with
# bin/apiserver-load, which prints throughput and latency per operation and
# concurrency, the watch fan-out latency, and PASS or MISS per target; then
# runs the apiserver module's Go benchmarks. `make bench` builds first.
#
#   deploy/bench/apiserver.sh [apiserver-load flags...]   e.g. --duration 30s
#
# Everything it starts is stopped when it exits, however it exits.
set -eu

cd "$(dirname "$0")/../.."
BIN=${BIN:-$PWD/bin}
GO=${GO:-go}

for b in apiserver apiserver-load; do
	if [ ! -x "$BIN/$b" ]; then
		echo "bench: $BIN/$b not built; run make build (or make bench)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coracle-bench.XXXXXX")
pid=""
cleanup() {
	# apiserver-load stops the apiserver it started on SIGTERM (and the
	# kernel does if apiserver-load dies: Pdeathsig), so stopping it is
	# enough.
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== apiserver load (bin/apiserver-load --start-apiserver bin/apiserver${*:+ $*})"
# In the background so that the traps run as soon as a signal comes.
"$BIN/apiserver-load" --start-apiserver "$BIN/apiserver" --apiserver-dir "$tmp/apiserver" "$@" &
pid=$!
wait "$pid"
pid=""

echo
echo "== Go benchmarks (go test -run '^\$' -bench . -benchtime 2s ./apiserver/...)"
status=0
"$GO" test -run '^$' -bench . -benchtime 2s ./apiserver/... >"$tmp/gobench.txt" 2>&1 || status=$?
# Keep the benchmarks' lines, not go test's per-package chatter.
results=$(grep -v -e '\[no test files\]' -e '^ok ' -e '^PASS$' "$tmp/gobench.txt" || true)
echo "${results:-no Go benchmarks in ./apiserver/... yet}"
if [ "$status" -ne 0 ]; then
	echo "bench: go test failed (exit $status)" >&2
	exit "$status"
fi
