package printers

import (
	"strings"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilptr "k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// CSIDriver columns: Name, AttachRequired, PodInfoOnMount,
// StorageCapacity, TokenRequests, RequiresRepublish, Modes, Age.
func CSIDriver() *apiresource.Table {
	doc := storagev1.CSIDriverSpec{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("AttachRequired", "boolean", doc["attachRequired"]),
		column("PodInfoOnMount", "boolean", doc["podInfoOnMount"]),
		column("StorageCapacity", "boolean", doc["storageCapacity"]),
		column("TokenRequests", "string", doc["tokenRequests"]),
		column("RequiresRepublish", "boolean", doc["requiresRepublish"]),
		column("Modes", "string", doc["volumeLifecycleModes"]),
		ageColumn(),
	}, csiDriverCells)
}

// csiDriverCells prints unset flags as their API defaults.
func csiDriverCells(d *storagev1.CSIDriver, now time.Time) []interface{} {
	modes := make([]string, len(d.Spec.VolumeLifecycleModes))
	for i, m := range d.Spec.VolumeLifecycleModes {
		modes[i] = string(m)
	}
	modeCell := strings.Join(modes, ",")
	if modeCell == "" {
		modeCell = "<none>"
	}
	tokens := "<unset>"
	if d.Spec.TokenRequests != nil {
		audiences := make([]string, len(d.Spec.TokenRequests))
		for i, t := range d.Spec.TokenRequests {
			audiences[i] = t.Audience
		}
		tokens = strings.Join(audiences, ",")
	}
	return []interface{}{d.Name, utilptr.Deref(d.Spec.AttachRequired, true), utilptr.Deref(d.Spec.PodInfoOnMount, false),
		utilptr.Deref(d.Spec.StorageCapacity, false), tokens, utilptr.Deref(d.Spec.RequiresRepublish, false), modeCell,
		since(d.CreationTimestamp, now)}
}

// CSINode columns: Name, Drivers, Age.
func CSINode() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
		ageColumn(),
	}, func(n *storagev1.CSINode, now time.Time) []interface{} {
		return []interface{}{n.Name, int64(len(n.Spec.Drivers)), since(n.CreationTimestamp, now)}
	})
}

// VolumeAttachment columns: Name, Attacher, PV, Node, Attached, Age.
func VolumeAttachment() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Attacher", Type: "string", Format: "name", Description: storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["attacher"]},
		column("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
		column("Node", "string", storagev1.VolumeAttachmentSpec{}.SwaggerDoc()["nodeName"]),
		column("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
		ageColumn(),
	}, func(va *storagev1.VolumeAttachment, now time.Time) []interface{} {
		return []interface{}{va.Name, va.Spec.Attacher, utilptr.Deref(va.Spec.Source.PersistentVolumeName, ""), va.Spec.NodeName,
			va.Status.Attached, since(va.CreationTimestamp, now)}
	})
}

// CSIStorageCapacity columns: Name, StorageClassName, Capacity.
func CSIStorageCapacity() *apiresource.Table {
	doc := storagev1.CSIStorageCapacity{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("StorageClassName", "string", doc["storageClassName"]),
		column("Capacity", "string", doc["capacity"]),
	}, func(c *storagev1.CSIStorageCapacity, _ time.Time) []interface{} {
		capacity := "<unset>"
		if c.Capacity != nil {
			capacity = c.Capacity.String()
		}
		return []interface{}{c.Name, c.StorageClassName, capacity}
	})
}

// VolumeAttributesClass columns: Name, DriverName, Age.
func VolumeAttributesClass() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("DriverName", "string", storagev1.VolumeAttributesClass{}.SwaggerDoc()["driverName"]),
		ageColumn(),
	}, func(c *storagev1.VolumeAttributesClass, now time.Time) []interface{} {
		return []interface{}{c.Name, c.DriverName, since(c.CreationTimestamp, now)}
	})
}
