package resource

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newClass() *resourcev1.DeviceClass {
	return &resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: "gpu.example.com"},
		Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "false"}}}}}
}

func TestDeviceClassValidate(t *testing.T) {
	kindstest.Create(t, DeviceClasses().Strategy, newClass, []kindstest.Case[*resourcev1.DeviceClass]{
		{Name: "class with a selector is valid", Mutate: func(*resourcev1.DeviceClass) {}},
		{Name: "a selector needs CEL", Mutate: func(c *resourcev1.DeviceClass) { c.Spec.Selectors[0].CEL = nil }, Path: "spec.selectors[0].cel", Type: field.ErrorTypeRequired},
		{Name: "a CEL selector needs an expression", Mutate: func(c *resourcev1.DeviceClass) { c.Spec.Selectors[0].CEL.Expression = "" },
			Path: "spec.selectors[0].cel.expression", Type: field.ErrorTypeRequired},
		{Name: "config needs opaque parameters", Mutate: func(c *resourcev1.DeviceClass) {
			c.Spec.Config = []resourcev1.DeviceClassConfiguration{{}}
		}, Path: "spec.config[0].opaque", Type: field.ErrorTypeRequired},
	})
	kindstest.Update(t, DeviceClasses().Strategy, newClass, "", []kindstest.Case[*resourcev1.DeviceClass]{
		{Name: "selectors may change", Mutate: func(c *resourcev1.DeviceClass) { c.Spec.Selectors[0].CEL.Expression = "1 == 0" }},
	})
}

func newClaim() *resourcev1.ResourceClaim {
	return &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "gpu", Namespace: "default"},
		Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
			Name: "req-0", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "dra.example.com"}}}}}}
}

func TestResourceClaimDefaults(t *testing.T) {
	c := newClaim()
	ResourceClaims().Strategy.Default(c)
	if e := c.Spec.Devices.Requests[0].Exactly; e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
		t.Errorf("allocationMode %q count %d, want ExactCount 1", e.AllocationMode, e.Count)
	}
}

func TestResourceClaimValidate(t *testing.T) {
	kindstest.Create(t, ResourceClaims().Strategy, newClaim, []kindstest.Case[*resourcev1.ResourceClaim]{
		{Name: "claim for one device is valid", Mutate: func(*resourcev1.ResourceClaim) {}},
		{Name: "all devices of a class is valid", Mutate: func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests[0].Exactly.AllocationMode = resourcev1.DeviceAllocationModeAll
		}},
		{Name: "request names are DNS labels", Mutate: func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Name = "Req_0" },
			Path: "spec.devices.requests[0].name", Type: field.ErrorTypeInvalid},
		{Name: "request names are unique", Mutate: func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests = append(c.Spec.Devices.Requests, c.Spec.Devices.Requests[0])
		}, Path: "spec.devices.requests[1].name", Type: field.ErrorTypeDuplicate},
		{Name: "a request says what it wants", Mutate: func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly = nil },
			Path: "spec.devices.requests[0]", Type: field.ErrorTypeRequired},
		{Name: "the class is required", Mutate: func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly.DeviceClassName = "" },
			Path: "spec.devices.requests[0].exactly.deviceClassName", Type: field.ErrorTypeRequired},
		{Name: "the count is positive", Mutate: func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Exactly.Count = -1 },
			Path: "spec.devices.requests[0].exactly.count", Type: field.ErrorTypeInvalid},
		{Name: "unknown allocation mode is not supported", Mutate: func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests[0].Exactly.AllocationMode = "Some"
		}, Path: "spec.devices.requests[0].exactly.allocationMode", Type: field.ErrorTypeNotSupported},
	})
	kindstest.Update(t, ResourceClaims().Strategy, newClaim, "", []kindstest.Case[*resourcev1.ResourceClaim]{
		{Name: "labels may change", Mutate: func(c *resourcev1.ResourceClaim) { c.Labels = map[string]string{"a": "b"} }},
		{Name: "spec is immutable", Mutate: func(c *resourcev1.ResourceClaim) { c.Spec.Devices.Requests[0].Name = "req-1" }, Path: "spec", Type: field.ErrorTypeInvalid},
	})
}

func TestResourceClaimStatus(t *testing.T) {
	s := ResourceClaims().Strategy
	allocated := func() *resourcev1.ResourceClaim {
		c := newClaim()
		c.Status.Allocation = &resourcev1.AllocationResult{Devices: resourcev1.DeviceAllocationResult{Results: []resourcev1.DeviceRequestAllocationResult{
			{Request: "req-0", Driver: "dra.example.com", Pool: "node-a", Device: "gpu-0"}}}}
		return c
	}
	reserved := func() *resourcev1.ResourceClaim {
		c := allocated()
		c.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "web", UID: "u1"}}
		return c
	}
	tests := []struct {
		name      string
		old, next *resourcev1.ResourceClaim
		path      string
		typ       field.ErrorType
	}{
		{"an empty allocation is valid", newClaim(), func() *resourcev1.ResourceClaim {
			c := newClaim()
			c.Status.Allocation = &resourcev1.AllocationResult{}
			return c
		}(), "", ""},
		{"allocating and reserving is valid", newClaim(), reserved(), "", ""},
		{"reserving without an allocation is forbidden", newClaim(), func() *resourcev1.ResourceClaim {
			c := reserved()
			c.Status.Allocation = nil
			return c
		}(), "status.reservedFor", field.ErrorTypeForbidden},
		{"an allocation is not swapped", allocated(), func() *resourcev1.ResourceClaim {
			c := allocated()
			c.Status.Allocation.Devices.Results[0].Device = "gpu-1"
			return c
		}(), "status.allocation", field.ErrorTypeInvalid},
		{"a reserved allocation stays", reserved(), func() *resourcev1.ResourceClaim {
			c := newClaim()
			return c
		}(), "status.allocation", field.ErrorTypeForbidden},
		{"consumers are unique", allocated(), func() *resourcev1.ResourceClaim {
			c := reserved()
			c.Status.ReservedFor = append(c.Status.ReservedFor, c.Status.ReservedFor[0])
			return c
		}(), "status.reservedFor[1]", field.ErrorTypeDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kindstest.WantErr(t, s.ValidateStatusUpdate(tt.next, tt.old), tt.path, tt.typ)
		})
	}
}

func TestResourceClaimTemplate(t *testing.T) {
	newTemplate := func() *resourcev1.ResourceClaimTemplate {
		return &resourcev1.ResourceClaimTemplate{ObjectMeta: metav1.ObjectMeta{Name: "gpu", Namespace: "default"},
			Spec: resourcev1.ResourceClaimTemplateSpec{Spec: newClaim().Spec}}
	}
	kindstest.Create(t, ResourceClaimTemplates().Strategy, newTemplate, []kindstest.Case[*resourcev1.ResourceClaimTemplate]{
		{Name: "template is valid", Mutate: func(*resourcev1.ResourceClaimTemplate) {}},
		{Name: "the claim is validated", Mutate: func(t *resourcev1.ResourceClaimTemplate) {
			t.Spec.Spec.Devices.Requests[0].Exactly.DeviceClassName = ""
		},
			Path: "spec.spec.devices.requests[0].exactly.deviceClassName", Type: field.ErrorTypeRequired},
	})
	kindstest.Update(t, ResourceClaimTemplates().Strategy, newTemplate, "", []kindstest.Case[*resourcev1.ResourceClaimTemplate]{
		{Name: "labels may change", Mutate: func(t *resourcev1.ResourceClaimTemplate) { t.Labels = map[string]string{"a": "b"} }},
		{Name: "spec is immutable", Mutate: func(t *resourcev1.ResourceClaimTemplate) { t.Spec.Spec.Devices.Requests[0].Name = "x" }, Path: "spec", Type: field.ErrorTypeInvalid},
	})
}

func newSlice() *resourcev1.ResourceSlice {
	return &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "node-a-gpus"},
		Spec: resourcev1.ResourceSliceSpec{Driver: "dra.example.com", NodeName: ptr.To("node-a"),
			Pool: resourcev1.ResourcePool{Name: "node-a", Generation: 1, ResourceSliceCount: 1}}}
}

func TestResourceSlice(t *testing.T) {
	kindstest.Create(t, ResourceSlices().Strategy, newSlice, []kindstest.Case[*resourcev1.ResourceSlice]{
		{Name: "empty pool of a node is valid", Mutate: func(*resourcev1.ResourceSlice) {}},
		{Name: "devices are valid", Mutate: func(s *resourcev1.ResourceSlice) {
			s.Spec.Devices = []resourcev1.Device{{Name: "gpu-0"}, {Name: "gpu-1"}}
		}},
		{Name: "the driver is required", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.Driver = "" }, Path: "spec.driver", Type: field.ErrorTypeRequired},
		{Name: "the pool name is required", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.Pool.Name = "" }, Path: "spec.pool.name", Type: field.ErrorTypeRequired},
		{Name: "a pool has slices", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.Pool.ResourceSliceCount = 0 }, Path: "spec.pool.resourceSliceCount", Type: field.ErrorTypeInvalid},
		{Name: "where the devices are is required", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.NodeName = nil }, Path: "spec", Type: field.ErrorTypeRequired},
		{Name: "only one of where", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.AllNodes = ptr.To(true) }, Path: "spec", Type: field.ErrorTypeInvalid},
		{Name: "device names are unique", Mutate: func(s *resourcev1.ResourceSlice) {
			s.Spec.Devices = []resourcev1.Device{{Name: "gpu-0"}, {Name: "gpu-0"}}
		},
			Path: "spec.devices[1].name", Type: field.ErrorTypeDuplicate},
	})
	kindstest.Update(t, ResourceSlices().Strategy, newSlice, "", []kindstest.Case[*resourcev1.ResourceSlice]{
		{Name: "devices may change", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.Devices = []resourcev1.Device{{Name: "device-0"}} }},
		{Name: "the node is immutable", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.NodeName = ptr.To("node-b") }, Path: "spec.nodeName", Type: field.ErrorTypeInvalid},
		{Name: "the driver is immutable", Mutate: func(s *resourcev1.ResourceSlice) { s.Spec.Driver = "other.example.com" }, Path: "spec.driver", Type: field.ErrorTypeInvalid},
	})
}

func TestDeviceTaintRule(t *testing.T) {
	newRule := func() *resourcev1.DeviceTaintRule {
		return &resourcev1.DeviceTaintRule{ObjectMeta: metav1.ObjectMeta{Name: "maintenance"},
			Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "testing", Effect: resourcev1.DeviceTaintEffectNone}}}
	}
	kindstest.Create(t, DeviceTaintRules().Strategy, newRule, []kindstest.Case[*resourcev1.DeviceTaintRule]{
		{Name: "rule is valid", Mutate: func(*resourcev1.DeviceTaintRule) {}},
		{Name: "the key is required", Mutate: func(r *resourcev1.DeviceTaintRule) { r.Spec.Taint.Key = "" }, Path: "spec.taint.key", Type: field.ErrorTypeRequired},
		{Name: "unknown effects are not supported", Mutate: func(r *resourcev1.DeviceTaintRule) { r.Spec.Taint.Effect = "Evict" },
			Path: "spec.taint.effect", Type: field.ErrorTypeNotSupported},
	})
	r := newRule()
	DeviceTaintRules().Strategy.Default(r)
	if r.Spec.Taint.TimeAdded == nil {
		t.Error("timeAdded not defaulted")
	}
}
