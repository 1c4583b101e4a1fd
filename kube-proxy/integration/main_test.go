// Package integration tests kube-proxy end to end, as root, with real
// iptables and real traffic, without touching the host's network: each
// test builds a "node" network namespace with "pods" (further namespaces
// on a bridge inside it) and an "outside" client namespace, runs the real
// kube-proxy binary inside the node namespace against an in-process
// apiserver, and creates Services and EndpointSlices directly in the API.
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

// binary is kube-proxy: $CORACLE_BIN_DIR/kube-proxy from make build, or
// built for this run.
var binary string

func TestMain(m *testing.M) {
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if dir := os.Getenv("CORACLE_BIN_DIR"); dir != "" {
		binary = filepath.Join(dir, "kube-proxy")
	}
	if _, err := os.Stat(binary); binary == "" || err != nil {
		tmp, err := os.MkdirTemp("", "kube-proxy-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		binary = filepath.Join(tmp, "kube-proxy")
		if out, err := exec.Command("go", "build", "-o", binary, "coracle.dev/kube-proxy/cmd/kube-proxy").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kube-proxy (or run make build first): %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}
