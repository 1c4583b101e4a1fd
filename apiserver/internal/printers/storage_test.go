package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func storage(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
}

func TestAccessModes(t *testing.T) {
	tests := []struct {
		name  string
		modes []corev1.PersistentVolumeAccessMode
		want  string
	}{
		{"none", nil, ""},
		{"one", []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}, "RWOP"},
		{"fixed order, each once", []corev1.PersistentVolumeAccessMode{
			corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod,
		}, "RWO,ROX,RWX,RWOP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := accessModes(tt.modes); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPersistentVolumeCells(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	tests := []struct {
		name string
		pv   func() corev1.PersistentVolume
		want []interface{}
	}{
		{"bound volume", func() corev1.PersistentVolume {
			return corev1.PersistentVolume{
				ObjectMeta: meta("pv-1"),
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      storage("10Gi"),
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data"},
					StorageClassName:              "standard",
					VolumeAttributesClassName:     ptr("gold"),
					VolumeMode:                    &block,
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			}
		}, []interface{}{"pv-1", "10Gi", "RWO", "Retain", "Bound", "default/data", "standard", "gold", "", "10d", "Block"}},
		{"available volume with unset optional fields", func() corev1.PersistentVolume {
			return corev1.PersistentVolume{
				ObjectMeta: meta("pv-2"),
				Status:     corev1.PersistentVolumeStatus{Phase: corev1.VolumeFailed, Reason: "RecyclerFailed"},
			}
		}, []interface{}{"pv-2", "0", "", "", "Failed", "", "", "<unset>", "RecyclerFailed", "10d", "<unset>"}},
		{"beta class annotation wins, deletion is Terminating", func() corev1.PersistentVolume {
			pv := corev1.PersistentVolume{
				ObjectMeta: meta("pv-3"),
				Spec:       corev1.PersistentVolumeSpec{StorageClassName: "standard"},
				Status:     corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
			}
			pv.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "legacy"}
			pv.DeletionTimestamp = agoPtr(time.Second)
			return pv
		}, []interface{}{"pv-3", "0", "", "", "Terminating", "", "legacy", "<unset>", "", "10d", "<unset>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv := tt.pv()
			checkCells(t, persistentVolumeCells(&pv, testNow()), tt.want)
		})
	}
}

func TestPersistentVolumeClaimCells(t *testing.T) {
	fs := corev1.PersistentVolumeFilesystem
	tests := []struct {
		name string
		pvc  func() corev1.PersistentVolumeClaim
		want []interface{}
	}{
		{"pending claim has no capacity or modes yet", func() corev1.PersistentVolumeClaim {
			return corev1.PersistentVolumeClaim{
				ObjectMeta: meta("data"),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: storage("1Gi")},
					StorageClassName: ptr("standard"),
				},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			}
		}, []interface{}{"data", "Pending", "", "", "", "standard", "<unset>", "10d", "<unset>"}},
		{"bound claim shows the volume's capacity and modes", func() corev1.PersistentVolumeClaim {
			return corev1.PersistentVolumeClaim{
				ObjectMeta: meta("data"),
				Spec: corev1.PersistentVolumeClaimSpec{
					Resources:                 corev1.VolumeResourceRequirements{Requests: storage("1Gi")},
					VolumeName:                "pv-1",
					StorageClassName:          ptr("standard"),
					VolumeAttributesClassName: ptr("gold"),
					VolumeMode:                &fs,
				},
				Status: corev1.PersistentVolumeClaimStatus{
					Phase:       corev1.ClaimBound,
					Capacity:    storage("10Gi"),
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
				},
			}
		}, []interface{}{"data", "Bound", "pv-1", "10Gi", "RWO,ROX", "standard", "gold", "10d", "Filesystem"}},
		{"beta class annotation wins, deletion is Terminating", func() corev1.PersistentVolumeClaim {
			pvc := corev1.PersistentVolumeClaim{
				ObjectMeta: meta("old"),
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("standard")},
				Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
			}
			pvc.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "legacy"}
			pvc.DeletionTimestamp = agoPtr(time.Second)
			return pvc
		}, []interface{}{"old", "Terminating", "", "", "", "legacy", "<unset>", "10d", "<unset>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := tt.pvc()
			checkCells(t, persistentVolumeClaimCells(&pvc, testNow()), tt.want)
		})
	}
}

func TestStorageClassCells(t *testing.T) {
	retain := corev1.PersistentVolumeReclaimRetain
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	tests := []struct {
		name string
		sc   storagev1.StorageClass
		want []interface{}
	}{
		{"defaults for unset fields", storagev1.StorageClass{ObjectMeta: meta("standard"), Provisioner: "rancher.io/local-path"},
			[]interface{}{"standard", "rancher.io/local-path", "Delete", "Immediate", false, "10d"}},
		{"default class is marked", storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{
				Name: "local", CreationTimestamp: ago(10 * 24 * time.Hour),
				Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
			},
			Provisioner: "rancher.io/local-path", ReclaimPolicy: &retain, VolumeBindingMode: &wait, AllowVolumeExpansion: ptr(true),
		}, []interface{}{"local (default)", "rancher.io/local-path", "Retain", "WaitForFirstConsumer", true, "10d"}},
		{"beta default annotation marks too", storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{
				Name: "old", CreationTimestamp: ago(10 * 24 * time.Hour),
				Annotations: map[string]string{"storageclass.beta.kubernetes.io/is-default-class": "true"},
			},
		}, []interface{}{"old (default)", "", "Delete", "Immediate", false, "10d"}},
		{"annotation other than true does not mark", storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{
				Name: "slow", CreationTimestamp: ago(10 * 24 * time.Hour),
				Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "false"},
			},
		}, []interface{}{"slow", "", "Delete", "Immediate", false, "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Alone in a list, a default class is the effective one.
			checkCells(t, storageClassRows([]*storagev1.StorageClass{&tt.sc}, testNow())[0], tt.want)
		})
	}
	t.Run("only the newest default is marked in a list, none alone", func(t *testing.T) {
		def := map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		older := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "older", CreationTimestamp: ago(48 * time.Hour), Annotations: def}}
		newer := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "newer", CreationTimestamp: ago(time.Hour), Annotations: def}}
		rows := storageClassRows([]*storagev1.StorageClass{older, newer}, testNow())
		if rows[0][0] != "older" || rows[1][0] != "newer (default)" {
			t.Errorf("names %v, %v; want older, newer (default)", rows[0][0], rows[1][0])
		}
		single, err := StorageClass().Row(newer)
		if err != nil || single[0] != "newer" {
			t.Errorf("a single default class prints as %v (%v), want its bare name", single[0], err)
		}
	})
}
