package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/kube-proxy/internal/rules"
	"coracle.dev/shared/testbin"
)

func url(ip string, port int32) string {
	return fmt.Sprintf("http://%s/", net.JoinHostPort(ip, fmt.Sprint(port)))
}

// answers makes n requests from ns and counts the answering pods.
func answers(t *testing.T, ns netns, target string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := ns.Get(target)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", target, ns.Name, err)
		}
		got[who(body)]++
	}
	return got
}

func sepChain(svc string, port string, proto string, ip string, target int) string {
	return rules.SEPChain("default/"+svc+":"+port, proto, fmt.Sprintf("%s:%d", ip, target))
}

// TestServiceTraffic runs one node with kube-proxy and checks each
// Service feature with real traffic.
func TestServiceTraffic(t *testing.T) {
	e := newEnv(t, 5)
	p0, p1, p2, p3, client := e.pods[0], e.pods[1], e.pods[2], e.pods[3], e.pods[4]
	e.startProxy()

	t.Run("cluster IP reaches its backends from the node and from a pod, spread over all", func(t *testing.T) {
		svc := e.createService("spread")
		e.setEndpoints("spread", []*pod{p0, p1, p2})
		e.waitRules(false, sepChain("spread", "http", "tcp", p2.ip, httpPort))
		fromPod := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 60)
		fromNode := answers(t, e.node, url(svc.Spec.ClusterIP, 80), 30)
		for _, p := range []*pod{p0, p1, p2} {
			// Each of 3 backends gets 20 of 60 on average; 5 or fewer has a
			// probability below 1e-4.
			if fromPod[p.podName] < 6 {
				t.Errorf("from a pod: %s answered %d of 60 (%v); want an even spread", p.podName, fromPod[p.podName], fromPod)
			}
		}
		if len(fromNode) < 2 || fromNode[""] > 0 {
			t.Errorf("from the node: answers %v, want several backends", fromNode)
		}
	})

	t.Run("node port answers on the node address and on 127.0.0.1", func(t *testing.T) {
		svc := e.createService("np", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort })
		e.setEndpoints("np", []*pod{p0})
		np := svc.Spec.Ports[0].NodePort
		e.waitRules(false, fmt.Sprintf("--dport %d", np), sepChain("np", "http", "tcp", p0.ip, httpPort))
		for name, ns := range map[string]netns{"outside": e.outside, "pod": client.netns, "node": e.node} {
			body, err := ns.Get(url(nodeIP, np))
			if err != nil || who(body) != "pod0" {
				t.Errorf("from %s to %s:%d: %q %v", name, nodeIP, np, body, err)
			}
		}
		if body, err := e.node.Get(url("127.0.0.1", np)); err != nil || who(body) != "pod0" {
			t.Errorf("from the node to 127.0.0.1:%d: %q %v", np, body, err)
		}
		// Cluster policy: the source is masqueraded, the reply comes back.
		if body, _ := e.outside.Get(url(nodeIP, np)); strings.Contains(body, outsideIP) {
			t.Errorf("externalTrafficPolicy Cluster kept the client address: %q", body)
		}
	})

	t.Run("session affinity ClientIP sticks to one backend", func(t *testing.T) {
		svc := e.createService("sticky", func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		})
		e.setEndpoints("sticky", []*pod{p0, p1, p2})
		e.waitRules(false, sepChain("sticky", "http", "tcp", p2.ip, httpPort))
		if got := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 20); len(got) != 1 {
			t.Errorf("one client got answers from %v, want one backend", got)
		}
		if got := answers(t, e.node, url(svc.Spec.ClusterIP, 80), 10); len(got) != 1 {
			t.Errorf("the node got answers from %v, want one backend", got)
		}
	})

	t.Run("a pod reaches itself through its own service", func(t *testing.T) {
		svc := e.createService("hairpin")
		e.setEndpoints("hairpin", []*pod{p3})
		e.waitRules(false, sepChain("hairpin", "http", "tcp", p3.ip, httpPort))
		for i := 0; i < 10; i++ {
			body, err := p3.Get(url(svc.Spec.ClusterIP, 80))
			if err != nil || who(body) != p3.podName {
				t.Fatalf("attempt %d: %q %v", i, body, err)
			}
			if !strings.Contains(body, bridgeIP) {
				t.Errorf("hairpin traffic not masqueraded: %q", body)
			}
		}
	})

	t.Run("scaling moves traffic with no stale endpoint hit after the sync", func(t *testing.T) {
		svc := e.createService("scale")
		e.setEndpoints("scale", []*pod{p0, p1, p2})
		e.waitRules(false, sepChain("scale", "http", "tcp", p2.ip, httpPort))
		e.setEndpoints("scale", []*pod{p0, p1})
		e.waitRules(true, sepChain("scale", "http", "tcp", p2.ip, httpPort))
		if got := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 40); got[p2.podName] > 0 || len(got) != 2 {
			t.Errorf("after scaling down: %v, want pod0 and pod1 only", got)
		}
		e.setEndpoints("scale", []*pod{p3})
		e.waitRules(false, sepChain("scale", "http", "tcp", p3.ip, httpPort))
		e.waitRules(true, sepChain("scale", "http", "tcp", p0.ip, httpPort))
		if got := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 20); got[p3.podName] != 20 {
			t.Errorf("after moving to pod3: %v", got)
		}
	})

	t.Run("stale UDP conntrack entries to a removed endpoint are deleted", func(t *testing.T) {
		svc := e.createService("udp")
		e.setEndpoints("udp", []*pod{p0, p1})
		e.waitRules(false, sepChain("udp", "dns", "udp", p1.ip, udpPort))
		dst := net.JoinHostPort(svc.Spec.ClusterIP, "53")
		local := net.JoinHostPort(client.ip, "40053")
		first, err := udpAsk(client.netns, local, dst)
		if err != nil {
			t.Fatal(err)
		}
		var keep *pod
		for _, p := range []*pod{p0, p1} {
			if p.podName != first {
				keep = p
			}
		}
		e.setEndpoints("udp", []*pod{keep})
		// The same flow keeps going (every 100ms, as a chatty client does):
		// only deleting its conntrack entry moves it.
		e.waitFor("UDP flow moves to "+keep.podName, 10*time.Second, func() (bool, string) {
			got, err := udpAsk(client.netns, local, dst)
			time.Sleep(100 * time.Millisecond)
			return got == keep.podName, fmt.Sprint(got, err)
		})
	})

	t.Run("a service with no endpoints refuses at once", func(t *testing.T) {
		svc := e.createService("empty")
		e.waitRules(false, "default/empty:http has no endpoints")
		start := time.Now()
		c, err := client.Dial(context.Background(), "tcp", net.JoinHostPort(svc.Spec.ClusterIP, "80"))
		if err == nil {
			c.Close()
			t.Fatal("connected to a service with no endpoints")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
			t.Errorf("dial: %v after %v, want connection refused at once", err, time.Since(start))
		}
	})

	t.Run("externalTrafficPolicy Local keeps the client address and answers only with a local endpoint", func(t *testing.T) {
		svc := e.createService("local", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		})
		np := svc.Spec.Ports[0].NodePort
		// pod1 stands for a pod on another node.
		e.setEndpoints("local", []*pod{p0}, p1)
		e.waitRules(false, rules.SVLChain("default/local:http", "tcp"))
		for i := 0; i < 10; i++ {
			body, err := e.outside.Get(url(nodeIP, np))
			if err != nil || who(body) != p0.podName || !strings.Contains(body, outsideIP) {
				t.Fatalf("from outside: %q %v; want pod0 seeing %s", body, err, outsideIP)
			}
		}
		// Pods still reach every endpoint through the cluster IP.
		if got := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 30); len(got) != 2 {
			t.Errorf("cluster IP from a pod: %v, want both endpoints", got)
		}
		e.setEndpoints("local", nil, p1)
		e.waitRules(false, "default/local:http has no local endpoints")
		if body, err := e.outside.Get(url(nodeIP, np)); err == nil {
			t.Errorf("no local endpoint, yet outside got %q", body)
		}
	})

	t.Run("internalTrafficPolicy Local keeps cluster traffic on this node", func(t *testing.T) {
		svc := e.createService("itp", func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal) })
		e.setEndpoints("itp", []*pod{p2}, p1)
		e.waitRules(false, rules.SVLChain("default/itp:http", "tcp"))
		if got := answers(t, client.netns, url(svc.Spec.ClusterIP, 80), 15); got[p2.podName] != 15 {
			t.Errorf("answers %v, want the local pod2 only", got)
		}
	})

	t.Run("external IPs answer from outside", func(t *testing.T) {
		const extIP = "172.31.0.100"
		e.outside.Run(t, "ip", "route", "add", extIP+"/32", "via", nodeIP)
		e.createService("ext", func(s *v1.Service) { s.Spec.ExternalIPs = []string{extIP} })
		e.setEndpoints("ext", []*pod{p1})
		e.waitRules(false, "default/ext:http external IP")
		if body, err := e.outside.Get(url(extIP, 80)); err != nil || who(body) != p1.podName {
			t.Errorf("from outside to %s:80: %q %v", extIP, body, err)
		}
	})

	t.Run("a service that cannot be programmed gets an event", func(t *testing.T) {
		e.createService("sctp", func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "s", Protocol: v1.ProtocolSCTP, Port: 9}}
		})
		e.waitFor("UnsupportedProtocol event", 15*time.Second, func() (bool, string) {
			evs, err := e.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == "sctp" && ev.Reason == "UnsupportedProtocol" && ev.Type == v1.EventTypeWarning {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events", len(evs.Items))
		})
	})

	t.Run("metrics report syncs and rules", func(t *testing.T) {
		body, err := e.node.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", statusPort))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"kubeproxy_sync_proxy_rules_duration_seconds_bucket", "kubeproxy_sync_proxy_rules_last_timestamp_seconds", `kubeproxy_sync_proxy_rules_iptables_total{table="nat"}`, `kubeproxy_sync_proxy_rules_total{kind="full",result="success"}`} {
			if !strings.Contains(body, m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
		if h, err := e.node.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", statusPort)); err != nil || h != "ok" {
			t.Errorf("/healthz: %q %v", h, err)
		}
	})

	t.Run("a LoadBalancer service gets node addresses and answers on them", func(t *testing.T) {
		e.createService("lb", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeLoadBalancer })
		e.setEndpoints("lb", []*pod{p1})
		var svc *v1.Service
		e.waitFor("load-balancer ingress", 15*time.Second, func() (bool, string) {
			var err error
			svc, err = e.client.CoreV1().Services("default").Get(context.Background(), "lb", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ing := svc.Status.LoadBalancer.Ingress
			return len(ing) == 1 && ing[0].IP == nodeIP, fmt.Sprint(ing)
		})
		e.waitRules(false, "default/lb:http loadbalancer IP")
		body, err := e.outside.Get(url(nodeIP, 80))
		if err != nil || who(body) != p1.podName {
			t.Errorf("from outside to %s:80: %q %v", nodeIP, body, err)
		}
	})
}

// TestRestartAndCleanup checks that a restart keeps established
// connections and writes the same rules, and that --cleanup leaves the
// tables as they were.
func TestRestartAndCleanup(t *testing.T) {
	e := newEnv(t, 3)
	p0, p1, client := e.pods[0], e.pods[1], e.pods[2]
	// Rules and chains that are not kube-proxy's, which must survive.
	e.node.Run(t, "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "10.99.0.0/16", "-j", "MASQUERADE")
	e.node.Run(t, "iptables", "-w", "-t", "nat", "-N", "KUBE-MARK-DROP")
	e.node.Run(t, "iptables", "-w", "-t", "filter", "-N", "OTHER")
	e.node.Run(t, "iptables", "-w", "-t", "filter", "-A", "INPUT", "-j", "OTHER")
	e.node.Run(t, "iptables", "-w", "-t", "filter", "-A", "FORWARD", "-s", "10.99.0.0/16", "-j", "ACCEPT")
	beforeNAT, beforeFilter := e.save("nat"), e.save("filter")

	first := e.startProxy()
	svc := e.createService("echo")
	e.setEndpoints("echo", []*pod{p0, p1})
	e.createService("gone")
	e.setEndpoints("gone", []*pod{p0})
	e.waitRules(false, sepChain("echo", "echo", "tcp", p1.ip, echoPort), sepChain("gone", "http", "tcp", p0.ip, httpPort))

	conn, err := client.Dial(context.Background(), "tcp", net.JoinHostPort(svc.Spec.ClusterIP, "9000"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	say := func(msg string) string {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := fmt.Fprintln(conn, msg); err != nil {
			t.Fatalf("write on the established connection: %v", err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read on the established connection: %v", err)
		}
		return strings.TrimSpace(line)
	}
	backend := strings.Fields(say("hello"))[0]

	nat, filter := e.save("nat"), e.save("filter")
	first.stop(t)
	// While kube-proxy is down a service goes away: the restarted one must
	// find and delete its chains.
	if err := e.client.CoreV1().Services("default").Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := say("still there"); got != backend+" still there" {
		t.Errorf("with kube-proxy stopped: %q", got)
	}
	e.startProxy("--sync-period", "1s")
	e.waitRules(true, "default/gone:http")
	goneSEP := sepChain("gone", "http", "tcp", p0.ip, httpPort)
	if strings.Contains(e.save("nat"), goneSEP) {
		t.Errorf("chain %s of the deleted service survived the restart", goneSEP)
	}
	if got := say("after restart"); got != backend+" after restart" {
		t.Errorf("after the restart: %q", got)
	}
	// Apart from the deleted service, the rules are the same, line for
	// line.
	want := dropLines(nat, "default/gone:")
	if got := dropLines(e.save("nat"), "default/gone:"); !sameChainsAndRules(got, want) {
		t.Errorf("nat rules after the restart differ:\n%s\nbefore:\n%s", got, want)
	}
	if got := e.save("filter"); got != filter {
		t.Errorf("filter rules after the restart differ:\n%s\nbefore:\n%s", got, filter)
	}

	// Someone flushes our chains and removes a hook: the periodic check
	// puts everything back.
	e.node.Run(t, "iptables", "-w", "-t", "nat", "-F", "KUBE-SERVICES")
	e.node.Run(t, "iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
	e.waitFor("rules repaired", 10*time.Second, func() (bool, string) {
		got := e.save("nat")
		return sameChainsAndRules(dropLines(got, "default/gone:"), want), got
	})
	if body, err := client.Get(url(svc.Spec.ClusterIP, 80)); err != nil || (who(body) != p0.podName && who(body) != p1.podName) {
		t.Errorf("after the repair: %q %v", body, err)
	}

	e.proxy.stop(t)
	out, err := execIn(e.node, testbin.Path(t, "kube-proxy"), "--cleanup")
	if err != nil {
		t.Fatalf("kube-proxy --cleanup: %v\n%s", err, out)
	}
	if got := e.save("nat"); got != beforeNAT {
		t.Errorf("nat after --cleanup:\n%s\nbefore kube-proxy ran:\n%s", got, beforeNAT)
	}
	if got := e.save("filter"); got != beforeFilter {
		t.Errorf("filter after --cleanup:\n%s\nbefore kube-proxy ran:\n%s", got, beforeFilter)
	}
	// Idempotent: with nothing left to remove it succeeds and changes
	// nothing (make down runs it whether kube-proxy ran or not).
	if out, err := execIn(e.node, testbin.Path(t, "kube-proxy"), "--cleanup"); err != nil {
		t.Fatalf("second kube-proxy --cleanup: %v\n%s", err, out)
	}
	if got := e.save("nat"); got != beforeNAT {
		t.Errorf("nat after a second --cleanup:\n%s", got)
	}
}

// dropLines removes the lines mentioning s, and the declarations of
// chains only those lines used.
func dropLines(save, s string) string {
	var keep []string
	for _, l := range strings.Split(save, "\n") {
		if !strings.Contains(l, s) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// sameChainsAndRules compares two iptables-save outputs, ignoring chain
// declarations of chains with no rules left (the deleted service's).
func sameChainsAndRules(a, b string) bool {
	strip := func(s string) string {
		used := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "-A" {
				used[f[1]] = true
			}
		}
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, ":KUBE-") && !used[strings.Fields(l[1:])[0]] {
				continue
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	return strip(a) == strip(b)
}

func TestNFTablesModeIsNotImplementedYet(t *testing.T) {
	requireRoot(t)
	// Run in a namespace of its own all the same: nothing may touch the
	// host's rules even if the mode check were broken.
	ns := newNetns(t, fmt.Sprintf("cpkp-nft-%d", time.Now().UnixNano()%1e6))
	out, err := execIn(ns, testbin.Path(t, "kube-proxy"), "--proxy-mode", "nftables", "--kubeconfig", "/nonexistent", "--node-name", "n")
	if err == nil || !strings.Contains(out, "not implemented yet") {
		t.Errorf("kube-proxy --proxy-mode nftables: %v, output %q; want a clear not-implemented error", err, out)
	}
}
