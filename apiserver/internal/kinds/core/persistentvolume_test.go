package core

import (
	"testing"
	"time"

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

// hostAffinity pins a volume to a node by its hostname label.
func hostAffinity(values ...string) *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: values}},
	}}}}
}

func TestDefaultPersistentVolume(t *testing.T) {
	pv := newPV(nil)
	eq(t, pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	eq(t, pv.Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	created := time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)
	persistentVolumeStrategy{now: func() time.Time { return created }}.PrepareForCreate(pv)
	eq(t, pv.Status.Phase, corev1.VolumePending)
	eq(t, pv.Status.LastPhaseTransitionTime, ptr.To(metav1.NewTime(created)))
}

// TestPersistentVolumeStatusPhaseTransition: the store stamps the time of
// a phase change the writer did not stamp, as upstream's status strategy.
func TestPersistentVolumeStatusPhaseTransition(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC))
	later := time.Date(2026, time.January, 2, 4, 0, 0, 0, time.UTC)
	client := metav1.NewTime(time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC))
	s := persistentVolumeStrategy{now: func() time.Time { return later }}
	tests := []struct {
		name  string
		phase corev1.PersistentVolumePhase
		stamp *metav1.Time
		want  *metav1.Time
	}{
		{"same phase, no time: the old time is kept", corev1.VolumePending, nil, &created},
		{"new phase, no time: now", corev1.VolumeBound, nil, ptr.To(metav1.NewTime(later))},
		{"new phase, the old time sent back: now", corev1.VolumeBound, &created, ptr.To(metav1.NewTime(later))},
		{"new phase, the writer's own time: kept", corev1.VolumeBound, &client, &client},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPV(nil)
			old.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &created}
			pv := old.DeepCopy()
			pv.Status = corev1.PersistentVolumeStatus{Phase: tt.phase, LastPhaseTransitionTime: tt.stamp}
			s.PrepareForSubresourceUpdate("status", pv, old)
			eq(t, pv.Status.LastPhaseTransitionTime, tt.want)
			checkErrs(t, s.ValidateSubresourceUpdate("status", pv, old))
		})
	}
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
		{"a local volume with node affinity is valid", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.Local = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk"}
			pv.Spec.NodeAffinity = hostAffinity("node-1")
		}, nil},
		{"node affinity needs required terms", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{} },
			[]string{"spec.nodeAffinity.required: Required value"}},
		{"node affinity values are label values", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = hostAffinity("not a label value") },
			[]string{"spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]: Invalid value"}},
		{"a csi driver name is a DNS subdomain", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.CSI = nil, &corev1.CSIPersistentVolumeSource{Driver: "bad_driver", VolumeHandle: "v"}
		}, []string{"spec.csi.driver: Invalid value"}},
		{"a csi secret names its namespace", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.CSI = nil, &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "v",
				NodePublishSecretRef: &corev1.SecretReference{Name: "creds"}}
		}, []string{"spec.csi.nodePublishSecretRef.namespace: Required value"}},
		{"a volume attributes class needs csi", func(pv *corev1.PersistentVolume) { pv.Spec.VolumeAttributesClassName = ptr.To("gold") },
			[]string{"spec.csi: Required value"}},
		{"a volume attributes class is not empty", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath, pv.Spec.CSI = nil, &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "v"}
			pv.Spec.VolumeAttributesClassName = ptr.To("")
		}, []string{"spec.volumeAttributesClassName: Required value"}},
		{"mount options by annotation only where mounts take options", func(pv *corev1.PersistentVolume) {
			pv.Annotations = map[string]string{"volume.beta.kubernetes.io/mount-options": "ro"}
		}, []string{"metadata.annotations.volume.beta.kubernetes.io/mount-options: Forbidden"}},
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
			[]string{"volumeMode: Invalid value"}},
		{"node affinity may be set once", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = hostAffinity("node-1") }, nil},
		{"the claim may be bound and the class changed", func(pv *corev1.PersistentVolume) {
			pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
			pv.Spec.StorageClassName = "standard"
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		}, nil},
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

// TestValidatePersistentVolumeAffinityUpdate: node affinity is fixed once
// set, but for a beta node label traded for its GA one, and an update
// keeps label values accepted before they were checked.
func TestValidatePersistentVolumeAffinityUpdate(t *testing.T) {
	withAffinity := func(key string, values ...string) *corev1.PersistentVolume {
		return newPV(func(pv *corev1.PersistentVolume) {
			pv.Spec.NodeAffinity = hostAffinity(values...)
			pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Key = key
		})
	}
	tests := []struct {
		name     string
		old, new *corev1.PersistentVolume
		want     []string
	}{
		{"unchanged", withAffinity(corev1.LabelHostname, "node-1"), withAffinity(corev1.LabelHostname, "node-1"), nil},
		{"another node", withAffinity(corev1.LabelHostname, "node-1"), withAffinity(corev1.LabelHostname, "node-2"),
			[]string{"nodeAffinity: Invalid value"}},
		{"removed", withAffinity(corev1.LabelHostname, "node-1"), newPV(nil), []string{"nodeAffinity: Invalid value"}},
		{"beta zone label to GA", withAffinity(corev1.LabelFailureDomainBetaZone, "z1"), withAffinity(corev1.LabelTopologyZone, "z1"), nil},
		{"GA zone label to beta", withAffinity(corev1.LabelTopologyZone, "z1"), withAffinity(corev1.LabelFailureDomainBetaZone, "z1"),
			[]string{"nodeAffinity: Invalid value"}},
		{"invalid values kept", withAffinity(corev1.LabelHostname, "not valid"), withAffinity(corev1.LabelHostname, "not valid"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, persistentVolumeStrategy{}.ValidateUpdate(tt.new, tt.old), tt.want...)
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
			[]string{"spec.resources[storage]: Required value"}},
		{"the storage request is positive", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, []string{"spec.resources[storage]: Invalid value"}},
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

// TestValidatePersistentVolumeClaimUpdate has the scenarios of upstream's
// TestValidatePersistentVolumeClaimUpdate that apply with its GA features
// (RecoverVolumeExpansionFailure, VolumeAttributesClass) on.
func TestValidatePersistentVolumeClaimUpdate(t *testing.T) {
	bound := func(c *corev1.PersistentVolumeClaim) {
		c.Status.Phase = corev1.ClaimBound
		c.Spec.VolumeName = "pv-1"
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	}
	size := func(q string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(q)
		}
	}
	both := func(fs ...func(*corev1.PersistentVolumeClaim)) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	class := func(name *string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = name }
	}
	beta := func(name string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: name}
		}
	}
	noBeta := func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, corev1.BetaStorageClassAnnotation) }
	vac := func(name *string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeAttributesClassName = name }
	}
	vacApplied := func(c *corev1.PersistentVolumeClaim) { c.Status.CurrentVolumeAttributesClassName = ptr.To("gold") }
	tests := []struct {
		name   string
		old    func(*corev1.PersistentVolumeClaim)
		update func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"valid-update-volumeName-only", nil, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-1" }, nil},
		{"valid-no-op-update", bound, func(*corev1.PersistentVolumeClaim) {}, nil},
		{"the bound volume may not change", bound, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-2" },
			[]string{"spec: Forbidden"}},
		{"invalid-update-change-resources-on-unbound-claim", nil, size("2Gi"), []string{"spec: Forbidden"}},
		{"invalid-update-change-access-modes-on-bound-claim", bound, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, []string{"spec: Forbidden"}},
		{"invalid-update-volume-mode-to-block", nil, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
		}, []string{"spec: Forbidden", "volumeMode: Invalid value"}},
		{"valid-update-mutable-annotation", nil, func(c *corev1.PersistentVolumeClaim) {
			c.Annotations = map[string]string{"description": "updated"}
		}, nil},
		{"valid-size-update-resize-enabled", bound, size("2Gi"), nil},
		{"invalid-size-update-resize-enabled: below status.capacity", bound, size("512Mi"),
			[]string{"spec.resources.requests.storage: Forbidden"}},
		{"valid-expand-shrink-resize-enabled: back down, above status.capacity", both(bound, size("3Gi")), size("2Gi"), nil},
		{"invalid-expand-shrink-to-status-resize-enabled", both(bound, size("3Gi")), size("1Gi"),
			[]string{"spec.resources.requests.storage: Forbidden"}},
		{"unbound-size-shrink-resize-enabled", size("2Gi"), size("1Gi"), []string{"spec: Forbidden"}},
		{"valid-upgrade-storage-class-annotation-to-spec", beta("fast"), both(class(ptr.To("fast")), noBeta), nil},
		{"valid-upgrade-nil-storage-class-spec-to-spec", nil, class(ptr.To("fast")), nil},
		{"invalid-upgrade-not-nil-storage-class-spec-to-spec", class(ptr.To("fast")), class(ptr.To("fast2")), []string{"spec: Forbidden"}},
		{"invalid-upgrade-to-nil-storage-class-spec-to-spec", class(ptr.To("fast")), class(nil), []string{"spec: Forbidden"}},
		{"valid-upgrade-storage-class-annotation-to-annotation-and-spec", beta("fast"), class(ptr.To("fast")), nil},
		{"invalid-upgrade-storage-class-annotation-to-annotation-and-spec", beta("fast"), class(ptr.To("fast2")), []string{"spec: Forbidden"}},
		{"invalid-upgrade-storage-class-annotation-to-spec (another class)", beta("fast"), both(class(ptr.To("fast2")), noBeta),
			[]string{"metadata.annotations.volume.beta.kubernetes.io/storage-class: Invalid value", "spec: Forbidden"}},
		{"invalid-change-storage-class-annotation-after-creation", beta("fast"), beta("fast2"),
			[]string{"metadata.annotations.volume.beta.kubernetes.io/storage-class: Invalid value"}},
		{"invalid-downgrade-storage-class-spec-to-annotation", class(ptr.To("fast")), both(class(nil), beta("fast")),
			[]string{"metadata.annotations.volume.beta.kubernetes.io/storage-class: Invalid value", "spec: Forbidden"}},
		{"valid-update-volume-attributes-class-from-nil", bound, vac(ptr.To("gold")), nil},
		{"valid-update-volume-attributes-class-to-nil", both(bound, vac(ptr.To("gold"))), vac(nil), nil},
		{"invalid-update-volume-attributes-class-to-nil-when-current-vac-set", both(bound, vac(ptr.To("gold")), vacApplied), vac(nil),
			[]string{"spec.volumeAttributesClassName: Forbidden"}},
		{"invalid-update-volume-attributes-class-to-empty-when-current-vac-set", both(bound, vac(ptr.To("gold")), vacApplied), vac(ptr.To("")),
			[]string{"spec.volumeAttributesClassName: Forbidden"}},
		{"invalid-update-volume-attributes-class-when-claim-not-bound", nil, vac(ptr.To("gold")), []string{"spec: Forbidden"}},
		{"allow-update-pvc-when-data-source-used", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
			normalizeDataSources(&c.Spec)
		}, func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"a": "b"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPVC(tt.old)
			pvc := old.DeepCopy()
			tt.update(pvc)
			// The store keeps the status of a write to the claim itself.
			pvc.Status = old.Status
			checkErrs(t, persistentVolumeClaimStrategy{}.ValidateUpdate(pvc, old), tt.want...)
		})
	}
}

func TestValidatePersistentVolumeClaimStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"a bound status", func(c *corev1.PersistentVolumeClaim) {
			c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: c.Spec.AccessModes,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
		}, nil},
		{"status capacity is not negative", func(c *corev1.PersistentVolumeClaim) {
			c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("-1Gi")}
		}, []string{"status.capacity[storage]: Invalid value"}},
		{"access modes are required, at upstream's path", func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil },
			[]string{"Spec.accessModes: Required value"}},
		{"resize statuses are known ones", func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
				corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInProgress,
				"example.com/other":    "Shrinking",
			}
		}, []string{"status.allocatedResourceStatuses: Unsupported value"}},
		{"allocated resources are storage among Kubernetes' own", func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi"), corev1.ResourceCPU: resource.MustParse("1")}
		}, []string{"status.allocatedResources: Unsupported value"}},
		{"allocated resources are not negative", func(c *corev1.PersistentVolumeClaim) {
			c.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("-2Gi")}
		}, []string{"status.allocatedResources[storage]: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPVC(nil)
			pvc := old.DeepCopy()
			tt.status(pvc)
			checkErrs(t, persistentVolumeClaimStrategy{}.ValidateStatusUpdate(pvc, old), tt.want...)
		})
	}
}

func TestPersistentVolumeClaimDataSources(t *testing.T) {
	group := ptr.To("snapshot.storage.k8s.io")
	tests := []struct {
		name     string
		ds       *corev1.TypedLocalObjectReference
		ref      *corev1.TypedObjectReference
		wantDS   *corev1.TypedLocalObjectReference
		wantRef  *corev1.TypedObjectReference
		wantErrs []string
	}{
		{"a claim as dataSource fills dataSourceRef",
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}, nil,
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"},
			&corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}, nil},
		{"a snapshot as dataSourceRef fills dataSource", nil,
			&corev1.TypedObjectReference{APIGroup: group, Kind: "VolumeSnapshot", Name: "snap"},
			&corev1.TypedLocalObjectReference{APIGroup: group, Kind: "VolumeSnapshot", Name: "snap"},
			&corev1.TypedObjectReference{APIGroup: group, Kind: "VolumeSnapshot", Name: "snap"}, nil},
		{"another kind in dataSource alone is dropped",
			&corev1.TypedLocalObjectReference{APIGroup: ptr.To("example.com"), Kind: "Populator", Name: "p"}, nil, nil, nil, nil},
		{"a dataSourceRef to another namespace stays alone", nil,
			&corev1.TypedObjectReference{APIGroup: group, Kind: "VolumeSnapshot", Name: "snap", Namespace: ptr.To("other")},
			nil, &corev1.TypedObjectReference{APIGroup: group, Kind: "VolumeSnapshot", Name: "snap", Namespace: ptr.To("other")}, nil},
		{"dataSource must match dataSourceRef",
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "a"},
			&corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "b"},
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "a"},
			&corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "b"}, []string{"spec: Invalid value"}},
		{"no dataSource beside a dataSourceRef to another namespace",
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "a"},
			&corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "a", Namespace: ptr.To("Other_NS")},
			&corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "a"},
			&corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "a", Namespace: ptr.To("Other_NS")},
			[]string{"spec: Invalid value", "spec.dataSourceRef.namespace: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := newPVC(func(c *corev1.PersistentVolumeClaim) { c.Spec.DataSource, c.Spec.DataSourceRef = tt.ds, tt.ref })
			persistentVolumeClaimStrategy{}.PrepareForCreate(pvc)
			eq(t, pvc.Spec.DataSource, tt.wantDS)
			eq(t, pvc.Spec.DataSourceRef, tt.wantRef)
			checkErrs(t, persistentVolumeClaimStrategy{}.Validate(pvc), tt.wantErrs...)
		})
	}
}

func TestPodEphemeralVolumeClaim(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}}}}}
	})
	eq(t, pod.Spec.Volumes[0].Ephemeral.VolumeClaimTemplate.Spec.VolumeMode, ptr.To(corev1.PersistentVolumeFilesystem))
	checkErrs(t, podStrategy{}.Validate(pod), "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources[storage]: Required value")
}

func TestPersistentVolumeWarnings(t *testing.T) {
	pv := newPV(func(pv *corev1.PersistentVolume) {
		pv.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "slow"}
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
	})
	eq(t, persistentVolumeStrategy{}.Warnings(pv), []string{
		`metadata.annotations[volume.beta.kubernetes.io/storage-class]: deprecated since v1.8; use "storageClassName" attribute instead`,
		"spec.persistentVolumeReclaimPolicy: The Recycle reclaim policy is deprecated. Instead, the recommended approach is to use dynamic provisioning.",
	})
	pvc := newPVC(func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1500m")
	})
	eq(t, persistentVolumeClaimStrategy{}.Warnings(pvc), []string{`spec.resources.requests[storage]: fractional byte value "1500m" is invalid, must be an integer`})
	eq(t, persistentVolumeClaimStrategy{}.Warnings(newPVC(nil)), []string(nil))
}
