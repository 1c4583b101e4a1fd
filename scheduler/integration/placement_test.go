package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const zoneKey = v1.LabelTopologyZone

func TestNodeSelectorAndNodeAffinity(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "ssd", labels: map[string]string{"disktype": "ssd", zoneKey: "a"}})
	createNode(t, c, nodeSpec{name: "hdd", labels: map[string]string{"disktype": "hdd", zoneKey: "b"}})
	startScheduler(t, c)

	createPod(t, c, podSpec{name: "wants-ssd", nodeSelector: map[string]string{"disktype": "ssd"}})
	createPod(t, c, podSpec{name: "wants-zone-b", affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: zoneKey, Operator: v1.NodeSelectorOpIn, Values: []string{"b"}}},
		}}},
	}}})
	createPod(t, c, podSpec{name: "prefers-ssd", affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{Weight: 100, Preference: v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disktype", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}},
		}}},
	}}})
	createPod(t, c, podSpec{name: "wants-nvme", nodeSelector: map[string]string{"disktype": "nvme"}})

	for pod, want := range map[string]string{"wants-ssd": "ssd", "wants-zone-b": "hdd", "prefers-ssd": "ssd"} {
		if got := waitBound(t, c, "default", pod); got != want {
			t.Errorf("%s bound to %s, want %s", pod, got, want)
		}
	}
	if msg := waitUnschedulable(t, c, "default", "wants-nvme"); !strings.HasPrefix(msg, "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.") {
		t.Errorf("message %q", msg)
	}
	// A node that matches arrives: the waiting pod is retried and bound.
	createNode(t, c, nodeSpec{name: "nvme", labels: map[string]string{"disktype": "nvme"}})
	if got := waitBound(t, c, "default", "wants-nvme"); got != "nvme" {
		t.Errorf("wants-nvme bound to %s", got)
	}
}

func TestPodAffinityAndAntiAffinity(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "a1", labels: map[string]string{zoneKey: "a"}})
	createNode(t, c, nodeSpec{name: "a2", labels: map[string]string{zoneKey: "a"}})
	createNode(t, c, nodeSpec{name: "b1", labels: map[string]string{zoneKey: "b"}})
	startScheduler(t, c)

	createPod(t, c, podSpec{name: "db", labels: map[string]string{"app": "db"}, nodeSelector: map[string]string{v1.LabelHostname: "b1"}})
	waitBound(t, c, "default", "db")
	// Affinity to the db's zone: only b1 is in zone b.
	createPod(t, c, podSpec{name: "near-db", affinity: &v1.Affinity{PodAffinity: &v1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, TopologyKey: zoneKey,
		}},
	}}})
	if got := waitBound(t, c, "default", "near-db"); got != "b1" {
		t.Errorf("near-db bound to %s, want b1", got)
	}

	// Replicas that must not share a node: three nodes, three replicas.
	anti := func() *v1.Affinity {
		return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: v1.LabelHostname,
			}},
		}}
	}
	seen := map[string]string{}
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		createPod(t, c, podSpec{name: name, labels: map[string]string{"app": "web"}, affinity: anti()})
		node := waitBound(t, c, "default", name)
		if other, dup := seen[node]; dup {
			t.Fatalf("%s and %s share node %s", name, other, node)
		}
		seen[node] = name
	}
	createPod(t, c, podSpec{name: "web-4", labels: map[string]string{"app": "web"}, affinity: anti()})
	msg := waitUnschedulable(t, c, "default", "web-4")
	if !strings.HasPrefix(msg, "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.") {
		t.Errorf("message %q", msg)
	}
	// A pod that existing pods' anti-affinity rejects.
	createPod(t, c, podSpec{name: "loner", labels: map[string]string{"role": "loner"}, nodeSelector: map[string]string{v1.LabelHostname: "a1"},
		affinity: &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}, TopologyKey: zoneKey,
		}}}}})
	waitBound(t, c, "default", "loner")
	createPod(t, c, podSpec{name: "batch", labels: map[string]string{"app": "batch"}})
	if got := waitBound(t, c, "default", "batch"); got != "b1" {
		t.Errorf("batch bound to %s, want b1 (zone a is taken by loner's anti-affinity)", got)
	}
	// Deleting one replica lets web-4 in.
	mustDeletePod(t, c, "default", "web-1", 0)
	waitBound(t, c, "default", "web-4")
}

func TestTaintsAndTolerations(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "gpu", taints: []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}},
		extra: v1.ResourceList{"example.com/gpu": resource.MustParse("2")}})
	createNode(t, c, nodeSpec{name: "drain", taints: []v1.Taint{{Key: "maintenance", Effect: v1.TaintEffectNoExecute}}})
	createNode(t, c, nodeSpec{name: "down", ready: v1.ConditionFalse})
	startScheduler(t, c)

	createPod(t, c, podSpec{name: "plain"})
	msg := waitUnschedulable(t, c, "default", "plain")
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {maintenance: }, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."
	if !strings.HasPrefix(msg, want) {
		t.Errorf("message %q\nwant prefix %q", msg, want)
	}
	createPod(t, c, podSpec{name: "trainer", extra: v1.ResourceList{"example.com/gpu": resource.MustParse("1")},
		tolerations: []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}})
	if got := waitBound(t, c, "default", "trainer"); got != "gpu" {
		t.Errorf("trainer bound to %s", got)
	}
	createPod(t, c, podSpec{name: "fixer", tolerations: []v1.Toleration{{Key: "maintenance", Operator: v1.TolerationOpExists}}})
	if got := waitBound(t, c, "default", "fixer"); got != "drain" {
		t.Errorf("fixer bound to %s", got)
	}
	// The node becomes ready: the plain pod goes there.
	n, err := c.client.CoreV1().Nodes().Get(ctxFor(t), "down", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions[0].Status = v1.ConditionTrue
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctxFor(t), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := waitBound(t, c, "default", "plain"); got != "down" {
		t.Errorf("plain bound to %s", got)
	}
}

func TestResources(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n", cpu: "2", memory: "4Gi", pods: "4"})
	startScheduler(t, c)

	createPod(t, c, podSpec{name: "a", cpu: "1", memory: "1Gi"})
	createPod(t, c, podSpec{name: "b", cpu: "500m", memory: "1Gi"})
	waitBound(t, c, "default", "a")
	waitBound(t, c, "default", "b")
	// Its container needs 250m, but its init container 1 cpu: it does not
	// fit the 500m left.
	createPod(t, c, podSpec{name: "init-heavy", cpu: "250m", initCPU: "1"})
	if msg := waitUnschedulable(t, c, "default", "init-heavy"); !strings.HasPrefix(msg, "0/1 nodes are available: 1 Insufficient cpu.") {
		t.Errorf("message %q", msg)
	}
	createPod(t, c, podSpec{name: "fits", cpu: "500m", memory: "2Gi"})
	waitBound(t, c, "default", "fits")
	createPod(t, c, podSpec{name: "memory-hog", memory: "1Gi"})
	if msg := waitUnschedulable(t, c, "default", "memory-hog"); !strings.HasPrefix(msg, "0/1 nodes are available: 1 Insufficient memory.") {
		t.Errorf("message %q", msg)
	}
	createPod(t, c, podSpec{name: "no-requests"})
	waitBound(t, c, "default", "no-requests")
	createPod(t, c, podSpec{name: "fifth"})
	if msg := waitUnschedulable(t, c, "default", "fifth"); !strings.HasPrefix(msg, "0/1 nodes are available: 1 Too many pods.") {
		t.Errorf("message %q", msg)
	}
	// Freeing room lets the waiting pods in.
	mustDeletePod(t, c, "default", "a", 0)
	waitBound(t, c, "default", "init-heavy")
}

func TestHostPorts(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n1"})
	createNode(t, c, nodeSpec{name: "n2"})
	startScheduler(t, c)
	nodes := map[string]bool{}
	for _, name := range []string{"proxy-1", "proxy-2"} {
		createPod(t, c, podSpec{name: name, hostPort: 8443})
		nodes[waitBound(t, c, "default", name)] = true
	}
	if len(nodes) != 2 {
		t.Fatalf("both pods with host port 8443 on %v", nodes)
	}
	createPod(t, c, podSpec{name: "proxy-3", hostPort: 8443})
	if msg := waitUnschedulable(t, c, "default", "proxy-3"); !strings.HasPrefix(msg, "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.") {
		t.Errorf("message %q", msg)
	}
	createPod(t, c, podSpec{name: "other-port", hostPort: 9000})
	waitBound(t, c, "default", "other-port")
}

// TestUnschedulableEventThenNodeAdded is the example: the right
// event and condition, then the pod schedules once a fitting node arrives.
func TestUnschedulableEventThenNodeAdded(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "control-plane", taints: []v1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: v1.TaintEffectNoSchedule}}})
	createNode(t, c, nodeSpec{name: "node-1", cpu: "1"})
	createNode(t, c, nodeSpec{name: "node-2", cpu: "1"})
	startScheduler(t, c)

	createPod(t, c, podSpec{name: "web-1", cpu: "2"})
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
	msg := waitEvent(t, c, "default", "web-1", "FailedScheduling", want)
	if !strings.HasPrefix(msg, want) {
		t.Errorf("event %q", msg)
	}
	cond := waitUnschedulable(t, c, "default", "web-1")
	if !strings.HasPrefix(cond, want) {
		t.Errorf("condition message %q", cond)
	}
	ev := getEvent(t, c, "default", "web-1", "FailedScheduling")
	if ev.Type != v1.EventTypeWarning || ev.Source.Component != "default-scheduler" {
		t.Errorf("event type %q source %q", ev.Type, ev.Source.Component)
	}

	createNode(t, c, nodeSpec{name: "node-3", cpu: "4"})
	if got := waitBound(t, c, "default", "web-1"); got != "node-3" {
		t.Fatalf("bound to %s", got)
	}
	waitEvent(t, c, "default", "web-1", "Scheduled", "Successfully assigned default/web-1 to node-3")
	p, err := c.client.CoreV1().Pods("default").Get(ctxFor(t), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == v1.PodScheduled && cond.Status != v1.ConditionTrue {
			t.Errorf("PodScheduled %s after binding", cond.Status)
		}
	}
}

func getEvent(t *testing.T, c *cluster, ns, name, reason string) v1.Event {
	t.Helper()
	evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			return e
		}
	}
	t.Fatalf("no %s event on %s/%s", reason, ns, name)
	return v1.Event{}
}

func TestCordon(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n1"})
	createNode(t, c, nodeSpec{name: "n2"})
	startScheduler(t, c)
	setUnschedulable(t, c, "n1", true)
	for _, name := range []string{"a", "b", "c"} {
		createPod(t, c, podSpec{name: name})
		if got := waitBound(t, c, "default", name); got != "n2" {
			t.Errorf("%s bound to cordoned-away %s", name, got)
		}
	}
	setUnschedulable(t, c, "n2", true)
	createPod(t, c, podSpec{name: "d"})
	if msg := waitUnschedulable(t, c, "default", "d"); !strings.HasPrefix(msg, "0/2 nodes are available: 2 node(s) were unschedulable.") {
		t.Errorf("message %q", msg)
	}
	setUnschedulable(t, c, "n1", false)
	if got := waitBound(t, c, "default", "d"); got != "n1" {
		t.Errorf("d bound to %s after uncordoning n1", got)
	}
}

func setUnschedulable(t *testing.T, c *cluster, node string, v bool) {
	t.Helper()
	eventually(t, 10*time.Second, "cordon "+node, func() (bool, error) {
		n, err := c.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n.Spec.Unschedulable = v
		_, err = c.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err == nil, err
	})
}
