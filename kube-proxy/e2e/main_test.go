// Package e2e tests kube-proxy with nothing stood in: as root, in a
// "node" network namespace of the test's own, the real kubelet (runc
// runtime, CNI bridge) runs real busybox pods pulled from the real local
// registry, the real controller-manager writes their EndpointSlices, and
// the real kube-proxy programs the node's iptables; traffic to the
// Services comes from the node, from outside it and from the pods.
//
// The binaries come from $CORACLE_BIN_DIR (make build, then make test), or
// are built for the run when it is unset.
package e2e

import (
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	os.Exit(m.Run())
}
