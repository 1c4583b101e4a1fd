package loadtest

import (
	"testing"
	"time"
)

func TestStatCPUTicks(t *testing.T) {
	// Fields 14 and 15 (utime 1234, stime 56) of a real line's shape.
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 12 0 500 1000000 2000 18446744073709551615"
	tests := []struct {
		name, stat string
		want       int64
		wantErr    bool
	}{
		{"plain command", "4242 (apiserver)" + tail, 1290, false},
		{"command with spaces and parentheses", "4242 (my (odd) server)" + tail, 1290, false},
		{"no command", "4242 apiserver S", 0, true},
		{"too short", "4242 (apiserver) S 1 2", 0, true},
		{"not numbers", "4242 (apiserver) S 1 2 3 0 -1 4194560 100 0 0 0 x y", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatCPUTicks(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("StatCPUTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCores(t *testing.T) {
	tests := []struct {
		name          string
		used, elapsed time.Duration
		want          float64
	}{
		{"one core busy", time.Second, time.Second, 1},
		{"two cores busy", 20 * time.Second, 10 * time.Second, 2},
		{"no time elapsed", time.Second, 0, 0},
		{"unknown use", -1, time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cores(tt.used, tt.elapsed); got != tt.want {
				t.Errorf("Cores(%v, %v) = %v, want %v", tt.used, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestSelfCPUGrows(t *testing.T) {
	m := cpuMeter{}
	before := m.read()
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	after := m.read()
	if after.Client <= before.Client {
		t.Errorf("client CPU went from %v to %v after spinning", before.Client, after.Client)
	}
	if after.Server != -1 {
		t.Errorf("server CPU = %v with no server pid, want -1 (unknown)", after.Server)
	}
}

func TestBusyTicks(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int64
		wantErr    bool
	}{
		{"busy is all but idle and iowait", "cpu  100 2 30 5000 70 4 5 6 0 0\ncpu0 50 1 15 2500 35 2 2 3 0 0\n", 147, false},
		{"the total line, not a per-CPU one", "cpu0 1 1 1 1 1 1 1 1\ncpu  10 0 0 0 0 0 0 0 0 0\n", 10, false},
		{"no cpu line", "intr 1 2 3\n", 0, true},
		{"garbage", "cpu  a b c d e f g h\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BusyTicks(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("BusyTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
