package printers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, CreationTimestamp: ago(10 * 24 * time.Hour)}
}

func TestNodeCells(t *testing.T) {
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: s},
		}
	}
	tests := []struct {
		name string
		node func() corev1.Node
		want []interface{} // Status, Roles
	}{
		{"ready node", func() corev1.Node {
			return corev1.Node{Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}}
		}, []interface{}{"Ready", "<none>"}},
		{"ready condition false is NotReady", func() corev1.Node {
			return corev1.Node{Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionFalse)}}
		}, []interface{}{"NotReady", "<none>"}},
		{"ready condition unknown is NotReady", func() corev1.Node {
			return corev1.Node{Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionUnknown)}}
		}, []interface{}{"NotReady", "<none>"}},
		{"no ready condition is Unknown", func() corev1.Node {
			return corev1.Node{}
		}, []interface{}{"Unknown", "<none>"}},
		{"cordoned node adds SchedulingDisabled", func() corev1.Node {
			return corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}}
		}, []interface{}{"Ready,SchedulingDisabled", "<none>"}},
		{"cordoned node without status", func() corev1.Node {
			return corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}
		}, []interface{}{"Unknown,SchedulingDisabled", "<none>"}},
		{"roles come from both label forms, sorted, once each", func() corev1.Node {
			return corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
				"node-role.kubernetes.io/control-plane": "",
				"node-role.kubernetes.io/worker":        "true",
				"kubernetes.io/role":                    "worker",
				"node-role.kubernetes.io/":              "",
				"kubernetes.io/hostname":                "n1",
			}}}
		}, []interface{}{"Unknown", "control-plane,worker"}},
		{"empty kubernetes.io/role is no role", func() corev1.Node {
			return corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"kubernetes.io/role": ""}}}
		}, []interface{}{"Unknown", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node()
			checkCells(t, nodeCells(&n, testNow())[1:3], tt.want)
		})
	}
}

func TestNodeWideCells(t *testing.T) {
	tests := []struct {
		name string
		node corev1.Node
		want []interface{}
	}{
		{"full node info", corev1.Node{
			ObjectMeta: meta("n1"),
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeHostName, Address: "n1"},
					{Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
					{Type: corev1.NodeInternalIP, Address: "192.168.1.11"},
					{Type: corev1.NodeExternalIP, Address: "203.0.113.10"},
				},
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0",
				},
			},
		}, []interface{}{"n1", "Ready", "<none>", "10d", "v1.37.2", "192.168.1.10", "203.0.113.10", "Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"}},
		{"missing addresses and info", corev1.Node{ObjectMeta: meta("n2")},
			[]interface{}{"n2", "Unknown", "<none>", "10d", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, nodeCells(&tt.node, testNow()), tt.want)
		})
	}
}

func TestSimpleCoreCells(t *testing.T) {
	now := testNow()
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{"namespace shows its phase",
			namespaceCells(&corev1.Namespace{ObjectMeta: meta("dev"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, now),
			[]interface{}{"dev", "Terminating", "10d"}},
		{"configmap counts data and binary data",
			configMapCells(&corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {3}}}, now),
			[]interface{}{"cfg", int64(3), "10d"}},
		{"secret shows its type and counts its data",
			secretCells(&corev1.Secret{ObjectMeta: meta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}, now),
			[]interface{}{"tls", "kubernetes.io/tls", int64(2), "10d"}},
		{"service account counts its secrets",
			serviceAccountCells(&corev1.ServiceAccount{ObjectMeta: meta("default"), Secrets: []corev1.ObjectReference{{Name: "token"}}}, now),
			[]interface{}{"default", int64(1), "10d"}},
		{"lease shows its holder",
			leaseCells(&coordinationv1.Lease{ObjectMeta: meta("kube-scheduler"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("host_1234")}}, now),
			[]interface{}{"kube-scheduler", "host_1234", "10d"}},
		{"unheld lease has a blank holder",
			leaseCells(&coordinationv1.Lease{ObjectMeta: meta("free")}, now),
			[]interface{}{"free", "", "10d"}},
		{"priority class",
			priorityClassCells(&schedulingv1.PriorityClass{ObjectMeta: meta("high"), Value: 1000000, GlobalDefault: true, PreemptionPolicy: ptr(corev1.PreemptNever)}, now),
			[]interface{}{"high", int64(1000000), true, "10d", "Never"}},
		{"priority class without preemption policy",
			priorityClassCells(&schedulingv1.PriorityClass{ObjectMeta: meta("low"), Value: -5}, now),
			[]interface{}{"low", int64(-5), false, "10d", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, tt.got, tt.want)
		})
	}
}

func TestEventCells(t *testing.T) {
	now := testNow()
	base := func() corev1.Event {
		return corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.17a2b"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
			Type:           corev1.EventTypeWarning,
			Reason:         "BackOff",
			Message:        "Back-off restarting failed container\n",
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: ago(time.Hour),
			LastTimestamp:  ago(5 * time.Minute),
			Count:          7,
		}
	}
	tests := []struct {
		name  string
		event func() corev1.Event
		want  []interface{}
	}{
		{"core event with timestamps and count", base,
			[]interface{}{"5m", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node-1", "Back-off restarting failed container", "60m", int64(7), "web.17a2b"}},
		{"events.k8s.io event falls back to eventTime and counts one", func() corev1.Event {
			e := base()
			e.FirstTimestamp, e.LastTimestamp, e.Count = metav1.Time{}, metav1.Time{}, 0
			e.EventTime = metav1.NewMicroTime(now.Add(-30 * time.Second))
			e.Source = corev1.EventSource{}
			e.ReportingController, e.ReportingInstance = "default-scheduler", "sched-1"
			return e
		}, []interface{}{"30s", "Warning", "BackOff", "pod/web", "spec.containers{app}", "default-scheduler, sched-1", "Back-off restarting failed container", "30s", int64(1), "web.17a2b"}},
		{"series gives last seen and count", func() corev1.Event {
			e := base()
			e.Series = &corev1.EventSeries{Count: 12, LastObservedTime: metav1.NewMicroTime(now.Add(-20 * time.Second))}
			return e
		}, []interface{}{"20s", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node-1", "Back-off restarting failed container", "60m", int64(12), "web.17a2b"}},
		{"no host shows the component alone, no name shows the kind alone", func() corev1.Event {
			e := base()
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
			e.Source = corev1.EventSource{Component: "controllermanager"}
			return e
		}, []interface{}{"5m", "Warning", "BackOff", "node", "", "controllermanager", "Back-off restarting failed container", "60m", int64(7), "web.17a2b"}},
		{"no times at all are unknown", func() corev1.Event {
			e := base()
			e.FirstTimestamp, e.LastTimestamp = metav1.Time{}, metav1.Time{}
			return e
		}, []interface{}{"<unknown>", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node-1", "Back-off restarting failed container", "<unknown>", int64(7), "web.17a2b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.event()
			checkCells(t, eventCells(&e, now), tt.want)
		})
	}
}
