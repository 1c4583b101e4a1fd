package algorithm_test

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/algorithm"
	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/plugins"
	st "coracle.dev/scheduler/internal/schedtest"
)

// BenchmarkSchedule decides one pod on 5,000 nodes already running 5,000
// pods (a fifth of them with anti-affinity), without assuming it: the
// scheduling loop's CPU cost per pod, apart from the API.
func BenchmarkSchedule(b *testing.B) {
	var nodes []*v1.Node
	for i := 0; i < 5000; i++ {
		w := st.MakeNode(fmt.Sprintf("node-%05d", i)).Capacity([]string{"4", "8", "16", "32"}[i%4], "64Gi", "110").
			Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%5)).Label("disk", []string{"ssd", "hdd", "hdd"}[i%3])
		if i%10 == 9 {
			w = w.Taint("dedicated", "infra", v1.TaintEffectNoSchedule)
		}
		nodes = append(nodes, w.Obj())
	}
	var pods []*v1.Pod
	for i := 0; i < 5000; i++ {
		w := st.MakePod(fmt.Sprintf("e-%05d", i)).Label("bench", "1").Req("200m", "256Mi").Node(nodes[(i*7)%len(nodes)].Name)
		if i%5 == 0 {
			g := fmt.Sprintf("anti-%d", i/50)
			w = w.Label("app", g).PodAntiAffinity("app", g, v1.LabelHostname)
		}
		pods = append(pods, w.Obj())
	}
	reg, _ := plugins.NewRegistry()
	f, err := framework.New(reg, framework.Options{Plugins: plugins.DefaultProfile(), Snapshot: cache.NewSnapshot(pods, nodes), Parallelism: 2})
	if err != nil {
		b.Fatal(err)
	}
	a := algorithm.New(f, 0, 1)
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
	}{
		{"plain", st.MakePod("p").Label("bench", "1").Req("250m", "512Mi").Obj()},
		{"nodeSelector", st.MakePod("p").Label("bench", "1").Req("250m", "512Mi").NodeSelector("disk", "ssd").Obj()},
		{"antiAffinity", st.MakePod("p").Label("bench", "1").Label("app", "anti-3").Req("250m", "512Mi").PodAntiAffinity("app", "anti-3", v1.LabelHostname).Obj()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pi := framework.NewPodInfo(tc.pod)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := a.Schedule(context.Background(), framework.NewCycleState(), pi); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
