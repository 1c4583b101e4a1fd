#!/bin/sh
# Benchmarks pod startup on one real node (runc, CNI, the busybox image
# cached): from the create call to the pod seen Running by a watch, 100
# pods one after the other, then 100 pods created at once. Prints p50 and
# p99 and PASS or MISS against the targets (p50 ≤ 250 ms, p99 ≤ 500 ms).
# Needs root, and what deploy/install-deps.sh installs. `make bench`
# builds first.
#
#   deploy/bench/kubelet.sh            CORACLE_BENCH_PODS=20 for a quick run
#
# It runs kubelet/integration's BenchmarkPodStartup (and BenchmarkFakeNodes:
# 100 simulated nodes, 3,000 pods), which start their own
# apiserver, registry and kubelet, and removes all of it when done.
set -eu

cd "$(dirname "$0")/../.."
BIN=${BIN:-$PWD/bin}
GO=${GO:-go}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: the kubelet benchmark runs real containers; run it as root" >&2
	exit 1
fi
if [ ! -x "$BIN/kubelet-shim" ]; then
	echo "bench: $BIN/kubelet-shim not built; run make build (or make bench)" >&2
	exit 1
fi

out=$(mktemp "${TMPDIR:-/tmp}/coracle-kubelet-bench.XXXXXX")
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== pod startup latency (go test -bench BenchmarkPodStartup ./kubelet/integration/)"
status=0
CORACLE_BIN_DIR="$BIN" "$GO" test -run '^$' -bench '^Benchmark(PodStartup|FakeNodes)$' -benchtime 1x -count 1 \
	-timeout 20m ./kubelet/integration/ >"$out" 2>&1 || status=$?
# The figures and the verdicts; everything else is go test's chatter.
grep -e 'pod startup' -e 'fake nodes' -e '^Benchmark' "$out" | sed 's/^ *bench_test.go:[0-9]*: //' || true
if [ "$status" -ne 0 ]; then
	grep -v -e 'logger.go' "$out" | tail -n 30 >&2
	echo "bench: go test failed (exit $status)" >&2
	exit "$status"
fi
