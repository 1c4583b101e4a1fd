package printers

import (
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilptr "k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// DeviceClass columns: Name, Age.
func DeviceClass() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{nameColumn(), ageColumn()}, func(c *resourcev1.DeviceClass, now time.Time) []interface{} {
		return []interface{}{c.Name, since(c.CreationTimestamp, now)}
	})
}

// ResourceClaim columns: Name, State, Age.
func ResourceClaim() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("State", "string", "A summary of the current state (allocated, pending, reserved, etc.)."),
		ageColumn(),
	}, func(c *resourcev1.ResourceClaim, now time.Time) []interface{} {
		return []interface{}{c.Name, resourceClaimState(c), since(c.CreationTimestamp, now)}
	})
}

// resourceClaimState is "pending", "allocated", "allocated,reserved", with
// "deleted" first for a claim being deleted.
func resourceClaimState(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	switch {
	case c.Status.Allocation != nil:
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		}
	case c.DeletionTimestamp == nil:
		states = append(states, "pending")
	}
	return strings.Join(states, ",")
}

// ResourceClaimTemplate columns: Name, Age.
func ResourceClaimTemplate() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{nameColumn(), ageColumn()}, func(t *resourcev1.ResourceClaimTemplate, now time.Time) []interface{} {
		return []interface{}{t.Name, since(t.CreationTimestamp, now)}
	})
}

// ResourceSlice columns: Name, Node, Driver, Pool, Age.
func ResourceSlice() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Node", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["nodeName"]),
		column("Driver", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["driver"]),
		column("Pool", "string", resourcev1.ResourcePool{}.SwaggerDoc()["name"]),
		ageColumn(),
	}, func(s *resourcev1.ResourceSlice, now time.Time) []interface{} {
		return []interface{}{s.Name, utilptr.Deref(s.Spec.NodeName, ""), s.Spec.Driver, s.Spec.Pool.Name, since(s.CreationTimestamp, now)}
	})
}
