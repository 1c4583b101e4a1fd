// Package integration tests the scheduler against a real apiserver and
// embedded etcd (bin/apiserver, started by coracle.dev/shared/testserver),
// with Node objects created by the tests (there is no kubelet): placement by
// every filter, events and conditions when nothing fits, requeueing on
// cluster events, priority order, preemption, leader election and the
// absence of over-commit under concurrent binding.
package integration
