package loadtest

import (
	"testing"
	"time"
)

func TestScheduleOffset(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		i    int
		want time.Duration
	}{
		{"first send is at the start", 500, 0, 0},
		{"500/s is one every 2ms", 500, 1, 2 * time.Millisecond},
		{"the 5000th of 500/s is at 10s", 500, 5000, 10 * time.Second},
		{"a rate that does not divide a second does not drift", 3, 3000, 1000 * time.Second},
		{"fractional rates work", 0.5, 1, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSchedule(time.Unix(100, 0), tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Offset(tt.i); got != tt.want {
				t.Errorf("Offset(%d) at %v/s = %v, want %v", tt.i, tt.rate, got, tt.want)
			}
			if got := s.At(tt.i); !got.Equal(time.Unix(100, 0).Add(tt.want)) {
				t.Errorf("At(%d) = %v, want start + %v", tt.i, got, tt.want)
			}
		})
	}
}

func TestScheduleCount(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		d    time.Duration
		want int
	}{
		{"nothing in no time", 500, 0, 0},
		{"500/s for 10s", 500, 10 * time.Second, 5000},
		{"a send due exactly at the end is not in", 1, 3 * time.Second, 3},
		{"a send due just before the end is in", 1, 3*time.Second + 1, 4},
		{"partial periods round up", 3, time.Second + time.Millisecond, 4},
		{"one send even in a short window", 1, time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := NewSchedule(time.Now(), tt.rate)
			if got := s.Count(tt.d); got != tt.want {
				t.Errorf("Count(%v) at %v/s = %d, want %d", tt.d, tt.rate, got, tt.want)
			}
		})
	}
}

func TestNewScheduleRejectsNonPositiveRates(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		if _, err := NewSchedule(time.Now(), rate); err == nil {
			t.Errorf("NewSchedule(rate %v) = nil error, want one", rate)
		}
	}
}
