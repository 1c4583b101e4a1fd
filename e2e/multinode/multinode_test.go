// Package multinode tests Coracle as a cluster of several hosts: a
// control plane on this machine and three nodes, each a network namespace
// on a bridge, installed with deploy/install.sh --worker, joined with a
// bootstrap token and the CA's hash (ctl join), and running their kubelet
// and kube-proxy from the installed systemd units' own ExecStart= lines.
package multinode

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/netnstest"
)

// webScript serves, on :8080, /hostname (the pod's name) and /cgi-bin/ip
// (the pod's name and the address the request came from: pod-to-pod
// traffic must keep its source), and ends at once on SIGTERM.
const webScript = `mkdir -p /www/cgi-bin
hostname > /www/hostname
printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$(hostname) $REMOTE_ADDR"\n' > /www/cgi-bin/ip
chmod +x /www/cgi-bin/ip
trap 'exit 0' TERM
httpd -f -p 8080 -h /www & wait`

// tolerationSeconds: how long pods stay on a node that stopped answering.
const tolerationSeconds = 10

func TestMultiNode(t *testing.T) {
	c := newCluster(t, settings{nodeMonitorGracePeriod: 20 * time.Second})
	ctx := context.Background()

	t.Run("join refused", func(t *testing.T) { testJoinRefused(t, c) })

	for i := 1; i <= 3; i++ {
		_, took := c.addNode(t, i)
		t.Logf("node-%d: join command to Ready in %s", i, took.Round(10*time.Millisecond))
	}

	t.Run("nodes", func(t *testing.T) { testNodes(t, c) })
	t.Run("credentials", func(t *testing.T) { testCredentials(t, c) })
	t.Run("node authorization", func(t *testing.T) { testNodeAuthorization(t, c) })
	t.Run("in-pod client", func(t *testing.T) { testInPodClient(t, c) })

	web := webDeployment(6)
	if _, err := c.client.AppsV1().Deployments("default").Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := c.waitRunning(t, "app=web", 6, "")
	t.Run("spread", func(t *testing.T) {
		perNode := map[string]int{}
		for _, p := range pods {
			perNode[p.Spec.NodeName]++
		}
		for _, n := range c.nodes {
			if perNode[n.name] == 0 {
				t.Errorf("no web pod on %s: %v", n.name, perNode)
			}
		}
	})
	t.Run("pod to pod", func(t *testing.T) { testPodToPod(t, c, pods) })
	t.Run("services", func(t *testing.T) { testServices(t, c, pods) })
	t.Run("logs through the apiserver", func(t *testing.T) { testLogs(t, c, pods) })
	t.Run("daemonset", func(t *testing.T) { testDaemonSet(t, c) })
	t.Run("drain", func(t *testing.T) { testDrain(t, c) })
	t.Run("node loss", func(t *testing.T) {
		took := loseNode(t, c, c.nodes[2], 6, 3*time.Minute)
		t.Logf("node loss to 6 replicas Running elsewhere: %s (node-monitor-grace-period 20s, tolerations %ds)", took.Round(100*time.Millisecond), tolerationSeconds)
	})
}

// TestMultiNodeVXLAN: the same cluster with the nodes' pod networks
// joined by the VXLAN overlay, node 3 on another IP subnet than nodes 1
// and 2 (reached through this machine as a router), which host-gw routes
// cannot reach: pods still reach each other by pod IP both ways, keeping
// their source, and through a Service.
func TestMultiNodeVXLAN(t *testing.T) {
	c := newCluster(t, settings{nodeMonitorGracePeriod: 20 * time.Second, vxlan: true})
	for i := 1; i <= 3; i++ {
		c.addNode(t, i)
	}
	if out := c.nodes[0].ns.Run(t, "ip", "-d", "link", "show", "coracle.1"); !strings.Contains(out, "vxlan id 1") {
		t.Fatalf("node-1 has no VXLAN device coracle.1:\n%s", out)
	}
	if _, err := c.client.AppsV1().Deployments("default").Create(context.Background(), webDeployment(6), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := c.waitRunning(t, "app=web", 6, "")
	if len(onePerNode(pods)) != 3 {
		t.Fatalf("web pods not on all three nodes: %v", onePerNode(pods))
	}
	// Node 1 reaches node 3's pods through the tunnel.
	node3, err := c.client.CoreV1().Nodes().Get(context.Background(), "node-3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out := c.nodes[0].ns.Run(t, "ip", "route", "show", node3.Spec.PodCIDR); !strings.Contains(out, "dev coracle.1") {
		t.Errorf("node-1's route to node-3's pods %s is not through coracle.1: %q", node3.Spec.PodCIDR, out)
	}
	t.Run("pod to pod", func(t *testing.T) { testPodToPod(t, c, pods) })
	t.Run("services", func(t *testing.T) { testServices(t, c, pods) })
}

// testJoinRefused: a bad token, an expired one and a wrong CA hash are
// each refused with a message naming the cause, and nothing is written
// or registered.
func testJoinRefused(t *testing.T, c *cluster) {
	ctx := context.Background()
	n := c.newNode(t, 9)
	good := c.joinCommand(t)
	flag := func(words []string, name string) int {
		for i, w := range words {
			if w == name {
				return i + 1
			}
		}
		t.Fatalf("join command %v has no %s", words, name)
		return 0
	}
	with := func(name, value string) []string {
		words := append([]string{}, good...)
		words[flag(words, name)] = value
		return words
	}
	// An expired token, stored as ctl token create would have stored it
	// an hour ago with a 30 minutes' TTL.
	expired := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-expird", Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		StringData: map[string]string{
			"token-id": "expird", "token-secret": "0123456789abcdef",
			"expiration":                     time.Now().Add(-30 * time.Minute).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
		},
	}
	if _, err := c.client.CoreV1().Secrets("kube-system").Create(ctx, expired, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		words []string
		want  string
	}{
		{"unknown token", with("--token", "zzzzzz.0123456789abcdef"), `token id "zzzzzz" is invalid`},
		{"expired token", with("--token", "expird.0123456789abcdef"), `token id "expird" is invalid`},
		{"token of another secret", with("--token", strings.Split(good[flag(good, "--token")], ".")[0]+".0000000000000000"), "failed to verify JWS signature"},
		{"wrong CA hash", with("--discovery-token-ca-cert-hash", "sha256:"+strings.Repeat("ab", 32)), "is not trusted"},
		{"malformed token", with("--token", "not-a-token"), "token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := n.join(tc.words, "--discovery-timeout", "5s")
			if err == nil {
				t.Fatalf("join succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("join's message does not say %q:\n%s", tc.want, out)
			}
			entries, _ := os.ReadDir(filepath.Join(n.confDir()))
			for _, e := range entries {
				switch e.Name() {
				case "bootstrap-kubelet.conf", "kubelet.env", "kubelet.conf":
					t.Errorf("a refused join wrote %s", e.Name())
				}
			}
		})
	}
	if _, err := c.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s after refused joins: %v, want NotFound", n.name, err)
	}
	// The expired token does not authenticate, and the token cleaner
	// deletes it.
	cfg := rest.AnonymousClientConfig(c.ts.Config)
	cfg.BearerToken = "expird.0123456789abcdef"
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(c.ts.URL() + "/api/v1/namespaces/default/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: status %d, want 401", resp.StatusCode)
	}
	c.poll(t, time.Minute, "expired token deleted by the token cleaner", func() (bool, string) {
		_, err := c.client.CoreV1().Secrets("kube-system").Get(ctx, expired.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// testNodes: three Ready nodes with their InternalIPs and distinct pod
// CIDRs of the cluster's range, as `ctl get nodes -o wide` shows them.
func testNodes(t *testing.T, c *cluster) {
	ctx := context.Background()
	cidrs := map[string]string{}
	for _, n := range c.nodes {
		node, err := c.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := ""
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		if ip != n.ip {
			t.Errorf("%s: InternalIP %q, want %s", n.name, ip, n.ip)
		}
		if !strings.HasPrefix(node.Spec.PodCIDR, strings.TrimSuffix(clusterCIDR, "0.0/16")) {
			t.Errorf("%s: podCIDR %q not in %s", n.name, node.Spec.PodCIDR, clusterCIDR)
		}
		if other, dup := cidrs[node.Spec.PodCIDR]; dup {
			t.Errorf("%s and %s share podCIDR %s", n.name, other, node.Spec.PodCIDR)
		}
		cidrs[node.Spec.PodCIDR] = n.name
	}
	out, err := c.ctl("get", "nodes", "-o", "wide")
	if err != nil {
		t.Fatalf("ctl get nodes -o wide: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, n.name+" ") {
				line = l
			}
		}
		if !strings.Contains(line, " Ready ") || !strings.Contains(line, " "+n.ip+" ") {
			t.Errorf("ctl get nodes -o wide: %s's line %q does not say Ready and %s\n%s", n.name, line, n.ip, out)
		}
	}
}

// testCredentials: each node got its client certificate from a CSR its
// bootstrap token sent (approved and signed by the controller manager),
// its serving certificate from a CSR of its own, and runs on without the
// token: deleting every token and restarting a kubelet changes nothing.
func testCredentials(t *testing.T, c *cluster) {
	ctx := context.Background()
	csrs, err := c.client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		var client, serving bool
		for _, csr := range csrs.Items {
			if !approvedAndIssued(&csr) {
				continue
			}
			switch {
			case csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName && strings.HasPrefix(csr.Spec.Username, "system:bootstrap:"):
				// Whose it is shows in the request's subject, not here:
				// one client CSR per node is enough.
				client = client || csrFor(t, &csr, n.name)
			case csr.Spec.SignerName == certificatesv1.KubeletServingSignerName && csr.Spec.Username == "system:node:"+n.name:
				serving = true
			}
		}
		if !client || !serving {
			t.Errorf("%s: issued client CSR from a bootstrap token: %v, issued serving CSR from the node: %v", n.name, client, serving)
		}
		if _, err := os.Stat(filepath.Join(n.confDir(), "kubelet.conf")); err != nil {
			t.Errorf("%s: kubelet.conf: %v", n.name, err)
		}
	}
	tokens, err := c.client.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{FieldSelector: "type=bootstrap.kubernetes.io/token"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tokens.Items {
		if err := c.client.CoreV1().Secrets("kube-system").Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n := c.nodes[0]
	if err := n.kubelet.Stop(30 * time.Second); err != nil {
		t.Logf("%s: kubelet stop: %v", n.name, err)
	}
	before := time.Now()
	// The kubelet lives on after this subtest: the cluster's test owns it.
	n.startKubelet(c.t)
	c.poll(t, time.Minute, n.name+"'s kubelet back without a token", func() (bool, string) {
		lease, err := c.client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(before), "lease not renewed since the restart"
	})
	c.waitNodeReady(t, n.name, time.Minute)
}

func approvedAndIssued(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, cond := range csr.Status.Conditions {
		if cond.Type == certificatesv1.CertificateApproved && cond.Status == corev1.ConditionTrue {
			return len(csr.Status.Certificate) > 0
		}
	}
	return false
}

// csrFor reports whether the CSR asks for node's identity.
func csrFor(t *testing.T, csr *certificatesv1.CertificateSigningRequest, node string) bool {
	t.Helper()
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		t.Errorf("CSR %s: request is not PEM", csr.Name)
		return false
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Errorf("CSR %s: %v", csr.Name, err)
		return false
	}
	return req.Subject.CommonName == "system:node:"+node
}

func webDeployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	toleration := int64(tolerationSeconds)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "web", Image: "busybox", Command: []string{"sh", "-c", webScript},
						Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &toleration},
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &toleration},
					},
				},
			},
		},
	}
}

// waitRunning waits until want pods of selector are Running and Ready,
// none on the node notOn, none being deleted; it returns them.
func (c *cluster) waitRunning(t testing.TB, selector string, want int, notOn string) []corev1.Pod {
	t.Helper()
	return c.waitRunningFor(t, 3*time.Minute, selector, want, notOn)
}

// waitRunningFor is waitRunning with its own deadline.
func (c *cluster) waitRunningFor(t testing.TB, timeout time.Duration, selector string, want int, notOn string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	c.poll(t, timeout, fmt.Sprintf("%d pods %s Running and Ready", want, selector), func() (bool, string) {
		list, err := c.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		var states []string
		for _, p := range list.Items {
			states = append(states, fmt.Sprintf("%s@%s:%s", p.Name, p.Spec.NodeName, p.Status.Phase))
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == notOn || !podReady(&p) {
				continue
			}
			pods = append(pods, p)
		}
		return len(pods) == want, strings.Join(states, " ")
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// onePerNode picks one pod on each node.
func onePerNode(pods []corev1.Pod) map[string]corev1.Pod {
	out := map[string]corev1.Pod{}
	for _, p := range pods {
		if _, ok := out[p.Spec.NodeName]; !ok {
			out[p.Spec.NodeName] = p
		}
	}
	return out
}

// get fetches url from inside ns, retrying for a while: a route or rule
// may still be on its way.
func get(t *testing.T, c *cluster, ns netnstest.NS, url string) string {
	t.Helper()
	var body string
	c.poll(t, 30*time.Second, "GET "+url+" from "+ns.Name, func() (bool, string) {
		b, err := ns.Get(url)
		body = b
		return err == nil, fmt.Sprint(err)
	})
	return body
}

// whoSaw splits /cgi-bin/ip's answer: the answering pod, and the address
// it saw the request come from (busybox httpd writes REMOTE_ADDR as an
// IPv4-mapped IPv6 address, "[::ffff:10.0.0.1]").
func whoSaw(answer string) (pod, addr string) {
	pod, addr, _ = strings.Cut(answer, " ")
	return pod, strings.TrimSuffix(strings.TrimPrefix(addr, "[::ffff:"), "]")
}

// testPodToPod: every node's pods reach every other node's pods by pod
// IP, both ways, and the answering pod sees the caller's pod IP (no NAT
// between pods).
func testPodToPod(t *testing.T, c *cluster, pods []corev1.Pod) {
	byNode := onePerNode(pods)
	for _, from := range byNode {
		for _, to := range byNode {
			if from.Spec.NodeName == to.Spec.NodeName {
				continue
			}
			_, seen := whoSaw(get(t, c, c.podNetns(t, &from), fmt.Sprintf("http://%s:8080/cgi-bin/ip", to.Status.PodIP)))
			if seen != from.Status.PodIP {
				t.Errorf("%s (%s) → %s (%s): the server saw %q, want the caller's pod IP %s",
					from.Name, from.Spec.NodeName, to.Name, to.Spec.NodeName, seen, from.Status.PodIP)
			}
		}
	}
}

// testServices: a ClusterIP Service answers on every node and in pods on
// every node, from pods on other nodes too, keeping the caller's pod IP;
// a NodePort answers on every node's address from this machine.
func testServices(t *testing.T, c *cluster, pods []corev1.Pod) {
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	svc, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := map[string]string{}
	for _, p := range pods {
		nodeOf[p.Name] = p.Spec.NodeName
	}
	clusterIP := svc.Spec.ClusterIP
	// answersFrom asks the Service until a pod on another node than
	// caller's answered (at most 40 tries: 6 endpoints, random choice).
	answersFrom := func(ns netnstest.NS, url, caller string) {
		t.Helper()
		nodes := map[string]bool{}
		for range 40 {
			name := get(t, c, ns, url)
			nodes[nodeOf[name]] = true
			if len(nodes) > 1 || (caller != "" && !nodes[caller] && len(nodes) == 1) {
				return
			}
		}
		t.Errorf("from %s: %s answered only from %v", ns.Name, url, nodes)
	}
	for _, n := range c.nodes {
		answersFrom(n.ns, "http://"+clusterIP+"/hostname", n.name)
	}
	for _, p := range onePerNode(pods) {
		ns := c.podNetns(t, &p)
		answersFrom(ns, "http://"+clusterIP+"/hostname", p.Spec.NodeName)
		// A pod that reaches itself through its Service is masqueraded
		// (hairpin, as in Kubernetes): ask until another pod answers.
		for try := 0; ; try++ {
			answerer, seen := whoSaw(get(t, c, ns, "http://"+clusterIP+"/cgi-bin/ip"))
			if answerer == p.Name {
				if try < 20 {
					continue
				}
				t.Errorf("pod %s → Service: only the pod itself answered, 20 times", p.Name)
			} else if seen != p.Status.PodIP {
				t.Errorf("pod %s → Service → pod %s: the server saw %q, want the caller's pod IP %s", p.Name, answerer, seen, p.Status.PodIP)
			}
			break
		}
	}
	host := netnstest.At("/proc/self/ns/net")
	for _, n := range c.nodes {
		url := fmt.Sprintf("http://%s:%d/hostname", n.ip, svc.Spec.Ports[0].NodePort)
		if name := get(t, c, host, url); nodeOf[name] == "" {
			t.Errorf("NodePort on %s answered %q, not a web pod's name", n.name, name)
		}
	}
}

// testLogs: pods/log of a pod on each node, which the apiserver fetches
// from that node's kubelet, verifying the kubelet's serving certificate
// (issued through a CSR) with the cluster CA.
func testLogs(t *testing.T, c *cluster, pods []corev1.Pod) {
	for node, p := range onePerNode(pods) {
		if _, err := c.client.CoreV1().Pods("default").GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(context.Background()); err != nil {
			t.Errorf("logs of %s on %s: %v", p.Name, node, err)
		}
	}
}

// testDaemonSet: one pod on each node.
func testDaemonSet(t *testing.T, c *cluster) {
	ctx := context.Background()
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers:                    []corev1.Container{{Name: "agent", Image: "busybox", Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"}}},
				},
			},
		},
	}
	if _, err := c.client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := c.waitRunning(t, "app=agent", len(c.nodes), "")
	seen := map[string]bool{}
	for _, p := range pods {
		if seen[p.Spec.NodeName] {
			t.Errorf("two agent pods on %s", p.Spec.NodeName)
		}
		seen[p.Spec.NodeName] = true
	}
}

// testDrain: ctl drain cordons a node and moves the Deployment's pods to
// the others; uncordon lets pods come back.
func testDrain(t *testing.T, c *cluster) {
	n := c.nodes[1]
	if out, err := c.ctl("drain", n.name, "--ignore-daemonsets", "--timeout", "2m"); err != nil {
		t.Fatalf("ctl drain %s: %v\n%s", n.name, err, out)
	}
	node, err := c.client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !node.Spec.Unschedulable {
		t.Errorf("%s not cordoned after drain", n.name)
	}
	c.waitRunning(t, "app=web", 6, n.name)
	if out, err := c.ctl("uncordon", n.name); err != nil {
		t.Fatalf("ctl uncordon: %v\n%s", err, out)
	}
}

// loseNode kills a node: its kubelet and kube-proxy die and it drops off
// the network (its link to the bridge goes down), as a host that lost
// power. It returns the time from then until want replicas of the web
// Deployment run Ready elsewhere (at most timeout).
func loseNode(t testing.TB, c *cluster, n *node, want int, timeout time.Duration) time.Duration {
	n.kubelet.Kill()
	n.proxy.Kill()
	netnstest.Run(t, "ip", "link", "set", n.veth, "down")
	died := time.Now()
	c.waitRunningFor(t, timeout, "app=web", want, n.name)
	return time.Since(died)
}
