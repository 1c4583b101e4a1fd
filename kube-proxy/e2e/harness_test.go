package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"coracle.dev/kube-proxy/internal/netnstest"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
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

// process is a component started by the test, stopped by its PID.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string        // path of its stdout and stderr
	exited chan struct{} // closed once it has exited and been reaped
}

// start runs bin/NAME with args, inside ns unless it is nil (nsenter
// --net, which execs the binary: the PID is the component's), its output
// in a log file that the test prints if it fails. When the test ends the
// process gets SIGTERM, and SIGKILL if it has not exited 20 seconds
// later.
func start(t testing.TB, ns *netnstest.NS, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	if ns != nil {
		p.cmd = exec.Command("nsenter", append([]string{"--net=" + ns.Path(), testbin.Path(t, name)}, args...)...)
	} else {
		p.cmd = exec.Command(testbin.Path(t, name), args...)
	}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("%s (pid %d) ignored SIGTERM for 20s; killing it", name, p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				t.Logf("%s log:\n%s", name, tail(string(b), 80))
			}
		}
	})
	return p
}

// waitReady polls cond until it holds; it fails the test when timeout
// passes or the process exits first.
func (p *process) waitReady(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (last: %s)", p.name, timeout, last)
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.cmd.ProcessState, tail(string(b), 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
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
	p.waitReady(t, 60*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + status + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
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
	kubeconfig := n.ns.RelayAPIServer(t, strings.TrimPrefix(ts.Server.URL(), "https://"), apiPort, ts.Kubeconfig)

	registry := start(t, &n.ns, "local-registry", "--address", registryAddr, "--log-format", "console")

	flags := []string{
		"--kubeconfig", kubeconfig, "--node-name", n.name, "--root-dir", n.rootDir,
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

	registry.waitReady(t, 30*time.Second, func() (bool, string) {
		body, err := n.ns.Get("http://" + registryAddr + "/v2/library/busybox/manifests/latest")
		return err == nil && strings.Contains(body, "schemaVersion"), fmt.Sprint(body, err)
	})
	kubelet.waitReady(t, 60*time.Second, readyIn(n.ns, kubeletStatus))
	proxy.waitReady(t, 30*time.Second, readyIn(n.ns, proxyStatus))
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

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
