// Package integration tests the controller manager against a real
// apiserver with its etcd (bin/apiserver, shared/testserver), with a
// test kubelet that plays the nodes: it binds pods to the least-loaded
// fake node, runs them (Running and Ready at once), finishes graceful
// deletions, renews the nodes' Leases, and fails or finishes pods when a
// test asks.
package integration
