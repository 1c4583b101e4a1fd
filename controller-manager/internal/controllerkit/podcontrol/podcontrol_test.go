package podcontrol

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAfter int64 // calls beyond this many fail; -1 never
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, -1, 10, 10},
		{"first call fails stops after one", 10, 0, 0, 1},
		// batches 1, 2, 4: the third batch has calls 4..7, of which
		// 5 and later fail.
		{"failure in a batch stops the next", 10, 5, 5, 7},
		{"zero does nothing", 0, -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := SlowStartBatch(tt.count, 1, func() error {
				n := calls.Add(1)
				if tt.failAfter >= 0 && n > tt.failAfter {
					return errors.New("refused")
				}
				return nil
			})
			if ok != tt.wantOK || calls.Load() != tt.wantCalls {
				t.Errorf("successes, calls = %d, %d; want %d, %d", ok, calls.Load(), tt.wantOK, tt.wantCalls)
			}
			if (err != nil) != (tt.failAfter >= 0 && tt.count > 0) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestGenerateNamePrefix(t *testing.T) {
	if got := GenerateNamePrefix("web"); got != "web-" {
		t.Errorf("GenerateNamePrefix(web) = %q", got)
	}
}
