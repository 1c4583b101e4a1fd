package perf

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"coracle.dev/scheduler/app"
	"coracle.dev/shared/testserver"
)

// Target is the throughput target, pods bound per second.
const Target = 1500

type params struct {
	nodes, pods, creators int
	// precreated: every pod exists before the scheduler starts, so the
	// run measures scheduling and binding alone (throughput from the
	// scheduler being ready to the last binding; latencies are then
	// meaningless and not reported).
	precreated bool
}

type result struct {
	params
	nodeSetup   time.Duration
	createSpan  time.Duration // first create sent → last create answered
	total       time.Duration // first create sent → last binding observed
	p50, p99    time.Duration
	maxLatency  time.Duration
	attemptMean time.Duration
	events      int // Scheduled events written by the end
	// qps and burst are the scheduler's client-side limits in the run.
	qps   float32
	burst int
}

func (r result) throughput() float64 { return float64(r.pods) / r.total.Seconds() }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkSchedulerThroughput is the benchmark: 5,000 nodes and
// 10,000 pods by default (BENCH_NODES, BENCH_PODS, BENCH_CREATORS).
func BenchmarkSchedulerThroughput(b *testing.B) {
	p := params{nodes: envInt("BENCH_NODES", 5000), pods: envInt("BENCH_PODS", 10000), creators: envInt("BENCH_CREATORS", 16)}
	for i := 0; i < b.N; i++ {
		r := run(b, p)
		b.ReportMetric(r.throughput(), "pods/s")
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		printResult(r)
	}
}

// BenchmarkSchedulingOnly is the same cluster with the pods created
// before the scheduler starts: the scheduler's own rate, bindings
// included, with no pod creation competing for the apiserver.
func BenchmarkSchedulingOnly(b *testing.B) {
	p := params{nodes: envInt("BENCH_NODES", 5000), pods: envInt("BENCH_PODS", 10000), creators: envInt("BENCH_CREATORS", 16), precreated: true}
	for i := 0; i < b.N; i++ {
		r := run(b, p)
		b.ReportMetric(r.throughput(), "pods/s")
		fmt.Printf("\n| pods created before the scheduler starts: nodes | pods | scheduler QPS/burst | pods bound/s (scheduler ready → last bound) | decide (mean) |\n|---|---|---|---|---|\n| %d | %d | %g/%d | **%.0f** | %.0f µs |\n\n",
			r.nodes, r.pods, r.qps, r.burst, r.throughput(), float64(r.attemptMean.Nanoseconds())/1000)
	}
}

// TestThroughputSmall runs the benchmark's code at a small scale, so that
// it is exercised by every test run.
func TestThroughputSmall(t *testing.T) {
	r := run(t, params{nodes: 100, pods: 500, creators: 8})
	t.Logf("%d nodes, %d pods: %.0f pods/s, p50 %v, p99 %v", r.nodes, r.pods, r.throughput(), r.p50, r.p99)
}

func printResult(r result) {
	verdict := "MISS"
	if r.throughput() >= Target {
		verdict = "PASS"
	}
	fmt.Printf("\n| nodes | pods | creators | scheduler QPS/burst | pods created/s | pods bound/s (first created → last bound) | latency p50 | latency p99 | max | decide (mean) |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d | %g/%d | %.0f | **%.0f** | %.1f ms | %.1f ms | %.1f ms | %.0f µs |\n\n",
		r.nodes, r.pods, r.creators, r.qps, r.burst, float64(r.pods)/r.createSpan.Seconds(), r.throughput(),
		ms(r.p50), ms(r.p99), ms(r.maxLatency), float64(r.attemptMean.Nanoseconds())/1000)
	fmt.Printf("node setup %v (not measured); %d Scheduled events written by the last binding (events best effort, rate-limited to BENCH_EVENT_QPS, default %d/s)\n", r.nodeSetup.Round(time.Millisecond), r.events, app.DefaultEventQPS)
	fmt.Printf("target %d pods/s: %s\n", Target, verdict)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func run(tb testing.TB, p params) result {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ts := testserver.Start(tb)
	rc := rest.CopyConfig(ts.Config)
	rc.QPS, rc.Burst = 1e6, 1e6
	client := kubernetes.NewForConfigOrDie(rc)
	res := result{params: p}

	start := time.Now()
	parallel(p.nodes, p.creators, func(i int) {
		if _, err := client.CoreV1().Nodes().Create(ctx, benchNode(i), metav1.CreateOptions{}); err != nil {
			tb.Errorf("create node %d: %v", i, err)
		}
	})
	res.nodeSetup = time.Since(start)
	if tb.Failed() {
		tb.FailNow()
	}

	// The scheduler's own pod informer reports bindings: observing them
	// costs no second watch.
	created := make([]atomic.Int64, p.pods)
	bound := make([]atomic.Int64, p.pods)
	var boundCount atomic.Int64
	allBound := make(chan struct{})
	factory := informers.NewSharedInformerFactory(kubernetes.NewForConfigOrDie(rc), 0)
	if _, err := factory.Core().V1().Pods().Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			old, cur := oldObj.(*v1.Pod), newObj.(*v1.Pod)
			if old.Spec.NodeName != "" || cur.Spec.NodeName == "" {
				return
			}
			i, err := strconv.Atoi(cur.Name[len("pod-"):])
			if err != nil || i >= p.pods {
				return
			}
			if bound[i].CompareAndSwap(0, time.Now().UnixNano()) && boundCount.Add(1) == int64(p.pods) {
				close(allBound)
			}
		},
	}); err != nil {
		tb.Fatal(err)
	}
	createPods := func() {
		parallel(p.pods, p.creators, func(i int) {
			created[i].Store(time.Now().UnixNano())
			if _, err := client.CoreV1().Pods("default").Create(ctx, benchPod(i), metav1.CreateOptions{}); err != nil {
				tb.Errorf("create pod %d: %v", i, err)
			}
		})
	}
	if p.precreated {
		createPods()
	}
	cfg := app.DefaultConfig()
	cfg.RESTConfig = ts.Config
	cfg.StatusAddress = "127.0.0.1:0"
	// The scheduler runs with its shipped client-side limits, so that the
	// figure is what a user gets: they are set high enough that the
	// scheduler and the apiserver, not the limiter, bound the rate
	// (BENCH_KUBE_API_QPS and BENCH_KUBE_API_BURST change them, e.g. to
	// kube-scheduler's 50 and 100 for comparison). Events keep their
	// default limit unless BENCH_EVENT_QPS says otherwise: they are best
	// effort, and written one at a time they would cost the apiserver a
	// third of its writes.
	cfg.KubeAPIQPS = float32(envInt("BENCH_KUBE_API_QPS", int(cfg.KubeAPIQPS)))
	cfg.KubeAPIBurst = envInt("BENCH_KUBE_API_BURST", cfg.KubeAPIBurst)
	cfg.EventQPS, cfg.EventBurst = float32(envInt("BENCH_EVENT_QPS", int(cfg.EventQPS))), envInt("BENCH_EVENT_BURST", cfg.EventBurst)
	res.qps, res.burst = cfg.KubeAPIQPS, cfg.KubeAPIBurst
	cfg.InformerFactory = factory
	cfg.Parallelism = envInt("BENCH_PARALLELISM", cfg.Parallelism)
	cfg.Log = zaptest.NewLogger(tb, zaptest.Level(zap.ErrorLevel))
	s, err := app.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	select {
	case <-s.Ready():
	case <-ctx.Done():
		tb.Fatal("scheduler not ready")
	}

	t0 := time.Now()
	if !p.precreated {
		createPods()
		res.createSpan = time.Since(t0)
	}
	select {
	case <-allBound:
	case <-ctx.Done():
		tb.Fatalf("only %d of %d pods bound", boundCount.Load(), p.pods)
	}
	var last int64
	lat := make([]time.Duration, p.pods)
	for i := range lat {
		last = max(last, bound[i].Load())
		lat[i] = time.Duration(bound[i].Load() - created[i].Load())
	}
	res.total = time.Duration(last - t0.UnixNano())
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.p50, res.p99, res.maxLatency = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	res.attemptMean = attemptMean(tb, s)
	checkNoOvercommit(tb, client, p)
	if evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"}); err == nil {
		res.events = len(evs.Items)
	}
	return res
}

func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

var zones = []string{"zone-a", "zone-b", "zone-c", "zone-d", "zone-e"}

// benchNode i: 4 to 32 cores, 16 to 128 GiB, five zones, 40% ssd, 10%
// tainted NoSchedule (dedicated=infra, which no pod tolerates), 5%
// PreferNoSchedule.
func benchNode(i int) *v1.Node {
	name := fmt.Sprintf("node-%05d", i)
	cpu := []string{"4", "8", "16", "32"}[i%4]
	mem := []string{"16Gi", "32Gi", "64Gi", "128Gi"}[(i/4)%4]
	disk := "hdd"
	if i%5 < 2 {
		disk = "ssd"
	}
	var taints []v1.Taint
	switch {
	case i%10 == 9:
		taints = []v1.Taint{{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule}}
	case i%20 == 4:
		taints = []v1.Taint{{Key: "spot", Value: "true", Effect: v1.TaintEffectPreferNoSchedule}}
	}
	rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem), v1.ResourcePods: resource.MustParse("110")}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			v1.LabelHostname: name, v1.LabelTopologyZone: zones[i%len(zones)], "disktype": disk,
			v1.LabelInstanceTypeStable: "m" + cpu,
		}},
		Spec: v1.NodeSpec{Taints: taints},
		Status: v1.NodeStatus{Capacity: rl, Allocatable: rl,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady"}}},
	}
}

// benchPod i: half plain, 30% with a nodeSelector (ssd, or a zone), 20%
// in groups of ten that must not share a node (required anti-affinity on
// the hostname).
func benchPod(i int) *v1.Pod {
	cpu := []string{"100m", "200m", "250m", "500m"}[i%4]
	mem := []string{"128Mi", "256Mi", "512Mi"}[i%3]
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default", Labels: map[string]string{"bench": "1"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "registry.example/app:1",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem)}}}}},
	}
	switch i % 10 {
	case 5, 6:
		p.Spec.NodeSelector = map[string]string{"disktype": "ssd"}
	case 7:
		p.Spec.NodeSelector = map[string]string{v1.LabelTopologyZone: zones[i%len(zones)]}
	case 8, 9:
		group := fmt.Sprintf("anti-%d", i/100)
		p.Labels["app"] = group
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": group}},
				TopologyKey:   v1.LabelHostname,
			}},
		}}
	}
	return p
}

// attemptMean reads the scheduler's mean decision time from /metrics.
func attemptMean(tb testing.TB, s *app.Server) time.Duration {
	sum, count := scrape(tb, "http://"+s.StatusAddress()+"/metrics",
		`scheduler_scheduling_attempt_duration_seconds_sum{result="scheduled"}`,
		`scheduler_scheduling_attempt_duration_seconds_count{result="scheduled"}`)
	if count == 0 {
		return 0
	}
	return time.Duration(sum / count * float64(time.Second))
}

// checkNoOvercommit verifies every pod is bound and no node's requests
// exceed its allocatable.
func checkNoOvercommit(tb testing.TB, client kubernetes.Interface, p params) {
	pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	used := map[string]int64{}
	count := map[string]int{}
	for _, pod := range pods.Items {
		if pod.Spec.NodeName == "" {
			tb.Errorf("pod %s not bound", pod.Name)
			continue
		}
		q := pod.Spec.Containers[0].Resources.Requests[v1.ResourceCPU]
		used[pod.Spec.NodeName] += q.MilliValue()
		count[pod.Spec.NodeName]++
	}
	for i := 0; i < p.nodes; i++ {
		n := benchNode(i)
		alloc := n.Status.Allocatable[v1.ResourceCPU]
		if used[n.Name] > alloc.MilliValue() || count[n.Name] > 110 {
			tb.Errorf("node %s over-committed: %dm cpu of %dm, %d pods", n.Name, used[n.Name], alloc.MilliValue(), count[n.Name])
		}
		if len(n.Spec.Taints) > 0 && n.Spec.Taints[0].Effect == v1.TaintEffectNoSchedule && count[n.Name] > 0 {
			tb.Errorf("node %s is tainted NoSchedule yet runs %d pods", n.Name, count[n.Name])
		}
	}
}
