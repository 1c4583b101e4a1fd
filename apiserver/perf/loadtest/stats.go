package loadtest

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of latencies.
type Summary struct {
	Count int
	P50   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize sorts a copy of samples and reads its percentiles.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return Summary{
		Count: len(sorted),
		P50:   Percentile(sorted, 50),
		P99:   Percentile(sorted, 99),
		Max:   sorted[len(sorted)-1],
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample at or below which p percent of
// the samples lie. It never interpolates, so a p99 is a latency some
// request really had.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// p*n first: for whole p and n the product is exact, so ceil is too.
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = max(rank, 1)
	rank = min(rank, n)
	return sorted[rank-1]
}

// Recorder collects one worker's results; each worker owns one, so
// recording takes no lock. Merge combines them when the workers are done.
type Recorder struct {
	Latencies []time.Duration
	Errors    int
	// Conflicts counts 409 Conflict answers, which are not Errors.
	Conflicts int
	// FirstErr is the first error seen, to show what went wrong.
	FirstErr error
}

// Ok records one successful operation.
func (r *Recorder) Ok(d time.Duration) { r.Latencies = append(r.Latencies, d) }

// Fail records one failed operation.
func (r *Recorder) Fail(err error) {
	r.Errors++
	if r.FirstErr == nil {
		r.FirstErr = err
	}
}

// Merge combines recorders into one.
func Merge(rs []*Recorder) *Recorder {
	out := &Recorder{}
	for _, r := range rs {
		out.Latencies = append(out.Latencies, r.Latencies...)
		out.Errors += r.Errors
		out.Conflicts += r.Conflicts
		if out.FirstErr == nil {
			out.FirstErr = r.FirstErr
		}
	}
	return out
}
