package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testserver"
)

// cluster is an in-process apiserver and an admin client of it.
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

// process is a component started by the test, stopped by its PID.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string        // path of its stdout and stderr
	exited chan struct{} // closed once it has exited and been reaped
}

// start runs bin/NAME with args, its output in a log file that the test
// prints if it fails. When the test ends the process gets SIGTERM, and
// SIGKILL if it has not exited 20 seconds later.
func start(tb testing.TB, name string, args ...string) *process {
	tb.Helper()
	p := &process{name: name, log: filepath.Join(tb.TempDir(), name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd = exec.Command(testbin.Path(tb, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		logFile.Close()
		if tb.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				tb.Logf("%s log:\n%s", name, tail(string(b), 200))
			}
		}
	})
	return p
}

// cpu is the CPU time (user and system) the process has used so far.
func (p *process) cpu() time.Duration { return procCPU(strconv.Itoa(p.cmd.Process.Pid)) }

// procCPU reads utime and stime of /proc/PID/stat ("self" for this
// process), in clock ticks of 10 ms.
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; fields after it don't.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startComponent runs bin/NAME against the cluster with its status
// server on a free loopback port and waits for its /readyz.
func startComponent(tb testing.TB, c *cluster, name string, args ...string) *process {
	tb.Helper()
	status := testnet.FreeAddr(tb)
	args = append([]string{"--kubeconfig", c.ts.Kubeconfig, "--status-address", status, "--log-format", "console"}, args...)
	p := start(tb, name, args...)
	waitReady(tb, p, status, 60*time.Second)
	return p
}

// waitReady waits until http://status/readyz answers 200.
func waitReady(tb testing.TB, p *process, status string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + status + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within %v (last: %v)", p.name, timeout, err)
		}
		select {
		case <-p.exited:
			tb.Fatalf("%s exited before it was ready: %v", p.name, p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startRegistry runs bin/local-registry (busybox:latest and busybox:1.36
// in it) on a free loopback port and returns its address once it serves.
func startRegistry(tb testing.TB) string {
	tb.Helper()
	addr := testnet.FreeAddr(tb)
	start(tb, "local-registry", "--address", addr, "--log-format", "console")
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
		"--kubeconfig", c.ts.Kubeconfig, "--node-name", n.name, "--root-dir", n.rootDir,
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
	p := start(t, "kubelet", append(flags, "--status-address", status)...)
	waitReady(t, p, status, 60*time.Second)
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

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
