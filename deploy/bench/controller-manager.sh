#!/bin/sh
# Benchmarks the controller manager: the ReplicaSet controller bringing up
# 5,000 pods and scaling them back to zero, against an in-process
# apiserver (embedded etcd, temp directory, loopback), with the test
# kubelet of controller-manager/integration standing in for 50 nodes.
#
# MEASURED WITH THE TEST KUBELET: it binds and starts every pod at once,
# so these are the control plane's figures (controller, apiserver, etcd
# on this machine), not a real node's. The 5,000-replica benchmark on
# real or hollow nodes waits for the kubelet's fake many-node mode.
#
#   deploy/bench/controller-manager.sh          controller QPS 100
#   CORACLE_BENCH_QPS=20 deploy/bench/...       Kubernetes' default QPS
#
# Everything it starts is stopped when it exits (go test's own cleanup).
set -eu

cd "$(dirname "$0")/../.."
GO=${GO:-go}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coracle-cm-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "== controller manager: ReplicaSet of 5,000 pods on 50 test-kubelet nodes (QPS ${CORACLE_BENCH_QPS:-100})"
echo "   (test kubelet: pods bound and started instantly; figures are the control plane's)"
status=0
"$GO" test -run '^$' -bench 'BenchmarkReplicaSet5000Pods' -benchtime 1x -timeout 40m \
	./controller-manager/integration/ >"$tmp/bench.txt" 2>&1 || status=$?
grep -E '^Benchmark|^ok|^FAIL|^---' "$tmp/bench.txt" || true
if [ "$status" -ne 0 ]; then
	echo "bench: go test failed (exit $status); last lines:" >&2
	tail -n 30 "$tmp/bench.txt" >&2
	exit "$status"
fi
