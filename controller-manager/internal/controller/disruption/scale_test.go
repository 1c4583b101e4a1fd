package disruption

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func objectMeta(name, uid string, owner *metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

func controllerRef(apiVersion, kind, name, uid string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}
}

func ownedPod(name string, owner *metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: objectMeta(name, "pod-"+name, owner)}
}

// TestExpectedScale sums each controller's scale once: a Deployment's for
// its ReplicaSets' pods, a ReplicaSet's, a StatefulSet's, a
// ReplicationController's; pods without a controller are unmanaged, and a
// controller that cannot be found is an error.
func TestExpectedScale(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	deploy := &appsv1.Deployment{ObjectMeta: objectMeta("web", "d-web", nil), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4)}}
	dRef := controllerRef("apps/v1", "Deployment", "web", "d-web")
	webOld := &appsv1.ReplicaSet{ObjectMeta: objectMeta("web-1", "rs-web-1", dRef), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1)}}
	webNew := &appsv1.ReplicaSet{ObjectMeta: objectMeta("web-2", "rs-web-2", dRef), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3)}}
	lone := &appsv1.ReplicaSet{ObjectMeta: objectMeta("lone", "rs-lone", nil), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}
	set := &appsv1.StatefulSet{ObjectMeta: objectMeta("db", "ss-db", nil), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](5)}}
	rc := &corev1.ReplicationController{ObjectMeta: objectMeta("old", "rc-old", nil), Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](7)}}
	for _, add := range []func() error{
		func() error { return f.Apps().V1().Deployments().Informer().GetIndexer().Add(deploy) },
		func() error { return f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(webOld) },
		func() error { return f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(webNew) },
		func() error { return f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(lone) },
		func() error { return f.Apps().V1().StatefulSets().Informer().GetIndexer().Add(set) },
		func() error { return f.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(rc) },
	} {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	s := &scales{
		rcs: f.Core().V1().ReplicationControllers().Lister(), rss: f.Apps().V1().ReplicaSets().Lister(),
		deployments: f.Apps().V1().Deployments().Lister(), sets: f.Apps().V1().StatefulSets().Lister(),
		// Knows no other kind: any other owner is an error.
		mapper: meta.NewDefaultRESTMapper(nil),
	}
	rsRef := func(rs *appsv1.ReplicaSet) *metav1.OwnerReference {
		return controllerRef("apps/v1", "ReplicaSet", rs.Name, string(rs.UID))
	}
	tests := []struct {
		name      string
		pods      []*corev1.Pod
		want      int32
		unmanaged []string
		err       string
	}{
		{"a deployment's two replica sets count its scale once",
			[]*corev1.Pod{ownedPod("a", rsRef(webOld)), ownedPod("b", rsRef(webNew)), ownedPod("c", rsRef(webNew))}, 4, nil, ""},
		{"a replica set of its own", []*corev1.Pod{ownedPod("a", rsRef(lone))}, 2, nil, ""},
		{"a stateful set and a replication controller",
			[]*corev1.Pod{ownedPod("a", controllerRef("apps/v1", "StatefulSet", "db", "ss-db")),
				ownedPod("b", controllerRef("v1", "ReplicationController", "old", "rc-old"))}, 12, nil, ""},
		{"pods without a controller are unmanaged", []*corev1.Pod{ownedPod("a", nil), ownedPod("b", rsRef(lone))}, 2, []string{"a"}, ""},
		{"a replica set recreated under the same name is not the owner",
			[]*corev1.Pod{ownedPod("a", controllerRef("apps/v1", "ReplicaSet", "lone", "rs-gone"))}, 0, nil, "no matches for kind"},
		{"an unknown kind of controller is an error",
			[]*corev1.Pod{ownedPod("a", controllerRef("example.com/v1", "Widget", "w", "w-1"))}, 0, nil, "no matches for kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unmanaged, err := s.expected(context.Background(), tt.pods)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || len(unmanaged) != len(tt.unmanaged) {
				t.Errorf("expected %d unmanaged %v, want %d %v", got, unmanaged, tt.want, tt.unmanaged)
			}
		})
	}
}
