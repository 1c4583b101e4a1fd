package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
)

// targetPodsPerSecond is the goal for a Deployment scaling up,
// on 2 cores.
const targetPodsPerSecond = 500

// BenchmarkDeployment5000Pods scales a Deployment from 0 to 5,000
// replicas on 100 nodes simulated by one kubelet's fake runtime and
// measures the time until every pod is Running, with the built
// controller manager, scheduler and kubelet as processes against an
// apiserver process (embedded etcd). Each pod costs the controller
// manager a create, the scheduler a bind and the kubelet a status write.
//
// It runs three ways: the controller manager at Kubernetes' default
// client QPS (20, burst 30, per controller), then raised to 500/1000
// with the scheduler at its default (50/100, as kube-scheduler's), then
// both raised. $CORACLE_BENCH_PODS changes the 5,000 for a quick run.
func BenchmarkDeployment5000Pods(b *testing.B) {
	replicas := 5000
	if v, err := strconv.Atoi(os.Getenv("CORACLE_BENCH_PODS")); err == nil && v > 0 {
		replicas = v
	}
	for _, s := range []benchSetup{
		{name: "cm-qps=20", cmQPS: 20, cmBurst: 30},
		{name: "cm-qps=500", cmQPS: 500, cmBurst: 1000},
		{name: "cm-qps=500,scheduler-qps=500", cmQPS: 500, cmBurst: 1000, schedQPS: 500, schedBurst: 1000},
	} {
		b.Run(s.name, func(b *testing.B) {
			for range b.N {
				scaleUp(b, s, replicas, 100)
			}
		})
	}
}

// benchSetup is the client QPS of the controller manager and the
// scheduler; zero for the scheduler means its defaults.
type benchSetup struct {
	name                 string
	cmQPS, cmBurst       int
	schedQPS, schedBurst int
}

func (s benchSetup) String() string {
	sched := "default 50/100"
	if s.schedQPS > 0 {
		sched = fmt.Sprintf("%d/%d", s.schedQPS, s.schedBurst)
	}
	return fmt.Sprintf("controller-manager QPS %d/%d, scheduler QPS %s", s.cmQPS, s.cmBurst, sched)
}

// scaleUp runs one cluster, scales a Deployment to replicas on nodes
// fake nodes, and prints and reports the figures.
func scaleUp(b *testing.B, s benchSetup, replicas, nodes int) {
	b.StopTimer()
	c := startCluster(b)
	schedArgs := []string{"--log-level", "warn"}
	if s.schedQPS > 0 {
		schedArgs = append(schedArgs, "--kube-api-qps", strconv.Itoa(s.schedQPS), "--kube-api-burst", strconv.Itoa(s.schedBurst))
	}
	sched := startComponent(b, c, "scheduler", schedArgs...)
	cm := startComponent(b, c, "controller-manager", "--log-level", "warn",
		"--kube-api-qps", strconv.Itoa(s.cmQPS), "--kube-api-burst", strconv.Itoa(s.cmBurst))
	status := testnet.FreeAddr(b)
	kl := testproc.Start(b, "kubelet", testbin.Path(b, "kubelet"), "--kubeconfig", c.ts.Kubeconfig, "--runtime", "fake", "--fake-nodes", strconv.Itoa(nodes),
		"--node-name", "hollow", "--root-dir", filepath.Join(b.TempDir(), "kubelet"), "--port", "0",
		"--status-address", status, "--log-format", "console", "--log-level", "warn")
	kl.WaitReady(b, 60*time.Second, testproc.Readyz(status))

	ctx := context.Background()
	cfg := rest.CopyConfig(c.ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	client := kubernetes.NewForConfigOrDie(cfg)
	eventually(b, 60*time.Second, fmt.Sprintf("%d nodes Ready", nodes), func() (bool, error) {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == nodes, fmt.Errorf("%d Ready", ready)
	})

	const ns, name = "bench", "bench"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	lbls := map[string]string{"app": name}
	_, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36",
					Command: []string{"sleep", "3600"}}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	eventually(b, 30*time.Second, "the deployment's replicaset", func() (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration == d.Generation && d.Annotations[revisionAnnotation] == "1", fmt.Errorf("status %+v", d.Status)
	})
	pw := followPods(ctx, b, client, ns, replicas)

	procs := map[string]*testproc.Process{"apiserver": c.ts.Process(), "scheduler": sched, "controller-manager": cm, "kubelet": kl}
	// The baseline: what the cluster burns with nothing to do (leases,
	// node status, the controllers' periodic work).
	const idleFor = 5 * time.Second
	idle0 := cpuUse(procs)
	time.Sleep(idleFor)
	idle := cpuSplit(idle0, cpuUse(procs), idleFor)
	cpu0 := cpuUse(procs)
	busy0, total0 := machineCPU()
	b.StartTimer()
	start := time.Now()
	if _, err := client.AppsV1().Deployments(ns).UpdateScale(ctx, name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: int32(replicas)},
	}, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	// At QPS 20 5,000 creates take 250 s by themselves.
	timeout := time.Duration(3*replicas/s.cmQPS)*time.Second + 2*time.Minute
	var readyAt time.Duration
	eventually(b, timeout, fmt.Sprintf("%d pods Running and the deployment's readyReplicas %d", replicas, replicas), func() (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		if readyAt == 0 && d.Status.ReadyReplicas == int32(replicas) {
			readyAt = time.Since(start)
		}
		created, bound, running := pw.counts()
		return readyAt > 0 && running == replicas, fmt.Errorf("%d created, %d bound, %d running; deployment status %+v", created, bound, running, d.Status)
	})
	b.StopTimer()
	elapsed := time.Since(start)
	cpu1 := cpuUse(procs)
	busy1, total1 := machineCPU()
	createdAt, boundAt, runningAt := pw.times(start)
	writes := pw.writes()

	rate := float64(replicas) / runningAt.Seconds()
	verdict := "MISS"
	if rate >= targetPodsPerSecond {
		verdict = "PASS"
	}
	b.ReportMetric(runningAt.Seconds(), "s-to-all-running")
	b.ReportMetric(rate, "pods/s")
	fmt.Printf("deployment 0→%d on %d fake nodes, %s: all Running after %.1f s = %.0f pods/s (all created %.1f s, bound %.1f s, Running %.1f s, readyReplicas %.1f s); target ≥ %d pods/s: %s\n",
		replicas, nodes, s, runningAt.Seconds(), rate, createdAt.Seconds(), boundAt.Seconds(), runningAt.Seconds(), readyAt.Seconds(), targetPodsPerSecond, verdict)
	machine := 0.0
	if total1 > total0 {
		machine = 100 * float64(busy1-busy0) / float64(total1-total0)
	}
	fmt.Printf("  CPU over the %.1f s: %s; the machine's %d cores %.0f%% busy (apiserver: with its etcd); %.1f writes per pod (create, bind, status)\n",
		elapsed.Seconds(), cpuSplit(cpu0, cpu1, elapsed), runtime.NumCPU(), machine, float64(writes)/float64(replicas))
	fmt.Printf("  CPU idle, before scaling: %s\n", idle)
}

// cpuUse is the CPU time used so far by each process.
func cpuUse(procs map[string]*testproc.Process) map[string]time.Duration {
	out := map[string]time.Duration{}
	for n, p := range procs {
		out[n] = p.CPU()
	}
	return out
}

// cpuSplit describes the CPU each component used between two readings
// taken over.
func cpuSplit(before, after map[string]time.Duration, over time.Duration) string {
	var out []string
	for _, n := range []string{"apiserver", "controller-manager", "scheduler", "kubelet"} {
		d := after[n] - before[n]
		out = append(out, fmt.Sprintf("%s %.1f s (%.0f%% of a core)", n, d.Seconds(), 100*d.Seconds()/over.Seconds()))
	}
	return strings.Join(out, ", ")
}

// machineCPU reads the busy and total jiffies of every core from
// /proc/stat.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// podFollower counts, from a watch, the pods of a namespace created,
// bound and Running, and when each count reached want.
type podFollower struct {
	want int

	mu                        sync.Mutex // guards the fields below
	events                    int        // pod events seen: writes to the pods
	seen, bound, running      map[types.UID]bool
	createdAt, boundAt, runAt time.Time
}

func followPods(ctx context.Context, b *testing.B, client kubernetes.Interface, ns string, want int) *podFollower {
	b.Helper()
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	f := &podFollower{want: want, seen: map[types.UID]bool{}, bound: map[types.UID]bool{}, running: map[types.UID]bool{}}
	done := make(chan struct{})
	b.Cleanup(func() { rw.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range rw.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
				f.observe(p)
			}
		}
	}()
	return f
}

func (f *podFollower) observe(p *corev1.Pod) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events++
	mark := func(set map[types.UID]bool, at *time.Time) {
		if set[p.UID] {
			return
		}
		set[p.UID] = true
		if len(set) == f.want {
			*at = now
		}
	}
	mark(f.seen, &f.createdAt)
	if p.Spec.NodeName != "" {
		mark(f.bound, &f.boundAt)
	}
	if p.Status.Phase == corev1.PodRunning {
		mark(f.running, &f.runAt)
	}
}

// writes is the number of pod events seen so far: one per write.
func (f *podFollower) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events
}

func (f *podFollower) counts() (created, bound, running int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen), len(f.bound), len(f.running)
}

// times is when every pod had been created, bound and Running, since
// start.
func (f *podFollower) times(start time.Time) (created, bound, running time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.createdAt.Sub(start), f.boundAt.Sub(start), f.runAt.Sub(start)
}
