// Package integration tests the kubelet against a real apiserver (with
// its etcd) in-process: simulated nodes with the fake runtime, and, as
// root, real pods with runc, CNI and images from a local registry.
package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/klog/v2"
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
	if dir := os.Getenv("CORACLE_BIN_DIR"); dir != "" {
		shimPath = filepath.Join(dir, "kubelet-shim")
	}
	if _, err := os.Stat(shimPath); shimPath == "" || err != nil {
		tmp, err := os.MkdirTemp("", "kubelet-shim-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		shimPath = filepath.Join(tmp, "kubelet-shim")
		if out, err := exec.Command("go", "build", "-o", shimPath, "coracle.dev/kubelet/cmd/kubelet-shim").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kubelet-shim (or run make build first): %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}
