package framework_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

type fake struct {
	name   string
	filter *framework.Status
	score  int64
}

func (f *fake) Name() string { return f.name }
func (f *fake) Filter(context.Context, *framework.CycleState, *framework.PodInfo, *framework.NodeInfo) *framework.Status {
	return f.filter
}
func (f *fake) Score(context.Context, *framework.CycleState, *framework.PodInfo, *framework.NodeInfo) (int64, *framework.Status) {
	return f.score, nil
}

func TestRegistryRefusesDuplicateNames(t *testing.T) {
	r := framework.NewRegistry()
	factory := func(framework.Handle) (framework.Plugin, error) { return &fake{name: "A"}, nil }
	if err := r.Register("A", factory); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("A", factory); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second registration: %v, want an error", err)
	}
	if err := r.Register("", factory); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestNewRefusesUnknownAndMisnamedPlugins(t *testing.T) {
	r := framework.NewRegistry()
	_ = r.Register("A", func(framework.Handle) (framework.Plugin, error) { return &fake{name: "B"}, nil })
	if _, err := framework.New(r, framework.Options{Plugins: []framework.PluginConfig{{Name: "missing"}}}); err == nil {
		t.Error("unknown plugin accepted")
	}
	if _, err := framework.New(r, framework.Options{Plugins: []framework.PluginConfig{{Name: "A"}}}); err == nil {
		t.Error("plugin calling itself by another name accepted")
	}
}

func TestFiltersRunInOrderAndStopAtFirstRejection(t *testing.T) {
	r := framework.NewRegistry()
	first := framework.NewStatus(framework.UnschedulableAndUnresolvable, "first")
	_ = r.Register("A", func(framework.Handle) (framework.Plugin, error) { return &fake{name: "A", filter: first}, nil })
	_ = r.Register("B", func(framework.Handle) (framework.Plugin, error) {
		return &fake{name: "B", filter: framework.NewStatus(framework.Unschedulable, "second")}, nil
	})
	snap := cache.NewSnapshot(nil, []*v1.Node{st.MakeNode("n").Obj()})
	f, err := framework.New(r, framework.Options{Plugins: []framework.PluginConfig{{Name: "A"}, {Name: "B"}}, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	s, plugin := f.RunFilterPlugins(context.Background(), framework.NewCycleState(), framework.NewPodInfo(st.MakePod("p").Obj()), snap.Get("n"))
	if s != first || plugin != "A" {
		t.Errorf("got %v from %q, want the first plugin's rejection", s, plugin)
	}
}

func TestScoresAreWeighted(t *testing.T) {
	r := framework.NewRegistry()
	_ = r.Register("A", func(framework.Handle) (framework.Plugin, error) { return &fake{name: "A", score: 10}, nil })
	_ = r.Register("B", func(framework.Handle) (framework.Plugin, error) { return &fake{name: "B", score: 50}, nil })
	snap := cache.NewSnapshot(nil, []*v1.Node{st.MakeNode("n").Obj()})
	f, err := framework.New(r, framework.Options{Plugins: []framework.PluginConfig{{Name: "A", Weight: 3}, {Name: "B"}}, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	totals := make([]int64, 1)
	if s := f.RunScorePlugins(context.Background(), framework.NewCycleState(), framework.NewPodInfo(st.MakePod("p").Obj()), snap.List(), totals); !s.IsSuccess() {
		t.Fatal(s)
	}
	if totals[0] != 3*10+50 {
		t.Errorf("total %d, want 80", totals[0])
	}
}

func TestStatus(t *testing.T) {
	var nilStatus *framework.Status
	tests := []struct {
		name     string
		s        *framework.Status
		code     framework.Code
		rejected bool
		msg      string
	}{
		{"nil is success", nilStatus, framework.Success, false, ""},
		{"unschedulable", framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory"), framework.Unschedulable, true, "Insufficient cpu, Insufficient memory"},
		{"unresolvable", framework.NewStatus(framework.UnschedulableAndUnresolvable, "x"), framework.UnschedulableAndUnresolvable, true, "x"},
		{"error", framework.AsStatus(errors.New("boom")), framework.Error, false, "boom"},
		{"skip", framework.NewStatus(framework.Skip), framework.Skip, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.s.Code() != tc.code || tc.s.IsRejected() != tc.rejected || tc.s.Message() != tc.msg {
				t.Errorf("got code %v rejected %v message %q", tc.s.Code(), tc.s.IsRejected(), tc.s.Message())
			}
		})
	}
	s := framework.NewStatus(framework.Unschedulable, "r")
	if w := s.WithPlugin("P"); w == s || w.Plugin() != "P" || s.Plugin() != "" {
		t.Error("WithPlugin must copy: statuses are shared")
	}
}

func TestFitErrorMessage(t *testing.T) {
	taint := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }")
	cpu := framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	fe := &framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{NodeToStatus: map[string]*framework.Status{
		"cp": taint, "node-1": cpu, "node-2": cpu,
	}}}
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
	if got := fe.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	fe.Diagnosis.PostFilterMsg = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling"
	if got := fe.Error(); got != want+" preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling." {
		t.Errorf("with preemption: %q", got)
	}
}

// reserver records the Reserve, Unreserve and PreBind calls it gets.
type reserver struct {
	name    string
	reserve *framework.Status
	preBind *framework.Status
	calls   *[]string
}

func (r *reserver) Name() string { return r.name }
func (r *reserver) Reserve(context.Context, *framework.CycleState, *framework.PodInfo, string) *framework.Status {
	*r.calls = append(*r.calls, "Reserve "+r.name)
	return r.reserve
}
func (r *reserver) Unreserve(context.Context, *framework.CycleState, *framework.PodInfo, string) {
	*r.calls = append(*r.calls, "Unreserve "+r.name)
}
func (r *reserver) PreBind(context.Context, *framework.CycleState, *framework.PodInfo, string) *framework.Status {
	*r.calls = append(*r.calls, "PreBind "+r.name)
	return r.preBind
}

// TestReserveAndPreBind: Reserves and PreBinds run in profile order and
// stop at the first failure, named by plugin; Unreserve runs on every
// plugin, in reverse order.
func TestReserveAndPreBind(t *testing.T) {
	var calls []string
	r := framework.NewRegistry()
	_ = r.Register("A", func(framework.Handle) (framework.Plugin, error) { return &reserver{name: "A", calls: &calls}, nil })
	_ = r.Register("B", func(framework.Handle) (framework.Plugin, error) {
		return &reserver{name: "B", calls: &calls, reserve: framework.AsStatus(errors.New("no room")),
			preBind: framework.AsStatus(errors.New("timed out"))}, nil
	})
	_ = r.Register("C", func(framework.Handle) (framework.Plugin, error) { return &reserver{name: "C", calls: &calls}, nil })
	f, err := framework.New(r, framework.Options{Plugins: []framework.PluginConfig{{Name: "A"}, {Name: "B"}, {Name: "C"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, state, pod := context.Background(), framework.NewCycleState(), framework.NewPodInfo(st.MakePod("p").Obj())

	s := f.RunReservePluginsReserve(ctx, state, pod, "n")
	if s.Code() != framework.Error || s.Plugin() != "B" || s.Message() != `running Reserve plugin "B": no room` {
		t.Errorf("reserve status %v (plugin %q)", s, s.Plugin())
	}
	f.RunReservePluginsUnreserve(ctx, state, pod, "n")
	s = f.RunPreBindPlugins(ctx, state, pod, "n")
	if s.Code() != framework.Error || s.Message() != `running PreBind plugin "B": timed out` {
		t.Errorf("prebind status %v", s)
	}
	want := []string{"Reserve A", "Reserve B", "Unreserve C", "Unreserve B", "Unreserve A", "PreBind A", "PreBind B"}
	if strings.Join(calls, ", ") != strings.Join(want, ", ") {
		t.Errorf("calls %v, want %v", calls, want)
	}
}
