package statefulset

import (
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// The cases here are Kubernetes' own (stateful_set_utils_test.go,
// stateful_pod_control_test.go), with pods named as our Ordinal wants:
// the set's name, a dash, the ordinal.

// retentionSet is a set named name of replicas with policy
// whenScaled/whenDeleted ("" for none).
func retentionSet(name, uid string, replicas int32, whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)}}
	s.Spec.Replicas = ptr.To(replicas)
	if whenScaled != "" || whenDeleted != "" {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: whenScaled, WhenDeleted: whenDeleted}
	}
	return s
}

func namedPod(name, uid string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)}}
}

func claimWith(refs ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "target-claim", OwnerReferences: refs}}
}

func controllerRefTo(obj metav1.Object, apiVersion, k string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: k, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func TestRetentionPolicyDefaultsToRetain(t *testing.T) {
	got := retentionPolicy(&appsv1.StatefulSet{})
	if got.WhenDeleted != retain || got.WhenScaled != retain {
		t.Errorf("no policy = %+v, want Retain/Retain", got)
	}
	s := retentionSet("ss", "u", 1, del, retain)
	if got := retentionPolicy(s); got.WhenScaled != del || got.WhenDeleted != retain {
		t.Errorf("policy = %+v, want the set's", got)
	}
}

// TestIsClaimOwnerUpToDate: the owners each policy wants, for a pod in
// range and a condemned one, whatever references the claim has now and
// whatever other (non-controller) owners it has.
func TestIsClaimOwnerUpToDate(t *testing.T) {
	tests := []struct {
		name                    string
		whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType
		replicas                int32
		ordinal                 int
		needsPodRef, needsSet   bool
	}{
		{"retain", retain, retain, 1, 0, false, false},
		{"retain, condemned", retain, retain, 2, 2, false, false},
		{"on set deletion", retain, del, 1, 0, false, true},
		{"on set deletion, condemned", retain, del, 2, 2, false, true},
		{"on scale down only, condemned", del, retain, 2, 2, true, false},
		{"on scale down only, remains", del, retain, 2, 1, false, false},
		{"on both, condemned", del, del, 2, 2, true, false},
		{"on both, remains", del, del, 2, 1, false, true},
	}
	for _, tc := range tests {
		for _, others := range []bool{false, true} {
			for _, podRef := range []bool{false, true} {
				for _, setRef := range []bool{false, true} {
					set := retentionSet("stateful-set", "ss-456", tc.replicas, tc.whenScaled, tc.whenDeleted)
					pod := namedPod(fmt.Sprintf("stateful-set-%d", tc.ordinal), "pod-123")
					claim := claimWith()
					if podRef {
						claim.OwnerReferences = append(claim.OwnerReferences, controllerRefTo(pod, "v1", "Pod"))
					}
					if setRef {
						claim.OwnerReferences = append(claim.OwnerReferences, controllerRefTo(set, "apps/v1", "StatefulSet"))
					}
					if others {
						claim.OwnerReferences = append(claim.OwnerReferences,
							metav1.OwnerReference{Name: "rand1", APIVersion: "v1", Kind: "Pod", UID: "rand1-uid"},
							metav1.OwnerReference{Name: "rand2", APIVersion: "v1", Kind: "Pod", UID: "rand2-uid"})
					}
					want := podRef == tc.needsPodRef && setRef == tc.needsSet
					if got := isClaimOwnerUpToDate(claim, set, pod); got != want {
						t.Errorf("%s with pod ref %v, set ref %v, other owners %v: up to date = %v, want %v", tc.name, podRef, setRef, others, got, want)
					}
				}
			}
		}
	}
}

func TestClaimOwnerUpToDateEdgeCases(t *testing.T) {
	both := func(w1, w2 appsv1.PersistentVolumeClaimRetentionPolicyType) [2]appsv1.PersistentVolumeClaimRetentionPolicyType {
		return [2]appsv1.PersistentVolumeClaimRetentionPolicyType{w1, w2}
	}
	tests := []struct {
		name   string
		refs   []metav1.OwnerReference
		policy [2]appsv1.PersistentVolumeClaimRetentionPolicyType // whenScaled, whenDeleted
		want   bool
	}{
		{"normal controller, pod",
			[]metav1.OwnerReference{{Name: "ss-1", APIVersion: "v1", Kind: "Pod", UID: "pod-123", Controller: ptr.To(true)}},
			both(del, del), true},
		{"a non-controller reference is to be replaced, pod",
			[]metav1.OwnerReference{{Name: "ss-1", APIVersion: "v1", Kind: "Pod", UID: "pod-123"}},
			both(del, del), false},
		{"a stale controller leaves the claim alone, pod",
			[]metav1.OwnerReference{{Name: "ss-1", APIVersion: "v1", Kind: "Pod", UID: "pod-stale", Controller: ptr.To(true)}},
			both(del, del), true},
		{"another controller: ours is to be removed, pod",
			[]metav1.OwnerReference{
				{Name: "ss-1", APIVersion: "v1", Kind: "Pod", UID: "pod-123", Controller: ptr.To(true)},
				{Name: "Random", APIVersion: "v1", Kind: "Pod", UID: "random", Controller: ptr.To(true)},
			},
			both(del, del), false},
		{"another controller and none of ours: left alone",
			[]metav1.OwnerReference{{Name: "Random", APIVersion: "v1", Kind: "Pod", UID: "random", Controller: ptr.To(true)}},
			both(del, del), true},
		{"normal controller, set",
			[]metav1.OwnerReference{{Name: "ss", APIVersion: "apps/v1", Kind: "StatefulSet", UID: "ss-456", Controller: ptr.To(true)}},
			both(retain, del), true},
		{"a non-controller reference is to be replaced, set",
			[]metav1.OwnerReference{{Name: "ss", APIVersion: "apps/v1", Kind: "StatefulSet", UID: "ss-456"}},
			both(retain, del), false},
		{"a stale controller leaves the claim alone, set",
			[]metav1.OwnerReference{{Name: "ss", APIVersion: "apps/v1", Kind: "StatefulSet", UID: "set-stale", Controller: ptr.To(true)}},
			both(retain, del), true},
		{"another controller: ours is to be removed, set",
			[]metav1.OwnerReference{
				{Name: "ss", APIVersion: "apps/v1", Kind: "StatefulSet", UID: "ss-456", Controller: ptr.To(true)},
				{Name: "Random", APIVersion: "apps/v1", Kind: "StatefulSet", UID: "random", Controller: ptr.To(true)},
			},
			both(retain, del), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := retentionSet("ss", "ss-456", 1, tc.policy[0], tc.policy[1])
			pod := namedPod("ss-1", "pod-123")
			if got := isClaimOwnerUpToDate(claimWith(tc.refs...), set, pod); got != tc.want {
				t.Errorf("up to date = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUpdateClaimOwnerRefForSetAndPod: whatever references the claim
// had, afterwards it has controller references to the owners its policy
// wants and none other of ours; another controller means none of ours;
// other owners are kept; and the claim is then up to date.
func TestUpdateClaimOwnerRefForSetAndPod(t *testing.T) {
	tests := []struct {
		name                    string
		whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType
		condemned               bool
		needsPodRef, needsSet   bool
		unexpectedController    bool
	}{
		{"retain", retain, retain, false, false, false, false},
		{"retain, condemned", retain, retain, true, false, false, false},
		{"delete with set", retain, del, false, false, true, false},
		{"delete with set, condemned", retain, del, true, false, true, false},
		{"delete on scale down, not condemned", del, retain, false, false, false, false},
		{"delete on scale down, condemned", del, retain, true, true, false, false},
		{"delete on both, not condemned", del, del, false, false, true, false},
		{"delete on both, condemned", del, del, true, true, false, false},
		{"unexpected controller", del, del, true, false, false, true},
	}
	isController := func(claim *corev1.PersistentVolumeClaim, owner metav1.Object) bool {
		for _, ref := range claim.OwnerReferences {
			if ref.UID == owner.GetUID() {
				return ref.Controller != nil && *ref.Controller
			}
		}
		return false
	}
	for _, tc := range tests {
		for variation := 0; variation < 8; variation++ {
			hasPodRef, hasSetRef, extraOwner := variation&1 != 0, variation&2 != 0, variation&4 != 0
			set := retentionSet("ss", "ss-123", 5, tc.whenScaled, tc.whenDeleted)
			pod := namedPod("ss-1", "pod-456")
			if tc.condemned {
				pod.Name = "ss-8"
			}
			claim := claimWith()
			if hasPodRef {
				claim.OwnerReferences = append(claim.OwnerReferences, controllerRefTo(pod, "v1", "Pod"))
			}
			if hasSetRef {
				claim.OwnerReferences = append(claim.OwnerReferences, controllerRefTo(set, "apps/v1", "StatefulSet"))
			}
			extra := metav1.OwnerReference{APIVersion: "custom/v1", Kind: "random", Name: "random", UID: "abc"}
			if extraOwner {
				claim.OwnerReferences = append(claim.OwnerReferences, extra)
			}
			if tc.unexpectedController {
				claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{
					APIVersion: "custom/v1", Kind: "Unknown", Name: "unknown", UID: "xyz", Controller: ptr.To(true)})
			}
			updateClaimOwnerRefForSetAndPod(claim, set, pod)
			what := fmt.Sprintf("%s, had pod ref %v, set ref %v, other owner %v", tc.name, hasPodRef, hasSetRef, extraOwner)
			if got := isController(claim, pod); got != tc.needsPodRef {
				t.Errorf("%s: pod is controller = %v, want %v (%+v)", what, got, tc.needsPodRef, claim.OwnerReferences)
			}
			if got := isController(claim, set); got != tc.needsSet {
				t.Errorf("%s: set is controller = %v, want %v (%+v)", what, got, tc.needsSet, claim.OwnerReferences)
			}
			if !tc.needsPodRef && hasOwnerRef(claim, pod) || !tc.needsSet && hasOwnerRef(claim, set) {
				t.Errorf("%s: a reference left that the policy does not want: %+v", what, claim.OwnerReferences)
			}
			if extraOwner && !hasOwnerRef(claim, &metav1.ObjectMeta{UID: extra.UID}) {
				t.Errorf("%s: the other owner's reference was dropped: %+v", what, claim.OwnerReferences)
			}
			if !isClaimOwnerUpToDate(claim, set, pod) {
				t.Errorf("%s: not up to date after the update: %+v", what, claim.OwnerReferences)
			}
		}
	}
}

// TestUpdateClaimControllerRef: the exact references after an update
// under Delete/Delete for a pod in range.
func TestUpdateClaimControllerRef(t *testing.T) {
	setRef := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "sts", UID: "123", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	tests := []struct {
		name       string
		refs, want []metav1.OwnerReference
	}{
		{"set correctly",
			[]metav1.OwnerReference{setRef, {APIVersion: "someone", Kind: "Else", Name: "foo"}},
			[]metav1.OwnerReference{{APIVersion: "someone", Kind: "Else", Name: "foo"}, setRef}},
		{"missing controller",
			[]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "sts", UID: "123"}},
			[]metav1.OwnerReference{setRef}},
		{"matching name but another kind",
			[]metav1.OwnerReference{{APIVersion: "someone", Kind: "else", Name: "sts", UID: "456"}},
			[]metav1.OwnerReference{{APIVersion: "someone", Kind: "else", Name: "sts", UID: "456"}, setRef}},
		{"not present", nil, []metav1.OwnerReference{setRef}},
		// A reference to the set's name with no UID is taken for a
		// stale one: removed, and nothing added.
		{"controller, but no UID",
			[]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "sts", Controller: ptr.To(true)}},
			[]metav1.OwnerReference{}},
		{"neither controller nor UID",
			[]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "sts"}},
			[]metav1.OwnerReference{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := retentionSet("sts", "123", 1, del, del)
			claim := claimWith(tc.refs...)
			updateClaimOwnerRefForSetAndPod(claim, set, namedPod("sts-0", "456"))
			if !reflect.DeepEqual(claim.OwnerReferences, tc.want) {
				t.Errorf("references\n got %+v\nwant %+v", claim.OwnerReferences, tc.want)
			}
		})
	}
}

func TestHasUnexpectedController(t *testing.T) {
	ref := func(apiVersion, k, name, uid string, controller *bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: k, Name: name, UID: types.UID(uid), Controller: controller}
	}
	yes, no := ptr.To(true), ptr.To(false)
	tests := []struct {
		name string
		refs []metav1.OwnerReference
		want bool
	}{
		{"custom controller", []metav1.OwnerReference{ref("chipmunks/v1", "CustomController", "simon", "other-uid", yes)}, true},
		{"custom non-controller", []metav1.OwnerReference{ref("chipmunks/v1", "CustomController", "simon", "other-uid", no)}, false},
		{"custom unspecified controller", []metav1.OwnerReference{ref("chipmunks/v1", "CustomController", "simon", "other-uid", nil)}, false},
		{"other pod controller", []metav1.OwnerReference{ref("v1", "Pod", "simon", "other-uid", yes)}, true},
		{"other set controller", []metav1.OwnerReference{ref("apps/v1", "Set", "simon", "other-uid", yes)}, true},
		{"own set controller", []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "set", "set-uid", yes)}, false},
		{"own set controller, stale uid", []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "set", "stale-uid", yes)}, true},
		{"own pod controller", []metav1.OwnerReference{ref("v1", "Pod", "set-0", "pod-uid", yes)}, false},
		{"own pod controller, stale uid", []metav1.OwnerReference{ref("v1", "Pod", "set-0", "stale-uid", yes)}, true},
		{"own controller and another", []metav1.OwnerReference{ref("v1", "Pod", "set-0", "pod-uid", yes), ref("chipmunks/v1", "CustomController", "simon", "other-uid", yes)}, true},
		{"own controller and a non-controller", []metav1.OwnerReference{ref("v1", "Pod", "set-0", "pod-uid", yes), ref("chipmunks/v1", "CustomController", "simon", "other-uid", no)}, false},
	}
	pod := namedPod("set-0", "pod-uid")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claim := claimWith(tc.refs...)
			if hasUnexpectedController(claim, retentionSet("set", "set-uid", 1, "", ""), pod) {
				t.Error("under no policy (Retain/Retain) any controller is allowed")
			}
			if hasUnexpectedController(claim, retentionSet("set", "set-uid", 1, retain, retain), pod) {
				t.Error("under Retain/Retain any controller is allowed")
			}
			for _, p := range [][2]appsv1.PersistentVolumeClaimRetentionPolicyType{{del, retain}, {retain, del}, {del, del}} {
				if got := hasUnexpectedController(claim, retentionSet("set", "set-uid", 1, p[0], p[1]), pod); got != tc.want {
					t.Errorf("whenScaled %s, whenDeleted %s: unexpected controller = %v, want %v", p[0], p[1], got, tc.want)
				}
			}
		})
	}
}

func TestHasStaleOwnerRef(t *testing.T) {
	claim := claimWith(
		metav1.OwnerReference{Name: "bob", UID: "123", APIVersion: "v1", Kind: "Pod"},
		metav1.OwnerReference{Name: "shirley", UID: "456", APIVersion: "v1", Kind: "Pod"},
	)
	if hasStaleOwnerRef(claim, namedPod("bob", "123"), podKind) {
		t.Error("a reference to the pod's UID is not stale")
	}
	if !hasStaleOwnerRef(claim, namedPod("shirley", "789"), podKind) {
		t.Error("a reference to another pod of the name is stale")
	}
	if hasStaleOwnerRef(claim, namedPod("yvonne", "345"), podKind) {
		t.Error("no reference to the name is not stale")
	}
	if hasStaleOwnerRef(claim, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "bob", UID: "999"}}, kind) {
		t.Error("a reference to a pod is not one to a set of its name")
	}
}

// TestPodClaimIsStale: a pod about to be created (no UID yet) waits for
// a claim that names an older pod of its name as owner, under whenScaled
// Delete only.
func TestPodClaimIsStale(t *testing.T) {
	podRef := func(uid string) metav1.OwnerReference {
		return metav1.OwnerReference{Name: "set-3", UID: types.UID(uid), APIVersion: "v1", Kind: "Pod", Controller: ptr.To(true)}
	}
	tests := []struct {
		name       string
		whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
		podUID     string
		claim      *corev1.PersistentVolumeClaim
		want       bool
	}{
		{"no owners", del, "", claimWith(), false},
		{"owned by the set", del, "", claimWith(metav1.OwnerReference{Name: "set", UID: "set-uid", APIVersion: "apps/v1", Kind: "StatefulSet"}), false},
		{"owned by an older pod of the name", del, "", claimWith(podRef("stale")), true},
		{"owned by the pod itself", del, "pod-uid", claimWith(podRef("pod-uid")), false},
		{"owned by an older pod, the pod made", del, "pod-uid", claimWith(podRef("stale")), true},
		{"whenScaled Retain: claims are reused, never stale", retain, "", claimWith(podRef("stale")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := retentionSet("set", "set-uid", 4, tc.whenScaled, retain)
			if got := podClaimIsStale(set, namedPod("set-3", tc.podUID), tc.claim); got != tc.want {
				t.Errorf("stale = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecideClaims: which pods' claims a sync sets to the retention
// policy, in Kubernetes' order: OrderedReady the in-range pods it gets
// past and a Pending one, Parallel every one but a failed pod; the
// condemned all at once, only when the in-range pods let the sync reach
// them, before the first of them is deleted.
func TestDecideClaims(t *testing.T) {
	tests := []struct {
		name         string
		set          *appsv1.StatefulSet
		pods         []*corev1.Pod
		claims, dels string
	}{
		{"ordered: ready pods, up to the one being created", set(3, false), pods(pod(0, "ready", "r"), pod(1, "ready", "r")), "[db-0 db-1]", "[]"},
		{"ordered: a pending pod, then stop", set(3, false), pods(pod(0, "pending", "r"), pod(1, "ready", "r")), "[db-0]", "[]"},
		{"ordered: not an unready pod, nor those after it", set(3, false), pods(pod(0, "unready", "r"), pod(1, "ready", "r")), "[]", "[]"},
		{"ordered: not a terminating pod", set(2, false), pods(pod(0, "terminating", "r"), pod(1, "ready", "r")), "[]", "[]"},
		{"not a failed pod, which is replaced", set(1, false), pods(pod(0, "failed", "r")), "[]", "[db-0]"},
		{"parallel: every pod in range, ready or not", set(3, true), pods(pod(0, "unready", "r"), pod(1, "terminating", "r"), pod(2, "failed", "r")), "[db-0 db-1]", "[db-2]"},
		{"ordered: every condemned pod before the highest goes", set(1, false), pods(pod(0, "ready", "r"), pod(1, "ready", "r"), pod(2, "ready", "r")), "[db-0 db-2 db-1]", "[db-2]"},
		{"ordered: condemned terminating ones too", set(1, false), pods(pod(0, "ready", "r"), pod(1, "ready", "r"), pod(2, "terminating", "r")), "[db-0 db-2 db-1]", "[]"},
		{"ordered: no condemned pod while one in range is unready", set(1, false), pods(pod(0, "unready", "r"), pod(1, "ready", "r")), "[]", "[]"},
		{"parallel: condemned past unready pods", set(1, true), pods(pod(0, "unready", "r"), pod(1, "unready", "r")), "[db-0 db-1]", "[db-1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := Decide(tc.set, tc.pods, "r", now)
			if got := names(plan.Claims); got != tc.claims {
				t.Errorf("claims of %s, want %s", got, tc.claims)
			}
			if got := names(plan.Delete); got != tc.dels {
				t.Errorf("deleted %s, want %s", got, tc.dels)
			}
		})
	}
}
