package storage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func wantErr(t *testing.T, errs field.ErrorList, path string, typ field.ErrorType) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Fatalf("want no errors, got %v", errs)
		}
		return
	}
	if len(errs) == 0 || errs[0].Field != path || errs[0].Type != typ {
		t.Fatalf("want %s at %s first, got %v", typ, path, errs)
	}
}

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
	tests := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted class is valid", func(*storagev1.StorageClass) {}, "", ""},
		{"provisioner is required", func(sc *storagev1.StorageClass) { sc.Provisioner = "" }, "provisioner", field.ErrorTypeRequired},
		{"provisioner must be a qualified name", func(sc *storagev1.StorageClass) { sc.Provisioner = "my provisioner" }, "provisioner", field.ErrorTypeInvalid},
		{"provisioner may have upper case", func(sc *storagev1.StorageClass) { sc.Provisioner = "kubernetes.io/AWS-EBS" }, "", ""},
		{"parameter keys may not be empty", func(sc *storagev1.StorageClass) { sc.Parameters = map[string]string{"": "x"} }, "parameters", field.ErrorTypeInvalid},
		{"Recycle is not a class reclaim policy", func(sc *storagev1.StorageClass) {
			sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle)
		}, "reclaimPolicy", field.ErrorTypeNotSupported},
		{"unknown binding mode is not supported", func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingMode("Later"))
		}, "volumeBindingMode", field.ErrorTypeNotSupported},
		{"topology values are required", func(sc *storagev1.StorageClass) {
			sc.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "topology.kubernetes.io/zone"}}}}
		}, "allowedTopologies[0].matchLabelExpressions[0].values", field.ErrorTypeRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newClass()
			tt.mutate(sc)
			s := StorageClasses().Strategy
			s.Default(sc)
			wantErr(t, s.Validate(sc), tt.path, tt.typ)
		})
	}
}

func TestStorageClassUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		path   string
		typ    field.ErrorType
	}{
		{"labels may change", func(sc *storagev1.StorageClass) { sc.Labels = map[string]string{"default": "yes"} }, "", ""},
		{"allowVolumeExpansion may change", func(sc *storagev1.StorageClass) { sc.AllowVolumeExpansion = ptr.To(true) }, "", ""},
		{"provisioner is immutable", func(sc *storagev1.StorageClass) { sc.Provisioner = "example.com/other" }, "provisioner", field.ErrorTypeForbidden},
		{"parameters are immutable", func(sc *storagev1.StorageClass) { sc.Parameters["nodePath"] = "/other" }, "parameters", field.ErrorTypeForbidden},
		{"reclaimPolicy is immutable", func(sc *storagev1.StorageClass) {
			sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
		}, "reclaimPolicy", field.ErrorTypeForbidden},
		{"volumeBindingMode is immutable", func(sc *storagev1.StorageClass) {
			sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
		}, "volumeBindingMode", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StorageClasses().Strategy
			old := newClass()
			s.Default(old)
			sc := old.DeepCopy()
			tt.mutate(sc)
			s.Default(sc)
			wantErr(t, s.ValidateUpdate(sc, old), tt.path, tt.typ)
		})
	}
}
