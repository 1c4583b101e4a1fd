package perf

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/kube-proxy/internal/rules"
	"coracle.dev/shared/netnstest"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testserver"
)

// Targets from the issue.
const (
	TargetFullSync10k = 5 * time.Second
	TargetChange      = 100 * time.Millisecond
	endpointsPerSvc   = 10
	apiPort           = 6443
	statusPort        = 10256
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// endpointIP is the k-th synthetic endpoint address, in 10.128.0.0/9.
func endpointIP(k int) string {
	return fmt.Sprintf("10.%d.%d.%d", 128+k>>16, (k>>8)&255, k&255)
}

func svcName(i int) string { return fmt.Sprintf("svc-%05d", i) }

func slice(i int, ips []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: svcName(i) + "-1",
			Labels:      map[string]string{discoveryv1.LabelServiceName: svcName(i)},
			Annotations: map[string]string{v1.EndpointsLastChangeTriggerTime: time.Now().UTC().Format(time.RFC3339Nano)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("node-a"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return s
}

// create makes services [from, to) with their slices, 16 at a time.
func create(b *testing.B, client kubernetes.Interface, from, to int) {
	ctx := context.Background()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: svcName(i)},
					Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
				_, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
				if err == nil {
					ips := make([]string, endpointsPerSvc)
					for j := range ips {
						ips[j] = endpointIP(i*endpointsPerSvc + j)
					}
					_, err = client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice(i, ips), metav1.CreateOptions{})
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("create services: %v", firstErr)
	}
}

type proxy struct {
	node netnstest.NS
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProxy(b *testing.B, ts *testserver.TestServer, bin, name string) (*proxy, time.Duration) {
	node := netnstest.New(b, name)
	kc := node.RelayAPIServer(b, strings.TrimPrefix(ts.URL(), "https://"), apiPort, ts.Kubeconfig)
	logPath := filepath.Join(b.TempDir(), "kube-proxy.log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := node.Command(bin, "--kubeconfig", kc, "--node-name", "node-a",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", statusPort), "--kube-api-qps", "1000", "--kube-api-burst", "1000", "--log-level", "debug", "--log-format", "console")
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &proxy{node: node, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	b.Cleanup(p.stop)
	for {
		if out, err := node.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", statusPort)); err == nil && out == "ok" {
			break
		}
		select {
		case <-p.done:
			out, _ := os.ReadFile(logPath)
			b.Fatalf("kube-proxy exited:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatal("kube-proxy not synced within 10 minutes")
		}
	}
	return p, time.Since(start)
}

func (p *proxy) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// metric scrapes one sample (name with its labels, as exposed).
func (p *proxy) metric(b *testing.B, name string) float64 {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: p.node.Dial}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", statusPort))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), name+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return -1
}

// BenchmarkKubeProxy is the benchmark: full sync of 1,000, 5,000
// and 10,000 Services with 10 endpoints each (a fresh kube-proxy in a
// fresh namespace each time, from process start to rules written), then,
// at the largest size, the time from one endpoint change in the API to
// its rule being live.
func BenchmarkKubeProxy(b *testing.B) {
	netnstest.RequireRoot(b)
	bin := testbin.Path(b, "kube-proxy")
	ts := testserver.Start(b)
	rc := rest.CopyConfig(ts.Config)
	rc.QPS, rc.Burst = 1e6, 1e6
	client := kubernetes.NewForConfigOrDie(rc)
	sizes := []int{1000, 5000, 10000}
	if n := envInt("BENCH_SERVICES", 0); n > 0 {
		sizes = []int{n}
	}
	changes := envInt("BENCH_CHANGES", 5)
	id := make([]byte, 3)
	_, _ = rand.Read(id)

	fmt.Printf("\n| services | endpoints | nat rules | full sync: process start → rules written | sync itself | endpoint change: API update → rule live, p50 | max | kube-proxy's own measure (mean) |\n|---|---|---|---|---|---|---|---|\n")
	created, next := 0, 0
	var full10k, change10k time.Duration
	var last time.Duration
	for k, n := range sizes {
		start := time.Now()
		create(b, client, created, n)
		created = n
		next = n * endpointsPerSvc
		b.Logf("%d services created in %v (not measured)", n, time.Since(start).Round(time.Millisecond))
		p, took := startProxy(b, ts, bin, fmt.Sprintf("cpkpb-%x-%d", id, k))
		sync := p.metric(b, `kubeproxy_sync_proxy_rules_duration_seconds_sum{kind="full"}`)
		rulesN := p.metric(b, `kubeproxy_sync_proxy_rules_iptables_total{table="nat"}`)
		lat := endpointChanges(b, client, p, n, changes, &next)
		progSum := p.metric(b, "kubeproxy_network_programming_duration_seconds_sum")
		progN := p.metric(b, "kubeproxy_network_programming_duration_seconds_count")
		if dst := os.Getenv("BENCH_KUBE_PROXY_LOG"); dst != "" {
			out, _ := os.ReadFile(p.log)
			_ = os.WriteFile(fmt.Sprintf("%s.%d", dst, n), out, 0o644)
		}
		p.stop()
		// Free the kernel's copy of the rules before the next size.
		_ = exec.Command("ip", "netns", "del", p.node.Name).Run()
		p50, worst := lat[len(lat)/2], lat[len(lat)-1]
		fmt.Printf("| %d | %d | %.0f | **%.2f s** | %.2f s | **%.1f ms** | %.1f ms | %.1f ms |\n", n, n*endpointsPerSvc, rulesN,
			took.Seconds(), sync, ms(p50), ms(worst), 1000*progSum/max(progN, 1))
		if n == 10000 {
			full10k, change10k = took, p50
		}
		last = p50
	}
	fmt.Println()
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	if full10k > 0 {
		fmt.Printf("target full sync of 10,000 services × 10 endpoints ≤ %v: %.2f s %s\n", TargetFullSync10k, full10k.Seconds(), verdict(full10k <= TargetFullSync10k))
		fmt.Printf("target one endpoint change live ≤ %v (10,000 services): p50 %.1f ms %s\n", TargetChange, ms(change10k), verdict(change10k <= TargetChange))
	} else {
		fmt.Printf("target one endpoint change live ≤ %v (%d services): p50 %.1f ms %s\n", TargetChange, created, ms(last), verdict(last <= TargetChange))
	}
}

// endpointChanges moves one endpoint of a service at a time, each after
// the rate limiter's min-sync-period (1s), as a quiet cluster sees them,
// and returns the sorted times from the API update to the rule being
// visible in the namespace (polled with iptables -S on the service's
// chain, every 5ms).
func endpointChanges(b *testing.B, client kubernetes.Interface, p *proxy, services, changes int, next *int) []time.Duration {
	var lat []time.Duration
	ctx := context.Background()
	for c := 0; c < changes; c++ {
		time.Sleep(1100 * time.Millisecond)
		i := (c * 7919) % services
		cur, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, svcName(i)+"-1", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var ips []string
		for _, e := range cur.Endpoints {
			ips = append(ips, e.Addresses...)
		}
		newIP := endpointIP(*next)
		*next++
		ips[0] = newIP
		s := slice(i, ips)
		s.ResourceVersion = cur.ResourceVersion
		chain := rules.SVCChain("default/"+svcName(i)+":http", "tcp")
		want := "-j " + rules.SEPChain("default/"+svcName(i)+":http", "tcp", newIP+":8080")
		t0 := time.Now()
		s.Annotations[v1.EndpointsLastChangeTriggerTime] = t0.UTC().Format(time.RFC3339Nano)
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		for {
			out, err := p.node.Command("iptables", "-w", "-t", "nat", "-S", chain).CombinedOutput()
			if err == nil && strings.Contains(string(out), want) {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("endpoint change not live within a minute: %s %v", out, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
