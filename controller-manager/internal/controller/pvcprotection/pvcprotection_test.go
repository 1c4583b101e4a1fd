package pvcprotection

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodUsesClaim(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "claim-uid"}}
	// ephemeralClaim is the claim of pod web's generic ephemeral volume
	// "scratch", owned by the pod.
	ephemeralClaim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: "ns", Name: "web-scratch",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web", UID: "pod-uid", Controller: ptr.To(true)}},
	}}
	pod := func(mod func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "pod-uid"},
			Spec: corev1.PodSpec{
				NodeName: "node-1",
				Volumes: []corev1.Volume{
					{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
					{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		if mod != nil {
			mod(p)
		}
		return p
	}
	tests := []struct {
		name  string
		pod   *corev1.Pod
		claim *corev1.PersistentVolumeClaim
		want  bool
	}{
		{"a running pod naming the claim", pod(nil), claim, true},
		{"a pending scheduled pod naming the claim", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), claim, true},
		{"a pod being deleted gracefully still uses it", pod(func(p *corev1.Pod) {
			p.DeletionTimestamp = ptr.To(metav1.Now())
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		}), claim, true},
		{"an unscheduled pod does not", pod(func(p *corev1.Pod) { p.Spec.NodeName = "" }), claim, false},
		{"a succeeded pod still does, until it is deleted", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), claim, true},
		{"a failed pod still does", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), claim, true},
		{"a pod of another namespace does not", pod(func(p *corev1.Pod) { p.Namespace = "other" }), claim, false},
		{"a pod naming another claim does not", pod(func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[:1] }), claim, false},
		{"the pod's ephemeral volume claim", pod(nil), ephemeralClaim, true},
		{"an ephemeral volume's name but another owner", pod(func(p *corev1.Pod) { p.UID = "another-pod" }), ephemeralClaim, false},
		{"a shut-down pod frees its ephemeral claim", pod(func(p *corev1.Pod) {
			p.DeletionTimestamp = ptr.To(metav1.Now())
			p.DeletionGracePeriodSeconds = ptr.To[int64](0)
		}), ephemeralClaim, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodUsesClaim(tt.pod, tt.claim); got != tt.want {
				t.Errorf("PodUsesClaim = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClaimNames(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "a", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
		}},
	}
	if got, want := ClaimNames(p), []string{"data", "web-scratch"}; !slices.Equal(got, want) {
		t.Errorf("ClaimNames = %v, want %v", got, want)
	}
}

func TestFinalizerNeeds(t *testing.T) {
	now := ptr.To(metav1.Now())
	tests := []struct {
		name                string
		deleting            bool
		finalizers          []string
		wantAdd, wantRemove bool
	}{
		{"new claim without the finalizer", false, nil, true, false},
		{"claim with it", false, []string{Finalizer}, false, false},
		{"claim being deleted, with it", true, []string{"other", Finalizer}, false, true},
		{"claim being deleted, without it", true, []string{"other"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Finalizers: tt.finalizers}}
			if tt.deleting {
				pvc.DeletionTimestamp = now
			}
			if needsFinalizer(pvc) != tt.wantAdd || deletionCandidate(pvc) != tt.wantRemove {
				t.Errorf("needsFinalizer %v, deletionCandidate %v; want %v, %v", needsFinalizer(pvc), deletionCandidate(pvc), tt.wantAdd, tt.wantRemove)
			}
		})
	}
}
