package storage

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local-path"},
		Provisioner: "rancher.io/local-path",
		Parameters:  map[string]string{"nodePath": "/data"},
	}
}

func TestStorageClassDefaults(t *testing.T) {
	sc := newClass()
	StorageClasses().Strategy.Default(sc)
	if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaimPolicy = %v, want Delete", sc.ReclaimPolicy)
	}
	if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("volumeBindingMode = %v, want Immediate", sc.VolumeBindingMode)
	}
	kept := newClass()
	kept.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
	kept.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
	StorageClasses().Strategy.Default(kept)
	if *kept.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *kept.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("set values were overwritten")
	}
}

func TestStorageClassValidate(t *testing.T) {
	kindstest.Create(t, StorageClasses().Strategy, newClass, []kindstest.Case[*storagev1.StorageClass]{
		{Name: "defaulted class is valid", Mutate: func(*storagev1.StorageClass) {}},
		{Name: "provisioner is required", Mutate: func(sc *storagev1.StorageClass) { sc.Provisioner = "" }, Path: "provisioner", Type: field.ErrorTypeRequired},
		{Name: "provisioner must be a qualified name", Mutate: func(sc *storagev1.StorageClass) { sc.Provisioner = "my provisioner" }, Path: "provisioner", Type: field.ErrorTypeInvalid},
		{Name: "provisioner may have upper case", Mutate: func(sc *storagev1.StorageClass) { sc.Provisioner = "kubernetes.io/AWS-EBS" }},
		{Name: "parameter keys may not be empty", Mutate: func(sc *storagev1.StorageClass) { sc.Parameters = map[string]string{"": "x"} }, Path: "parameters", Type: field.ErrorTypeInvalid},
		{Name: "Recycle is not a class reclaim policy", Mutate: func(sc *storagev1.StorageClass) {
			sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle)
		}, Path: "reclaimPolicy", Type: field.ErrorTypeNotSupported},
		{Name: "unknown binding mode is not supported", Mutate: func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingMode("Later"))
		}, Path: "volumeBindingMode", Type: field.ErrorTypeNotSupported},
		{Name: "topology values are required", Mutate: func(sc *storagev1.StorageClass) {
			sc.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "topology.kubernetes.io/zone"}}}}
		}, Path: "allowedTopologies[0].matchLabelExpressions[0].values", Type: field.ErrorTypeRequired},
		{Name: "topology terms are not repeated", Mutate: func(sc *storagev1.StorageClass) {
			term := corev1.TopologySelectorTerm{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "kubernetes.io/hostname", Values: []string{"node-1"}}}}
			sc.AllowedTopologies = []corev1.TopologySelectorTerm{term, term}
		}, Path: "allowedTopologies[1].matchLabelExpressions", Type: field.ErrorTypeDuplicate},
		{Name: "at most 512 parameters", Mutate: func(sc *storagev1.StorageClass) {
			for i := range 513 {
				sc.Parameters[fmt.Sprint("p", i)] = "v"
			}
		}, Path: "parameters", Type: field.ErrorTypeTooLong},
	})
}

func TestStorageClassUpdate(t *testing.T) {
	kindstest.Update(t, StorageClasses().Strategy, newClass, "", []kindstest.Case[*storagev1.StorageClass]{
		{Name: "labels may change", Mutate: func(sc *storagev1.StorageClass) { sc.Labels = map[string]string{"default": "yes"} }},
		{Name: "allowVolumeExpansion may change", Mutate: func(sc *storagev1.StorageClass) { sc.AllowVolumeExpansion = ptr.To(true) }},
		{Name: "provisioner is immutable", Mutate: func(sc *storagev1.StorageClass) { sc.Provisioner = "example.com/other" }, Path: "provisioner", Type: field.ErrorTypeInvalid},
		{Name: "parameters are immutable", Mutate: func(sc *storagev1.StorageClass) { sc.Parameters["nodePath"] = "/other" }, Path: "parameters", Type: field.ErrorTypeInvalid},
		{Name: "reclaimPolicy is immutable", Mutate: func(sc *storagev1.StorageClass) {
			sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
		}, Path: "reclaimPolicy", Type: field.ErrorTypeInvalid},
		{Name: "volumeBindingMode is immutable", Mutate: func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
		}, Path: "volumeBindingMode", Type: field.ErrorTypeInvalid},
	})
}
