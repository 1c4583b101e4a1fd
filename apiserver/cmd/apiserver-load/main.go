// Command apiserver-load benchmarks an apiserver: create, get, update and
// list throughput and latency at several concurrency levels, creates at a
// fixed rate, and the latency of one event reaching many watchers. It
// prints a table and a PASS or MISS line per target.
//
//	apiserver-load --kubeconfig admin.conf
//	apiserver-load --start-apiserver bin/apiserver
package main

import (
	"os"

	"coracle.dev/apiserver/perf/loadtest"
)

func main() { os.Exit(loadtest.Main(os.Args[1:], os.Stdout, os.Stderr)) }
