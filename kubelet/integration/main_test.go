// Package integration tests the kubelet, in-process, against a real
// apiserver with its etcd (bin/apiserver, started by shared/testserver):
// simulated nodes with the fake runtime, and, as root, real pods with
// runc, CNI and images from a local registry.
package integration

import (
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// client-go's event broadcaster logs through klog; keep test output
	// to the test's own logs.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	os.Exit(m.Run())
}
