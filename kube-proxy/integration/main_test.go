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
	"testing"

	"k8s.io/klog/v2"

	"coracle.dev/shared/testbin"
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
	tmp, err := os.MkdirTemp("", "kube-proxy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if binary, err = testbin.PathOrBuild("kube-proxy", "coracle.dev/kube-proxy/cmd/kube-proxy", tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
