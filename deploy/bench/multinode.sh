#!/bin/sh
# Benchmarks a cluster of several hosts on this machine (each node a
# network namespace on a bridge, installed with deploy/install.sh --worker
# and joined with a bootstrap token, as e2e/multinode's test does):
#
#   BenchmarkJoin            join command to Node Ready, per node (s/join)
#   BenchmarkNodeLoss/fast   a node dies (kubelet killed, link down) to
#                            every replica Running elsewhere, with a 20 s
#                            node-monitor-grace-period and 10 s tolerations
#                            (target: ≤ 60 s)
#   BenchmarkNodeLoss/defaults  the same with Kubernetes' 40 s and 300 s
#                            (about six minutes)
#
# Needs root. Everything it starts is stopped when it exits.
#
#   deploy/bench/multinode.sh
#   CORACLE_BENCH_MULTINODE=Join deploy/bench/multinode.sh       only the joins
#   CORACLE_BENCH_MULTINODE=NodeLoss deploy/bench/multinode.sh   only the node losses
set -eu

cd "$(dirname "$0")/../.."
CORACLE_BIN_DIR=$(pwd)/bin
export CORACLE_BIN_DIR
cd e2e
only=${CORACLE_BENCH_MULTINODE:-}
status=0
# Three joins into one cluster; one node loss per cluster.
if [ -z "$only" ] || [ "$only" = Join ]; then
	go test -run '^$' -bench '^BenchmarkJoin$' -benchtime 3x -timeout 20m ./multinode || status=1
fi
if [ -z "$only" ] || [ "$only" = NodeLoss ]; then
	go test -run '^$' -bench '^BenchmarkNodeLoss$' -benchtime 1x -timeout 30m ./multinode || status=1
fi
exit $status
