package perf

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/testserver"
)

// BenchmarkAPICeiling measures what the apiserver on this machine can do
// with no scheduler at all: the benchmark's pods created, then each bound
// with one pods/binding call, at the benchmark's concurrency. Creating and
// binding every pod is the least work any scheduler makes the API do, so
// this bounds BenchmarkSchedulerThroughput from above.
func BenchmarkAPICeiling(b *testing.B) {
	pods, workers := envInt("BENCH_PODS", 10000), envInt("BENCH_CREATORS", 16)
	for i := 0; i < b.N; i++ {
		create, bind := ceiling(b, pods, workers)
		both := float64(pods) / (create + bind).Seconds()
		b.ReportMetric(both, "pods/s")
		fmt.Printf("\n| apiserver alone, %d pods, concurrency %d | creates/s | bindings/s | create+bind pods/s |\n|---|---|---|---|\n| | %.0f | %.0f | **%.0f** |\n\n",
			pods, workers, float64(pods)/create.Seconds(), float64(pods)/bind.Seconds(), both)
	}
}

func ceiling(tb testing.TB, pods, workers int) (create, bind time.Duration) {
	ts := testserver.Start(tb)
	rc := rest.CopyConfig(ts.Config)
	rc.QPS, rc.Burst = 1e6, 1e6
	client := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, benchNode(0), metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	parallel(pods, workers, func(i int) {
		if _, err := client.CoreV1().Pods("default").Create(ctx, benchPod(i), metav1.CreateOptions{}); err != nil {
			tb.Error(err)
		}
	})
	create = time.Since(start)
	start = time.Now()
	parallel(pods, workers, func(i int) {
		b := &v1.Binding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default"},
			Target: v1.ObjectReference{Kind: "Node", Name: benchNode(0).Name}}
		if err := client.CoreV1().Pods("default").Bind(ctx, b, metav1.CreateOptions{}); err != nil {
			tb.Error(err)
		}
	})
	return create, time.Since(start)
}
