package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func newPV(mutate func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/pv-1"}},
		},
	}
	if mutate != nil {
		mutate(pv)
	}
	persistentVolumeStrategy{}.Default(pv)
	return pv
}

func TestDefaultPersistentVolume(t *testing.T) {
	pv := newPV(nil)
	eq(t, pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	eq(t, pv.Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	persistentVolumeStrategy{}.PrepareForCreate(pv)
	eq(t, pv.Status.Phase, corev1.VolumePending)
}

func TestValidatePersistentVolume(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PersistentVolume)
		want   []string
	}{
		{"a hostPath volume is valid", nil, nil},
		{"capacity is required", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil },
			[]string{"spec.capacity: Required value", "spec.capacity: Unsupported value"}},
		{"capacity is storage only", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceCPU] = resource.MustParse("1") },
			[]string{"spec.capacity: Unsupported value"}},
		{"capacity is positive", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") },
			[]string{"spec.capacity[storage]: Invalid value"}},
		{"access modes are required", func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil },
			[]string{"spec.accessModes: Required value"}},
		{"access modes are supported", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
		},
			[]string{"spec.accessModes: Unsupported value"}},
		{"ReadWriteOncePod stands alone", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce}
		}, []string{"spec.accessModes: Forbidden"}},
		{"a volume source is required", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil },
			[]string{"spec: Required value"}},
		{"one volume source only", func(pv *corev1.PersistentVolume) {
			pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/export"}
		}, []string{"spec.nfs: Forbidden"}},
		{"a local volume needs node affinity", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.Local = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}, []string{"spec.nodeAffinity: Required value"}},
		{"an nfs path is absolute", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.NFS = nil, &corev1.NFSVolumeSource{Server: "nfs", Path: "export"}
		}, []string{"spec.nfs.path: Invalid value"}},
		{"a csi volume names its driver and handle", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.CSI = nil, &corev1.CSIPersistentVolumeSource{}
		}, []string{"spec.csi.driver: Required value", "spec.csi.volumeHandle: Required value"}},
		{"reclaim policy is supported", func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" },
			[]string{"spec.persistentVolumeReclaimPolicy: Unsupported value"}},
		{"volume mode is supported", func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeMode("Raw")) },
			[]string{"spec.volumeMode: Unsupported value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv := newPV(nil)
			if tt.mutate != nil {
				tt.mutate(pv)
			}
			checkErrs(t, persistentVolumeStrategy{}.Validate(pv), tt.want...)
		})
	}
}

func TestValidatePersistentVolumeUpdate(t *testing.T) {
	tests := []struct {
		name   string
		update func(*corev1.PersistentVolume)
		want   []string
	}{
		{"capacity may change", func(pv *corev1.PersistentVolume) {
			pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, nil},
		{"the source is immutable", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/data/other" },
			[]string{"spec.persistentvolumesource: Forbidden"}},
		{"the volume mode is immutable", func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) },
			[]string{"spec.volumeMode: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPV(nil)
			pv := old.DeepCopy()
			tt.update(pv)
			checkErrs(t, persistentVolumeStrategy{}.ValidateUpdate(pv, old), tt.want...)
		})
	}
}

func newPVC(mutate func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if mutate != nil {
		mutate(pvc)
	}
	persistentVolumeClaimStrategy{}.Default(pvc)
	return pvc
}

func TestDefaultPersistentVolumeClaim(t *testing.T) {
	pvc := newPVC(nil)
	eq(t, pvc.Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	persistentVolumeClaimStrategy{}.PrepareForCreate(pvc)
	eq(t, pvc.Status.Phase, corev1.ClaimPending)
}

func TestValidatePersistentVolumeClaim(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"a claim is valid", nil, nil},
		{"access modes are required", func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil },
			[]string{"spec.accessModes: Required value"}},
		{"a storage request is required", func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil },
			[]string{"spec.resources.requests[storage]: Required value"}},
		{"the storage request is positive", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, []string{"spec.resources.requests[storage]: Invalid value"}},
		{"the storage class is a DNS subdomain", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr.To("Fast_SSD") },
			[]string{"spec.storageClassName: Invalid value"}},
		{"the selector is valid", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}
		}, []string{"spec.selector.matchExpressions[0].operator: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := newPVC(nil)
			if tt.mutate != nil {
				tt.mutate(pvc)
			}
			checkErrs(t, persistentVolumeClaimStrategy{}.Validate(pvc), tt.want...)
		})
	}
}

func TestValidatePersistentVolumeClaimUpdate(t *testing.T) {
	bound := func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimBound; c.Spec.VolumeName = "pv-1" }
	grow := func(size string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(size)
		}
	}
	tests := []struct {
		name   string
		old    func(*corev1.PersistentVolumeClaim)
		update func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"the PV controller may bind the claim once", nil, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-1" }, nil},
		{"the bound volume may not change", bound, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-2" },
			[]string{"spec: Forbidden"}},
		{"a bound claim may grow", bound, grow("2Gi"), nil},
		{"a bound claim may not shrink", bound, grow("512Mi"), []string{"spec.resources.requests.storage: Forbidden"}},
		{"a pending claim may not be resized", nil, grow("2Gi"), []string{"spec: Forbidden"}},
		{"access modes are immutable", nil, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, []string{"spec: Forbidden"}},
		{"a storage class may be filled in", nil, func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr.To("standard") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPVC(tt.old)
			pvc := old.DeepCopy()
			tt.update(pvc)
			checkErrs(t, persistentVolumeClaimStrategy{}.ValidateUpdate(pvc, old), tt.want...)
		})
	}
	t.Run("status capacity is not negative", func(t *testing.T) {
		old := newPVC(nil)
		pvc := old.DeepCopy()
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("-1Gi")}
		checkErrs(t, persistentVolumeClaimStrategy{}.ValidateStatusUpdate(pvc, old), "status.capacity[storage]: Invalid value")
	})
}

func TestPodEphemeralVolumeClaim(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}}}}}
	})
	eq(t, pod.Spec.Volumes[0].Ephemeral.VolumeClaimTemplate.Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	checkErrs(t, podStrategy{}.Validate(pod), "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources.requests[storage]: Required value")
}
