package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newNode(mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	if mutate != nil {
		mutate(n)
	}
	nodeStrategy{}.Default(n)
	return n
}

func TestDefaultNode(t *testing.T) {
	t.Run("podCIDRs follows podCIDR", func(t *testing.T) {
		n := newNode(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0/24" })
		eq(t, n.Spec.PodCIDRs, []string{"10.244.1.0/24"})
	})
	t.Run("podCIDR follows podCIDRs", func(t *testing.T) {
		n := newNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24"} })
		eq(t, n.Spec.PodCIDR, "10.244.1.0/24")
	})
	t.Run("allocatable defaults to capacity", func(t *testing.T) {
		n := newNode(func(n *corev1.Node) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
		})
		eq(t, n.Status.Allocatable.Cpu().String(), "4")
	})
}

func TestValidateNode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{"a bare node is valid", nil, nil},
		{"a tainted node with a pod CIDR is valid", func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.244.1.0/24"
			n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
		}, nil},
		{"pod CIDRs are CIDRs", func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0" },
			[]string{"spec.podCIDRs[0]: Invalid value"}},
		{"one pod CIDR per IP family", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.245.1.0/24"} },
			[]string{"spec.podCIDRs: Invalid value"}},
		{"taint key is a qualified name", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "bad key", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"spec.taints[0].key: Invalid value"}},
		{"taint effect is required", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k"}} },
			[]string{"spec.taints[0].effect: Required value"}},
		{"taint effect is supported", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "NoRun"}} },
			[]string{"spec.taints[0].effect: Unsupported value"}},
		{"taint key and effect are unique", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Value: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Value: "b", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"spec.taints[1]: Duplicate value"}},
		{"a key may carry two effects", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Effect: corev1.TaintEffectNoExecute}}
		}, nil},
		{"capacity is not negative", func(n *corev1.Node) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}
		}, []string{"status.capacity.memory: Invalid value", "status.allocatable.memory: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, nodeStrategy{}.Validate(newNode(tt.mutate)), tt.want...)
		})
	}
}

func TestValidateNodeUpdate(t *testing.T) {
	withCIDR := func(cidr string) func(*corev1.Node) { return func(n *corev1.Node) { n.Spec.PodCIDR = cidr } }
	tests := []struct {
		name     string
		old, new func(*corev1.Node)
		want     []string
	}{
		{"a pod CIDR may be set once", nil, withCIDR("10.244.1.0/24"), nil},
		{"a pod CIDR may not change", withCIDR("10.244.1.0/24"), func(n *corev1.Node) {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
		}, []string{"spec.podCIDRs: Forbidden"}},
		{"a changed podCIDR must agree with podCIDRs", withCIDR("10.244.1.0/24"), withCIDR("10.244.2.0/24"),
			[]string{"spec.podCIDR: Invalid value"}},
		{"taints may change", nil, func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}} }, nil},
		{"the provider ID may not change once set", func(n *corev1.Node) { n.Spec.ProviderID = "a" }, func(n *corev1.Node) { n.Spec.ProviderID = "b" },
			[]string{"spec.providerID: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newNode(tt.old)
			n := old.DeepCopy()
			tt.new(n)
			nodeStrategy{}.Default(n)
			checkErrs(t, nodeStrategy{}.ValidateUpdate(n, old), tt.want...)
		})
	}
	t.Run("status writes are checked the same way", func(t *testing.T) {
		old := newNode(nil)
		n := old.DeepCopy()
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.2"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.2"}}
		checkErrs(t, nodeStrategy{}.ValidateStatusUpdate(n, old), "status.addresses[1]: Duplicate value")
	})
}
