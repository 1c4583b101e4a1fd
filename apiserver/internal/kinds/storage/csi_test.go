package storage

import (
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newCSIDriver() *storagev1.CSIDriver {
	return &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "hostpath.csi.k8s.io"}}
}

func TestCSIDriverDefaults(t *testing.T) {
	d := newCSIDriver()
	CSIDrivers().Strategy.Default(d)
	s := d.Spec
	if !*s.AttachRequired || *s.PodInfoOnMount || *s.StorageCapacity || *s.RequiresRepublish || *s.SELinuxMount || *s.PreventPodSchedulingIfMissing {
		t.Errorf("flags defaulted wrong: %+v", s)
	}
	if *s.FSGroupPolicy != storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy || len(s.VolumeLifecycleModes) != 1 || s.VolumeLifecycleModes[0] != storagev1.VolumeLifecyclePersistent {
		t.Errorf("fsGroupPolicy %v, modes %v", *s.FSGroupPolicy, s.VolumeLifecycleModes)
	}
}

func TestCSIDriverValidate(t *testing.T) {
	kindstest.Create(t, CSIDrivers().Strategy, newCSIDriver, []kindstest.Case[*storagev1.CSIDriver]{
		{Name: "defaulted driver is valid", Mutate: func(*storagev1.CSIDriver) {}},
		{Name: "token requests per audience are valid", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "a", ExpirationSeconds: ptr.To[int64](3600)}, {Audience: ""}}
		}},
		{Name: "unknown fsGroupPolicy is not supported", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.FSGroupPolicy = ptr.To(storagev1.FSGroupPolicy("Sometimes"))
		}, Path: "spec.fsGroupPolicy", Type: field.ErrorTypeNotSupported},
		{Name: "unknown lifecycle mode is not supported", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{"Forever"}
		}, Path: "spec.volumeLifecycleModes", Type: field.ErrorTypeNotSupported},
		{Name: "one token per audience", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "a"}, {Audience: "a"}}
		}, Path: "spec.tokenRequests[1].audience", Type: field.ErrorTypeDuplicate},
		{Name: "tokens live ten minutes at least", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "a", ExpirationSeconds: ptr.To[int64](60)}}
		}, Path: "spec.tokenRequests[0].expirationSeconds", Type: field.ErrorTypeInvalid},
		{Name: "update period is ten seconds at least", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.NodeAllocatableUpdatePeriodSeconds = ptr.To[int64](5)
		}, Path: "spec.nodeAllocatableUpdatePeriodSeconds", Type: field.ErrorTypeInvalid},
		{Name: "tokens in secrets need token requests", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.ServiceAccountTokenInSecrets = ptr.To(true)
		}, Path: "spec.serviceAccountTokenInSecrets", Type: field.ErrorTypeInvalid},
	})
}

func TestCSIDriverUpdate(t *testing.T) {
	kindstest.Update(t, CSIDrivers().Strategy, newCSIDriver, "", []kindstest.Case[*storagev1.CSIDriver]{
		{Name: "podInfoOnMount may change", Mutate: func(d *storagev1.CSIDriver) { d.Spec.PodInfoOnMount = ptr.To(true) }},
		{Name: "attachRequired is immutable", Mutate: func(d *storagev1.CSIDriver) { d.Spec.AttachRequired = ptr.To(false) },
			Path: "spec.attachedRequired", Type: field.ErrorTypeInvalid},
		{Name: "lifecycle modes are immutable", Mutate: func(d *storagev1.CSIDriver) {
			d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecycleEphemeral}
		}, Path: "spec.volumeLifecycleModes", Type: field.ErrorTypeInvalid},
	})
}

func newCSINode() *storagev1.CSINode {
	return &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: "hostpath.csi.k8s.io", NodeID: "node-a", TopologyKeys: []string{"topology.hostpath.csi/node"},
			Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To[int32](10)},
		}}},
	}
}

func TestCSINodeValidate(t *testing.T) {
	kindstest.Create(t, CSINodes().Strategy, newCSINode, []kindstest.Case[*storagev1.CSINode]{
		{Name: "node with a driver is valid", Mutate: func(*storagev1.CSINode) {}},
		{Name: "driver name is required", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers[0].Name = "" }, Path: "spec.drivers[0].name", Type: field.ErrorTypeRequired},
		{Name: "node id is required", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers[0].NodeID = "" }, Path: "spec.drivers[0].nodeID", Type: field.ErrorTypeRequired},
		{Name: "allocatable count may not be negative", Mutate: func(n *storagev1.CSINode) {
			n.Spec.Drivers[0].Allocatable.Count = ptr.To[int32](-1)
		}, Path: "spec.drivers[0].allocatable.count", Type: field.ErrorTypeInvalid},
		{Name: "drivers may not repeat", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers = append(n.Spec.Drivers, n.Spec.Drivers[0]) },
			Path: "spec.drivers[1].name", Type: field.ErrorTypeDuplicate},
		{Name: "topology keys are qualified names", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers[0].TopologyKeys = []string{"a b"} },
			Path: "spec.drivers[0]", Type: field.ErrorTypeInvalid},
	})
}

func TestCSINodeUpdate(t *testing.T) {
	kindstest.Update(t, CSINodes().Strategy, newCSINode, "", []kindstest.Case[*storagev1.CSINode]{
		{Name: "allocatable count may change", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers[0].Allocatable.Count = ptr.To[int32](20) }},
		{Name: "a driver may be added", Mutate: func(n *storagev1.CSINode) {
			n.Spec.Drivers = append(n.Spec.Drivers, storagev1.CSINodeDriver{Name: "other.csi.k8s.io", NodeID: "a"})
		}},
		{Name: "a registered driver's node id is immutable", Mutate: func(n *storagev1.CSINode) { n.Spec.Drivers[0].NodeID = "other" },
			Path: "spec.drivers", Type: field.ErrorTypeInvalid},
	})
}

func TestCSINodeStatus(t *testing.T) {
	s := CSINodes().Strategy
	n := newCSINode()
	n.Status.StorageHealth = []storagev1.StorageHealth{{Name: "hostpath.csi.k8s.io", HealthConditions: []storagev1.StorageHealthCondition{
		{Status: storagev1.StorageDegraded, Reason: "DiskSlow"}}}}
	kindstest.WantErr(t, s.ValidateStatusUpdate(n, newCSINode()), "", "")
	n.Status.StorageHealth[0].HealthConditions[0].Reason = ""
	kindstest.WantErr(t, s.ValidateStatusUpdate(n, newCSINode()), "status.storageHealth[0].healthConditions[0].reason", field.ErrorTypeRequired)
}

func newVolumeAttachment() *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-123"},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "hostpath.csi.k8s.io", NodeName: "node-a",
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-1")}},
	}
}

func TestVolumeAttachmentValidate(t *testing.T) {
	kindstest.Create(t, VolumeAttachments().Strategy, newVolumeAttachment, []kindstest.Case[*storagev1.VolumeAttachment]{
		{Name: "attachment of a PV is valid", Mutate: func(*storagev1.VolumeAttachment) {}},
		{Name: "attacher is required", Mutate: func(va *storagev1.VolumeAttachment) { va.Spec.Attacher = "" }, Path: "spec.attacher", Type: field.ErrorTypeRequired},
		{Name: "a source is required", Mutate: func(va *storagev1.VolumeAttachment) { va.Spec.Source = storagev1.VolumeAttachmentSource{} },
			Path: "spec.source", Type: field.ErrorTypeRequired},
		{Name: "PV name may not be empty", Mutate: func(va *storagev1.VolumeAttachment) { va.Spec.Source.PersistentVolumeName = ptr.To("") },
			Path: "spec.source.persistentVolumeName", Type: field.ErrorTypeRequired},
		{Name: "node name must be a DNS subdomain", Mutate: func(va *storagev1.VolumeAttachment) { va.Spec.NodeName = "Node A" },
			Path: "spec.nodeName", Type: field.ErrorTypeInvalid},
	})
}

func TestVolumeAttachmentUpdate(t *testing.T) {
	s := VolumeAttachments().Strategy
	kindstest.Update(t, s, newVolumeAttachment, "", []kindstest.Case[*storagev1.VolumeAttachment]{
		{Name: "labels may change", Mutate: func(va *storagev1.VolumeAttachment) { va.Labels = map[string]string{"a": "b"} }},
		{Name: "spec is immutable", Mutate: func(va *storagev1.VolumeAttachment) { va.Spec.NodeName = "node-b" }, Path: "spec", Type: field.ErrorTypeInvalid},
	})
	va := newVolumeAttachment()
	va.Status.AttachError = &storagev1.VolumeError{ErrorCode: ptr.To[int32](-1)}
	kindstest.WantErr(t, s.ValidateStatusUpdate(va, newVolumeAttachment()), "status.attachError.errorCode", field.ErrorTypeInvalid)
}

func newCapacity() *storagev1.CSIStorageCapacity {
	q := resource.MustParse("10Gi")
	return &storagev1.CSIStorageCapacity{
		ObjectMeta:       metav1.ObjectMeta{Name: "csisc-1", Namespace: "kube-system"},
		StorageClassName: "fast",
		NodeTopology:     &metav1.LabelSelector{MatchLabels: map[string]string{"topology.hostpath.csi/node": "node-a"}},
		Capacity:         &q,
	}
}

func TestCSIStorageCapacityValidate(t *testing.T) {
	kindstest.Create(t, CSIStorageCapacities().Strategy, newCapacity, []kindstest.Case[*storagev1.CSIStorageCapacity]{
		{Name: "capacity is valid", Mutate: func(*storagev1.CSIStorageCapacity) {}},
		{Name: "class name is required", Mutate: func(c *storagev1.CSIStorageCapacity) { c.StorageClassName = "" }, Path: "storageClassName", Type: field.ErrorTypeInvalid},
		{Name: "capacity may not be negative", Mutate: func(c *storagev1.CSIStorageCapacity) { q := resource.MustParse("-1"); c.Capacity = &q },
			Path: "capacity", Type: field.ErrorTypeInvalid},
		{Name: "topology is a label selector", Mutate: func(c *storagev1.CSIStorageCapacity) {
			c.NodeTopology.MatchLabels = map[string]string{"bad key": "x"}
		}, Path: "nodeTopology.matchLabels", Type: field.ErrorTypeInvalid},
	})
}

func TestCSIStorageCapacityUpdate(t *testing.T) {
	kindstest.Update(t, CSIStorageCapacities().Strategy, newCapacity, "", []kindstest.Case[*storagev1.CSIStorageCapacity]{
		{Name: "capacity may change", Mutate: func(c *storagev1.CSIStorageCapacity) { q := resource.MustParse("5Gi"); c.Capacity = &q }},
		{Name: "class is immutable", Mutate: func(c *storagev1.CSIStorageCapacity) { c.StorageClassName = "slow" }, Path: "storageClassName", Type: field.ErrorTypeInvalid},
		{Name: "topology is immutable", Mutate: func(c *storagev1.CSIStorageCapacity) { c.NodeTopology = nil }, Path: "nodeTopology", Type: field.ErrorTypeInvalid},
	})
}

func newVAC() *storagev1.VolumeAttributesClass {
	return &storagev1.VolumeAttributesClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, DriverName: "hostpath.csi.k8s.io",
		Parameters: map[string]string{"iops": "1000"}}
}

func TestVolumeAttributesClassValidate(t *testing.T) {
	kindstest.Create(t, VolumeAttributesClasses().Strategy, newVAC, []kindstest.Case[*storagev1.VolumeAttributesClass]{
		{Name: "class is valid", Mutate: func(*storagev1.VolumeAttributesClass) {}},
		{Name: "driver is required", Mutate: func(c *storagev1.VolumeAttributesClass) { c.DriverName = "" }, Path: "driverName", Type: field.ErrorTypeRequired},
		{Name: "a parameter is required", Mutate: func(c *storagev1.VolumeAttributesClass) { c.Parameters = nil }, Path: "parameters", Type: field.ErrorTypeRequired},
	})
	kindstest.Update(t, VolumeAttributesClasses().Strategy, newVAC, "", []kindstest.Case[*storagev1.VolumeAttributesClass]{
		{Name: "labels may change", Mutate: func(c *storagev1.VolumeAttributesClass) { c.Labels = map[string]string{"tier": "gold"} }},
		{Name: "driver is immutable", Mutate: func(c *storagev1.VolumeAttributesClass) { c.DriverName = "other.csi" }, Path: "driverName", Type: field.ErrorTypeForbidden},
		{Name: "parameters are immutable", Mutate: func(c *storagev1.VolumeAttributesClass) { c.Parameters["iops"] = "5" }, Path: "parameters", Type: field.ErrorTypeForbidden},
	})
}
