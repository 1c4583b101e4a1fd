package loadtest

import (
	"fmt"
	"time"
)

// Schedule is an open-loop send schedule: send i is due at Start plus i
// periods of a fixed rate, whatever happened to the sends before it. A
// latency measured from the due time, not from when a busy worker got to
// the send, counts the time the send spent waiting (no coordinated
// omission).
type Schedule struct {
	Start time.Time
	// Rate is sends per second.
	Rate float64
}

// NewSchedule returns a schedule of rate sends per second from start.
func NewSchedule(start time.Time, rate float64) (Schedule, error) {
	if rate <= 0 {
		return Schedule{}, fmt.Errorf("rate %v: must be positive", rate)
	}
	return Schedule{Start: start, Rate: rate}, nil
}

// Offset is when send i is due, relative to Start. Computed from i each
// time, so rounding does not accumulate into drift.
func (s Schedule) Offset(i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.Rate)
}

// At is when send i is due.
func (s Schedule) At(i int) time.Time { return s.Start.Add(s.Offset(i)) }

// Count is the number of sends due within d of Start (the ones whose due
// time is before Start+d).
func (s Schedule) Count(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	n := int(float64(d) / float64(time.Second) * s.Rate)
	// Correct for float error at the edge: send n is due at or after d.
	for n > 0 && s.Offset(n-1) >= d {
		n--
	}
	for s.Offset(n) < d {
		n++
	}
	return n
}
