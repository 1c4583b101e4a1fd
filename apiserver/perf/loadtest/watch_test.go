package loadtest

import (
	"testing"
	"time"
)

func TestArrivals(t *testing.T) {
	a := newArrivals(2, 3)
	a.arrive(0, 0)
	a.arrive(0, 0) // a repeat must not count twice
	a.arrive(0, 1)
	select {
	case <-a.done[0]:
		t.Fatal("event 0 done with one watcher still to receive it")
	default:
	}
	a.arrive(0, 2)
	select {
	case <-a.done[0]:
	case <-time.After(time.Second):
		t.Fatal("event 0 not done after every watcher received it")
	}
	a.arrive(5, 0)  // out of range: ignored
	a.arrive(-1, 0) // likewise
	got := a.snapshot(0)
	if len(got) != 2 {
		t.Fatalf("snapshot has %d events, want 2", len(got))
	}
	for w, at := range got[0] {
		if at <= 0 {
			t.Errorf("event 0 watcher %d: arrival %v, want > 0", w, at)
		}
	}
	for w, at := range got[1] {
		if at != 0 {
			t.Errorf("event 1 watcher %d: arrival %v, want none", w, at)
		}
	}
	if n := len(a.snapshot(1)); n != 1 {
		t.Errorf("snapshot(1) has %d events, want 1", n)
	}
}

func TestProbeSeq(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		want   int
		wantOK bool
	}{
		{"modified event", `{"type":"MODIFIED","object":{"kind":"ConfigMap","data":{"index":"0","seq":"42"}}}` + "\n", 42, true},
		{"no newline at the end of the stream", `{"type":"MODIFIED","object":{"data":{"seq":"7"}}}`, 7, true},
		{"bookmark has no seq", `{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"9"}}}`, 0, false},
		{"cut-off line", `{"type":"MODIFIED","object":{"data":{"seq":"4`, 0, false},
		{"not a number", `{"data":{"seq":"x"}}`, 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ProbeSeq([]byte(tt.line))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ProbeSeq = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
