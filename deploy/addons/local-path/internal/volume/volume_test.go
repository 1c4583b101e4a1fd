package volume

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
)

const prov = ProvisionerName

func claim(edit ...func(*v1.PersistentVolumeClaim)) *v1.PersistentVolumeClaim {
	c := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "0b2f", ResourceVersion: "7",
			Annotations: map[string]string{storagehelpers.AnnStorageProvisioner: prov, storagehelpers.AnnSelectedNode: "n1"}},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
			StorageClassName: ptr.To("local-path"),
			VolumeMode:       ptr.To(v1.PersistentVolumeFilesystem),
		},
	}
	for _, e := range edit {
		e(c)
	}
	return c
}

func class(edit ...func(*storagev1.StorageClass)) *storagev1.StorageClass {
	c := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-path"},
		Provisioner:       prov,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	for _, e := range edit {
		e(c)
	}
	return c
}

func TestNaming(t *testing.T) {
	c := claim()
	if got := Name(c); got != "pvc-0b2f" {
		t.Errorf("Name = %s", got)
	}
	if got := Path("/var/lib/coracle/storage", c); got != "/var/lib/coracle/storage/pvc-0b2f_ns_data" {
		t.Errorf("Path = %s", got)
	}
	pv := &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-0b2f"}}
	for path, want := range map[string]bool{
		"/var/lib/coracle/storage/pvc-0b2f_ns_data": true,
		"/var/lib/coracle/storage/pvc-0b2f":         false,
		"/etc":                                      false,
		"pvc-0b2f_ns_data":                          false,
		"/x/../pvc-0b2f_ns_data":                    false,
		"/var/lib/coracle/storage/pvc-0b2fx_ns_d":   false,
	} {
		if got := OwnsPath(pv, path); got != want {
			t.Errorf("OwnsPath(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestWanted(t *testing.T) {
	immediate := class(func(c *storagev1.StorageClass) { c.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate) })
	noMode := class(func(c *storagev1.StorageClass) { c.VolumeBindingMode = nil })
	cases := []struct {
		name  string
		claim *v1.PersistentVolumeClaim
		class *storagev1.StorageClass
		want  bool
	}{
		{"WaitForFirstConsumer with a selected node", claim(), class(), true},
		{"WaitForFirstConsumer before the scheduler chose", claim(func(c *v1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}), class(), false},
		{"Immediate without a node", claim(func(c *v1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}), immediate, true},
		{"no binding mode is Immediate", claim(func(c *v1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnSelectedNode)
		}), noMode, true},
		{"beta annotation", claim(func(c *v1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
			c.Annotations[storagehelpers.AnnBetaStorageProvisioner] = prov
		}), class(), true},
		{"PV controller has not asked yet", claim(func(c *v1.PersistentVolumeClaim) {
			delete(c.Annotations, storagehelpers.AnnStorageProvisioner)
		}), class(), false},
		{"another provisioner asked", claim(func(c *v1.PersistentVolumeClaim) {
			c.Annotations[storagehelpers.AnnStorageProvisioner] = "example.com/nfs"
		}), class(), false},
		{"class of another provisioner", claim(), class(func(c *storagev1.StorageClass) { c.Provisioner = "example.com/nfs" }), false},
		{"class does not exist", claim(), nil, false},
		{"bound already", claim(func(c *v1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-1" }), class(), false},
		{"being deleted", claim(func(c *v1.PersistentVolumeClaim) { c.DeletionTimestamp = &metav1.Time{Time: time.Now()} }), class(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Wanted(tc.claim, tc.class, prov); got != tc.want {
				t.Errorf("Wanted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		claim *v1.PersistentVolumeClaim
		want  string
	}{
		{"ReadWriteOnce", claim(), ""},
		{"ReadOnlyMany and ReadWriteOncePod", claim(func(c *v1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadOnlyMany, v1.ReadWriteOncePod}
		}), ""},
		{"ReadWriteMany", claim(func(c *v1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce, v1.ReadWriteMany}
		}), "NodePath only supports ReadWriteOnce, ReadOnlyMany and ReadWriteOncePod access modes"},
		{"selector", claim(func(c *v1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }), "claim.Spec.Selector is not supported"},
		{"data source", claim(func(c *v1.PersistentVolumeClaim) {
			c.Spec.DataSource = &v1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
		}), "claim.Spec.DataSource is not supported"},
		{"no size", claim(func(c *v1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }), "claim requests no storage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.claim)
			if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
	if err := CheckMode(claim(func(c *v1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr.To(v1.PersistentVolumeBlock) }), prov); err == nil ||
		err.Error() != "rancher.io/local-path does not support block volume provisioning" {
		t.Errorf("CheckMode(Block) = %v", err)
	}
	if err := CheckMode(claim(), prov); err != nil {
		t.Errorf("CheckMode(Filesystem) = %v", err)
	}
}

func node(name string, edit ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status:     v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
	}
	for _, e := range edit {
		e(n)
	}
	return n
}

func TestPickNode(t *testing.T) {
	notReady := func(n *v1.Node) { n.Status.Conditions[0].Status = v1.ConditionFalse }
	cordoned := func(n *v1.Node) { n.Spec.Unschedulable = true }
	tainted := func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: v1.TaintEffectNoSchedule}}
	}
	preferNo := func(n *v1.Node) { n.Spec.Taints = []v1.Taint{{Key: "x", Effect: v1.TaintEffectPreferNoSchedule}} }
	zone := func(z string) func(*v1.Node) { return func(n *v1.Node) { n.Labels[v1.LabelTopologyZone] = z } }
	inZoneB := class(func(c *storagev1.StorageClass) {
		c.AllowedTopologies = []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: v1.LabelTopologyZone, Values: []string{"b"}},
		}}}
	})
	cases := []struct {
		name  string
		nodes []*v1.Node
		class *storagev1.StorageClass
		used  map[string]int
		want  string
		err   string
	}{
		{"the one Ready node", []*v1.Node{node("a", notReady), node("b"), node("c", cordoned)}, class(), nil, "b", ""},
		{"untolerated taints are avoided, PreferNoSchedule is not", []*v1.Node{node("a", tainted), node("b", preferNo)}, class(), nil, "b", ""},
		{"fewest volumes", []*v1.Node{node("a"), node("b"), node("c")}, class(), map[string]int{"a": 2, "b": 1, "c": 3}, "b", ""},
		{"allowedTopologies", []*v1.Node{node("a", zone("a")), node("b", zone("b"))}, inZoneB, map[string]int{"b": 5}, "b", ""},
		{"no node at all", nil, class(), nil, "", "no Ready, schedulable node to provision on"},
		{"none in the topology", []*v1.Node{node("a", zone("a"))}, inZoneB, nil, "", `no Ready, schedulable node matches the allowedTopologies of storage class "local-path"`},
		{"node without conditions is not Ready", []*v1.Node{node("a", func(n *v1.Node) { n.Status.Conditions = nil })}, class(), nil, "", "no Ready"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickNode(tc.nodes, tc.class, tc.used, "uid")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("PickNode = %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("PickNode = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Ties: the same claim always gets the same node, whatever the order.
	nodes := []*v1.Node{node("a"), node("b"), node("c"), node("d")}
	picked := map[string]bool{}
	for _, key := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
		first, _ := PickNode(nodes, class(), nil, key)
		reversed, _ := PickNode([]*v1.Node{nodes[3], nodes[2], nodes[1], nodes[0]}, class(), nil, key)
		if first != reversed {
			t.Errorf("claim %s: %s, then %s in another order", key, first, reversed)
		}
		picked[first] = true
	}
	if len(picked) < 2 {
		t.Errorf("8 claims on 4 equal nodes all went to %v", picked)
	}
}

func TestBuild(t *testing.T) {
	c := claim(func(c *v1.PersistentVolumeClaim) {
		c.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}
	})
	ref := &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "ns", Name: "data", UID: "0b2f", ResourceVersion: "7"}
	retain := class(func(c *storagev1.StorageClass) {
		c.ReclaimPolicy = ptr.To(v1.PersistentVolumeReclaimRetain)
		c.MountOptions = []string{"noatime"}
	})
	n := node("n1", func(n *v1.Node) { n.Labels[v1.LabelHostname] = "host-1" })
	got := Build(c, ref, retain, n, "/var/lib/coracle/storage/pvc-0b2f_ns_data", prov)
	want := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-0b2f", Annotations: map[string]string{
			"pv.kubernetes.io/provisioned-by": "rancher.io/local-path", "local.path.provisioner/selected-node": "n1",
		}},
		Spec: v1.PersistentVolumeSpec{
			Capacity:    v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod},
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{
				Path: "/var/lib/coracle/storage/pvc-0b2f_ns_data", Type: ptr.To(v1.HostPathDirectoryOrCreate),
			}},
			ClaimRef:                      ref,
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
			StorageClassName:              "local-path",
			MountOptions:                  []string{"noatime"},
			VolumeMode:                    ptr.To(v1.PersistentVolumeFilesystem),
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{"host-1"}}},
			}}}},
		},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("Build:\n%+v\nwant\n%+v", got, want)
	}
	// No reclaim policy in the class: Delete, Kubernetes' default.
	if pv := Build(c, ref, class(), node("n1"), "/p/pvc-0b2f_ns_data", prov); pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete {
		t.Errorf("default reclaim policy %s", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	// Where to delete it: the annotation, else the node affinity.
	nodeName, path, err := Location(got)
	if err != nil || nodeName != "n1" || path != "/var/lib/coracle/storage/pvc-0b2f_ns_data" {
		t.Errorf("Location = %s, %s, %v", nodeName, path, err)
	}
	delete(got.Annotations, AnnNodeName)
	if nodeName, _, err := Location(got); err != nil || nodeName != "host-1" {
		t.Errorf("Location without the annotation = %s, %v", nodeName, err)
	}
	got.Spec.NodeAffinity = nil
	if _, _, err := Location(got); err == nil || err.Error() != "no NodeAffinity set" {
		t.Errorf("Location without affinity: %v", err)
	}
}

func TestShouldDelete(t *testing.T) {
	pv := func(edit func(*v1.PersistentVolume)) *v1.PersistentVolume {
		p := &v1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: prov}},
			Spec:       v1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimDelete},
			Status:     v1.PersistentVolumeStatus{Phase: v1.VolumeReleased},
		}
		if edit != nil {
			edit(p)
		}
		return p
	}
	cases := []struct {
		name string
		pv   *v1.PersistentVolume
		want bool
	}{
		{"released, Delete, ours", pv(nil), true},
		{"Retain", pv(func(p *v1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = v1.PersistentVolumeReclaimRetain }), false},
		{"bound", pv(func(p *v1.PersistentVolume) { p.Status.Phase = v1.VolumeBound }), false},
		{"failed", pv(func(p *v1.PersistentVolume) { p.Status.Phase = v1.VolumeFailed }), false},
		{"another provisioner's", pv(func(p *v1.PersistentVolume) { p.Annotations[storagehelpers.AnnDynamicallyProvisioned] = "x" }), false},
		{"static", pv(func(p *v1.PersistentVolume) { p.Annotations = nil }), false},
		{"being deleted", pv(func(p *v1.PersistentVolume) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }), false},
	}
	for _, tc := range cases {
		if got := ShouldDelete(tc.pv, prov); got != tc.want {
			t.Errorf("%s: ShouldDelete = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestResize(t *testing.T) {
	expandable := class(func(c *storagev1.StorageClass) { c.AllowVolumeExpansion = ptr.To(true) })
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-0b2f", Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: prov}},
		Spec: v1.PersistentVolumeSpec{
			Capacity: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			ClaimRef: &v1.ObjectReference{Namespace: "ns", Name: "data", UID: "0b2f"},
		},
	}
	bound := func(request string, edit ...func(*v1.PersistentVolumeClaim)) *v1.PersistentVolumeClaim {
		return claim(append([]func(*v1.PersistentVolumeClaim){func(c *v1.PersistentVolumeClaim) {
			c.Spec.VolumeName = "pvc-0b2f"
			c.Spec.Resources.Requests[v1.ResourceStorage] = resource.MustParse(request)
			c.Status.Phase = v1.ClaimBound
			c.Status.Capacity = v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}
		}}, edit...)...)
	}
	cases := []struct {
		name  string
		claim *v1.PersistentVolumeClaim
		class *storagev1.StorageClass
		want  string
	}{
		{"larger request", bound("2Gi"), expandable, "2Gi"},
		{"same request", bound("1Gi"), expandable, ""},
		{"class does not allow it", bound("2Gi"), class(), ""},
		{"class gone", bound("2Gi"), nil, ""},
		{"not bound yet", bound("2Gi", func(c *v1.PersistentVolumeClaim) { c.Status.Phase = v1.ClaimPending }), expandable, ""},
		{"another claim's volume", bound("2Gi", func(c *v1.PersistentVolumeClaim) { c.UID = "other" }), expandable, ""},
	}
	for _, tc := range cases {
		size, ok := ResizeTarget(tc.claim, pv, tc.class, prov)
		if got := ""; ok {
			got = size.String()
			if got != tc.want {
				t.Errorf("%s: ResizeTarget = %s, want %q", tc.name, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: no resize, want %s", tc.name, tc.want)
		}
	}

	two := resource.MustParse("2Gi")
	now := metav1.Now()
	c := bound("2Gi", func(c *v1.PersistentVolumeClaim) {
		c.Annotations[AnnNodeExpansionNotRequired] = "true"
		c.Status.Conditions = []v1.PersistentVolumeClaimCondition{
			{Type: v1.PersistentVolumeClaimControllerResizeError, Status: v1.ConditionTrue, Message: "old"},
			{Type: "Other", Status: v1.ConditionTrue},
		}
	})
	started := ResizeStarted(c, two, now)
	if len(c.Status.Conditions) != 2 || c.Annotations[AnnNodeExpansionNotRequired] != "true" {
		t.Error("ResizeStarted changed its argument")
	}
	wantConds := []v1.PersistentVolumeClaimCondition{
		{Type: "Other", Status: v1.ConditionTrue},
		{Type: v1.PersistentVolumeClaimResizing, Status: v1.ConditionTrue, LastTransitionTime: now},
	}
	if !equality.Semantic.DeepEqual(started.Status.Conditions, wantConds) ||
		started.Status.AllocatedResources.Storage().Cmp(two) != 0 ||
		started.Status.AllocatedResourceStatuses[v1.ResourceStorage] != v1.PersistentVolumeClaimControllerResizeInProgress ||
		started.Annotations[AnnNodeExpansionNotRequired] != "" {
		t.Errorf("ResizeStarted: %+v %+v", started.Status, started.Annotations)
	}
	done := ResizeFinished(started, two)
	if !equality.Semantic.DeepEqual(done.Status.Conditions, wantConds[:1]) ||
		done.Status.Capacity.Storage().Cmp(two) != 0 || done.Status.AllocatedResourceStatuses != nil ||
		done.Status.AllocatedResources.Storage().Cmp(two) != 0 ||
		done.Annotations[AnnNodeExpansionNotRequired] != "true" {
		t.Errorf("ResizeFinished: %+v %+v", done.Status, done.Annotations)
	}
	if _, ok := ResizeTarget(done, pv, expandable, prov); ok {
		t.Error("a finished resize is asked for again")
	}
}
