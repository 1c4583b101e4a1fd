package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/kubelet"
	"coracle.dev/kubelet/internal/localregistry"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testserver"
)

// node is one real node under test: an apiserver, a local registry with
// busybox, and a kubelet with the runc runtime on its own bridge, pod
// CIDR, cgroup root and directories, all removed when the test ends.
type node struct {
	t        testing.TB
	ts       *testserver.TestServer
	client   kubernetes.Interface
	kubelet  *kubelet.Kubelet
	opts     kubelet.Options
	registry *localregistry.Server
	name     string
	ns       string
	cidr     *net.IPNet
	// image is busybox in the test's registry.
	image string
	// asProcess runs the kubelet as bin/kubelet (proc) instead of
	// in-process.
	asProcess bool
	proc      *exec.Cmd
	procLog   *bytes.Buffer
}

// requireNodeTools fails (never skips) when the machine cannot run pods.
func requireNodeTools(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests run real containers and need root (run make test as root)")
	}
	var missing []string
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap", "/usr/lib/cni/loopback", "/bin/busybox"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, c := range []string{"runc", "iptables", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing %s: run deploy/install-deps.sh (runc containernetworking-plugins busybox-static iptables iproute2)", strings.Join(missing, ", "))
	}
	if out, err := exec.Command("/bin/busybox", "--list").Output(); err != nil || !bytes.Contains(out, []byte("httpd")) {
		t.Fatalf("/bin/busybox is not busybox-static with httpd: %v", err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

type nodeOption func(*kubelet.Options)

// startNode starts everything a real node test needs.
func startNode(t testing.TB, opts ...nodeOption) *node {
	t.Helper()
	requireNodeTools(t)
	ts := testserver.Start(t)
	n := &node{t: t, ts: ts, client: clientFor(t, ts), ns: "default"}
	ensurePodCredentials(t, ts, n.client, n.ns)
	reg, err := localregistry.Start(localregistry.Options{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	img, err := localregistry.BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "busybox:latest", img); err != nil {
		t.Fatal(err)
	}
	n.registry = reg
	n.image = reg.Addr() + "/busybox:latest"

	suffix := randHex(6)
	n.cidr = testnet.FreePodCIDR(t, testnet.KubeletIntegration)
	n.name = "node-" + suffix
	root := t.TempDir()
	o := kubelet.DefaultOptions()
	o.RESTConfig = ts.Config
	o.NodeName = n.name
	o.RootDir = filepath.Join(root, "kubelet")
	o.NodeIP = "127.0.0.1"
	o.PodCIDR = n.cidr.String()
	o.Port = 0
	o.StatusAddress = "127.0.0.1:0"
	o.CNIConfDir = filepath.Join(root, "cni-conf")
	o.BridgeName = "ct" + suffix
	o.NetworkName = "ctest-" + suffix
	o.CgroupRoot = "/coracle-test-" + suffix
	o.EvictionHard = testbin.KubeletEvictionHard
	o.PodLogDir = filepath.Join(root, "logs")
	o.SyncFrequency = 2 * time.Second
	// One node per apiserver has no routes to make; and a test kubelet
	// in the machine's namespace must not manage the routes of a real
	// node there (TestNodeRoutes tests them in a namespace of its own).
	o.NodeRoutes = kubelet.NodeRoutesNone
	o.ShimPath = testbin.Path(t, "kubelet-shim")
	o.Log = zaptest.NewLogger(t, zaptest.Level(logLevel()))
	if f := os.Getenv("CORACLE_TEST_LOG_FILE"); f != "" {
		cfg := zap.NewDevelopmentConfig()
		cfg.Level = zap.NewAtomicLevelAt(logLevel())
		cfg.OutputPaths = []string{f}
		if l, err := cfg.Build(); err == nil {
			o.Log = l
		}
	}
	for _, f := range opts {
		f(&o)
	}
	manual := false
	switch o.StatusAddress {
	case "process":
		o.StatusAddress = "127.0.0.1:0"
		n.asProcess = true
	case "manual":
		o.StatusAddress = "127.0.0.1:0"
		manual = true
	}
	n.opts = o
	// Registered before the kubelet's own cleanup: runs after it.
	t.Cleanup(n.checkNoLeaks)
	if !n.asProcess && !manual {
		n.startKubelet()
	}
	return n
}

// asProcess makes startNode leave the kubelet to startProcess.
func asProcess(o *kubelet.Options) { o.StatusAddress = "process" }

// startLater makes startNode leave the kubelet to the test's
// startKubelet, once it has made what the kubelet must find at start.
func startLater(o *kubelet.Options) { o.StatusAddress = "manual" }

func (n *node) startKubelet() {
	t := n.t
	t.Helper()
	k, err := kubelet.New(n.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.kubelet = k
	t.Cleanup(n.deleteAllPods)
	select {
	case <-k.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("kubelet not ready within 60s")
	}
}

// deleteAllPods deletes the test's pods, waits for the kubelet to tear
// them down, and stops the kubelet.
func (n *node) deleteAllPods() {
	t := n.t
	ctx := context.Background()
	if n.kubelet == nil && n.proc == nil {
		return
	}
	pods, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, p := range pods.Items {
			_ = n.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(1)})
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		entries, _ := os.ReadDir(filepath.Join(n.opts.RootDir, "pods"))
		if err == nil && len(pods.Items) == 0 && len(entries) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if entries, _ := os.ReadDir(filepath.Join(n.opts.RootDir, "pods")); len(entries) > 0 {
		t.Errorf("leak: %d pods still in the runtime after their deletion", len(entries))
	}
	n.stopKubelet()
}

// stopKubelet stops the kubelet (SIGTERM for a process); containers
// stay.
func (n *node) stopKubelet() {
	if n.kubelet != nil {
		_ = n.kubelet.Close()
		n.kubelet = nil
	}
	if n.proc != nil {
		_ = n.proc.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = n.proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = n.proc.Process.Kill()
			<-done
		}
		n.proc = nil
	}
}

// checkNoLeaks asserts that nothing of the test is left on the machine,
// then removes whatever is (so one failing test does not break others).
func (n *node) checkNoLeaks() {
	t := n.t
	root := filepath.Dir(n.opts.RootDir)
	// Mounts under the test's directories (netns, shm, overlays).
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], root) {
			t.Errorf("leak: mount %s", f[4])
			_ = exec.Command("umount", "-l", f[4]).Run()
		}
	}
	// Processes of the test: in its cgroups, or shims of its root dir.
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		if bytes.Contains(cg, []byte(n.opts.CgroupRoot+"/")) || (bytes.Contains(env, []byte("CORACLE_KUBELET_SHIM=")) && bytes.Contains(env, []byte(n.opts.RootDir))) {
			t.Errorf("leak: process %s", p)
			var pid int
			fmt.Sscanf(filepath.Base(p), "%d", &pid)
			if pid > 0 {
				_ = killPID(pid)
			}
		}
	}
	// Cgroups below the root.
	for _, h := range []string{"memory", "cpu", "pids", "unified"} {
		dir := filepath.Join("/sys/fs/cgroup", h, n.opts.CgroupRoot)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("leak: cgroup %s/%s", dir, e.Name())
			}
		}
	}
	// Veths on the bridge.
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", n.opts.BridgeName).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("leak: interfaces on %s: %s", n.opts.BridgeName, out)
	}
	// Rules of pods (the node's masquerade rule stays until teardown).
	n.checkRules(func(r string) bool { return !strings.Contains(r, "coracle pod network") })

	// What the node itself made goes with the teardown make down runs.
	o := n.opts
	o.Log = zap.NewNop()
	if err := kubelet.Teardown(context.Background(), o); err != nil {
		t.Errorf("teardown: %v", err)
	}
	if _, err := os.Stat("/sys/class/net/" + n.opts.BridgeName); err == nil {
		t.Errorf("leak: bridge %s after teardown", n.opts.BridgeName)
		_ = exec.Command("ip", "link", "del", n.opts.BridgeName).Run()
	}
	for _, h := range []string{"memory", "cpu", "pids", "unified"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, n.opts.CgroupRoot)); err == nil {
			t.Errorf("leak: cgroup root %s in %s after teardown", n.opts.CgroupRoot, h)
		}
	}
	removeCgroupTree(n.opts.CgroupRoot)
	n.checkRules(func(string) bool { return true })
}

// checkRules reports, and removes, iptables rules that mention the
// test's CIDR and that match.
func (n *node) checkRules(match func(rule string) bool) {
	prefix := strings.TrimSuffix(n.cidr.IP.String(), "0")
	ipt, err := iptables.New()
	if err != nil {
		n.t.Errorf("iptables: %v", err)
		return
	}
	for _, table := range []string{"nat", "filter"} {
		chains, _ := ipt.ListChains(table)
		for _, c := range chains {
			rules, _ := ipt.List(table, c)
			for _, r := range rules {
				if strings.Contains(r, prefix) && match(r) {
					n.t.Errorf("leak: iptables %s %s: %s", table, c, r)
					_ = exec.Command("sh", "-c", "iptables -t "+table+" "+strings.Replace(r, "-A ", "-D ", 1)).Run()
				}
			}
		}
	}
}

// removeCgroupTree removes a cgroup and everything below it in every
// hierarchy.
func removeCgroupTree(path string) {
	hs, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hs {
		root := filepath.Join("/sys/fs/cgroup", h.Name(), path)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func ptrInt64(v int64) *int64 { return &v }

// pod returns a busybox pod for this node.
func (n *node) pod(name string, containers ...v1.Container) *v1.Pod {
	for i := range containers {
		if containers[i].Image == "" {
			containers[i].Image = n.image
		}
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: n.ns},
		Spec:       v1.PodSpec{NodeName: n.name, Containers: containers, TerminationGracePeriodSeconds: ptrInt64(2)},
	}
}

func (n *node) create(p *v1.Pod) *v1.Pod {
	n.t.Helper()
	created, err := n.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		n.t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return created
}

func (n *node) get(name string) *v1.Pod {
	n.t.Helper()
	p, err := n.client.CoreV1().Pods(n.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitPod waits until cond holds for the pod.
func (n *node) waitPod(name string, timeout time.Duration, what string, cond func(*v1.Pod) bool) *v1.Pod {
	n.t.Helper()
	var last *v1.Pod
	eventually(n.t, timeout, name+": "+what, func() (bool, error) {
		p, err := n.client.CoreV1().Pods(n.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return cond(p), fmt.Errorf("status %s", statusSummary(p))
	})
	return last
}

func (n *node) waitRunning(name string) *v1.Pod {
	n.t.Helper()
	return n.waitPod(name, 60*time.Second, "Running and Ready", func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && podReady(p)
	})
}

func (n *node) waitGone(name string, timeout time.Duration) {
	n.t.Helper()
	eventually(n.t, timeout, name+" deleted", func() (bool, error) {
		_, err := n.client.CoreV1().Pods(n.ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func statusSummary(p *v1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, " [%s restarts=%d", cs.Name, cs.RestartCount)
		switch {
		case cs.State.Running != nil:
			b.WriteString(" running")
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s: %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s exit=%d", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
		b.WriteString("]")
	}
	return b.String()
}

// events returns the reasons of the pod's events.
func (n *node) events(name string) []v1.Event {
	list, err := n.client.CoreV1().Events(n.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		n.t.Fatalf("events: %v", err)
	}
	return list.Items
}

func hasEvent(evs []v1.Event, reason string) bool {
	for _, e := range evs {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

func sh(name, script string) v1.Container {
	return v1.Container{Name: name, Command: []string{"sh", "-c", script}}
}

func parseIP(s string) net.IP { return net.ParseIP(s) }

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// logLevel is the kubelet's log level in tests: warn, or
// CORACLE_TEST_LOG_LEVEL.
func logLevel() zapcore.Level {
	l := zapcore.WarnLevel
	if v := os.Getenv("CORACLE_TEST_LOG_LEVEL"); v != "" {
		_ = l.UnmarshalText([]byte(v))
	}
	return l
}
