package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// boundsWatch follows every change of a set of pods, in the order the
// apiserver made them, and records each moment when more than maxPods
// pods existed (not terminating) or fewer than minAvailable were
// available (ready for minReady, not terminating).
type boundsWatch struct {
	mu         sync.Mutex // guards violations, maxSeen, minSeen, events
	violations []string
	maxSeen    int
	minSeen    int
	events     int
	stop       chan struct{}
}

func watchBounds(e *env, ns string, selector map[string]string, maxPods, minAvailable int, minReady time.Duration) *boundsWatch {
	e.t.Helper()
	b := &boundsWatch{stop: make(chan struct{}), minSeen: 1 << 30}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labels.SelectorFromSet(selector).String() }))
	inf := factory.Core().V1().Pods().Informer()
	check := func() {
		var pods, available int
		for _, obj := range inf.GetStore().List() {
			p := obj.(*corev1.Pod)
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			pods++
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && time.Since(c.LastTransitionTime.Time) >= minReady-time.Second {
					available++
				}
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.events++
		b.maxSeen = max(b.maxSeen, pods)
		b.minSeen = min(b.minSeen, available)
		if pods > maxPods {
			b.violations = append(b.violations, fmt.Sprintf("%d pods > %d", pods, maxPods))
		}
		if available < minAvailable {
			b.violations = append(b.violations, fmt.Sprintf("%d available < %d", available, minAvailable))
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { check() }, UpdateFunc: func(any, any) { check() }, DeleteFunc: func(any) { check() },
	})
	factory.Start(b.stop)
	factory.WaitForCacheSync(b.stop)
	e.t.Cleanup(b.close)
	return b
}

func (b *boundsWatch) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
}

// verify stops the watch and fails the test on any violation.
func (b *boundsWatch) verify(t *testing.T) {
	t.Helper()
	b.close()
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("bounds: %d pod changes seen, at most %d pods, at least %d available", b.events, b.maxSeen, b.minSeen)
	if len(b.violations) > 0 {
		t.Errorf("bounds violated %d times, first: %v", len(b.violations), b.violations[:min(5, len(b.violations))])
	}
}
