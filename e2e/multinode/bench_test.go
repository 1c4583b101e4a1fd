package multinode

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkJoin: the time from the join command (ctl join with a fresh
// token, then the kubelet started from its unit) to the Node Ready, one
// new node per iteration.
func BenchmarkJoin(b *testing.B) {
	c := newCluster(b, settings{nodeMonitorGracePeriod: 40 * time.Second})
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		_, took := c.addNode(b, i)
		total += took
	}
	b.ReportMetric(total.Seconds()/float64(i), "s/join")
}

// BenchmarkNodeLoss: the time from a node's death (its kubelet and
// kube-proxy killed, its link down) to every replica of a Deployment
// Running and Ready on the other nodes. "fast" is a 20 s
// node-monitor-grace-period and 10 s tolerations; "defaults" Kubernetes'
// 40 s and 300 s (about six minutes per run).
func BenchmarkNodeLoss(b *testing.B) {
	for _, tc := range []struct {
		name       string
		grace      time.Duration
		toleration int64 // 0: the apiserver's default 300 s
	}{
		{"fast", 20 * time.Second, tolerationSeconds},
		{"defaults", 40 * time.Second, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCluster(b, settings{nodeMonitorGracePeriod: tc.grace})
			for i := 1; i <= 3; i++ {
				c.addNode(b, i)
			}
			var total time.Duration
			runs := 0
			for b.Loop() {
				runs++
				if runs > 1 {
					b.Fatal("one node loss per cluster: run with -benchtime=1x")
				}
				web := webDeployment(4)
				if tc.toleration == 0 {
					web.Spec.Template.Spec.Tolerations = nil
				}
				if _, err := c.client.AppsV1().Deployments("default").Create(context.Background(), web, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				pods := c.waitRunning(b, "app=web", 4, "")
				// Lose a node that runs some of them.
				victim := c.node(pods[0].Spec.NodeName)
				total += loseNode(b, c, victim, 4, 10*time.Minute)
			}
			b.ReportMetric(total.Seconds()/float64(runs), "s/recovery")
		})
	}
}
