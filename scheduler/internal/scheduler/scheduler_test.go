package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/scheduler/internal/metrics"
	st "coracle.dev/scheduler/internal/schedtest"
)

// TestFailedBindingIsForgottenAndRetried: the first pods/binding call
// fails; the pod must stop being counted on the node, get a
// FailedScheduling event, and be bound on a later attempt.
func TestFailedBindingIsForgottenAndRetried(t *testing.T) {
	pod := st.MakePod("p").Req("1", "").Obj()
	pod.Spec.SchedulerName = DefaultSchedulerName
	client := fake.NewClientset(st.MakeNode("n").Obj(), pod)
	var binds atomic.Int32
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		if binds.Add(1) == 1 {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		return true, nil, nil // the fake has no binding subresource: accept
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	m, err := metrics.New(prometheus.NewRegistry(), func() map[string]int { return nil })
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Client: client, InformerFactory: factory, Recorder: rec, Metrics: m,
		PodInitialBackoff: 50 * time.Millisecond, PodMaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), s.HasSynced) {
		t.Fatal("informers did not sync")
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()

	want := []string{"Warning FailedScheduling Binding rejected: bind pod default/p to node n: etcdserver: request timed out",
		"Normal Scheduled Successfully assigned default/p to n"}
	for _, w := range want {
		select {
		case ev := <-rec.Events:
			if !strings.HasPrefix(ev, w) {
				t.Fatalf("event %q, want %q", ev, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %q", w)
		}
	}
	// The fake never reports the pod bound, so it stays assumed: counted
	// once, not twice.
	if got := s.cache.Dump()["n"].Requested.MilliCPU; got != 1000 {
		t.Errorf("node n counts %dm cpu, want 1000m", got)
	}
	cancel()
	<-done
}

// TestPodsOfOtherSchedulersAreIgnored: only pods naming this scheduler
// are queued.
func TestPodsOfOtherSchedulersAreIgnored(t *testing.T) {
	other := st.MakePod("other").Obj()
	other.Spec.SchedulerName = "someone-else"
	mine := st.MakePod("mine").Obj()
	mine.Spec.SchedulerName = DefaultSchedulerName
	done := st.MakePod("done").Obj()
	done.Spec.SchedulerName = DefaultSchedulerName
	done.Status.Phase = v1.PodSucceeded
	client := fake.NewClientset(other, mine, done)
	factory := informers.NewSharedInformerFactory(client, 0)
	m, _ := metrics.New(prometheus.NewRegistry(), func() map[string]int { return nil })
	s, err := New(Config{Client: client, InformerFactory: factory, Recorder: record.NewFakeRecorder(10), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	toolscache.WaitForCacheSync(ctx.Done(), s.HasSynced)
	if !s.queue.Contains(mine) || s.queue.Contains(other) || s.queue.Contains(done) {
		t.Errorf("queued: mine %v, other %v, done %v", s.queue.Contains(mine), s.queue.Contains(other), s.queue.Contains(done))
	}
}
