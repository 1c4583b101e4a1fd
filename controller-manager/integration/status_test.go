package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// /healthz, /readyz and /metrics: the work-queue depth and the reconcile
// latency and errors of every controller.
func TestStatusEndpoints(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a")
	ns := e.namespace("status")
	e.createReplicaSet(ns, "web", 2, 0)
	e.waitReplicaSet(ns, "web", 2)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + e.cm.StatusAddress() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != http.StatusOK {
			t.Errorf("%s = %d %s", p, code, body)
		}
	}
	eventually(t, 30*time.Second, "controller metrics", func() (bool, error) {
		_, body := get("/metrics")
		for _, want := range []string{
			`workqueue_depth{name="replicaset-controller"}`,
			`workqueue_adds_total{name="deployment-controller"}`,
			`controller_reconcile_duration_seconds_count{controller="replicaset-controller"}`,
			`workqueue_depth{name="garbage_collector_attempt_to_delete"}`,
		} {
			if !strings.Contains(body, want) {
				return false, nil
			}
		}
		return true, nil
	})
}
