package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/admission"
	"coracle.dev/apiserver/internal/apiresource"
)

// Annotations marking the default StorageClass, GA and beta.
const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// PersistentVolume columns: Name, Capacity, Access Modes, Reclaim Policy,
// Status, Claim, StorageClass, VolumeAttributesClass, Reason, Age; wide
// VolumeMode.
func PersistentVolume() *apiresource.Table {
	spec := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Capacity", "string", spec["capacity"]),
		column("Access Modes", "string", spec["accessModes"]),
		column("Reclaim Policy", "string", spec["persistentVolumeReclaimPolicy"]),
		column("Status", "string", status["phase"]),
		column("Claim", "string", spec["claimRef"]),
		column("StorageClass", "string", "StorageClass of the pv"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		column("Reason", "string", status["reason"]),
		ageColumn(),
		wideColumn("VolumeMode", "string", spec["volumeMode"]),
	}, persistentVolumeCells)
}

func persistentVolumeCells(pv *corev1.PersistentVolume, now time.Time) []interface{} {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	class := pv.Spec.StorageClassName
	if c, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	return []interface{}{
		pv.Name,
		capacity.String(),
		accessModes(pv.Spec.AccessModes),
		string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase,
		claim,
		class,
		unsetIfNil(pv.Spec.VolumeAttributesClassName),
		pv.Status.Reason,
		since(pv.CreationTimestamp, now),
		volumeMode(pv.Spec.VolumeMode),
	}
}

// PersistentVolumeClaim columns: Name, Status, Volume, Capacity, Access
// Modes, StorageClass, VolumeAttributesClass, Age; wide VolumeMode.
func PersistentVolumeClaim() *apiresource.Table {
	spec := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", status["phase"]),
		column("Volume", "string", spec["volumeName"]),
		column("Capacity", "string", status["capacity"]),
		column("Access Modes", "string", status["accessModes"]),
		column("StorageClass", "string", "StorageClass of the pvc"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn(),
		wideColumn("VolumeMode", "string", spec["volumeMode"]),
	}, persistentVolumeClaimCells)
}

func persistentVolumeClaimCells(pvc *corev1.PersistentVolumeClaim, now time.Time) []interface{} {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	// Capacity and access modes are the bound volume's: none until bound.
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity, modes = q.String(), accessModes(pvc.Status.AccessModes)
	}
	class := ""
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []interface{}{
		pvc.Name,
		phase,
		pvc.Spec.VolumeName,
		capacity,
		modes,
		class,
		unsetIfNil(pvc.Spec.VolumeAttributesClassName),
		since(pvc.CreationTimestamp, now),
		volumeMode(pvc.Spec.VolumeMode),
	}
}

// accessModes abbreviates access modes in a fixed order, each once:
// "RWO,ROX,RWX,RWOP".
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := make(map[corev1.PersistentVolumeAccessMode]bool, len(modes))
	for _, m := range modes {
		has[m] = true
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has[m.mode] {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetIfNil(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

// StorageClass columns: Name, Provisioner, ReclaimPolicy,
// VolumeBindingMode, AllowVolumeExpansion, Age. In a list the effective
// default class (of those marked default, the newest) has " (default)"
// after its name; a single class is printed without it, as upstream's
// printers do.
func StorageClass() *apiresource.Table {
	doc := storagev1.StorageClass{}.SwaggerDoc()
	t := newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Provisioner", "string", doc["provisioner"]),
		column("ReclaimPolicy", "string", doc["reclaimPolicy"]),
		column("VolumeBindingMode", "string", doc["volumeBindingMode"]),
		column("AllowVolumeExpansion", "string", doc["allowVolumeExpansion"]),
		ageColumn(),
	}, func(sc *storagev1.StorageClass, now time.Time) []interface{} { return storageClassCells(sc, now, "") })
	t.ListRows = func(items []runtime.Object) ([][]interface{}, error) {
		classes := make([]*storagev1.StorageClass, len(items))
		for i, obj := range items {
			sc, ok := obj.(*storagev1.StorageClass)
			if !ok {
				return nil, fmt.Errorf("print %T as a StorageClass: wrong type", obj)
			}
			classes[i] = sc
		}
		return storageClassRows(classes, time.Now()), nil
	}
	return t
}

// storageClassRows are the cells of a list of classes, the effective
// default marked.
func storageClassRows(classes []*storagev1.StorageClass, now time.Time) [][]interface{} {
	effective := ""
	if def := admission.NewestDefault(classes, isDefaultClass); def != nil {
		effective = def.Name
	}
	rows := make([][]interface{}, len(classes))
	for i, sc := range classes {
		rows[i] = storageClassCells(sc, now, effective)
	}
	return rows
}

func isDefaultClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[defaultClassAnnotation] == "true" || sc.Annotations[betaDefaultClassAnnotation] == "true"
}

func storageClassCells(sc *storagev1.StorageClass, now time.Time, effectiveDefault string) []interface{} {
	name := sc.Name
	if effectiveDefault != "" && sc.Name == effectiveDefault {
		name += " (default)"
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	binding := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		binding = string(*sc.VolumeBindingMode)
	}
	expand := false
	if sc.AllowVolumeExpansion != nil {
		expand = *sc.AllowVolumeExpansion
	}
	return []interface{}{name, sc.Provisioner, reclaim, binding, expand, since(sc.CreationTimestamp, now)}
}
