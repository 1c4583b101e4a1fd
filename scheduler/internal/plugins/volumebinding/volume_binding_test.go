package volumebinding

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

// TestVolumeBinding is Kubernetes' TestVolumeBinding (PreFilter and
// Filter), less storage capacity, plus the cases of this project's
// issue: node affinity of bound volumes, a WaitForFirstConsumer claim
// whose only matching volume is on one node, provisioning limited by
// allowedTopologies.
func TestVolumeBinding(t *testing.T) {
	node1, node2 := makeNode("node1"), makeNode("node2")
	bindConflict := framework.NewStatus(framework.UnschedulableAndUnresolvable, string(ErrReasonBindConflict))
	nodeConflict := framework.NewStatus(framework.UnschedulableAndUnresolvable, string(ErrReasonNodeConflict))
	unresolvable := func(msg string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, msg)
	}
	podEphemeral := withEphemeral(makePod("pod-e"), "scratch")

	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*v1.Node
		objs  []runtime.Object
		// wantPreFilter is PreFilter's status; on success, wantFilter
		// is each node's (missing: fits).
		wantPreFilter *framework.Status
		wantFilter    map[string]*framework.Status
	}{
		{
			name: "pod has no pvcs", pod: makePod("pod-a"), nodes: []*v1.Node{node1},
			wantPreFilter: framework.NewStatus(framework.Skip),
		},
		{
			name: "all bound", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim,
				makePV("pv-a", "", "1G", waitClass).PersistentVolume,
			},
		},
		{
			name: "PVC does not exist", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			wantPreFilter: unresolvable(`persistentvolumeclaim "pvc-a" not found`),
		},
		{
			name: "part of PVCs do not exist", pod: makePod("pod-a", "pvc-a", "pvc-b"), nodes: []*v1.Node{node1},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim,
				makePV("pv-a", "", "1G", waitClass).PersistentVolume,
			},
			wantPreFilter: unresolvable(`persistentvolumeclaim "pvc-b" not found`),
		},
		{
			name: "immediate claims not bound", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs:          []runtime.Object{makePVC("pvc-a", "1G", immediateClass).PersistentVolumeClaim},
			wantPreFilter: unresolvable(ErrReasonUnboundImmediate),
		},
		{
			name: "claim of a class that does not exist waits as an immediate one", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs:          []runtime.Object{makePVC("pvc-a", "1G", "no-such-class").PersistentVolumeClaim},
			wantPreFilter: unresolvable(ErrReasonUnboundImmediate),
		},
		{
			name: "claim naming its volume is the PV controller's to bind", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).prebound("pv-a").PersistentVolumeClaim,
				makePV("pv-a", "node1", "1G", waitClass).PersistentVolume,
			},
			wantPreFilter: unresolvable(ErrReasonUnboundImmediate),
		},
		{
			name: "claim being deleted", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs:          []runtime.Object{makePVC("pvc-a", "1G", waitClass).bound("pv-a").deleting().PersistentVolumeClaim},
			wantPreFilter: unresolvable(`persistentvolumeclaim "pvc-a" is being deleted`),
		},
		{
			name: "pv not found claim lost", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs:          []runtime.Object{makePVC("pvc-a", "1G", waitClass).bound("pv-a").phase(v1.ClaimLost).PersistentVolumeClaim},
			wantPreFilter: unresolvable(`persistentvolumeclaim "pvc-a" bound to non-existent persistentvolume "pv-a"`),
		},
		{
			name: "pv not found", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs: []runtime.Object{makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim},
			wantFilter: map[string]*framework.Status{
				"node1": unresolvable(string(ErrReasonPVNotExist)),
			},
		},
		{
			name: "unbound claims no matches", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs:       []runtime.Object{makePVC("pvc-a", "1G", waitClass).PersistentVolumeClaim},
			wantFilter: map[string]*framework.Status{"node1": bindConflict},
		},
		{
			name: "bound and unbound unsatisfied", pod: makePod("pod-a", "pvc-a", "pvc-b"),
			nodes: []*v1.Node{makeNode("node-a", "foo", "barbar")},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim,
				makePVC("pvc-b", "1G", waitClass).PersistentVolumeClaim,
				makePV("pv-a", "node1", "1G", waitClass).PersistentVolume,
			},
			wantFilter: map[string]*framework.Status{
				"node-a": framework.NewStatus(framework.UnschedulableAndUnresolvable, string(ErrReasonNodeConflict), string(ErrReasonBindConflict)),
			},
		},
		{
			name: "bound volume's node affinity: only its node fits", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1, node2},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim,
				makePV("pv-a", "node2", "1G", waitClass).boundTo(makePVC("pvc-a", "1G", waitClass).PersistentVolumeClaim).PersistentVolume,
			},
			wantFilter: map[string]*framework.Status{"node1": nodeConflict},
		},
		{
			name: "WaitForFirstConsumer claim: its only matching local volume is on node2", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1, node2},
			objs: []runtime.Object{
				makePVC("pvc-a", "5G", waitClass).PersistentVolumeClaim,
				makePV("pv-small-node1", "node1", "1G", waitClass).PersistentVolume,
				makePV("pv-node2", "node2", "10G", waitClass).PersistentVolume,
			},
			wantFilter: map[string]*framework.Status{"node1": bindConflict},
		},
		{
			name: "a volume bound to another claim is not a match", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1},
			objs: []runtime.Object{
				makePVC("pvc-a", "1G", waitClass).PersistentVolumeClaim,
				makePV("pv-taken", "node1", "1G", waitClass).boundTo(makePVC("other", "1G", waitClass).PersistentVolumeClaim).PersistentVolume,
			},
			wantFilter: map[string]*framework.Status{"node1": bindConflict},
		},
		{
			name: "provisioning where the class's allowedTopologies admit the node", pod: makePod("pod-a", "pvc-a"),
			nodes:      []*v1.Node{node1, node2, makeNode("node3")},
			objs:       []runtime.Object{makePVC("pvc-a", "1Gi", waitClassWithProvisioner).PersistentVolumeClaim},
			wantFilter: map[string]*framework.Status{"node3": bindConflict},
		},
		{
			name: "provisioning, allowedTopologies admit no node", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1, node2},
			objs:       []runtime.Object{makePVC("pvc-a", "1Gi", topoMismatchClass).PersistentVolumeClaim},
			wantFilter: map[string]*framework.Status{"node1": bindConflict, "node2": bindConflict},
		},
		{
			name: "provisioning started for node2: only node2", pod: makePod("pod-a", "pvc-a"), nodes: []*v1.Node{node1, node2},
			objs:       []runtime.Object{makePVC("pvc-a", "1Gi", waitClassWithProvisioner).selectedNode("node2").PersistentVolumeClaim},
			wantFilter: map[string]*framework.Status{"node1": bindConflict},
		},
		{
			name: "generic ephemeral volume whose claim is not created yet", pod: podEphemeral, nodes: []*v1.Node{node1},
			wantPreFilter: unresolvable(`waiting for ephemeral volume controller to create the persistentvolumeclaim "pod-e-scratch"`),
		},
		{
			name: "generic ephemeral volume with a claim the pod does not own", pod: podEphemeral, nodes: []*v1.Node{node1},
			objs:          []runtime.Object{ephemeralPVC(podEphemeral, "scratch", false)},
			wantPreFilter: unresolvable(`PVC testns/pod-e-scratch was not created for pod testns/pod-e (pod is not owner)`),
		},
		{
			name: "generic ephemeral volume with its claim bound", pod: podEphemeral, nodes: []*v1.Node{node1},
			objs: []runtime.Object{ephemeralPVC(podEphemeral, "scratch", true), makePV("pv-ephemeral", "node1", "1G", waitClass).PersistentVolume},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Args{}, tc.nodes, tc.objs...)
			ctx := context.Background()
			state := framework.NewCycleState()
			pi := framework.NewPodInfo(tc.pod)
			got := e.pl.PreFilter(ctx, state, pi, e.nodes)
			if !got.Equal(tc.wantPreFilter) {
				t.Fatalf("PreFilter: %v, want %v", got, tc.wantPreFilter)
			}
			if !got.IsSuccess() {
				return
			}
			statuses := map[string]*framework.Status{}
			for _, ni := range e.nodes {
				statuses[ni.Name] = e.pl.Filter(ctx, state, pi, ni)
			}
			st.CheckStatuses(t, statuses, tc.wantFilter)
		})
	}
}

// TestWithoutInformers: in a framework built without an informer factory
// (other plugins' tests, the algorithm's golden sequence), pods without
// claims are untouched and pods with claims find none.
func TestWithoutInformers(t *testing.T) {
	f := st.Plugin(t, Name, New, nil, []*v1.Node{makeNode("node1")}, framework.Listers{})
	st.CheckStatuses(t, st.Filter(t, f, makePod("plain")), nil)
	st.CheckStatuses(t, st.Filter(t, f, makePod("p", "data")), map[string]*framework.Status{
		"node1": framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "data" not found`),
	})
}

func TestNewRefusesNegativeTimeout(t *testing.T) {
	if _, err := NewWithArgs(Args{BindTimeoutSeconds: -1})(nil); err == nil {
		t.Fatal("negative bindTimeoutSeconds accepted")
	}
}

// TestReserveKeepsTheNextPodOffTheVolume: two pods scheduled back to back
// each get a volume of their own, because Reserve of the first records its
// volume as taken before the second's Filter runs; Unreserve gives it
// back. (Kubernetes' TestFindAssumeVolumes, through the plugin.)
func TestReserveKeepsTheNextPodOffTheVolume(t *testing.T) {
	nodes := []*v1.Node{makeNode("node1")}
	objs := []runtime.Object{
		makePVC("claim-1", "1G", waitClass).PersistentVolumeClaim,
		makePVC("claim-2", "1G", waitClass).PersistentVolumeClaim,
		makePVC("claim-3", "1G", waitClass).PersistentVolumeClaim,
		makePV("pv-1", "node1", "1G", waitClass).PersistentVolume,
		makePV("pv-2", "node1", "2G", waitClass).PersistentVolume,
	}
	e := newEnv(t, Args{}, nodes, objs...)
	ctx := context.Background()

	schedule := func(pod *v1.Pod) (*framework.CycleState, *PodVolumes, *framework.Status) {
		state := framework.NewCycleState()
		pi := framework.NewPodInfo(pod)
		if s := e.pl.PreFilter(ctx, state, pi, e.nodes); !s.IsSuccess() {
			return state, nil, s
		}
		if s := e.pl.Filter(ctx, state, pi, e.nodes[0]); !s.IsSuccess() {
			return state, nil, s
		}
		if s := e.pl.Reserve(ctx, state, pi, "node1"); !s.IsSuccess() {
			return state, nil, s
		}
		d, _ := getStateData(state)
		pv, _ := d.podVolumes("node1")
		return state, pv, nil
	}
	boundPV := func(pv *PodVolumes) string {
		if pv == nil || len(pv.StaticBindings) != 1 {
			t.Fatalf("want one static binding, got %+v", pv)
		}
		return pv.StaticBindings[0].pv.Name
	}

	state1, vols1, s := schedule(makePod("pod-1", "claim-1"))
	if s != nil {
		t.Fatalf("pod-1: %v", s)
	}
	if got := boundPV(vols1); got != "pv-1" {
		t.Fatalf("pod-1 got %s, want the smallest fit pv-1", got)
	}
	if ref := vols1.StaticBindings[0].pv.Spec.ClaimRef; ref == nil || ref.Name != "claim-1" {
		t.Fatalf("assumed pv-1 has claimRef %+v, want claim-1", ref)
	}
	_, vols2, s := schedule(makePod("pod-2", "claim-2"))
	if s != nil {
		t.Fatalf("pod-2: %v", s)
	}
	if got := boundPV(vols2); got != "pv-2" {
		t.Fatalf("pod-2 got %s, want pv-2: pv-1 is reserved for pod-1", got)
	}

	// pod-1's binding failed: its volume is free again for a third pod
	// (pod-2 still holds pv-2).
	e.pl.Unreserve(ctx, state1, framework.NewPodInfo(makePod("pod-1", "claim-1")), "node1")
	_, vols3, s := schedule(makePod("pod-3", "claim-1"))
	if s != nil {
		t.Fatalf("pod-3: %v", s)
	}
	if got := boundPV(vols3); got != "pv-1" {
		t.Fatalf("pod-3 got %s, want pv-1 back after Unreserve", got)
	}
	// With both volumes reserved, a fourth pod with another claim finds
	// none (a pod of claim-1 would find pv-1, pre-bound to its claim).
	if _, _, s := schedule(makePod("pod-4", "claim-3")); !s.Equal(framework.NewStatus(framework.UnschedulableAndUnresolvable, string(ErrReasonBindConflict))) {
		t.Fatalf("pod-4: %v, want %s", s, ErrReasonBindConflict)
	}
}

// TestReserveWithEverythingBound: nothing to assume or write, PreBind
// returns at once.
func TestReserveWithEverythingBound(t *testing.T) {
	pvc := makePVC("pvc-a", "1G", waitClass).bound("pv-a").PersistentVolumeClaim
	e := newEnv(t, Args{}, []*v1.Node{makeNode("node1")}, pvc, makePV("pv-a", "node1", "1G", waitClass).boundTo(pvc).PersistentVolume)
	ctx := context.Background()
	state := framework.NewCycleState()
	pi := framework.NewPodInfo(makePod("pod-a", "pvc-a"))
	for _, s := range []*framework.Status{
		e.pl.PreFilter(ctx, state, pi, e.nodes), e.pl.Filter(ctx, state, pi, e.nodes[0]),
		e.pl.Reserve(ctx, state, pi, "node1"), e.pl.PreBind(ctx, state, pi, "node1"),
	} {
		if !s.IsSuccess() {
			t.Fatalf("status %v", s)
		}
	}
	if acts := e.client.Actions(); len(acts) != 0 {
		t.Errorf("API calls %v, want none", acts)
	}
}
