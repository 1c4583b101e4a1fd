package loadtest

import (
	"errors"
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty is zero", nil, 99, 0},
		{"one sample is every percentile", ms(7), 50, 7 * time.Millisecond},
		{"median of an odd count is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of an even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th, not the max", seq(100), 99, 99 * time.Millisecond},
		{"p99 of 1000 is the 990th", seq(1000), 99, 990 * time.Millisecond},
		{"p99 of 101 rounds the rank up", seq(101), 99, 100 * time.Millisecond},
		{"p99 of 10 is the max", seq(10), 99, 10 * time.Millisecond},
		{"p100 is the max", seq(10), 100, 10 * time.Millisecond},
		{"tiny p is the min", seq(10), 0.1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%d samples, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Summary
	}{
		{"nothing", nil, Summary{}},
		{"unsorted input", ms(9, 1, 5), Summary{Count: 3, P50: 5 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}},
		{"one outlier in a hundred stays out of p99", append(ms(500), seq(99)...),
			Summary{Count: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.samples...)
			if got := Summarize(tt.samples); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
			for i := range in {
				if in[i] != tt.samples[i] {
					t.Fatalf("Summarize reordered its input")
				}
			}
		})
	}
}

func TestMerge(t *testing.T) {
	first := errors.New("first")
	a := &Recorder{Latencies: ms(1, 2), Errors: 1, FirstErr: first}
	b := &Recorder{Latencies: ms(3), Errors: 2, Conflicts: 4, FirstErr: errors.New("second")}
	got := Merge([]*Recorder{a, b})
	if len(got.Latencies) != 3 || got.Errors != 3 || got.Conflicts != 4 || got.FirstErr != first {
		t.Errorf("Merge = %+v, want 3 latencies, 3 errors, 4 conflicts, the first error", got)
	}
}
