// Package integration tests kube-proxy end to end, as root, with real
// iptables and real traffic, without touching the host's network: each
// test builds a "node" network namespace with "pods" (further namespaces
// on a bridge inside it) and an "outside" client namespace, runs the real
// kube-proxy binary inside the node namespace against bin/apiserver
// (shared/testserver), and creates Services and EndpointSlices directly
// in the API.
package integration

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
