#!/bin/sh
# Benchmarks kube-proxy as root: synthetic Services with 10 endpoints each
# (EndpointSlices, no pods) in a real apiserver started in-process on
# loopback, and the real kube-proxy binary (bin/kube-proxy, or built) in a
# network namespace of its own, so the host's iptables are not touched.
# Prints the full-sync time for 1,000, 5,000 and 10,000 Services (a fresh
# kube-proxy each time, from process start to rules written), then the
# time from one EndpointSlice change in the API to its rule being live
# (polled with iptables -S in the namespace), and PASS or MISS against the
# targets: 10,000 × 10 fully synced ≤ 5 s, one change live ≤ 100 ms.
#
#   deploy/bench/kube-proxy.sh
#   BENCH_SERVICES=2000 BENCH_CHANGES=20 deploy/bench/kube-proxy.sh   # one size only
#   BENCH_KUBE_PROXY_LOG=/tmp/kp.log deploy/bench/kube-proxy.sh      # keep kube-proxy's logs (.SIZE)
set -eu

cd "$(dirname "$0")/../.."
GO=${GO:-go}
export CORACLE_BIN_DIR="${CORACLE_BIN_DIR:-$PWD/bin}"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: kube-proxy's benchmark needs root (network namespaces, iptables)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coracle-bench-kube-proxy.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "== kube-proxy full sync and endpoint-change latency (go test -bench . ./kube-proxy/perf/)"
status=0
"$GO" test -count=1 -run '^$' -bench BenchmarkKubeProxy -benchtime 1x -timeout 30m \
	./kube-proxy/perf/ >"$tmp/out.txt" 2>&1 || status=$?
grep -E '^\|| created in |^target |^Benchmark' "$tmp/out.txt" || true
if [ "$status" -ne 0 ]; then
	echo "bench: go test failed (exit $status); its output:" >&2
	tail -n 50 "$tmp/out.txt" >&2
	exit "$status"
fi
