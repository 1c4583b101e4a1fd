package loadtest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Op is one operation of a load loop: worker w's i-th. It returns the
// request's error; the loop times it.
type Op func(ctx context.Context, w, i int) error

// record files one timed operation's outcome: a 409 Conflict is counted
// apart from errors and has no latency sample.
func (r *Recorder) record(d time.Duration, err error) {
	switch {
	case err == nil:
		r.Ok(d)
	case apierrors.IsConflict(err):
		r.Conflicts++
	default:
		r.Fail(err)
	}
}

// ClosedLoop runs conc workers, each sending its next operation as soon as
// the last one answered, for d.
func ClosedLoop(ctx context.Context, conc int, d time.Duration, op Op) (*Recorder, time.Duration) {
	deadline := time.Now().Add(d)
	return runWorkers(conc, func(w int, rec *Recorder) {
		for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
			start := time.Now()
			err := op(ctx, w, i)
			rec.record(time.Since(start), err)
		}
	})
}

// FixedCount runs n operations over conc workers; op's i runs 0..n-1
// across all workers.
func FixedCount(ctx context.Context, conc, n int, op Op) (*Recorder, time.Duration) {
	var next atomic.Int64
	return runWorkers(conc, func(w int, rec *Recorder) {
		for ctx.Err() == nil {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			start := time.Now()
			err := op(ctx, w, i)
			rec.record(time.Since(start), err)
		}
	})
}

// OpenLoop sends operations on sched for d, whatever the answers' speed,
// from a pool of workers. Each latency runs from the operation's due time,
// so time spent waiting for a free worker counts.
func OpenLoop(ctx context.Context, sched Schedule, d time.Duration, workers int, op Op) (*Recorder, time.Duration) {
	n := sched.Count(d)
	// Buffered for every send: the pacer never waits for a worker, so a
	// slow server cannot slow the schedule down.
	due := make(chan int, n)
	go pace(ctx, sched, n, due)
	return runWorkers(workers, func(w int, rec *Recorder) {
		for i := range due {
			err := op(ctx, w, i)
			rec.record(time.Since(sched.At(i)), err)
		}
	})
}

// pace puts i on due at sched.At(i), for i in 0..n-1, then closes due.
func pace(ctx context.Context, sched Schedule, n int, due chan<- int) {
	defer close(due)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < n; i++ {
		if wait := time.Until(sched.At(i)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		due <- i
	}
}

// runWorkers runs work on conc goroutines, each with its own recorder,
// and returns the merged record and the wall time it took.
func runWorkers(conc int, work func(w int, rec *Recorder)) (*Recorder, time.Duration) {
	recs := make([]*Recorder, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		recs[w] = &Recorder{}
		wg.Go(func() { work(w, recs[w]) })
	}
	wg.Wait()
	return Merge(recs), time.Since(start)
}
