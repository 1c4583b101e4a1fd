// Package e2e tests the controller manager as a user sees it: the built
// binaries (bin/controller-manager, bin/scheduler, bin/kubelet,
// bin/local-registry, from $CORACLE_BIN_DIR) run as processes against
// bin/apiserver with its embedded etcd (shared/testserver).
//
// TestDeploymentRolloutWithKubelet rolls a Deployment of busybox to a new
// tag and back on a real node (runc, CNI), so it needs root.
// BenchmarkDeployment5000Pods scales a Deployment from 0 to 5,000
// replicas on 100 nodes simulated by the kubelet's fake runtime; it runs
// only with -bench (deploy/bench/controller-manager.sh).
package e2e
