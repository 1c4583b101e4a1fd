package loadtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Row is one line of the results table: one operation at one concurrency.
type Row struct {
	Op          string
	Concurrency int
	Ops         int
	Elapsed     time.Duration
	Latency     Summary
	Errors      int
	Note        string
	// CPU is the CPU time the apiserver, this program and the whole
	// machine used during the row; negative when unknown.
	CPU cpuTimes
}

// Rate is the row's throughput in operations per second.
func (r Row) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

const rowFormat = "%-26s %5s %7s %8s %8s %8s %8s %6s %14s  %s\n"

// WriteHeader writes the table's column names.
func WriteHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, rowFormat, "operation", "conc", "ops", "ops/s", "p50 ms", "p99 ms", "max ms", "errors", "cores s+c/all", "note")
	return err
}

// WriteRow writes one row, aligned under WriteHeader's columns.
func WriteRow(w io.Writer, r Row) error {
	_, err := fmt.Fprintf(w, rowFormat, r.Op, fmt.Sprint(r.Concurrency), fmt.Sprint(r.Ops),
		fmt.Sprintf("%.1f", r.Rate()), Millis(r.Latency.P50), Millis(r.Latency.P99), Millis(r.Latency.Max),
		fmt.Sprint(r.Errors), r.cores(), r.Note)
	return err
}

// cores shows the CPU the server, the client and the whole machine used
// during the row, in cores busy on average: "1.40+0.55/1.98"; "-" for
// what is unknown. All well above server plus client means something
// else was running.
func (r Row) cores() string {
	f := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", Cores(d, r.Elapsed))
	}
	return f(r.CPU.Server) + "+" + f(r.CPU.Client) + "/" + f(r.CPU.Machine)
}

// Millis formats d in milliseconds with two decimals.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// Target is a latency goal for one row: its p99 at most Limit, no errors,
// and, when MinRate is set, at least that throughput.
type Target struct {
	Name    string
	Limit   time.Duration
	MinRate float64
}

// Verdict is a target checked against what was measured.
type Verdict struct {
	Target
	Measured time.Duration
	Pass     bool
	// Why says what missed, empty on a pass.
	Why string
}

// rateSlack is how far below MinRate a row may fall and still pass: the
// open-loop sender's last sends finish after the schedule ends.
const rateSlack = 0.95

// Check compares row with t.
func Check(t Target, row Row) Verdict {
	v := Verdict{Target: t, Measured: row.Latency.P99}
	var why []string
	if row.Ops == 0 {
		why = append(why, "nothing measured")
	}
	if row.Latency.P99 > t.Limit {
		why = append(why, fmt.Sprintf("p99 %s ms > %s ms", Millis(row.Latency.P99), Millis(t.Limit)))
	}
	if row.Errors > 0 {
		why = append(why, fmt.Sprintf("%d errors", row.Errors))
	}
	if t.MinRate > 0 && row.Rate() < t.MinRate*rateSlack {
		why = append(why, fmt.Sprintf("achieved %.1f/s < %.0f/s", row.Rate(), t.MinRate))
	}
	v.Pass = len(why) == 0
	v.Why = strings.Join(why, "; ")
	return v
}

// WriteVerdict writes one PASS or MISS line.
func WriteVerdict(w io.Writer, v Verdict) error {
	word, why := "PASS", ""
	if !v.Pass {
		word, why = "MISS", " — "+v.Why
	}
	_, err := fmt.Fprintf(w, "%s  %s: p99 %s ms (target <= %s ms)%s\n", word, v.Name, Millis(v.Measured), Millis(v.Limit), why)
	return err
}
