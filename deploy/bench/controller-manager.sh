#!/bin/sh
# Benchmarks the controller manager: a Deployment scaled from 0 to 5,000
# replicas on 100 nodes that one kubelet simulates with its fake runtime
# (like kubemark's hollow nodes), until every pod is Running. The built
# controller manager, scheduler and kubelet run as processes against an
# in-process apiserver (embedded etcd, temp directory, loopback).
#
# It runs three ways: the controller manager at Kubernetes' default client
# QPS (20, burst 30: ~20 pods/s, about 4 minutes), raised to 500/1000
# with the scheduler at its default (50/100), and both raised. Each prints
# pods/s with PASS or MISS against the target (≥ 500 pods/s on 2 cores)
# and the CPU each component used. `make bench` builds first.
#
#   deploy/bench/controller-manager.sh
#   CORACLE_BENCH_PODS=500 deploy/bench/controller-manager.sh     a quick run
#
# Everything it starts is stopped when it exits (go test's own cleanup).
set -eu

cd "$(dirname "$0")/../.."
BIN=${BIN:-$PWD/bin}
GO=${GO:-go}
for b in apiserver controller-manager scheduler kubelet; do
	if [ ! -x "$BIN/$b" ]; then
		echo "bench: $BIN/$b not built; run make build (or make bench)" >&2
		exit 1
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coracle-cm-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== controller manager: Deployment 0 → ${CORACLE_BENCH_PODS:-5000} replicas on 100 fake nodes (real scheduler and kubelet)"
status=0
CORACLE_BIN_DIR="$BIN" "$GO" test -run '^$' -bench '^BenchmarkDeployment5000Pods$' -benchtime 1x -count 1 -timeout 40m \
	./controller-manager/e2e/ >"$tmp/bench.txt" 2>&1 || status=$?
# The figures and the verdicts; everything else is go test's chatter.
grep -E '^deployment |^  CPU |^Benchmark|^ok|^FAIL|^---' "$tmp/bench.txt" | grep -v '^--- BENCH' || true
if [ "$status" -ne 0 ]; then
	echo "bench: go test failed (exit $status); last lines:" >&2
	grep -v -e 'logger.go' "$tmp/bench.txt" | tail -n 30 >&2
	exit "$status"
fi
