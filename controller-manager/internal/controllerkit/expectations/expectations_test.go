package expectations

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpectations(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	tests := []struct {
		name string
		do   func(e *Expectations)
		want bool
	}{
		{"nothing recorded is satisfied", func(e *Expectations) {}, true},
		{"outstanding creations are not", func(e *Expectations) { e.Expect("k", 2, nil) }, false},
		{"all creations observed is satisfied", func(e *Expectations) {
			e.Expect("k", 2, nil)
			e.CreationObserved("k")
			e.CreationObserved("k")
		}, true},
		{"creations observed more than expected stay satisfied", func(e *Expectations) {
			e.Expect("k", 1, nil)
			e.CreationObserved("k")
			e.CreationObserved("k")
		}, true},
		{"a deletion seen twice counts once", func(e *Expectations) {
			e.Expect("k", 0, []types.UID{"a", "b"})
			e.DeletionObserved("k", "a")
			e.DeletionObserved("k", "a")
		}, false},
		{"all deletions observed is satisfied", func(e *Expectations) {
			e.Expect("k", 0, []types.UID{"a", "b"})
			e.DeletionObserved("k", "b")
			e.DeletionObserved("k", "a")
		}, true},
		{"expired expectations are satisfied", func(e *Expectations) {
			e.Expect("k", 3, nil)
			clk.SetTime(clk.Now().Add(Timeout + time.Second))
		}, true},
		{"deleted key is satisfied", func(e *Expectations) {
			e.Expect("k", 3, nil)
			e.Delete("k")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(clk)
			tt.do(e)
			if got := e.Satisfied("k"); got != tt.want {
				t.Errorf("Satisfied = %v, want %v", got, tt.want)
			}
		})
	}
}
