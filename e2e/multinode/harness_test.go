package multinode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/netnstest"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// clusterCIDR is the pods' range: a /24 per node, as make up's
// 10.244.0.0/16 (testnet gives this package its own second octet).
var clusterCIDR = fmt.Sprintf("10.%d.0.0/16", testnet.MultiNodeE2E)

// settings of a cluster: the controller manager's node monitoring.
type settings struct {
	// nodeMonitorGracePeriod: how long a silent node stays Ready.
	nodeMonitorGracePeriod time.Duration
	// vxlan: the nodes' kubelets connect pod networks with
	// --node-routes=vxlan, and node 3 is on an IP subnet of its own,
	// reached from the others only through this machine (a router): no
	// host-gw route can reach it.
	vxlan bool
	// addons: the add-ons' images in the registry and their manifests in
	// the add-on manager's directory, as make up has them.
	addons []addon
}

// addon is an add-on of deploy/addons: its directory and its name in the
// add-on manager's directory.
type addon struct{ dir, name string }

// cluster is a control plane on this machine (the apiserver, scheduler,
// controller manager and a local registry, reached by the nodes at the
// address of a bridge the test made) and nodes, each a network namespace
// on that bridge installed and started as a real host is.
type cluster struct {
	t        testing.TB
	id       string
	root     string
	bridge   string
	subnet   string // "172.31.X": the bridge's /24
	hostIP   string // the bridge's own address
	subnet2  string // with settings.vxlan, node 3's "172.31.Y"
	settings settings
	registry string // the local registry, at hostIP
	binDir   string
	addonDir string // the add-on manager's manifests
	cmArgs   []string
	ts       *testserver.TestServer
	cm       *testproc.Process
	client   kubernetes.Interface
	nodes    []*node
}

// node is one host of the cluster: a network namespace with a veth on
// the bridge, deploy/install.sh --worker's files under its own prefix,
// joined with ctl join, its kubelet and kube-proxy run from the installed
// units.
type node struct {
	c       *cluster
	name    string
	ip      string
	ns      netnstest.NS
	veth    string // the host's end, on the bridge
	dir     string // the install prefix
	kubelet *testproc.Process
	proxy   *testproc.Process
}

// requireHost fails the test, loudly, when this machine cannot run nodes.
func requireHost(t testing.TB) {
	t.Helper()
	netnstest.RequireRoot(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatalf("runc not found (deploy/install-deps.sh installs it): %v", err)
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat("/usr/lib/cni/" + p); err != nil {
			t.Fatalf("CNI plugin %s missing (deploy/install-deps.sh installs containernetworking-plugins): %v", p, err)
		}
	}
}

// repoRoot is the checkout this test runs in (deploy/ lives there).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "deploy", "install.sh")); err != nil {
		t.Fatalf("deploy/install.sh not found from %s: %v", dir, err)
	}
	return dir
}

// newCluster starts the control plane; nodes come with addNode.
func newCluster(t testing.TB, s settings) *cluster {
	t.Helper()
	requireHost(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	c := &cluster{t: t, id: hex.EncodeToString(b), root: t.TempDir(), settings: s}
	c.bridge = "cmn" + c.id
	c.subnet = freeSubnet(t)
	c.hostIP = c.subnet + ".1"
	// Every binary in one directory: install.sh links the node's from it.
	c.binDir = filepath.Dir(testbin.Path(t, "kubelet"))
	for _, name := range []string{"kube-proxy", "kubelet-shim", "ctl", "local-registry", "scheduler", "controller-manager"} {
		if p := testbin.Path(t, name); filepath.Dir(p) != c.binDir {
			t.Fatalf("%s is in %s, not beside the kubelet in %s", name, filepath.Dir(p), c.binDir)
		}
	}

	netnstest.Run(t, "ip", "link", "add", c.bridge, "type", "bridge")
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", c.bridge).CombinedOutput(); err != nil {
			t.Errorf("remove bridge %s: %v %s", c.bridge, err, out)
		}
	})
	netnstest.Run(t, "ip", "addr", "add", c.hostIP+"/24", "dev", c.bridge)
	netnstest.Run(t, "ip", "link", "set", c.bridge, "up")
	if s.vxlan {
		c.subnet2 = freeSubnet(t)
		for c.subnet2 == c.subnet {
			c.subnet2 = freeSubnet(t)
		}
		netnstest.Run(t, "ip", "addr", "add", c.subnet2+".1/24", "dev", c.bridge)
		// This machine routes between the two subnets. Forwarding is
		// turned on as the CNI bridge plugin of any node on this machine
		// does, and left on (other tests' nodes may rely on it).
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			t.Fatalf("turn on net.ipv4.ip_forward (this machine routes between the two subnets): %v", err)
		}
	}
	// Traffic between the nodes crosses the bridge; with br_netfilter the
	// host's FORWARD chain sees it, whatever its policy.
	netnstest.Run(t, "iptables", "-I", "FORWARD", "-i", c.bridge, "-o", c.bridge, "-j", "ACCEPT")
	t.Cleanup(func() {
		_ = exec.Command("iptables", "-D", "FORWARD", "-i", c.bridge, "-o", c.bridge, "-j", "ACCEPT").Run()
	})

	c.registry = fmt.Sprintf("%s:%d", c.hostIP, testnet.FreePorts(t, 1)[0])
	regArgs := []string{"--address", c.registry, "--log-format", "console"}
	var images []string
	c.addonDir = filepath.Join(c.root, "manifests")
	if err := os.MkdirAll(c.addonDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range s.addons {
		// As make up: the image its manifest names, packed from the
		// add-on's static binary; the manifest in the manager's directory.
		manifest, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "addons", a.dir, "manifest.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		ref := regexp.MustCompile(`coracle\.dev/addons/` + regexp.QuoteMeta(a.dir) + `:[A-Za-z0-9._-]+`).Find(manifest)
		if ref == nil {
			t.Fatalf("the %s manifest names no coracle.dev/addons/%s image", a.dir, a.dir)
		}
		image := strings.TrimPrefix(string(ref), "coracle.dev/")
		binary := filepath.Join(c.binDir, "addons", a.dir)
		if _, err := os.Stat(binary); err != nil {
			t.Fatalf("add-on binary %s: %v (make build builds it)", binary, err)
		}
		regArgs = append(regArgs, "--image", image+"="+binary)
		images = append(images, image)
		if err := os.WriteFile(filepath.Join(c.addonDir, a.name+".yaml"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := testproc.Start(t, "local-registry", testbin.Path(t, "local-registry"), regArgs...)
	reg.WaitReady(t, 60*time.Second, func() (bool, string) {
		for _, ref := range append([]string{"library/busybox:latest"}, images...) {
			repo, tag, _ := strings.Cut(ref, ":")
			out, err := exec.Command("curl", "-fsS", "http://"+c.registry+"/v2/"+repo+"/manifests/"+tag).CombinedOutput()
			if err != nil {
				return false, ref + ": " + string(out)
			}
		}
		return true, ""
	})

	// The apiserver answers on every address (the nodes reach it on the
	// bridge's) and verifies kubelets' serving certificates with its CA.
	// The whole security model on: ServiceAccount admission, each
	// component with its own identity (the kubeconfigs the apiserver
	// writes next to admin.conf), the controllers as their ServiceAccounts.
	c.ts = testserver.Start(t, testserver.WithServiceAccountAdmission(),
		testserver.WithArgs("--bind-address", "0.0.0.0", "--advertise-address", c.hostIP),
		testserver.WithDataDirArgs(func(dir string) []string {
			return []string{"--kubelet-certificate-authority", filepath.Join(dir, "pki", "ca.crt")}
		}))
	c.client = c.ts.Client()

	status := testnet.FreeAddr(t)
	sched := testproc.Start(t, "scheduler", testbin.Path(t, "scheduler"), "--kubeconfig", filepath.Join(c.ts.DataDir, "scheduler.conf"),
		"--status-address", status, "--log-format", "console")
	sched.WaitReady(t, 60*time.Second, testproc.Readyz(status))
	status = testnet.FreeAddr(t)
	pki := filepath.Join(c.ts.DataDir, "pki")
	c.cmArgs = []string{
		"--kubeconfig", filepath.Join(c.ts.DataDir, "controller-manager.conf"), "--use-service-account-credentials",
		"--cluster-cidr", clusterCIDR, "--node-cidr-mask-size", "24",
		"--cluster-signing-cert-file", filepath.Join(pki, "ca.crt"), "--cluster-signing-key-file", filepath.Join(pki, "ca.key"),
		"--node-monitor-grace-period", s.nodeMonitorGracePeriod.String(), "--node-monitor-period", "2s",
		"--addon-manifests-dir", c.addonDir,
		"--status-address", status, "--log-format", "console",
	}
	c.cm = testproc.Start(t, "controller-manager", testbin.Path(t, "controller-manager"), c.cmArgs...)
	c.cm.WaitReady(t, 60*time.Second, testproc.Readyz(status))
	return c
}

// freeSubnet is a 172.31.X.0/24 no interface or route of this machine
// is in (make up takes 172.31.250).
func freeSubnet(t testing.TB) string {
	t.Helper()
	used := netnstest.Run(t, "ip", "-4", "-o", "addr") + netnstest.Run(t, "ip", "-4", "-o", "route", "show", "table", "all")
	for range 100 {
		s := fmt.Sprintf("172.31.%d", 100+mathrand.IntN(100))
		if !strings.Contains(used, s+".") {
			return s
		}
	}
	t.Fatal("no free 172.31.X.0/24")
	return ""
}

// ctl runs bin/ctl as the cluster's admin and returns its output.
func (c *cluster) ctl(args ...string) (string, error) {
	out, err := exec.Command(testbin.Path(c.t, "ctl"), append([]string{"--kubeconfig", c.ts.Kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// joinCommand is a new token's join command, as `ctl token create
// --print-join-command` prints it, split into words, ctl's path first.
func (c *cluster) joinCommand(t testing.TB) []string {
	t.Helper()
	out, err := c.ctl("token", "create", "--ttl", "30m", "--print-join-command")
	if err != nil {
		t.Fatalf("ctl token create --print-join-command: %v\n%s", err, out)
	}
	words := strings.Fields(out)
	if len(words) < 2 || words[0] != "ctl" || words[1] != "join" {
		t.Fatalf("join command %q: want 'ctl join ...'", out)
	}
	return append([]string{testbin.Path(t, "ctl")}, words[1:]...)
}

// newNode makes the i-th node's namespace and installs its files; it is
// not joined yet.
func (c *cluster) newNode(t testing.TB, i int) *node {
	t.Helper()
	subnet := c.subnet
	if c.settings.vxlan && i == 3 {
		subnet = c.subnet2
	}
	n := &node{
		c: c, name: fmt.Sprintf("node-%d", i), ip: fmt.Sprintf("%s.%d", subnet, 10+i),
		veth: fmt.Sprintf("cmn%sv%d", c.id, i),
		dir:  filepath.Join(c.root, fmt.Sprintf("cmn%s-n%d", c.id, i)),
	}
	n.ns = netnstest.New(t, fmt.Sprintf("cmn%s-n%d", c.id, i))
	netnstest.Run(t, "ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns.Name)
	netnstest.Run(t, "ip", "link", "set", n.veth, "master", c.bridge, "up")
	n.ns.Run(t, "ip", "addr", "add", n.ip+"/24", "dev", "eth0")
	n.ns.Run(t, "ip", "link", "set", "eth0", "up")
	n.ns.Run(t, "ip", "route", "add", "default", "via", subnet+".1")
	n.ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	install := exec.Command(filepath.Join(repoRoot(t), "deploy", "install.sh"), "--worker", "--prefix", n.dir)
	install.Env = append(os.Environ(), "CORACLE_BIN_DIR="+c.binDir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("install.sh --worker --prefix %s: %v\n%s", n.dir, err, out)
	}
	// What differs from a real host's files: images from the test's
	// registry, and this cluster's pod range for kube-proxy.
	n.appendConfig(t, "kubelet.yaml", fmt.Sprintf("registry-mirror: [docker.io=http://%s, coracle.dev=http://%s]\n", c.registry, c.registry))
	n.replaceConfig(t, "kubelet.yaml", "eviction-hard:", "eviction-hard: "+testbin.KubeletEvictionHard)
	n.replaceConfig(t, "kube-proxy.yaml", "cluster-cidr:", "cluster-cidr: "+clusterCIDR)
	if c.settings.vxlan {
		n.replaceConfig(t, "kubelet.yaml", "node-routes:", "node-routes: vxlan")
	}
	return n
}

func (n *node) confDir() string { return filepath.Join(n.dir, "etc", "coracle") }

func (n *node) appendConfig(t testing.TB, file, text string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(n.confDir(), file), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func (n *node) replaceConfig(t testing.TB, file, keyPrefix, line string) {
	t.Helper()
	path := filepath.Join(n.confDir(), file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, keyPrefix) {
			lines[i], found = line, true
		}
	}
	if !found {
		t.Fatalf("%s has no %q line", path, keyPrefix)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// join runs the join command inside the node's namespace, as an
// administrator would on the new host, and returns its output.
func (n *node) join(words []string, extra ...string) (string, error) {
	args := append(append([]string{}, words...), "--config-dir", n.confDir(), "--node-name", n.name, "--node-ip", n.ip, "--start=false")
	out, err := n.ns.Command(append(args, extra...)...).CombinedOutput()
	return string(out), err
}

// unit is what systemd would run for a unit: its environment
// (EnvironmentFile=, Environment=) and its ExecStart= words.
func (n *node) unit(t testing.TB, component string) (env, argv []string) {
	t.Helper()
	path := filepath.Join(n.dir, "etc", "systemd", "system", "coracle-"+component+".service")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch key {
		case "EnvironmentFile":
			optional := strings.HasPrefix(value, "-")
			b, err := os.ReadFile(strings.TrimPrefix(value, "-"))
			if err != nil {
				if optional && os.IsNotExist(err) {
					continue
				}
				t.Fatalf("%s: EnvironmentFile: %v", path, err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					env = append(env, l)
				}
			}
		case "Environment":
			env = append(env, strings.Fields(value)...)
		case "ExecStart":
			argv = strings.Fields(value)
		}
	}
	if len(argv) == 0 {
		t.Fatalf("%s: no ExecStart=", path)
	}
	return env, argv
}

// start runs the node's component from its unit, inside its namespace
// (`env` sets the unit's environment and execs the binary, so the PID is
// the component's).
func (n *node) start(t testing.TB, component string, extra ...string) *testproc.Process {
	t.Helper()
	env, argv := n.unit(t, component)
	args := append([]string{"--net=" + n.ns.Path(), "env"}, env...)
	args = append(append(args, argv...), extra...)
	return testproc.Start(t, n.name+"-"+component, "nsenter", args...)
}

// startKubelet starts the node's kubelet, and registers its teardown:
// when the test ends, `kubelet --teardown` from the same unit removes
// every container, pod namespace, cgroup, route and rule of the node, and
// the test checks that no process is left in the node's namespace.
func (n *node) startKubelet(t testing.TB) {
	t.Helper()
	if n.kubelet == nil {
		t.Cleanup(func() { n.checkGone(t) })
		t.Cleanup(func() {
			env, argv := n.unit(t, "kubelet")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			args := append(append([]string{"--net=" + n.ns.Path(), "env"}, env...), argv...)
			args = append(args, "--teardown", "--log-level", "warn")
			if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil {
				t.Errorf("%s: kubelet --teardown: %v\n%s", n.name, err, out)
			}
		})
	}
	n.kubelet = n.start(t, "kubelet")
}

func (n *node) startProxy(t testing.TB) {
	t.Helper()
	n.proxy = n.start(t, "kube-proxy")
}

// checkGone reports a process left in the node's namespace after its
// teardown (a container's shim, say).
func (n *node) checkGone(t testing.TB) {
	out, err := exec.Command("ip", "netns", "pids", n.ns.Name).CombinedOutput()
	if err != nil {
		t.Errorf("ip netns pids %s: %v %s", n.ns.Name, err, out)
		return
	}
	for _, pid := range strings.Fields(string(out)) {
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		t.Errorf("after teardown: process %s (%s) still in %s's namespace", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), n.name)
	}
}

// addNode makes, installs, joins and starts the i-th node and waits until
// it is Ready; it returns how long the join took: from the join command
// to the Node Ready.
func (c *cluster) addNode(t testing.TB, i int) (*node, time.Duration) {
	t.Helper()
	n := c.newNode(t, i)
	words := c.joinCommand(t)
	began := time.Now()
	if out, err := n.join(words); err != nil {
		t.Fatalf("%s: join: %v\n%s", n.name, err, out)
	}
	n.startKubelet(t)
	c.waitNodeReady(t, n.name, 2*time.Minute)
	took := time.Since(began)
	n.startProxy(t)
	c.nodes = append(c.nodes, n)
	return n, took
}

// waitNodeReady polls until node name is Ready.
func (c *cluster) waitNodeReady(t testing.TB, name string, timeout time.Duration) {
	t.Helper()
	c.poll(t, timeout, "node "+name+" Ready", func() (bool, string) {
		node, err := c.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, cond.Reason + ": " + cond.Message
			}
		}
		return false, "no Ready condition"
	})
}

// poll calls check until it says done, or fails the test after timeout
// with what check last said.
func (c *cluster) poll(t testing.TB, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := check()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %s; last: %s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// node returns the cluster's node called name.
func (c *cluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// podNetns is the network namespace of a pod, which its node's kubelet
// keeps under its root directory.
func (c *cluster) podNetns(t testing.TB, pod *corev1.Pod) netnstest.NS {
	t.Helper()
	n := c.node(pod.Spec.NodeName)
	if n == nil {
		t.Fatalf("pod %s is on %q, not one of the test's nodes", pod.Name, pod.Spec.NodeName)
	}
	return netnstest.At(filepath.Join(n.dir, "var", "lib", "coracle", "kubelet", "cni", "netns", string(pod.UID), "net"))
}
