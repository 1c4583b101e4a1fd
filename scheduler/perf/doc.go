// Package perf measures the scheduler's throughput through a real
// apiserver and embedded etcd on this machine: BenchmarkSchedulerThroughput
// creates Node objects (varied capacity, labels, some taints), then pods
// (plain, nodeSelector and anti-affinity), and reports pods bound per
// second from the first pod created to the last bound, and each pod's
// latency from its create request to its binding being observed. See
// deploy/bench/scheduler.sh.
package perf
