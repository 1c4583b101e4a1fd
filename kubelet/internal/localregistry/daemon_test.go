package localregistry

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"coracle.dev/shared/testnet"
)

// Run serves the busybox image under every name a kubelet may ask for,
// until its context ends.
func TestRunServesBusyboxUntilCancelled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Address = testnet.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, cfg, zaptest.NewLogger(t)) }()
	defer cancel()

	tags := func(repo string) []string {
		resp, err := http.Get("http://" + cfg.Address + "/v2/" + repo + "/tags/list")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var list struct{ Tags []string }
		_ = json.NewDecoder(resp.Body).Decode(&list)
		return list.Tags
	}
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(tags("library/busybox"), "1.36") {
		select {
		case err := <-errc:
			t.Fatalf("Run returned early: %v (needs busybox-static at /bin/busybox)", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("busybox not pushed within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := tags("busybox"); !slices.Contains(got, "latest") || !slices.Contains(got, "1.36") {
		t.Errorf("busybox tags %v", got)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get("http://" + cfg.Address + "/v2/"); err == nil {
		t.Error("registry still serving after Run returned")
	}
}
