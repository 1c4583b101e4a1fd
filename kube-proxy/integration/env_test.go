package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/netnstest"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testserver"
)

// Addresses inside the test's namespaces (never on the host).
const (
	nodeName   = "node-a"
	nodeIP     = "172.31.0.2" // the node's eth0, towards the outside namespace
	outsideIP  = "172.31.0.3"
	bridgeIP   = "10.244.1.1"
	apiPort    = 6443 // the apiserver, forwarded into the node namespace on 127.0.0.1
	statusPort = 10256
	httpPort   = 8080 // every pod: HTTP, answers "<pod> <client address>"
	udpPort    = 5353 // every pod: UDP, answers "<pod>"
	echoPort   = 9000 // every pod: TCP echo, prefixed with the pod's name
)

func requireRoot(t *testing.T) { netnstest.RequireRoot(t) }

func sh(t *testing.T, args ...string) string { t.Helper(); return netnstest.Run(t, args...) }

// netns is a network namespace the test made.
type netns = netnstest.NS

func newNetns(t *testing.T, name string) netns { t.Helper(); return netnstest.New(t, name) }

// pod is a namespace on the node's bridge serving httpPort, udpPort and
// echoPort.
type pod struct {
	netns
	podName, ip string
}

// env is one node with its pods, an outside client and kube-proxy.
type env struct {
	t       *testing.T
	id      string
	ts      *testserver.TestServer
	client  kubernetes.Interface
	node    netns
	outside netns
	pods    []*pod
	kubecfg string
	dir     string
	proxy   *process
}

func newEnv(t *testing.T, pods int) *env {
	requireRoot(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	e := &env{t: t, id: "cpkp-" + hex.EncodeToString(b), dir: t.TempDir()}
	e.ts = testserver.Start(t)
	e.client = kubernetes.NewForConfigOrDie(e.ts.Config)

	e.node = newNetns(t, e.id+"-node")
	e.outside = newNetns(t, e.id+"-out")
	e.node.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	e.node.Run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", e.outside.Name)
	e.node.Run(t, "ip", "addr", "add", nodeIP+"/24", "dev", "eth0")
	e.node.Run(t, "ip", "link", "set", "eth0", "up")
	e.node.Run(t, "ip", "route", "add", "default", "via", outsideIP)
	e.outside.Run(t, "ip", "addr", "add", outsideIP+"/24", "dev", "eth0")
	e.outside.Run(t, "ip", "link", "set", "eth0", "up")
	e.node.Run(t, "ip", "link", "add", "cbr0", "type", "bridge")
	e.node.Run(t, "ip", "addr", "add", bridgeIP+"/24", "dev", "cbr0")
	e.node.Run(t, "ip", "link", "set", "cbr0", "up")
	for i := 0; i < pods; i++ {
		e.addPod(fmt.Sprintf("pod%d", i), fmt.Sprintf("10.244.1.%d", 10+i))
	}
	e.forwardAPIServer()
	e.registerNode()
	return e
}

func (e *env) addPod(name, ip string) *pod {
	t := e.t
	p := &pod{netns: newNetns(t, e.id+"-"+name), podName: name, ip: ip}
	host := "v" + name
	e.node.Run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", p.Name)
	e.node.Run(t, "ip", "link", "set", host, "master", "cbr0", "up")
	// As the CNI bridge plugin with hairpinMode (the kubelet's setting):
	// with br_netfilter, a packet DNATed back to its sender's own port
	// must be allowed out of the port it came in by.
	e.node.Run(t, "ip", "link", "set", host, "type", "bridge_slave", "hairpin", "on")
	p.Run(t, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	p.Run(t, "ip", "link", "set", "eth0", "up")
	p.Run(t, "ip", "route", "add", "default", "via", bridgeIP)

	hl := p.Listen(t, "tcp", fmt.Sprintf(":%d", httpPort))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", name, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })

	el := p.Listen(t, "tcp", fmt.Sprintf(":%d", echoPort))
	go func() {
		for {
			c, err := el.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "%s %s\n", name, s.Text())
				}
			}()
		}
	}()

	var uc net.PacketConn
	if err := p.Do(func() (err error) { uc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", udpPort)); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = uc.WriteTo([]byte(name), from)
		}
	}()
	e.pods = append(e.pods, p)
	return p
}

// forwardAPIServer makes the apiserver reachable from inside the node
// namespace at 127.0.0.1:apiPort (a listener there, relaying to the
// apiserver on the host's loopback), and writes a kubeconfig for it.
func (e *env) forwardAPIServer() {
	e.kubecfg = e.node.RelayAPIServer(e.t, strings.TrimPrefix(e.ts.URL(), "https://"), apiPort, e.ts.Kubeconfig)
}

func (e *env) registerNode() {
	ctx := context.Background()
	n, err := e.client.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: nodeIP}}
	n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// process is a kube-proxy running in the node namespace.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProxy runs kube-proxy in the node namespace and waits for its
// first sync (/readyz).
func (e *env) startProxy(extra ...string) *process {
	t := e.t
	t.Helper()
	logPath := filepath.Join(e.dir, fmt.Sprintf("kube-proxy-%d.log", time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--net=" + e.node.Path(), testbin.Path(t, "kube-proxy"),
		"--kubeconfig", e.kubecfg, "--node-name", nodeName, "--cluster-cidr", "10.244.0.0/16",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", statusPort),
		"--min-sync-period", "100ms", "--log-level", "debug", "--log-format", "console"}, extra...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("kube-proxy log %s:\n%s", logPath, tail(string(b), 60))
		}
	})
	e.proxy = p
	e.waitFor("kube-proxy ready", 30*time.Second, func() (bool, string) {
		select {
		case <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("kube-proxy exited: %s", tail(string(b), 30))
		default:
		}
		out, err := e.node.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", statusPort))
		return err == nil && out == "ok", fmt.Sprint(out, err)
	})
	return p
}

// stop sends SIGTERM and waits; the process is killed by its PID if it
// does not stop within 10 seconds.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("kube-proxy (pid %d) ignored SIGTERM; killing it", p.cmd.Process.Pid)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// save is the node's iptables-save for table, without counters.
func (e *env) save(table string) string {
	out := e.node.Run(e.t, "iptables-save", "-t", table)
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		b.WriteString(counters.ReplaceAllString(line, "[0:0]") + "\n")
	}
	return b.String()
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// Objects.

type svcOpt func(*v1.Service)

func (e *env) createService(name string, opts ...svcOpt) *v1.Service {
	e.t.Helper()
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, Ports: []v1.ServicePort{
			{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(httpPort)},
			{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(udpPort)},
			{Name: "echo", Protocol: v1.ProtocolTCP, Port: 9000, TargetPort: intstr.FromInt32(echoPort)},
		}},
	}
	for _, o := range opts {
		o(svc)
	}
	svc, err := e.client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create service %s: %v", name, err)
	}
	return svc
}

// setEndpoints writes the service's one EndpointSlice: pods on this node
// unless listed in remote.
func (e *env) setEndpoints(svc string, pods []*pod, remote ...*pod) {
	e.t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](httpPort)},
			{Name: ptr.To("dns"), Protocol: ptr.To(v1.ProtocolUDP), Port: ptr.To[int32](udpPort)},
			{Name: ptr.To("echo"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](echoPort)},
		},
	}
	add := func(p *pod, node string) {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.ip}, NodeName: ptr.To(node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	for _, p := range pods {
		add(p, nodeName)
	}
	for _, p := range remote {
		add(p, "node-b")
	}
	ctx := context.Background()
	cur, err := e.client.DiscoveryV1().EndpointSlices("default").Get(ctx, s.Name, metav1.GetOptions{})
	if err == nil {
		s.ResourceVersion = cur.ResourceVersion
		_, err = e.client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{})
	} else {
		_, err = e.client.DiscoveryV1().EndpointSlices("default").Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatalf("endpoints of %s: %v", svc, err)
	}
}

// waitRules waits until the node's nat table contains (or, with absent,
// lacks) every one of the strings.
func (e *env) waitRules(absent bool, strs ...string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("rules (absent=%v) %v", absent, strs), 15*time.Second, func() (bool, string) {
		nat := e.save("nat") + e.save("filter")
		for _, s := range strs {
			if strings.Contains(nat, s) == absent {
				return false, s
			}
		}
		return true, ""
	})
}

// who is the pod name that answered an HTTP request.
func who(body string) string {
	f := strings.Fields(body)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// udpAsk sends one datagram from local (ip:port in ns) to dst and returns
// the answer.
func udpAsk(ns netns, local, dst string) (string, error) {
	var c net.PacketConn
	if err := ns.Do(func() (err error) { c, err = net.ListenPacket("udp", local); return }); err != nil {
		return "", err
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		return "", err
	}
	if _, err := c.WriteTo([]byte("?"), to); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 100)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(buf[:n])), nil
}

// execIn runs a command in the namespace and returns its output.
func execIn(n netns, args ...string) (string, error) {
	out, err := n.Command(args...).CombinedOutput()
	return string(out), err
}
