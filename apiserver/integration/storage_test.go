package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

const (
	pvcProtection = "kubernetes.io/pvc-protection"
	pvProtection  = "kubernetes.io/pv-protection"
)

func storageClass(name string, isDefault bool, expand *bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: expand}
	if isDefault {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return sc
}

func claimOf(name string, class *string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			StorageClassName: class,
		},
	}
}

func hostPathVolume(name string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		},
	}
}

// TestStorageAdmission: DefaultStorageClass, StorageObjectInUseProtection
// and PersistentVolumeClaimResize on the real apiserver, with the
// validation of claim updates before them.
func TestStorageAdmission(t *testing.T) {
	c := start(t)
	cx := ctx(t)
	claims := c.client.CoreV1().PersistentVolumeClaims("default")
	classes := c.client.StorageV1().StorageClasses()
	for _, sc := range []*storagev1.StorageClass{
		storageClass("standard", true, ptr.To(true)),
		storageClass("fixed", false, ptr.To(false)),
	} {
		if _, err := classes.Create(cx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	create := func(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		t.Helper()
		got, err := claims.Create(cx, pvc, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create claim %s: %v", pvc.Name, err)
		}
		return got
	}
	// bind makes a claim Bound to a volume of its request's size, as the
	// PV controller would.
	bind := func(name string) {
		t.Helper()
		pvc, err := claims.Get(cx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pvc.Spec.VolumeName = "pv-" + name
		if pvc, err = claims.Update(cx, pvc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("set volumeName of %s: %v", name, err)
		}
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pvc.Spec.AccessModes,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}}
		if _, err := claims.UpdateStatus(cx, pvc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("bind %s: %v", name, err)
		}
	}
	resize := func(name, size string) error {
		t.Helper()
		patch := `{"spec":{"resources":{"requests":{"storage":"` + size + `"}}}}`
		_, err := claims.Patch(cx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}

	t.Run("a claim with no class gets the default class and the protection finalizer", func(t *testing.T) {
		got := create(claimOf("no-class", nil))
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "standard" {
			t.Errorf("storageClassName = %v, want standard", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
		}
		if !slices.Equal(got.Finalizers, []string{pvcProtection}) {
			t.Errorf("finalizers = %v, want [%s]", got.Finalizers, pvcProtection)
		}
	})
	t.Run(`a claim of class "" keeps it`, func(t *testing.T) {
		got := create(claimOf("empty-class", ptr.To("")))
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "" {
			t.Errorf("storageClassName = %v, want \"\"", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
		}
	})
	t.Run("a claim of a named class keeps it", func(t *testing.T) {
		if got := create(claimOf("named", ptr.To("fixed"))); ptr.Deref(got.Spec.StorageClassName, "") != "fixed" {
			t.Errorf("storageClassName = %v, want fixed", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
		}
	})
	t.Run("a new volume gets the protection finalizer once", func(t *testing.T) {
		pv := hostPathVolume("pv-1")
		pv.Finalizers = []string{pvProtection}
		got, err := c.client.CoreV1().PersistentVolumes().Create(cx, pv, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Finalizers, []string{pvProtection}) {
			t.Errorf("finalizers = %v, want [%s]", got.Finalizers, pvProtection)
		}
		if got.Status.Phase != corev1.VolumePending || got.Status.LastPhaseTransitionTime == nil {
			t.Errorf("status = %+v, want Pending since creation", got.Status)
		}
	})
	t.Run("growing an unbound claim is invalid", func(t *testing.T) {
		create(claimOf("pending", ptr.To("standard")))
		err := resize("pending", "2Gi")
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims") {
			t.Fatalf("err = %v, want 422 spec is immutable", err)
		}
	})
	t.Run("a bound claim of a class that does not expand may not grow", func(t *testing.T) {
		create(claimOf("fixed-claim", ptr.To("fixed")))
		bind("fixed-claim")
		err := resize("fixed-claim", "2Gi")
		want := `persistentvolumeclaims "fixed-claim" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("err = %v, want 403 %q", err, want)
		}
	})
	t.Run("a bound claim of an expandable class grows, and does not shrink below its capacity", func(t *testing.T) {
		create(claimOf("grow", nil))
		bind("grow")
		if err := resize("grow", "2Gi"); err != nil {
			t.Fatalf("grow: %v", err)
		}
		got, err := claims.Get(cx, "grow", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if q := got.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "2Gi" {
			t.Errorf("request = %s, want 2Gi", q.String())
		}
		err = resize("grow", "512Mi")
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity") {
			t.Fatalf("shrink: err = %v, want 422 field can not be less than status.capacity", err)
		}
		// Back down to above the capacity undoes an expansion that failed.
		if err := resize("grow", "1536Mi"); err != nil {
			t.Errorf("undo part of the expansion: %v", err)
		}
	})
	t.Run("the status subresource does not change the spec", func(t *testing.T) {
		r := c.do(t, http.MethodPatch, "/api/v1/namespaces/default/persistentvolumeclaims/grow/status", "application/merge-patch+json",
			[]byte(`{"spec":{"volumeName":"other"},"status":{"capacity":{"storage":"2Gi"}}}`))
		if r.code != http.StatusOK {
			t.Fatalf("status patch: %d %s", r.code, r.body)
		}
		got, err := claims.Get(cx, "grow", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if q := got.Status.Capacity[corev1.ResourceStorage]; got.Spec.VolumeName != "pv-grow" || q.String() != "2Gi" {
			t.Errorf("volumeName %q capacity %s, want pv-grow and 2Gi", got.Spec.VolumeName, q.String())
		}
	})
	t.Run("of two default classes the newest is the default", func(t *testing.T) {
		// Created in the same second as "standard" or after it: either by
		// time or by name, "aa-newer" comes first.
		if _, err := classes.Create(cx, storageClass("aa-newer", true, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := create(claimOf("second-default", nil)); ptr.Deref(got.Spec.StorageClassName, "") != "aa-newer" {
			t.Errorf("storageClassName = %v, want aa-newer", ptr.Deref(got.Spec.StorageClassName, "<nil>"))
		}
	})
}

// TestStorageAdmissionDisabled: --disable-admission-plugins turns the
// storage plugins off by their kube-apiserver names.
func TestStorageAdmissionDisabled(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) {
		cfg.DisableAdmissionPlugins = append(cfg.DisableAdmissionPlugins,
			server.AdmissionDefaultStorageClass, server.AdmissionStorageObjectInUseProtection, server.AdmissionPersistentVolumeClaimResize)
	}))
	cx := ctx(t)
	if _, err := c.client.StorageV1().StorageClasses().Create(cx, storageClass("standard", true, ptr.To(false)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	claims := c.client.CoreV1().PersistentVolumeClaims("default")
	got, err := claims.Create(cx, claimOf("data", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName != nil || len(got.Finalizers) != 0 {
		t.Errorf("storageClassName %v finalizers %v, want none", ptr.Deref(got.Spec.StorageClassName, "<nil>"), got.Finalizers)
	}
	// Without the resize plugin only validation judges: a bound claim of
	// a class that does not expand may grow.
	got.Spec.StorageClassName = ptr.To("standard")
	got.Spec.VolumeName = "pv-data"
	if got, err = claims.Update(cx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set class and volume: %v", err)
	}
	got.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	if _, err := claims.UpdateStatus(cx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := claims.Patch(cx, "data", types.MergePatchType, []byte(`{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("grow without the plugin: %v", err)
	}
	pv, err := c.client.CoreV1().PersistentVolumes().Create(cx, hostPathVolume("pv-data"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.Finalizers) != 0 {
		t.Errorf("volume finalizers %v, want none", pv.Finalizers)
	}
}

// TestKubectlGetStorage: the real kubectl prints PVs, claims and classes
// with Kubernetes' columns.
func TestKubectlGetStorage(t *testing.T) {
	c := start(t)
	cx := ctx(t)
	wffc := storageClass("local-path", true, ptr.To(true))
	wffc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
	if _, err := c.client.StorageV1().StorageClasses().Create(cx, wffc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.StorageV1().StorageClasses().Create(cx, storageClass("slow", false, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pv := hostPathVolume("pv-web")
	pv.Spec.StorageClassName = "slow"
	pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "web"}
	if _, err := c.client.CoreV1().PersistentVolumes().Create(cx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(cx, claimOf("web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	out := c.kubectlRun(t, "get", "pv,pvc,sc", "-n", "default", "-o", "wide")
	for _, want := range [][]string{
		{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE", "VOLUMEMODE"},
		{"persistentvolume/pv-web", "1Gi", "RWO", "Retain", "Pending", "default/web", "slow", "<unset>"},
		{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE", "VOLUMEMODE"},
		{"persistentvolumeclaim/web", "Pending", "local-path", "<unset>"},
		{"NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"},
		{"storageclass.storage.k8s.io/local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", "true"},
		{"storageclass.storage.k8s.io/slow", "rancher.io/local-path", "Delete", "Immediate", "false"},
	} {
		if !hasLine(out, want) {
			t.Errorf("no line with %q in kubectl's output:\n%s", want, out)
		}
	}
}

// hasLine reports whether a line of out holds fields in order, each
// separated by the spaces of kubectl's columns.
func hasLine(out string, fields []string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok {
			return true
		}
	}
	return false
}
