package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coracle.dev/shared/netnstest"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// Addresses inside the test's namespaces (never on the host).
const (
	nodeIP    = "172.31.0.2" // the node's eth0, towards the outside namespace
	outsideIP = "172.31.0.3"
	// In the node namespace, on its own loopback: the apiserver (relayed
	// from the host's), the registry, and the status servers.
	apiPort       = 6443
	registryAddr  = "127.0.0.1:5000"
	kubeletStatus = "127.0.0.1:10248"
	proxyStatus   = "127.0.0.1:10256"
)

// requireNode fails the test, loudly, when it cannot run a node: it needs
// root, the namespace tools, runc and the CNI plugins.
func requireNode(t testing.TB) {
	t.Helper()
	netnstest.RequireRoot(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatalf("runc not found (deploy/install-deps.sh installs it): %v", err)
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatalf("CNI plugins missing (deploy/install-deps.sh installs containernetworking-plugins): %v", err)
	}
}

// start runs bin/NAME with args (see testproc.Start), inside ns unless it
// is nil: nsenter --net execs the binary, so the PID is the component's.
func start(t testing.TB, ns *netnstest.NS, name string, args ...string) *testproc.Process {
	t.Helper()
	if ns == nil {
		return testproc.Start(t, name, testbin.Path(t, name), args...)
	}
	return testproc.Start(t, name, "nsenter", append([]string{"--net=" + ns.Path(), testbin.Path(t, name)}, args...)...)
}

// readyIn is a readiness check of the status server at addr inside ns.
func readyIn(ns netnstest.NS, addr string) func() (bool, string) {
	return func() (bool, string) {
		body, err := ns.Get("http://" + addr + "/readyz")
		return err == nil && body == "ok", fmt.Sprint(body, err)
	}
}

// startControllerManager runs bin/controller-manager against the
// apiserver on the host (it only talks to the API), without node IPAM:
// the kubelet keeps its --pod-cidr.
func startControllerManager(t *testing.T, ts *testserver.TestServer) {
	t.Helper()
	status := testnet.FreeAddr(t)
	p := start(t, nil, "controller-manager", "--kubeconfig", ts.Kubeconfig, "--status-address", status,
		"--cluster-cidr=", "--log-format", "console")
	p.WaitReady(t, 60*time.Second, testproc.Readyz(status))
}

// node is a network namespace with everything of a node in it: a local
// registry (busybox as docker.io's mirror), a runc kubelet on its own
// bridge, pod CIDR and cgroup root, and kube-proxy. The apiserver is
// relayed in from the host; an "outside" namespace is linked to the
// node's eth0.
type node struct {
	name       string
	ns         netnstest.NS
	outside    netnstest.NS
	podCIDR    string
	rootDir    string // the kubelet's --root-dir
	cgroupRoot string
	bridge     string // the pods' bridge, inside the node namespace
}

// podNetns is the network namespace of a pod the kubelet runs.
func (n *node) podNetns(uid string) netnstest.NS {
	return netnstest.At(filepath.Join(n.rootDir, "cni", "netns", uid, "net"))
}

// startNode builds the node and waits until its registry, kubelet and
// kube-proxy are ready. When the test ends they are stopped, the kubelet's
// --teardown (run in the node namespace) removes every container, pod
// namespace, cgroup and rule it made, the test checks that no process is
// left in the node namespace and that the cgroup root is gone, and the
// namespaces are deleted.
func startNode(t *testing.T, ts *testserver.TestServer) *node {
	t.Helper()
	requireNode(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	root := t.TempDir()
	n := &node{
		name: "kp-e2e-" + id, podCIDR: testnet.FreePodCIDR(t, testnet.KubeProxyE2E).String(),
		rootDir: filepath.Join(root, "kubelet"), cgroupRoot: "/coracle-kp-" + id, bridge: "kp" + id,
	}
	n.ns = netnstest.New(t, "cpe2e-"+id+"-node")
	n.outside = netnstest.New(t, "cpe2e-"+id+"-out")
	// Cleanups run last-registered first: this one runs once every
	// process is stopped and the kubelet's teardown is done, before the
	// namespaces are deleted.
	t.Cleanup(func() { n.checkGone(t) })

	n.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	n.ns.Run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", n.outside.Name)
	n.ns.Run(t, "ip", "addr", "add", nodeIP+"/24", "dev", "eth0")
	n.ns.Run(t, "ip", "link", "set", "eth0", "up")
	// The default route also carries Service traffic up to the NAT.
	n.ns.Run(t, "ip", "route", "add", "default", "via", outsideIP)
	n.outside.Run(t, "ip", "addr", "add", outsideIP+"/24", "dev", "eth0")
	n.outside.Run(t, "ip", "link", "set", "eth0", "up")
	kubeconfig := n.ns.RelayAPIServer(t, strings.TrimPrefix(ts.URL(), "https://"), apiPort, ts.Kubeconfig)

	registry := start(t, &n.ns, "local-registry", "--address", registryAddr, "--log-format", "console")

	flags := []string{
		"--kubeconfig", kubeconfig, "--node-name", n.name, "--root-dir", n.rootDir, "--eviction-hard", testbin.KubeletEvictionHard,
		"--node-ip", nodeIP, "--pod-cidr", n.podCIDR, "--port", "0",
		"--cni-conf-dir", filepath.Join(root, "cni"), "--bridge-name", n.bridge, "--network-name", "kp-e2e-" + id,
		"--cgroup-root", n.cgroupRoot, "--pod-log-dir", filepath.Join(root, "logs"),
		"--registry-mirror", "docker.io=" + registryAddr, "--log-format", "console",
	}
	kubeletBin := testbin.Path(t, "kubelet")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args := append([]string{"--net=" + n.ns.Path(), kubeletBin}, append(flags, "--teardown", "--log-level", "warn")...)
		if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil {
			t.Errorf("kubelet --teardown: %v\n%s", err, out)
		}
	})
	kubelet := start(t, &n.ns, "kubelet", append(flags, "--status-address", kubeletStatus)...)

	proxy := start(t, &n.ns, "kube-proxy", "--kubeconfig", kubeconfig, "--node-name", n.name,
		"--cluster-cidr", n.podCIDR, "--metrics-bind-address", proxyStatus,
		"--min-sync-period", "100ms", "--log-format", "console")

	registry.WaitReady(t, 30*time.Second, func() (bool, string) {
		body, err := n.ns.Get("http://" + registryAddr + "/v2/library/busybox/manifests/latest")
		return err == nil && strings.Contains(body, "schemaVersion"), fmt.Sprint(body, err)
	})
	kubelet.WaitReady(t, 60*time.Second, readyIn(n.ns, kubeletStatus))
	proxy.WaitReady(t, 30*time.Second, readyIn(n.ns, proxyStatus))
	return n
}

// checkGone reports what the node left behind after its teardown: a
// process still in the node namespace (a container shim, say), the pods'
// bridge in it, or the cgroup root.
func (n *node) checkGone(t *testing.T) {
	if out, err := exec.Command("ip", "-n", n.ns.Name, "link", "show", n.bridge).CombinedOutput(); err == nil {
		t.Errorf("after teardown: bridge %s still in the node namespace: %s", n.bridge, out)
	}
	out, err := exec.Command("ip", "netns", "pids", n.ns.Name).CombinedOutput()
	if err != nil {
		t.Errorf("ip netns pids %s: %v %s", n.ns.Name, err, out)
	}
	for _, pid := range strings.Fields(string(out)) {
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		t.Errorf("after teardown: process %s (%s) still in the node namespace", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	for _, m := range cgroupMounts(t) {
		if _, err := os.Stat(filepath.Join(m, n.cgroupRoot)); !os.IsNotExist(err) {
			t.Errorf("after teardown: cgroup %s still exists in %s (%v)", n.cgroupRoot, m, err)
		}
	}
}

// cgroupMounts are the mount points of the cgroup hierarchies: one with
// cgroup v2, one per controller with v1.
func cgroupMounts(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	return out
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
