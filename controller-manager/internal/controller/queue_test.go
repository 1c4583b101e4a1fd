package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"coracle.dev/controller-manager/internal/metrics"
)

// A failing key is retried with back-off until it succeeds; a key is
// never handed to two workers at once.
func TestQueueRetriesAndSerializes(t *testing.T) {
	q := NewQueue[string](QueueOptions{Name: "test", BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var inFlight sync.Map
	done := make(chan struct{})
	var once sync.Once
	go q.Run(ctx, 4, func(ctx context.Context, key string) error {
		if _, busy := inFlight.LoadOrStore(key, true); busy {
			t.Errorf("key %s handed to two workers", key)
		}
		defer inFlight.Delete(key)
		if calls.Add(1) < 3 {
			q.Add(key) // queued again while in flight: must wait
			return errors.New("not yet")
		}
		once.Do(func() { close(done) })
		return nil
	})
	q.Add("a")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("key not retried to success; %d calls", calls.Load())
	}
}

// A key waiting on something outside the controller (ErrWaiting) is
// retried like a failed one but not counted as a reconcile error.
func TestQueueWaitingIsRetriedNotCounted(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	q := NewQueue[string](QueueOptions{Name: "test", Metrics: m, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	done := make(chan struct{})
	go q.Run(ctx, 1, func(ctx context.Context, key string) error {
		if calls.Add(1) < 3 {
			return fmt.Errorf("%w: no binding allows it yet", ErrWaiting)
		}
		close(done)
		return nil
	})
	q.Add("a")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting key not retried to success; %d calls", calls.Load())
	}
	if got := testutil.ToFloat64(m.ReconcileErrors.WithLabelValues("test")); got != 0 {
		t.Errorf("reconcile errors = %v, want 0", got)
	}
}
