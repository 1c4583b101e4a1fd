package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/shared/testnet"
)

func TestNodeRegistrationStatusAndPodCIDR(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := node.Status
	addrs := map[v1.NodeAddressType]string{}
	for _, a := range st.Addresses {
		addrs[a.Type] = a.Address
	}
	if addrs[v1.NodeInternalIP] != "127.0.0.1" || addrs[v1.NodeHostName] == "" {
		t.Errorf("addresses %v", st.Addresses)
	}
	for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourcePods, v1.ResourceEphemeralStorage} {
		c, a := st.Capacity[r], st.Allocatable[r]
		if c.IsZero() || a.IsZero() || a.Cmp(c) > 0 {
			t.Errorf("%s: capacity %v allocatable %v", r, c.String(), a.String())
		}
	}
	if st.Capacity.Pods().Value() != 110 {
		t.Errorf("pods capacity %v", st.Capacity.Pods())
	}
	info := st.NodeInfo
	if !strings.HasPrefix(info.ContainerRuntimeVersion, "runc://1.") || info.KernelVersion == "" || info.KubeletVersion == "" || info.OSImage == "" {
		t.Errorf("nodeInfo %+v", info)
	}
	want := map[v1.NodeConditionType]v1.ConditionStatus{
		v1.NodeReady: v1.ConditionTrue, v1.NodeMemoryPressure: v1.ConditionFalse,
		v1.NodeDiskPressure: v1.ConditionFalse, v1.NodePIDPressure: v1.ConditionFalse,
	}
	for _, c := range st.Conditions {
		if w, ok := want[c.Type]; ok {
			if c.Status != w || c.Reason == "" {
				t.Errorf("condition %s: %s %s", c.Type, c.Status, c.Reason)
			}
			delete(want, c.Type)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing conditions %v", want)
	}
	// The node's events, as `kubectl describe node` lists them.
	eventually(t, 10*time.Second, "Starting and NodeReady events on the node", func() (bool, error) {
		list, err := n.client.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + n.name})
		if err != nil {
			return false, err
		}
		return hasEvent(list.Items, "Starting") && hasEvent(list.Items, "NodeReady") && hasEvent(list.Items, "NodeHasSufficientMemory"),
			fmt.Errorf("%d events", len(list.Items))
	})
	if st.DaemonEndpoints.KubeletEndpoint.Port == 0 || !strings.HasSuffix(n.kubelet.Addr(), ":"+itoa32(st.DaemonEndpoints.KubeletEndpoint.Port)) {
		t.Errorf("kubelet endpoint %d, serving on %s", st.DaemonEndpoints.KubeletEndpoint.Port, n.kubelet.Addr())
	}
	lease, err := n.client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.name, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != n.name {
		t.Fatalf("lease %+v: %v", lease, err)
	}

	// spec.podCIDR, once set, replaces --pod-cidr.
	other := testnet.FreePodCIDR(t, testnet.KubeletIntegration)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": other.String(), "podCIDRs": []string{other.String()}}})
	if _, err := n.client.CoreV1().Nodes().Patch(ctx, n.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "CNI configured for the node's podCIDR", func() (bool, error) {
		return n.kubelet.PodCIDR() == other.String(), nil
	})
	n.create(n.pod("in-new-cidr", sh("c", "exec sleep 3600")))
	p := n.waitRunning("in-new-cidr")
	if !other.Contains(parseIP(p.Status.PodIP)) {
		t.Errorf("pod IP %s not in the node's podCIDR %s", p.Status.PodIP, other)
	}
	// The leak check knows only the first CIDR.
	t.Cleanup(func() { n.cidr = other })
}

func itoa32(v int32) string {
	b, _ := json.Marshal(v)
	return string(b)
}
