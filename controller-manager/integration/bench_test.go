package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/garbagecollector"
	"coracle.dev/controller-manager/internal/controller/replicaset"
	"coracle.dev/controller-manager/manager"
)

// BenchmarkReplicaSet5000Pods measures the ReplicaSet controller
// bringing up 5,000 pods and scaling them back to zero, against an
// in-process apiserver, with the test kubelet standing in for 50 nodes:
// it binds and starts pods at once, so the figures are the control
// plane's (controller, apiserver, etcd), not a real node's. The
// controller's QPS is $CORACLE_BENCH_QPS (default 100; Kubernetes'
// production default of 20 makes 5,000 creates take 250 s by itself).
func BenchmarkReplicaSet5000Pods(b *testing.B) {
	const replicas, nodes = 5000, 50
	qps := 100
	if v, err := strconv.Atoi(os.Getenv("CORACLE_BENCH_QPS")); err == nil && v > 0 {
		qps = v
	}
	e := startBench(b, qps)
	k := startKubelet(e)
	for i := 0; i < nodes; i++ {
		k.addNode(fmt.Sprintf("node-%02d", i), nil)
	}
	ctx := context.Background()
	for n := 0; n < b.N; n++ {
		ns := e.namespace(fmt.Sprintf("bench-%d", n))
		lbls := map[string]string{"app": "bench"}
		start := time.Now()
		_, err := e.client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "bench"},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](replicas), Selector: &metav1.LabelSelector{MatchLabels: lbls},
				Template: podTemplate(lbls)},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var created, ready time.Duration
		deadline := time.Now().Add(20 * time.Minute)
		for time.Now().Before(deadline) {
			rs, err := e.client.AppsV1().ReplicaSets(ns).Get(ctx, "bench", metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if created == 0 && rs.Status.Replicas == replicas {
				created = time.Since(start)
			}
			if rs.Status.AvailableReplicas == replicas {
				ready = time.Since(start)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if ready == 0 {
			b.Fatalf("%d pods not available within 20 minutes", replicas)
		}
		start = time.Now()
		e.scaleReplicaSet(ns, "bench", 0)
		var gone time.Duration
		for time.Now().Before(deadline) {
			list, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				b.Fatal(err)
			}
			if len(list.Items) == 0 {
				gone = time.Since(start)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.ReportMetric(created.Seconds(), "s-to-5000-created")
		b.ReportMetric(ready.Seconds(), "s-to-5000-available")
		b.ReportMetric(float64(replicas)/ready.Seconds(), "pods/s-up")
		b.ReportMetric(gone.Seconds(), "s-to-zero")
	}
}

// startBench is start for a benchmark: a manager with the ReplicaSet
// controller and the garbage collector at the given QPS.
func startBench(b *testing.B, qps int) *env {
	e := startAPI(b)
	cfg := e.testConfig(withControllers(replicaset.Name, garbagecollector.Name), func(c *manager.Config) {
		c.KubeAPIQPS, c.KubeAPIBurst = float32(qps), qps*2
	})
	e.cm = e.startManagerWith(cfg, true)
	return e
}
