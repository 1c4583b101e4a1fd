package server

import (
	"strings"
	"testing"
)

// TestFlowControlFlags: priority and fairness is on by default with
// Kubernetes' 400 and 200; the flags fill FlowControlConfig, and what
// kube-apiserver refuses is refused with its words.
func TestFlowControlFlags(t *testing.T) {
	cfg, _, err := Daemon().Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FlowControlConfig != defaultFlowControlConfig() || !cfg.EnablePriorityAndFairness || cfg.MaxRequestsInFlight != 400 || cfg.MaxMutatingRequestsInFlight != 200 {
		t.Errorf("defaults %+v", cfg.FlowControlConfig)
	}
	cfg, _, err = Daemon().Load([]string{"--enable-priority-and-fairness=false", "--max-requests-inflight", "10", "--max-mutating-requests-inflight", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (FlowControlConfig{MaxRequestsInFlight: 10}); cfg.FlowControlConfig != want {
		t.Errorf("loaded %+v, want %+v", cfg.FlowControlConfig, want)
	}

	tests := []struct {
		name string
		cfg  FlowControlConfig
		want string
	}{
		{"defaults", defaultFlowControlConfig(), ""},
		{"max-in-flight without limits", FlowControlConfig{}, ""},
		{"negative reads", FlowControlConfig{MaxRequestsInFlight: -1}, "--max-requests-inflight can not be negative value"},
		{"negative writes", FlowControlConfig{MaxMutatingRequestsInFlight: -1}, "--max-mutating-requests-inflight can not be negative value"},
		{"priority and fairness needs some concurrency", FlowControlConfig{EnablePriorityAndFairness: true}, "must add up to something positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
