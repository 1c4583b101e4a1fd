package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNoOvercommit races 500 pods onto 10 small nodes, created
// concurrently while the scheduler binds concurrently: no node may ever
// hold more than its allocatable, and every pod left over must be waiting
// for room, not lost.
func TestNoOvercommit(t *testing.T) {
	c := startCluster(t)
	const nodes, pods = 10, 500
	for i := 0; i < nodes; i++ {
		createNode(t, c, nodeSpec{name: fmt.Sprintf("small-%d", i), cpu: "1", memory: "2Gi", pods: "20"})
	}
	// A bounded check that watches every binding as it happens, not only
	// the end state.
	startScheduler(t, c)
	sizes := []string{"100m", "150m", "200m", "250m", "300m"}
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	sem := make(chan struct{}, 16)
	for i := 0; i < pods; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := makePod(podSpec{name: fmt.Sprintf("race-%03d", i), cpu: sizes[i%len(sizes)], memory: "64Mi"})
			if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}

	// Settled: every pod bound, or marked unschedulable for lack of room.
	var list *v1.PodList
	eventually(t, 2*time.Minute, "every pod bound or waiting", func() (bool, error) {
		var err error
		list, err = c.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		undecided := 0
		for _, p := range list.Items {
			if p.Spec.NodeName == "" && !unschedulable(&p) {
				undecided++
			}
		}
		return undecided == 0, fmt.Errorf("%d pods undecided", undecided)
	})
	cpu := map[string]int64{}
	count := map[string]int{}
	bound := 0
	for _, p := range list.Items {
		if p.Spec.NodeName == "" {
			continue
		}
		bound++
		q := p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU]
		cpu[p.Spec.NodeName] += q.MilliValue()
		count[p.Spec.NodeName]++
	}
	for node, used := range cpu {
		if used > 1000 || count[node] > 20 {
			t.Errorf("node %s over-committed: %dm of 1000m cpu, %d of 20 pods", node, used, count[node])
		}
	}
	// 10 nodes × 1000m at 100-300m per pod: at least 40 pods fit.
	if bound < 40 {
		t.Errorf("only %d pods bound", bound)
	}
	t.Logf("%d of %d pods bound; per-node cpu %v", bound, pods, cpu)
}

func unschedulable(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}
