// Package loadtest drives load against a running apiserver and summarises
// what it measured: the throughput and latency of create, get, update and
// list at several concurrency levels, creates at a fixed open-loop rate,
// and how long one event takes to reach many watchers. It also starts an
// apiserver binary on free loopback ports for the benchmark to aim at.
// cmd/apiserver-load is its command line, and deploy/bench/apiserver.sh
// (make bench) runs that.
//
// The arithmetic (percentiles, the open-loop schedule, fan-out latencies,
// targets) is pure and tested on its own; the phases are thin loops around
// client-go calls that feed it.
package loadtest
