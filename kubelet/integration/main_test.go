// Package integration tests the kubelet against a real apiserver (with
// its etcd) in-process: simulated nodes with the fake runtime, and, as
// root, real pods with runc, CNI and images from a local registry.
package integration

import (
	"fmt"
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"

	"coracle.dev/shared/testbin"
)

// shimPath is kubelet-shim: bin/kubelet-shim from make build, or built
// for this run.
var shimPath string

func TestMain(m *testing.M) {
	// client-go's event broadcaster logs through klog; keep test output
	// to the test's own logs.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "kubelet-shim-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if shimPath, err = testbin.PathOrBuild("kubelet-shim", "coracle.dev/kubelet/cmd/kubelet-shim", tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
