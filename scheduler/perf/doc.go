// Package perf measures the scheduler's throughput through a real
// apiserver and embedded etcd on this machine: BenchmarkSchedulerThroughput
// creates Node objects (varied capacity, labels, some taints), then pods
// (plain, nodeSelector and anti-affinity), and reports pods bound per
// second from the first pod created to the last bound, and each pod's
// latency from its create request to its binding being observed, with
// the scheduler's shipped client-side limits (BENCH_KUBE_API_QPS and
// BENCH_KUBE_API_BURST override them). See deploy/bench/scheduler.sh.
package perf
