package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/apiserver/internal/servertest"
)

// TestRunAgainstARealAPIServer runs a tiny benchmark against an apiserver
// on loopback and checks that every phase produced its row, without
// errors, and the run cleaned up after itself.
func TestRunAgainstARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	ts := servertest.Start(t)
	cfg := DefaultConfig()
	cfg.Kubeconfig = ts.Kubeconfig
	cfg.Concurrency = []int{1, 4}
	cfg.Duration = 200 * time.Millisecond
	cfg.Rate = 50
	cfg.RateWorkers = 4
	cfg.Objects = 20
	cfg.Watchers = 10
	cfg.Events = 5
	// Loose targets: this checks the plumbing, not the machine.
	cfg.CreateTarget, cfg.FanoutTarget = time.Second, time.Second

	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := Run(ctx, cfg, &out, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())

	want := []string{"create", "create (open loop)", "get", "update", "list (etcd)", "list (cache, rv=0)"}
	for _, kind := range []string{ClientGo, RawStream} {
		want = append(want, "watch open, "+kind, "probe update, "+kind, "event to all, "+kind, "event to each, "+kind)
	}
	ops := map[string]int{}
	for _, r := range report.Rows {
		ops[r.Op]++
		if r.Ops == 0 || r.Errors != 0 {
			t.Errorf("row %q at %d: %d ops, %d errors; want some ops and no errors", r.Op, r.Concurrency, r.Ops, r.Errors)
		}
	}
	for _, op := range want {
		if ops[op] == 0 {
			t.Errorf("no %q row", op)
		}
	}
	if len(report.Verdicts) != 2 || report.Missed() {
		t.Errorf("verdicts %+v, want two passes", report.Verdicts)
	}
	if !strings.Contains(out.String(), "PASS  event to all 10 watchers (client-go)") {
		t.Errorf("output lacks the fan-out verdict:\n%s", out.String())
	}
	left, err := kubernetes.NewForConfigOrDie(ts.Config).CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
	if err != nil {
		t.Fatalf("list what is left: %v", err)
	}
	if n := len(left.Items); n != 0 {
		t.Errorf("%d of the run's configmaps left after it, want none", n)
	}
}
