package loadtest

import "time"

// FanoutResult is what the watch fan-out measured.
type FanoutResult struct {
	// All holds, per event every watcher received, the time from sending
	// the update until the last watcher had it.
	All []time.Duration
	// Each holds every single delivery's latency.
	Each []time.Duration
	// Missed counts deliveries that never arrived.
	Missed int
	// Incomplete counts events some watcher missed (not in All).
	Incomplete int
}

// Fanout computes fan-out latencies. sent[i] is when event i's update was
// sent and arrived[i][w] when watcher w received it, both as offsets from
// one base time; an arrival of 0 or less means it never came.
func Fanout(sent []time.Duration, arrived [][]time.Duration) FanoutResult {
	var r FanoutResult
	for i, at := range sent {
		last, complete := time.Duration(0), true
		for _, got := range arrived[i] {
			if got <= 0 {
				r.Missed++
				complete = false
				continue
			}
			d := got - at
			r.Each = append(r.Each, d)
			last = max(last, d)
		}
		if !complete {
			r.Incomplete++
			continue
		}
		r.All = append(r.All, last)
	}
	return r
}
