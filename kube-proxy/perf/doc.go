// Package perf benchmarks kube-proxy as deploy/bench/kube-proxy.sh runs
// it: synthetic Services and EndpointSlices (no pods) in a real apiserver,
// and the real kube-proxy binary in a network namespace of its own.
package perf
