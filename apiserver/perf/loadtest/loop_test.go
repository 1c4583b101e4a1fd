package loadtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRecorderSortsOutcomes(t *testing.T) {
	boom := errors.New("boom")
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("changed"))
	var r Recorder
	r.record(time.Millisecond, nil)
	r.record(time.Millisecond, conflict)
	r.record(time.Millisecond, boom)
	r.record(time.Millisecond, errors.New("later"))
	if len(r.Latencies) != 1 || r.Conflicts != 1 || r.Errors != 2 || r.FirstErr != boom {
		t.Errorf("recorder = %+v, want 1 latency, 1 conflict, 2 errors, first boom", r)
	}
}

func TestFixedCountRunsEachIndexOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	rec, _ := FixedCount(context.Background(), 4, 100, func(_ context.Context, _, i int) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	})
	if len(rec.Latencies) != 100 || len(seen) != 100 {
		t.Fatalf("ran %d ops over %d indexes, want 100 and 100", len(rec.Latencies), len(seen))
	}
	for i, n := range seen {
		if n != 1 || i < 0 || i >= 100 {
			t.Errorf("index %d ran %d times", i, n)
		}
	}
}

func TestClosedLoopStopsAtTheDeadline(t *testing.T) {
	start := time.Now()
	rec, elapsed := ClosedLoop(context.Background(), 2, 50*time.Millisecond, func(context.Context, int, int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if len(rec.Latencies) == 0 {
		t.Fatal("no operations ran")
	}
	if elapsed < 50*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Errorf("elapsed %v, want just over 50ms", elapsed)
	}
}

func TestOpenLoopSendsOnScheduleAndCountsWaiting(t *testing.T) {
	sched, _ := NewSchedule(time.Now(), 1000)
	// One worker and 5ms operations against 1ms spacing: sends queue, and
	// the latencies, taken from the due times, must show the queue.
	rec, _ := OpenLoop(context.Background(), sched, 20*time.Millisecond, 1, func(context.Context, int, int) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	if len(rec.Latencies) != 20 {
		t.Fatalf("ran %d sends, want the 20 scheduled", len(rec.Latencies))
	}
	if s := Summarize(rec.Latencies); s.Max < 50*time.Millisecond {
		t.Errorf("max latency %v, want the queueing (>= 50ms) counted", s.Max)
	}
}

func TestOpenLoopStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sched, _ := NewSchedule(time.Now().Add(time.Hour), 1)
	done := make(chan struct{})
	go func() {
		OpenLoop(ctx, sched, time.Hour, 2, func(context.Context, int, int) error { return nil })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("OpenLoop did not return after cancel")
	}
}
