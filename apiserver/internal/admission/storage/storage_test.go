package storage

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// classes is an in-memory Classes: the real one reads the watch cache,
// exercised by the integration tests.
type classes []*storagev1.StorageClass

func (c classes) Get(_ context.Context, name string) (*storagev1.StorageClass, error) {
	for _, sc := range c {
		if sc.Name == name {
			return sc, nil
		}
	}
	return nil, apierrors.NewNotFound(storagev1.Resource("storageclasses"), name)
}

func (c classes) List(context.Context) ([]*storagev1.StorageClass, error) { return c, nil }

// failing is a Classes that cannot be read.
type failing struct{}

func (failing) Get(context.Context, string) (*storagev1.StorageClass, error) {
	return nil, errors.New("storage unavailable")
}
func (failing) List(context.Context) ([]*storagev1.StorageClass, error) {
	return nil, errors.New("storage unavailable")
}

func class(name string, annotations map[string]string, created time.Time) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, CreationTimestamp: metav1.NewTime(created)}, Provisioner: name}
}

// TestDefaultStorageClass has the cases of Kubernetes'
// storageclass/setdefault admission_test.go, and the beta annotations.
func TestDefaultStorageClass(t *testing.T) {
	isDefault := map[string]string{IsDefaultStorageClassAnnotation: "true"}
	epoch := time.Date(2022, time.January, 1, 0, 0, 0, 0, time.UTC)
	default1 := class("default1", isDefault, time.Time{})
	default2 := class("default2", isDefault, time.Time{})
	falseDefault := class("nondefault1", map[string]string{IsDefaultStorageClassAnnotation: "false"}, time.Time{})
	noDefault := class("nondefault2", nil, time.Time{})
	emptyDefault := class("nondefault2", map[string]string{IsDefaultStorageClassAnnotation: ""}, time.Time{})
	newer := class("default1", isDefault, epoch.Add(time.Nanosecond))
	older := class("default2", isDefault, epoch)
	betaDefault := class("beta", map[string]string{BetaIsDefaultStorageClassAnnotation: "true"}, time.Time{})
	nonDefaults := classes{falseDefault, noDefault, emptyDefault}

	tests := []struct {
		name        string
		classes     Classes
		class       *string
		annotations map[string]string
		want        *string
		forbidden   bool
	}{
		{"no default, no modification of PVCs", nonDefaults, nil, nil, nil, false},
		{"one default, modify PVC with class=nil", append(classes{default1}, nonDefaults...), nil, nil, ptr.To("default1"), false},
		{"one default, no modification of PVC with class=''", append(classes{default1}, nonDefaults...), ptr.To(""), nil, ptr.To(""), false},
		{"one default, no modification of PVC with class='foo'", append(classes{default1}, nonDefaults...), ptr.To("foo"), nil, ptr.To("foo"), false},
		{"two defaults, no modification of PVC with class=''", append(classes{default1, default2}, nonDefaults...), ptr.To(""), nil, ptr.To(""), false},
		{"two defaults, no modification of PVC with class='foo'", append(classes{default1, default2}, nonDefaults...), ptr.To("foo"), nil, ptr.To("foo"), false},
		{"two defaults with same creation time, choose the one with smaller name", append(classes{default2, default1}, nonDefaults...), nil, nil, ptr.To("default1"), false},
		{"two defaults, choose the one with newer creation time", append(classes{older, newer}, nonDefaults...), nil, nil, ptr.To("default1"), false},
		{"the beta annotation marks a default", classes{betaDefault, noDefault}, nil, nil, ptr.To("beta"), false},
		{"a claim with the beta class annotation keeps it", classes{default1}, nil, map[string]string{corev1.BetaStorageClassAnnotation: "slow"}, nil, false},
		{"classes that cannot be read refuse the claim", failing{}, nil, nil, nil, true},
		{"a claim with a class does not read the classes", failing{}, ptr.To("foo"), nil, ptr.To("foo"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "claim", Namespace: "ns", Annotations: tt.annotations},
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: tt.class},
			}
			err := (&DefaultStorageClass{Classes: tt.classes}).AdmitCreate(context.Background(), pvc)
			if tt.forbidden != apierrors.IsForbidden(err) || (!tt.forbidden && err != nil) {
				t.Fatalf("err = %v, want forbidden %v", err, tt.forbidden)
			}
			if got := pvc.Spec.StorageClassName; !ptr.Equal(got, tt.want) {
				t.Errorf("storageClassName = %v, want %v", ptr.Deref(got, "<nil>"), ptr.Deref(tt.want, "<nil>"))
			}
		})
	}
}

// object is an API object with metadata.
type object interface {
	metav1.Object
	runtime.Object
}

// TestObjectInUseProtection has the PV and PVC cases of Kubernetes'
// storageobjectinuseprotection admission_test.go.
func TestObjectInUseProtection(t *testing.T) {
	tests := []struct {
		name string
		obj  object
		want []string
	}{
		{"persistentvolumeclaims: create -> add finalizer", &corev1.PersistentVolumeClaim{}, []string{PVCProtectionFinalizer}},
		{"persistentvolumeclaims: finalizer already exists -> no new finalizer",
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{PVCProtectionFinalizer}}}, []string{PVCProtectionFinalizer}},
		{"persistentvolumeclaims: other finalizers are kept",
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"example.com/keep"}}}, []string{"example.com/keep", PVCProtectionFinalizer}},
		{"persistentvolumes: create -> add finalizer", &corev1.PersistentVolume{}, []string{PVProtectionFinalizer}},
		{"persistentvolumes: finalizer already exists -> no new finalizer",
			&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{PVProtectionFinalizer}}}, []string{PVProtectionFinalizer}},
		{"other kinds are left alone", &corev1.Pod{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := (ObjectInUseProtection{}).AdmitCreate(context.Background(), tt.obj); err != nil {
				t.Fatal(err)
			}
			if got := tt.obj.GetFinalizers(); !slices.Equal(got, tt.want) {
				t.Errorf("finalizers = %v, want %v", got, tt.want)
			}
		})
	}
}

func claim(size, class string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim", Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{
			VolumeName: "volume1",
			Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	if class != "" {
		pvc.Spec.StorageClassName = &class
	}
	return pvc
}

// TestPersistentVolumeClaimResize has the cases of Kubernetes'
// persistentvolume/resize admission_test.go, and a few of its own.
func TestPersistentVolumeClaimResize(t *testing.T) {
	gold := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: ptr.To(true)}
	silver := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "silver"}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: ptr.To(false)}
	bronze := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bronze"}, Provisioner: "rancher.io/local-path"}
	const notExpandable = "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
	const notBound = "Only bound persistent volume claims can be expanded"
	bound, pending := corev1.ClaimBound, corev1.ClaimPending
	tests := []struct {
		name        string
		subresource string
		old, new    *corev1.PersistentVolumeClaim
		want        string // the Forbidden message; "" for admitted
	}{
		{"pvc-resize, update, no error", "", claim("1Gi", "gold", bound), claim("2Gi", "gold", bound), ""},
		{"pvc-resize, update, dynamically provisioned error (no class)", "", claim("1Gi", "", bound), claim("2Gi", "", bound), notExpandable},
		{"pvc-resize, update, dynamically provisioned error (class refuses)", "", claim("1Gi", "silver", bound), claim("2Gi", "silver", bound), notExpandable},
		{"a class that does not say allows no expansion", "", claim("1Gi", "bronze", bound), claim("2Gi", "bronze", bound), notExpandable},
		{"a class that does not exist allows no expansion", "", claim("1Gi", "platinum", bound), claim("2Gi", "platinum", bound), notExpandable},
		{"a changed class allows no expansion", "", claim("1Gi", "silver", bound), claim("2Gi", "gold", bound), notExpandable},
		{"PVC update with no change in size", "", claim("1Gi", "silver", pending), claim("1Gi", "silver", bound), ""},
		{"expand pvc in pending state", "", claim("1Gi", "silver", pending), claim("2Gi", "silver", pending), notBound},
		{"a smaller request is the validation's to judge", "", claim("2Gi", "silver", bound), claim("1Gi", "silver", bound), ""},
		{"the status subresource is not judged", "status", claim("1Gi", "silver", bound), claim("2Gi", "silver", bound), ""},
	}
	r := &PersistentVolumeClaimResize{Classes: classes{gold, silver, bronze}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.AdmitUpdate(context.Background(), tt.subresource, tt.new, tt.old)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want == "":
			case !apierrors.IsForbidden(err):
				t.Fatalf("err = %v, want Forbidden", err)
			case err.Error() != `persistentvolumeclaims "claim" is forbidden: `+tt.want:
				t.Errorf("err = %q, want the message %q", err, tt.want)
			}
		})
	}
}
