package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// cluster is an apiserver (bin/apiserver) and an admin client of it.
type cluster struct {
	ts     *testserver.TestServer
	client kubernetes.Interface
}

func startCluster(tb testing.TB) *cluster {
	tb.Helper()
	ts := testserver.Start(tb)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 200, 400
	return &cluster{ts: ts, client: kubernetes.NewForConfigOrDie(cfg)}
}

// startComponent runs bin/NAME against the cluster with its status
// server on a free loopback port and waits for its /readyz.
func startComponent(tb testing.TB, c *cluster, name string, args ...string) *testproc.Process {
	tb.Helper()
	status := testnet.FreeAddr(tb)
	args = append([]string{"--kubeconfig", c.ts.Kubeconfig, "--status-address", status, "--log-format", "console"}, args...)
	p := testproc.Start(tb, name, testbin.Path(tb, name), args...)
	p.WaitReady(tb, 60*time.Second, testproc.Readyz(status))
	return p
}

// startRegistry runs bin/local-registry (busybox:latest and busybox:1.36
// in it) on a free loopback port and returns its address once it serves.
func startRegistry(tb testing.TB) string {
	tb.Helper()
	addr := testnet.FreeAddr(tb)
	testproc.Start(tb, "local-registry", testbin.Path(tb, "local-registry"), "--address", addr, "--log-format", "console")
	eventually(tb, 30*time.Second, "the local registry serving busybox", func() (bool, error) {
		resp, err := http.Get("http://" + addr + "/v2/library/busybox/manifests/1.36")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %s", resp.Status)
	})
	return addr
}

// node is a kubelet with the runc runtime on its own bridge, pod CIDR
// and cgroup root.
type node struct {
	name       string
	rootDir    string // the kubelet's --root-dir
	cgroupRoot string
	bridge     string
}

// startNode runs a runc kubelet pulling docker.io images from registry.
// When the test ends the kubelet is stopped, its --teardown removes every
// container, namespace, cgroup and rule it made, and the test checks that
// its cgroup root and bridge are gone.
func startNode(t *testing.T, c *cluster, registry string) *node {
	t.Helper()
	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	root := t.TempDir()
	n := &node{name: "cm-e2e-" + suffix, rootDir: filepath.Join(root, "kubelet"), cgroupRoot: "/coracle-cm-e2e-" + suffix, bridge: "cm" + suffix}
	flags := []string{
		"--kubeconfig", c.ts.Kubeconfig, "--node-name", n.name, "--root-dir", n.rootDir, "--eviction-hard", testbin.KubeletEvictionHard,
		"--node-ip", "127.0.0.1", "--pod-cidr", testnet.FreePodCIDR(t, testnet.ControllerManagerE2E).String(), "--port", "0",
		"--cni-conf-dir", filepath.Join(root, "cni"), "--bridge-name", n.bridge, "--network-name", "cm-e2e-" + suffix,
		"--cgroup-root", n.cgroupRoot, "--pod-log-dir", filepath.Join(root, "logs"),
		"--registry-mirror", "docker.io=" + registry, "--log-format", "console",
	}
	bin := testbin.Path(t, "kubelet")
	// Cleanups run last-registered first: stop the kubelet, tear the node
	// down, then check that nothing is left.
	t.Cleanup(func() {
		for _, m := range cgroupMounts(t) {
			if _, err := os.Stat(filepath.Join(m, n.cgroupRoot)); !os.IsNotExist(err) {
				t.Errorf("after teardown: cgroup %s still exists in %s (%v)", n.cgroupRoot, m, err)
			}
		}
		if err := exec.Command("ip", "link", "show", n.bridge).Run(); err == nil {
			t.Errorf("after teardown: bridge %s still exists", n.bridge)
		}
	})
	t.Cleanup(func() {
		out, err := exec.Command(bin, append(flags, "--teardown", "--log-level", "warn")...).CombinedOutput()
		if err != nil {
			t.Errorf("kubelet --teardown: %v\n%s", err, out)
		}
	})
	status := testnet.FreeAddr(t)
	p := testproc.Start(t, "kubelet", bin, append(flags, "--status-address", status)...)
	p.WaitReady(t, 60*time.Second, testproc.Readyz(status))
	return n
}

// cgroupMounts are the mount points of the cgroup hierarchies: one with
// cgroup v2, one per controller with v1.
func cgroupMounts(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	if len(out) == 0 {
		tb.Fatal("no cgroup hierarchy mounted")
	}
	return out
}

// eventually polls cond until it holds or timeout passes.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s (last: %v)", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
