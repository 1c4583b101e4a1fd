package volumebinding

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/volume"
)

// Kubernetes' binder test claims and volumes (binder_test.go), node1 and
// node2 telling the volumes' nodes apart by nodeKey.
var (
	unboundPVC          = makePVC("unbound-pvc", "1G", waitClass).PersistentVolumeClaim
	unboundPVC2         = makePVC("unbound-pvc2", "5G", waitClass).PersistentVolumeClaim
	preboundPVC         = makePVC("prebound-pvc", "1G", waitClass).prebound("pv-node1a").PersistentVolumeClaim
	boundPVC            = makePVC("bound-pvc", "1G", waitClass).bound("pv-bound").PersistentVolumeClaim
	immediateUnboundPVC = makePVC("immediate-unbound-pvc", "1G", immediateClass).PersistentVolumeClaim
	immediateBoundPVC   = makePVC("immediate-bound-pvc", "1G", immediateClass).bound("pv-bound-immediate").PersistentVolumeClaim
	provisionedPVC      = makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).PersistentVolumeClaim
	selectedNodePVC     = makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).selectedNode("node1").PersistentVolumeClaim
	noProvisionerPVC    = makePVC("no-provisioner-pvc", "1Gi", waitClass).PersistentVolumeClaim
	topoMismatchPVC     = makePVC("topo-mismatch-pvc", "1Gi", topoMismatchClass).PersistentVolumeClaim

	pvNode1a              = makePV("pv-node1a", "node1", "5G", waitClass).PersistentVolume
	pvNode1b              = makePV("pv-node1b", "node1", "10G", waitClass).PersistentVolume
	pvNode2               = makePV("pv-node2", "node2", "1G", waitClass).PersistentVolume
	pvBound               = makePV("pv-bound", "node1", "1G", waitClass).boundTo(boundPVC).PersistentVolume
	pvBoundImmediate      = makePV("pv-bound-immediate", "node1", "1G", immediateClass).boundTo(immediateBoundPVC).PersistentVolume
	pvBoundImmediateNode2 = makePV("pv-bound-immediate", "node2", "1G", immediateClass).boundTo(immediateBoundPVC).PersistentVolume
)

// TestFindPodVolumes is Kubernetes' TestFindPodVolumesWithoutProvisioning
// and TestFindPodVolumesWithProvisioning (GetPodVolumeClaims then
// FindPodVolumes on node1): which volume each claim gets, which claims
// are provisioned, the node's reasons, or an error where the plugin's
// PreFilter would have rejected the pod.
func TestFindPodVolumes(t *testing.T) {
	tests := map[string]struct {
		pvs        []*v1.PersistentVolume
		pvcs       []*v1.PersistentVolumeClaim
		bindings   map[string]string // claim -> volume
		provisions []string
		reasons    ConflictReasons
		shouldFail bool
	}{
		"no-pvcs":                       {},
		"bound-pvc":                     {pvcs: []*v1.PersistentVolumeClaim{boundPVC}, pvs: []*v1.PersistentVolume{pvBound}},
		"bound-pvc,pv-not-exists":       {pvcs: []*v1.PersistentVolumeClaim{boundPVC}, reasons: ConflictReasons{ErrReasonPVNotExist}},
		"prebound-pvc":                  {pvcs: []*v1.PersistentVolumeClaim{preboundPVC}, pvs: []*v1.PersistentVolume{pvNode1a}, shouldFail: true},
		"unbound-pvc,pv-same-node":      {pvcs: []*v1.PersistentVolumeClaim{unboundPVC}, pvs: []*v1.PersistentVolume{pvNode2, pvNode1a, pvNode1b}, bindings: map[string]string{"unbound-pvc": "pv-node1a"}},
		"unbound-pvc,pv-different-node": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC}, pvs: []*v1.PersistentVolume{pvNode2}, reasons: ConflictReasons{ErrReasonBindConflict}},
		"two-unbound-pvcs": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, unboundPVC2}, pvs: []*v1.PersistentVolume{pvNode1a, pvNode1b},
			bindings: map[string]string{"unbound-pvc": "pv-node1a", "unbound-pvc2": "pv-node1b"}},
		"two-unbound-pvcs,order-by-size": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC2, unboundPVC}, pvs: []*v1.PersistentVolume{pvNode1a, pvNode1b},
			bindings: map[string]string{"unbound-pvc": "pv-node1a", "unbound-pvc2": "pv-node1b"}},
		"two-unbound-pvcs,partial-match": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, unboundPVC2}, pvs: []*v1.PersistentVolume{pvNode1a},
			bindings: map[string]string{"unbound-pvc": "pv-node1a"}, reasons: ConflictReasons{ErrReasonBindConflict}},
		"one-bound,one-unbound": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, boundPVC}, pvs: []*v1.PersistentVolume{pvBound, pvNode1a},
			bindings: map[string]string{"unbound-pvc": "pv-node1a"}},
		"one-bound,one-unbound,no-match": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, boundPVC}, pvs: []*v1.PersistentVolume{pvBound, pvNode2},
			reasons: ConflictReasons{ErrReasonBindConflict}},
		"one-prebound,one-unbound":                 {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, preboundPVC}, pvs: []*v1.PersistentVolume{pvNode1a, pvNode1b}, shouldFail: true},
		"immediate-bound-pvc":                      {pvcs: []*v1.PersistentVolumeClaim{immediateBoundPVC}, pvs: []*v1.PersistentVolume{pvBoundImmediate}},
		"immediate-bound-pvc-wrong-node":           {pvcs: []*v1.PersistentVolumeClaim{immediateBoundPVC}, pvs: []*v1.PersistentVolume{pvBoundImmediateNode2}, reasons: ConflictReasons{ErrReasonNodeConflict}},
		"immediate-unbound-pvc":                    {pvcs: []*v1.PersistentVolumeClaim{immediateUnboundPVC}, shouldFail: true},
		"immediate-unbound-pvc,delayed-mode-bound": {pvcs: []*v1.PersistentVolumeClaim{immediateUnboundPVC, boundPVC}, pvs: []*v1.PersistentVolume{pvBound}, shouldFail: true},

		// With provisioning.
		"one-provisioned": {pvcs: []*v1.PersistentVolumeClaim{provisionedPVC}, provisions: []string{"provisioned-pvc"}},
		"two-unbound-pvcs,one-matched,one-provisioned": {pvcs: []*v1.PersistentVolumeClaim{unboundPVC, provisionedPVC}, pvs: []*v1.PersistentVolume{pvNode1a},
			bindings: map[string]string{"unbound-pvc": "pv-node1a"}, provisions: []string{"provisioned-pvc"}},
		"one-bound,one-provisioned":     {pvcs: []*v1.PersistentVolumeClaim{boundPVC, provisionedPVC}, pvs: []*v1.PersistentVolume{pvBound}, provisions: []string{"provisioned-pvc"}},
		"one-binding,one-selected-node": {pvcs: []*v1.PersistentVolumeClaim{boundPVC, selectedNodePVC}, pvs: []*v1.PersistentVolume{pvBound}, provisions: []string{"provisioned-pvc"}},
		"one-immediate-bound,one-provisioned": {pvcs: []*v1.PersistentVolumeClaim{immediateBoundPVC, provisionedPVC}, pvs: []*v1.PersistentVolume{pvBoundImmediate},
			provisions: []string{"provisioned-pvc"}},
		"invalid-provisioner":         {pvcs: []*v1.PersistentVolumeClaim{noProvisionerPVC}, reasons: ConflictReasons{ErrReasonBindConflict}},
		"volume-topology-unsatisfied": {pvcs: []*v1.PersistentVolumeClaim{topoMismatchPVC}, reasons: ConflictReasons{ErrReasonBindConflict}},
	}
	node1 := makeNode("node1")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []runtime.Object
			var claims []string
			for _, pvc := range tc.pvcs {
				objs = append(objs, pvc)
				claims = append(claims, pvc.Name)
			}
			for _, pv := range tc.pvs {
				objs = append(objs, pv)
			}
			e := newEnv(t, Args{}, []*v1.Node{node1}, objs...)
			pod := makePod("test-pod", claims...)
			b := e.pl.binder

			podClaims, err := b.GetPodVolumeClaims(pod)
			if err == nil && len(podClaims.unboundClaimsImmediate) > 0 {
				err = errors.New("pod has unbound immediate claims")
			}
			var podVolumes *PodVolumes
			var reasons ConflictReasons
			if err == nil {
				podVolumes, reasons, err = b.FindPodVolumes(pod, podClaims, node1)
			}
			if (err != nil) != tc.shouldFail {
				t.Fatalf("error %v, shouldFail %v", err, tc.shouldFail)
			}
			if tc.shouldFail {
				return
			}
			if !reflect.DeepEqual(reasons, tc.reasons) {
				t.Errorf("reasons %v, want %v", reasons, tc.reasons)
			}
			gotBindings := map[string]string{}
			for _, bi := range podVolumes.StaticBindings {
				gotBindings[bi.pvc.Name] = bi.pv.Name
			}
			if len(tc.reasons) == 0 && !reflect.DeepEqual(gotBindings, orEmpty(tc.bindings)) {
				t.Errorf("bindings %v, want %v", gotBindings, tc.bindings)
			}
			var gotProvisions []string
			for _, pvc := range podVolumes.DynamicProvisions {
				gotProvisions = append(gotProvisions, pvc.Name)
			}
			sort.Strings(gotProvisions)
			if !reflect.DeepEqual(gotProvisions, tc.provisions) {
				t.Errorf("provisions %v, want %v", gotProvisions, tc.provisions)
			}
		})
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func TestMatchTopologySelectorTerms(t *testing.T) {
	zoneA := map[string]string{"zone": "a", "disk": "ssd"}
	tests := []struct {
		name  string
		terms []v1.TopologySelectorTerm
		want  bool
	}{
		{"no terms admit every node", nil, true},
		{"a term's value matches", []v1.TopologySelectorTerm{topologyTerm("zone", "b", "a")}, true},
		{"no value matches", []v1.TopologySelectorTerm{topologyTerm("zone", "b")}, false},
		{"a missing label does not match", []v1.TopologySelectorTerm{topologyTerm("rack", "1")}, false},
		{"terms are ORed", []v1.TopologySelectorTerm{topologyTerm("zone", "b"), topologyTerm("disk", "ssd")}, true},
		{"expressions of a term are ANDed", []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: "zone", Values: []string{"a"}}, {Key: "disk", Values: []string{"hdd"}}}}}, false},
		{"an empty term selects nothing", []v1.TopologySelectorTerm{{}}, false},
	}
	for _, tc := range tests {
		if got := matchTopologySelectorTerms(tc.terms, zoneA); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBindAPIUpdate: PreBind's writes are Kubernetes' — the volume gets
// the claim's claimRef and pv.kubernetes.io/bound-by-controller, the claim
// to provision gets volume.kubernetes.io/selected-node — and a failed
// write un-assumes what was not written.
func TestBindAPIUpdate(t *testing.T) {
	e := newEnv(t, Args{}, []*v1.Node{makeNode("node1")}, unboundPVC, provisionedPVC, pvNode1a)
	b := e.pl.binder
	pod := makePod("test-pod", "unbound-pvc", "provisioned-pvc")
	podVolumes := &PodVolumes{
		StaticBindings:    []*BindingInfo{{pvc: unboundPVC, pv: pvNode1a}},
		DynamicProvisions: []*v1.PersistentVolumeClaim{provisionedPVC},
	}
	if _, err := b.AssumePodVolumes(pod, "node1", podVolumes); err != nil {
		t.Fatal(err)
	}
	if err := b.bindAPIUpdate(context.Background(), podVolumes); err != nil {
		t.Fatal(err)
	}
	pv, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), "pv-node1a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != "testns" || ref.Name != "unbound-pvc" || ref.UID != unboundPVC.UID {
		t.Errorf("pv claimRef %+v, want testns/unbound-pvc with its UID", ref)
	}
	if pv.Annotations[volume.AnnBoundByController] != "yes" {
		t.Errorf("pv annotations %v, want %s", pv.Annotations, volume.AnnBoundByController)
	}
	pvc, err := e.client.CoreV1().PersistentVolumeClaims("testns").Get(context.Background(), "provisioned-pvc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Annotations[volume.AnnSelectedNode] != "node1" {
		t.Errorf("claim annotations %v, want %s: node1", pvc.Annotations, volume.AnnSelectedNode)
	}

	// A volume taken meanwhile: the write fails and nothing stays assumed.
	e2 := newEnv(t, Args{}, []*v1.Node{makeNode("node1")}, unboundPVC, provisionedPVC, pvNode1a)
	b2 := e2.pl.binder
	e2.client.PrependReactor("update", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("conflict")
	})
	podVolumes = &PodVolumes{
		StaticBindings:    []*BindingInfo{{pvc: unboundPVC, pv: pvNode1a}},
		DynamicProvisions: []*v1.PersistentVolumeClaim{provisionedPVC},
	}
	if _, err := b2.AssumePodVolumes(pod, "node1", podVolumes); err != nil {
		t.Fatal(err)
	}
	if err := b2.bindAPIUpdate(context.Background(), podVolumes); err == nil {
		t.Fatal("want the volume's update error")
	}
	if got, _ := b2.pvCache.Get("pv-node1a"); got.Spec.ClaimRef != nil {
		t.Errorf("pv-node1a still assumed bound: %+v", got.Spec.ClaimRef)
	}
	if got, _ := b2.pvcCache.Get("testns/provisioned-pvc"); metav1.HasAnnotation(got.ObjectMeta, volume.AnnSelectedNode) {
		t.Errorf("provisioned-pvc still assumed with a selected node")
	}
}

// TestCheckBindings is Kubernetes' TestCheckBindings: whether the claims
// PreBind acted on are bound yet, or the binding was undone.
func TestCheckBindings(t *testing.T) {
	// What PreBind wrote (resourceVersion 2) ...
	written := makePV("pv-node1a", "node1", "5G", waitClass).boundTo(unboundPVC).version("2").PersistentVolume
	selected := makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).selectedNode("node1").version("2").PersistentVolumeClaim
	// ... and what the informers may show next.
	boundClaim := makePVC("unbound-pvc", "1G", waitClass).bound("pv-node1a").version("3").PersistentVolumeClaim
	provisionedBound := makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).selectedNode("node1").bound("pv-prov").version("3").PersistentVolumeClaim
	provisionedPV := makePV("pv-prov", "node1", "1Gi", waitClassWithProvisioner).boundTo(provisionedPVC).PersistentVolume
	provisionedElsewhere := makePV("pv-prov", "node2", "1Gi", waitClassWithProvisioner).boundTo(provisionedPVC).PersistentVolume
	unselected := makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).version("3").PersistentVolumeClaim
	claimRefReset := makePV("pv-node1a", "node1", "5G", waitClass).version("3").PersistentVolume

	pod := makePod("test-pod", "unbound-pvc", "provisioned-pvc")
	tests := []struct {
		name    string
		objs    []runtime.Object
		noPod   bool
		static  bool // the pod's volumes: pv-node1a for unbound-pvc
		dynamic bool // and provisioned-pvc to provision
		want    bool
		wantErr string
	}{
		{"nothing to check", nil, false, false, false, true, ""},
		{"our write not seen yet", []runtime.Object{makePV("pv-node1a", "node1", "5G", waitClass).PersistentVolume, unboundPVC}, false, true, false, false, ""},
		{"volume pre-bound, claim not bound yet", []runtime.Object{written, unboundPVC}, false, true, false, false, ""},
		{"volume and claim bound", []runtime.Object{written, boundClaim}, false, true, false, true, ""},
		{"claimRef reset by the PV controller", []runtime.Object{claimRefReset, unboundPVC}, false, true, false, false, `ClaimRef got reset for pv "pv-node1a"`},
		{"claim to provision not provisioned yet", []runtime.Object{selected}, false, false, true, false, ""},
		{"claim provisioned and bound", []runtime.Object{provisionedBound, provisionedPV}, false, false, true, true, ""},
		{"claim bound, its volume not seen yet", []runtime.Object{provisionedBound}, false, false, true, false, ""},
		{"provisioner removed the selected node", []runtime.Object{unselected}, false, false, true, false, `provisioning failed for PVC "provisioned-pvc"`},
		{"provisioned volume on another node", []runtime.Object{provisionedBound, provisionedElsewhere}, false, false, true, false, `pv "pv-prov" node affinity doesn't match node "node1"`},
		{"pod deleted", []runtime.Object{written, boundClaim}, true, true, false, false, "pod does not exist any more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs
			if !tc.noPod {
				objs = append(objs, pod)
			}
			e := newEnv(t, Args{}, []*v1.Node{makeNode("node1")}, objs...)
			podVolumes := &PodVolumes{}
			if tc.static {
				podVolumes.StaticBindings = []*BindingInfo{{pvc: unboundPVC, pv: written}}
			}
			if tc.dynamic {
				podVolumes.DynamicProvisions = []*v1.PersistentVolumeClaim{selected}
			}
			got, err := e.pl.binder.checkBindings(pod, "node1", podVolumes)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("checkBindings = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestBindPodVolumes: PreBind returns once the claims are bound, and fails
// (so the pod is scheduled again) once the provisioner gives up on the
// node.
func TestBindPodVolumes(t *testing.T) {
	pod := makePod("test-pod", "provisioned-pvc")
	for _, tc := range []struct {
		name    string
		after   *v1.PersistentVolumeClaim // what the informer shows after PreBind's write
		wantErr string
	}{
		{"bound", makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).selectedNode("node1").bound("pv-prov").version("5").PersistentVolumeClaim, ""},
		{"provisioning failed", makePVC("provisioned-pvc", "1Gi", waitClassWithProvisioner).version("5").PersistentVolumeClaim, "provisioning failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pv := makePV("pv-prov", "node1", "1Gi", waitClassWithProvisioner).boundTo(provisionedPVC).PersistentVolume
			e := newEnv(t, Args{BindTimeoutSeconds: 30}, []*v1.Node{makeNode("node1")}, provisionedPVC, pv, pod)
			b := e.pl.binder
			// The fake API keeps resourceVersions as given: the claim
			// written is version 4, the informer then shows version 5.
			e.client.PrependReactor("update", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
				pvc := a.(k8stesting.UpdateAction).GetObject().(*v1.PersistentVolumeClaim).DeepCopy()
				pvc.ResourceVersion = "4"
				e.store(t, tc.after)
				return true, pvc, nil
			})
			podVolumes := &PodVolumes{DynamicProvisions: []*v1.PersistentVolumeClaim{provisionedPVC}}
			if _, err := b.AssumePodVolumes(pod, "node1", podVolumes); err != nil {
				t.Fatal(err)
			}
			err := b.BindPodVolumes(context.Background(), pod, "node1", podVolumes)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("BindPodVolumes: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errBindingUndone) {
				t.Fatalf("BindPodVolumes: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestAssumeCache: the overlay shows an assumed copy until the informer
// moves on from the version it was made from, and forgets it on Restore.
func TestAssumeCache(t *testing.T) {
	store := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{storageClassIndex: pvStorageClassIndexFunc})
	c := newAssumeCache[*v1.PersistentVolume](store, v1.Resource("persistentvolumes"))
	pv := makePV("pv", "", "1G", waitClass).PersistentVolume
	if err := store.Add(pv); err != nil {
		t.Fatal(err)
	}
	assumed, _, err := volume.GetBindVolumeToClaim(pv, unboundPVC)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Assume(assumed); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get("pv"); got.Spec.ClaimRef == nil {
		t.Error("Get: want the assumed copy")
	}
	if got, _ := c.GetAPIObj("pv"); got.Spec.ClaimRef != nil {
		t.Error("GetAPIObj: want the informer's version")
	}
	if got, _ := c.ByIndex(storageClassIndex, waitClass); len(got) != 1 || got[0].Spec.ClaimRef == nil {
		t.Errorf("ByIndex: %v, want the assumed copy", got)
	}
	// A resync of the same version keeps the copy.
	c.expire(pv)
	if got, _ := c.Get("pv"); got.Spec.ClaimRef == nil {
		t.Error("resync dropped the assumed copy")
	}
	// A newer version: the informer is the truth again.
	newer := makePV("pv", "", "1G", waitClass).version("2").PersistentVolume
	if err := store.Update(newer); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get("pv"); got.Spec.ClaimRef != nil || got.ResourceVersion != "2" {
		t.Errorf("Get after a newer version: %+v", got)
	}
	c.expire(newer)
	if len(c.assumed) != 0 {
		t.Errorf("assumed %v, want it expired", c.assumed)
	}
	// Assuming on a stale version fails.
	if err := c.Assume(assumed); err == nil || !strings.Contains(err.Error(), "out of sync") {
		t.Errorf("Assume on a stale version: %v", err)
	}
	// Restore.
	assumed2, _, _ := volume.GetBindVolumeToClaim(newer, unboundPVC)
	if err := c.Assume(assumed2); err != nil {
		t.Fatal(err)
	}
	c.Restore(assumed2)
	if got, _ := c.Get("pv"); got.Spec.ClaimRef != nil {
		t.Error("Restore kept the assumed copy")
	}
	if _, err := c.Get("missing"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Get(missing): %v", err)
	}
}
