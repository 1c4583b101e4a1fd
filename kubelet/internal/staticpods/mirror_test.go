package staticpods

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func staticPod(name, hash string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: types.UID(hash),
		Annotations: map[string]string{ConfigHashAnnotationKey: hash, ConfigSourceAnnotationKey: SourceFile},
	}}
}

func mirrorPod(name, hash string, deleting bool) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: types.UID("api-" + name),
		Annotations: map[string]string{ConfigHashAnnotationKey: hash, ConfigMirrorAnnotationKey: hash},
	}}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{}
	}
	return p
}

func TestPlanMirrors(t *testing.T) {
	podNames := func(pods []*v1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		static         []*v1.Pod
		mirrors        []*v1.Pod
		create, delete []string
	}{
		{name: "a static pod without a mirror gets one", static: []*v1.Pod{staticPod("a", "h1")}, create: []string{"a"}},
		{name: "a current mirror stays", static: []*v1.Pod{staticPod("a", "h1")}, mirrors: []*v1.Pod{mirrorPod("a", "h1", false)}},
		{name: "a mirror of an older manifest is replaced", static: []*v1.Pod{staticPod("a", "h2")}, mirrors: []*v1.Pod{mirrorPod("a", "h1", false)}, create: []string{"a"}, delete: []string{"a"}},
		{name: "a mirror being deleted is deleted and made anew", static: []*v1.Pod{staticPod("a", "h1")}, mirrors: []*v1.Pod{mirrorPod("a", "h1", true)}, create: []string{"a"}, delete: []string{"a"}},
		{name: "a mirror of no static pod goes", mirrors: []*v1.Pod{mirrorPod("gone", "h1", false)}, delete: []string{"gone"}},
		{
			name:    "each pod on its own",
			static:  []*v1.Pod{staticPod("a", "h1"), staticPod("b", "h2")},
			mirrors: []*v1.Pod{mirrorPod("a", "h1", false), mirrorPod("c", "h3", false)},
			create:  []string{"b"}, delete: []string{"c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := PlanMirrors(tc.static, tc.mirrors)
			if got := podNames(plan.Create); !equal(got, tc.create) {
				t.Errorf("create %v, want %v", got, tc.create)
			}
			if got := podNames(plan.Delete); !equal(got, tc.delete) {
				t.Errorf("delete %v, want %v", got, tc.delete)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMirrorPod(t *testing.T) {
	static := staticPod("a-n1", "h1")
	static.Status.Phase = v1.PodPending
	static.ResourceVersion = "7"
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	m := MirrorPod(static, node)
	if m.UID != "" || m.ResourceVersion != "" || m.Status.Phase != "" {
		t.Errorf("mirror keeps UID %q, resourceVersion %q, status %v", m.UID, m.ResourceVersion, m.Status)
	}
	if m.Annotations[ConfigMirrorAnnotationKey] != "h1" || m.Annotations[ConfigHashAnnotationKey] != "h1" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if static.Annotations[ConfigMirrorAnnotationKey] != "" {
		t.Error("static pod changed")
	}
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("owners %v", m.OwnerReferences)
	}
	o := m.OwnerReferences[0]
	if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != "n1" || o.UID != "node-uid" || o.Controller == nil || !*o.Controller || o.BlockOwnerDeletion != nil {
		t.Errorf("owner %+v", o)
	}
	if !IsMirrorPod(m) || IsMirrorPod(static) || !IsStaticPod(static) {
		t.Error("IsMirrorPod/IsStaticPod")
	}
	current := mirrorPod("a-n1", "h1", false)
	for _, tc := range []struct {
		name   string
		mirror *v1.Pod
		want   bool
	}{
		{"current", current, true},
		{"none", nil, false},
		{"other hash", mirrorPod("a-n1", "h0", false), false},
		{"being deleted", mirrorPod("a-n1", "h1", true), false},
	} {
		if got := IsMirrorOf(tc.mirror, static); got != tc.want {
			t.Errorf("IsMirrorOf %s: %v", tc.name, got)
		}
	}
}
