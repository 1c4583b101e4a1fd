// Package parallelize runs a piece of work over many indices on a bounded
// number of goroutines, as the scheduler does over nodes.
package parallelize

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// Parallelizer runs work on at most Workers goroutines.
type Parallelizer struct {
	workers int
}

// New returns a parallelizer with workers goroutines (at least 1).
func New(workers int) Parallelizer {
	if workers < 1 {
		workers = 1
	}
	return Parallelizer{workers: workers}
}

// Workers is the parallelism.
func (p Parallelizer) Workers() int { return p.workers }

// chunkSize keeps chunks small enough to balance the workers and large
// enough that claiming one is cheap next to the work in it.
func chunkSize(pieces, workers int) int {
	s := int(math.Sqrt(float64(pieces)))
	if r := pieces/workers + 1; s > r {
		s = r
	}
	if s < 1 {
		s = 1
	}
	return s
}

// Until calls work(i) for every i in [0, pieces) unless ctx is cancelled
// first, in which case the indices not yet started are skipped. It returns
// when every call started has returned. Small jobs run on the caller's
// goroutine: starting goroutines would cost more than it saves.
func (p Parallelizer) Until(ctx context.Context, pieces int, work func(i int)) {
	if pieces <= 0 {
		return
	}
	chunk := chunkSize(pieces, p.workers)
	workers := min(p.workers, (pieces+chunk-1)/chunk)
	if workers <= 1 || pieces < 32 {
		for i := 0; i < pieces; i++ {
			if ctx.Err() != nil {
				return
			}
			work(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= pieces {
					return
				}
				end := min(start+chunk, pieces)
				for i := start; i < end; i++ {
					work(i)
				}
			}
		}()
	}
	wg.Wait()
}
