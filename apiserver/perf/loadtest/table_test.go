package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	target := Target{Name: "create", Limit: 25 * time.Millisecond, MinRate: 500}
	row := func(p99 time.Duration, ops, errs int) Row {
		return Row{Ops: ops, Elapsed: 10 * time.Second, Latency: Summary{Count: ops, P99: p99}, Errors: errs}
	}
	tests := []struct {
		name     string
		target   Target
		row      Row
		wantPass bool
		wantWhy  []string
	}{
		{"under the limit at the rate passes", target, row(20*time.Millisecond, 5000, 0), true, nil},
		{"exactly the limit passes", target, row(25*time.Millisecond, 5000, 0), true, nil},
		{"over the limit misses", target, row(26*time.Millisecond, 5000, 0), false, []string{"p99 26.00 ms > 25.00 ms"}},
		{"errors miss even when fast", target, row(time.Millisecond, 5000, 3), false, []string{"3 errors"}},
		{"a little under the rate passes", target, row(time.Millisecond, 4800, 0), true, nil},
		{"well under the rate misses", target, row(time.Millisecond, 4000, 0), false, []string{"achieved 400.0/s < 500/s"}},
		{"no rate asked, none checked", Target{Limit: time.Second}, row(time.Millisecond, 1, 0), true, nil},
		{"nothing measured misses", Target{Limit: time.Second}, row(0, 0, 0), false, []string{"nothing measured"}},
		{"every reason is given", target, row(time.Second, 100, 1), false, []string{"p99", "1 errors", "achieved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Check(tt.target, tt.row)
			if v.Pass != tt.wantPass {
				t.Fatalf("Pass = %v (%s), want %v", v.Pass, v.Why, tt.wantPass)
			}
			if v.Measured != tt.row.Latency.P99 {
				t.Errorf("Measured = %v, want the row's p99 %v", v.Measured, tt.row.Latency.P99)
			}
			for _, w := range tt.wantWhy {
				if !strings.Contains(v.Why, w) {
					t.Errorf("Why = %q, want it to mention %q", v.Why, w)
				}
			}
			if tt.wantPass && v.Why != "" {
				t.Errorf("Why = %q on a pass, want empty", v.Why)
			}
		})
	}
}

func TestWriteVerdict(t *testing.T) {
	tests := []struct {
		name string
		v    Verdict
		want string
	}{
		{"pass", Verdict{Target: Target{Name: "create p99", Limit: 25 * time.Millisecond}, Measured: 12345 * time.Microsecond, Pass: true},
			"PASS  create p99: p99 12.35 ms (target <= 25.00 ms)\n"},
		{"miss says why", Verdict{Target: Target{Name: "fan-out", Limit: 100 * time.Millisecond}, Measured: 150 * time.Millisecond, Why: "p99 150.00 ms > 100.00 ms"},
			"MISS  fan-out: p99 150.00 ms (target <= 100.00 ms) — p99 150.00 ms > 100.00 ms\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteVerdict(&b, tt.v); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}

func TestWriteRowAlignsUnderHeader(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHeader(&b); err != nil {
		t.Fatal(err)
	}
	r := Row{Op: "create", Concurrency: 8, Ops: 1500, Elapsed: 3 * time.Second,
		Latency: Summary{P50: 1500 * time.Microsecond, P99: 9 * time.Millisecond, Max: 20 * time.Millisecond}, Errors: 2, Note: "closed loop",
		CPU: cpuTimes{Server: 3 * time.Second, Client: 1500 * time.Millisecond, Machine: 4800 * time.Millisecond}}
	if err := WriteRow(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), b.String())
	}
	header, row := lines[0], lines[1]
	for _, col := range []struct{ name, value string }{{"ops/s", "500.0"}, {"p50 ms", "1.50"}, {"p99 ms", "9.00"}, {"max ms", "20.00"}, {"errors", "2"}, {"cores s+c/all", "1.00+0.50/1.60"}} {
		// Numbers are right-aligned: each ends where its column name ends.
		end := strings.Index(header, col.name) + len(col.name)
		if got := row[:end]; !strings.HasSuffix(got, col.value) {
			t.Errorf("column %q: row %q does not end with %q there", col.name, got, col.value)
		}
	}
}

func TestRowRate(t *testing.T) {
	if got := (Row{Ops: 10}).Rate(); got != 0 {
		t.Errorf("Rate with no elapsed time = %v, want 0", got)
	}
	if got := (Row{Ops: 10, Elapsed: 2 * time.Second}).Rate(); got != 5 {
		t.Errorf("Rate = %v, want 5", got)
	}
}

func TestRowCoresWhenServerUnknown(t *testing.T) {
	r := Row{Elapsed: time.Second, CPU: cpuTimes{Server: -1, Client: 250 * time.Millisecond, Machine: -1}}
	if got := r.cores(); got != "-+0.25/-" {
		t.Errorf("cores = %q, want %q", got, "-+0.25/-")
	}
}
