package podworkers

import (
	"context"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"coracle.dev/kubelet/internal/volumes"
)

// TestSupplementalGroups checks the containers' extra groups and their
// order, as Kubernetes': the fsGroup, the pod's supplementalGroups, then
// the groups of the PersistentVolumes the pod mounts (not repeated).
func TestSupplementalGroups(t *testing.T) {
	claim := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "claim-uid"},
		Spec:       v1.PersistentVolumeClaimSpec{VolumeName: "pv"},
		Status:     v1.PersistentVolumeClaimStatus{Phase: v1.ClaimBound},
	}
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv", Annotations: map[string]string{"pv.beta.kubernetes.io/gid": "7000"}},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: t.TempDir()}},
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			ClaimRef:               &v1.ObjectReference{Namespace: "ns", Name: "data", UID: "claim-uid"},
		},
	}
	vols := &volumes.Manager{Dir: t.TempDir(), Client: fake.NewClientset(claim, pv)}
	m := New(Options{Volumes: vols})
	withClaim := func(sc *v1.PodSecurityContext) *v1.Pod {
		return &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"},
			Spec: v1.PodSpec{SecurityContext: sc, Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{
				PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
		}
	}
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		want []uint32
	}{
		{"no security context: the volume's group", withClaim(nil), []uint32{7000}},
		{"fsGroup first, then supplementalGroups, then the volume's",
			withClaim(&v1.PodSecurityContext{FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 4000}}), []uint32{2000, 3000, 4000, 7000}},
		{"a volume group the pod lists already is not repeated",
			withClaim(&v1.PodSecurityContext{SupplementalGroups: []int64{7000}}), []uint32{7000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := vols.MountClaims(context.Background(), tc.pod); err != nil {
				t.Fatal(err)
			}
			if got := m.supplementalGroups(tc.pod); !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
		})
	}
}
