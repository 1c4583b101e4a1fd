#!/bin/sh
# Benchmarks the scheduler through a real apiserver and embedded etcd,
# started in-process on free loopback ports: 5,000 Node objects (varied
# capacity, labels, some taints), then 10,000 pods (plain, nodeSelector and
# anti-affinity), created by 16 concurrent clients while the scheduler
# runs. Prints pods bound per second from the first pod created to the
# last bound, per-pod latency (create request to binding observed) p50 and
# p99, and PASS or MISS against the 1,500 pods/s target.
#
#   deploy/bench/scheduler.sh
#   BENCH_NODES=1000 BENCH_PODS=2000 deploy/bench/scheduler.sh
#   BENCH_EVENT_QPS=100000 deploy/bench/scheduler.sh   # events unthrottled
#
# The scheduler runs with its shipped client rate limits (1000/2000);
# BENCH_KUBE_API_QPS=50 BENCH_KUBE_API_BURST=100 shows kube-scheduler's.
# Events keep the default 50/s unless BENCH_EVENT_QPS says otherwise.
set -eu

cd "$(dirname "$0")/../.."
GO=${GO:-go}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coracle-bench-scheduler.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "== scheduler throughput, then the apiserver alone for comparison (go test -bench . ./scheduler/perf/)"
status=0
"$GO" test -count=1 -run '^$' -bench 'BenchmarkSchedulerThroughput|BenchmarkSchedulingOnly|BenchmarkAPICeiling' -benchtime 1x -timeout 30m \
	./scheduler/perf/ >"$tmp/out.txt" 2>&1 || status=$?
# The table and the verdict; go test's own lines and logs stay in the file.
grep -E '^\|| setup |^target |^Benchmark' "$tmp/out.txt" || true
if [ "$status" -ne 0 ]; then
	echo "bench: go test failed (exit $status); its output:" >&2
	tail -n 50 "$tmp/out.txt" >&2
	exit "$status"
fi
