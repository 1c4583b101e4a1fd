package replication

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func rc() *corev1.ReplicationController {
	lbls := map[string]string{"app": "web"}
	return &corev1.ReplicationController{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1", ResourceVersion: "7", Generation: 2,
			Labels: lbls, OwnerReferences: []metav1.OwnerReference{{Name: "x", UID: "u0"}}},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](3), MinReadySeconds: 5, Selector: lbls,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
		Status: corev1.ReplicationControllerStatus{
			Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 2,
			Conditions: []corev1.ReplicationControllerCondition{{
				Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota",
				LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			}},
		},
	}
}

func TestToReplicaSet(t *testing.T) {
	tests := []struct {
		name  string
		rc    func() *corev1.ReplicationController
		check func(t *testing.T, rs *appsv1.ReplicaSet)
	}{
		{"selector map becomes matchLabels", rc, func(t *testing.T, rs *appsv1.ReplicaSet) {
			if rs.Spec.Selector == nil || !reflect.DeepEqual(rs.Spec.Selector.MatchLabels, map[string]string{"app": "web"}) ||
				len(rs.Spec.Selector.MatchExpressions) != 0 {
				t.Errorf("selector %+v", rs.Spec.Selector)
			}
		}},
		{"metadata is the controller's, for owner references and status writes", rc, func(t *testing.T, rs *appsv1.ReplicaSet) {
			if !reflect.DeepEqual(rs.ObjectMeta, rc().ObjectMeta) {
				t.Errorf("metadata %+v", rs.ObjectMeta)
			}
		}},
		{"spec and status carry over", rc, func(t *testing.T, rs *appsv1.ReplicaSet) {
			if *rs.Spec.Replicas != 3 || rs.Spec.MinReadySeconds != 5 || rs.Spec.Template.Labels["tier"] != "front" ||
				rs.Status.ReadyReplicas != 2 || rs.Status.AvailableReplicas != 1 || rs.Status.ObservedGeneration != 2 {
				t.Errorf("spec %+v status %+v", rs.Spec, rs.Status)
			}
			if len(rs.Status.Conditions) != 1 || rs.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || rs.Status.Conditions[0].Message != "quota" {
				t.Errorf("conditions %+v", rs.Status.Conditions)
			}
		}},
		{"a missing template is an empty one", func() *corev1.ReplicationController {
			r := rc()
			r.Spec.Template = nil
			return r
		}, func(t *testing.T, rs *appsv1.ReplicaSet) {
			if !reflect.DeepEqual(rs.Spec.Template, corev1.PodTemplateSpec{}) {
				t.Errorf("template %+v", rs.Spec.Template)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, ToReplicaSet(tt.rc())) })
	}
}

func TestRoundTrip(t *testing.T) {
	want := rc()
	if got := FromReplicaSet(ToReplicaSet(rc())); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, want)
	}
}
