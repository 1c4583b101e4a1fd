package integration

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/kubelet"
	"coracle.dev/shared/testserver"
)

// BenchmarkPodStartup measures pod startup latency on one real node with
// the image cached, from the create call to the watch seeing the pod
// Running: 100 pods one after the other, then 100 pods created at once.
// It runs once whatever b.N is (deploy/bench/kubelet.sh runs it with
// -benchtime 1x) and reports p50 and p99 in milliseconds.
func BenchmarkPodStartup(b *testing.B) {
	pods := 100
	if v := os.Getenv("CORACLE_BENCH_PODS"); v != "" {
		fmt.Sscan(v, &pods)
	}
	n := startNode(b)
	ctx := context.Background()

	// Warm up: pull the image once.
	n.create(n.pod("warmup", sh("c", "exec sleep 3600")))
	n.waitRunning("warmup")
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "warmup", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	n.waitGone("warmup", 30*time.Second)

	running := n.watchRunning(b)
	seq := make([]time.Duration, 0, pods)
	for i := 0; i < pods; i++ {
		name := fmt.Sprintf("seq-%d", i)
		start := time.Now()
		n.create(n.pod(name, sh("c", "exec sleep 3600")))
		select {
		case at := <-running.wait(name):
			seq = append(seq, at.Sub(start))
		case <-time.After(60 * time.Second):
			b.Fatalf("%s not Running within 60s", name)
		}
	}
	n.deleteAll(b)

	burst := make([]time.Duration, pods)
	var wg sync.WaitGroup
	busy0, self0 := machineBusy(), selfCPU()
	start := time.Now()
	for i := 0; i < pods; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("burst-%d", i)
			ch := running.wait(name)
			created := time.Now()
			if _, err := n.client.CoreV1().Pods(n.ns).Create(ctx, n.pod(name, sh("c", "exec sleep 3600")), metav1.CreateOptions{}); err != nil {
				b.Errorf("create %s: %v", name, err)
				return
			}
			select {
			case at := <-ch:
				burst[i] = at.Sub(created)
			case <-time.After(120 * time.Second):
				b.Errorf("%s not Running within 120s", name)
			}
		}()
	}
	wg.Wait()
	all := time.Since(start)
	busy, self := machineBusy()-busy0, selfCPU()-self0
	n.deleteAll(b)

	sp50, sp99 := percentile(seq, 50), percentile(seq, 99)
	bp50, bp99 := percentile(burst, 50), percentile(burst, 99)
	b.ReportMetric(ms(sp50), "seq-p50-ms")
	b.ReportMetric(ms(sp99), "seq-p99-ms")
	b.ReportMetric(ms(bp50), "burst-p50-ms")
	b.ReportMetric(ms(bp99), "burst-p99-ms")
	b.ReportMetric(all.Seconds(), "burst-all-running-s")
	verdict := func(p50, p99 time.Duration) string {
		if p50 <= 250*time.Millisecond && p99 <= 500*time.Millisecond {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Printf("pod startup, %d pods one at a time: p50 %.0f ms, p99 %.0f ms (targets 250/500): %s\n", pods, ms(sp50), ms(sp99), verdict(sp50, sp99))
	fmt.Printf("pod startup, %d pods at once: p50 %.0f ms, p99 %.0f ms, all Running after %.1f s (targets 250/500): %s\n", pods, ms(bp50), ms(bp99), all.Seconds(), verdict(bp50, bp99))
	fmt.Printf("pod startup, %d pods at once: the machine busy %.1f CPU-s (%.0f ms a pod), of which apiserver, etcd and kubelet (in this process) %.1f CPU-s, the rest runc, CNI plugins, shims and the machine's other work\n",
		pods, busy.Seconds(), ms(busy)/float64(pods), self.Seconds())
}

// machineBusy is the CPU time the whole machine has spent not idle, from
// /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

// runningWatch tells when pods are first seen Running.
type runningWatch struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	waiters map[string]chan time.Time
}

func (r *runningWatch) wait(name string) <-chan time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan time.Time, 1)
	if at, ok := r.seen[name]; ok {
		ch <- at
		return ch
	}
	r.waiters[name] = ch
	return ch
}

func (n *node) watchRunning(t testing.TB) *runningWatch {
	r := &runningWatch{seen: map[string]time.Time{}, waiters: map[string]chan time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := n.client.CoreV1().Pods(n.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			p, ok := ev.Object.(*v1.Pod)
			if !ok || p.Status.Phase != v1.PodRunning {
				continue
			}
			now := time.Now()
			r.mu.Lock()
			if _, done := r.seen[p.Name]; !done {
				r.seen[p.Name] = now
				if ch, ok := r.waiters[p.Name]; ok {
					ch <- now
					delete(r.waiters, p.Name)
				}
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// deleteAll deletes every pod of the test and waits until they are gone.
func (n *node) deleteAll(t testing.TB) {
	ctx := context.Background()
	if err := n.client.CoreV1().Pods(n.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(1)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "all pods deleted", func() (bool, error) {
		l, err := n.client.CoreV1().Pods(n.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, err
	})
}

// BenchmarkFakeNodes runs 100 simulated nodes in one kubelet with 30
// pods each, and reports how long until all 3,000 are Running and the CPU
// the kubelet (this process) and the apiserver process used meanwhile.
func BenchmarkFakeNodes(b *testing.B) {
	const nodes, perNode = 100, 30
	ts := testserver.Start(b)
	client := clientFor(b, ts)
	// Kubernetes' heartbeat: a Lease renewal every 10 s.
	startFake(b, ts, "sim", nodes, func(o *kubelet.Options) { o.NodeLeaseRenewInterval = 10 * time.Second })
	ctx := context.Background()
	// The kubelet runs in this process, the apiserver in its own.
	cpuUsed := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) + ts.Process().CPU()
	}
	cpu0 := cpuUsed()
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < nodes*perNode; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := simplePod(fmt.Sprintf("p-%d", i), fmt.Sprintf("sim-%d", i%nodes))
			if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	eventually(b, 5*time.Minute, "all pods Running", func() (bool, error) {
		l, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range l.Items {
			if p.Status.Phase == v1.PodRunning {
				n++
			}
		}
		return n == nodes*perNode, fmt.Errorf("%d running", n)
	})
	all := time.Since(start)
	cpu := cpuUsed() - cpu0
	// Steady state: heartbeats of 100 nodes for 20 s.
	idle0 := cpuUsed()
	time.Sleep(20 * time.Second)
	idle := cpuUsed() - idle0
	b.ReportMetric(all.Seconds(), "all-running-s")
	fmt.Printf("fake nodes: %d nodes, %d pods Running after %.1f s, %.1f CPU-s (kubelet and apiserver together); idle: %.0f%% of a core\n",
		nodes, nodes*perNode, all.Seconds(), cpu.Seconds(), 100*idle.Seconds()/20)
}
