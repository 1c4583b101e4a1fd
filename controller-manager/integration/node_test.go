package integration

import (
	"context"
	"net"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func (e *env) podCIDRs() map[string]string {
	e.t.Helper()
	nodes, err := e.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range nodes.Items {
		out[n.Name] = n.Spec.PodCIDR
	}
	return out
}

// waitDistinctCIDRs waits for every node to have a podCIDR inside the
// cluster CIDR, none shared.
func (e *env) waitDistinctCIDRs(nodes int) map[string]string {
	e.t.Helper()
	_, cluster, _ := net.ParseCIDR("10.244.0.0/16")
	var cidrs map[string]string
	eventually(e.t, 30*time.Second, "distinct podCIDRs", func() (bool, error) {
		cidrs = e.podCIDRs()
		seen := map[string]string{}
		for n, c := range cidrs {
			ip, ipnet, err := net.ParseCIDR(c)
			if err != nil {
				return false, nil
			}
			if ones, _ := ipnet.Mask.Size(); ones != 24 || !cluster.Contains(ip) {
				e.t.Fatalf("node %s podCIDR %s not a /24 of %s", n, c, cluster)
			}
			if other, dup := seen[c]; dup {
				e.t.Fatalf("nodes %s and %s share podCIDR %s", n, other, c)
			}
			seen[c] = n
		}
		return len(cidrs) == nodes, nil
	})
	return cidrs
}

func TestNodeIPAM(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e, "node-a", "node-b", "node-c")
	cidrs := e.waitDistinctCIDRs(3)
	freed := cidrs["node-b"]
	if err := e.client.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "node-b gone", func() (bool, error) {
		_, ok := e.podCIDRs()["node-b"]
		return !ok, nil
	})
	k.addNode("node-d", nil)
	cidrs = e.waitDistinctCIDRs(3)
	if cidrs["node-d"] != freed {
		t.Logf("node-d got %s; the released %s was lower", cidrs["node-d"], freed)
	}

	// A new controller manager rebuilds what is taken from the nodes.
	_ = e.cm.Close()
	e.cm = e.startManager()
	k.addNode("node-e", nil)
	k.addNode("node-f", nil)
	e.waitDistinctCIDRs(5)
}

// A node that stops renewing its Lease becomes Unknown and unreachable;
// its pods are marked not ready and evicted after their
// tolerationSeconds; their ReplicaSet replaces them on the live node.
func TestLostNode(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e, "node-a", "node-b")
	ns := e.namespace("lost")
	lbls := map[string]string{"app": "web"}
	tmpl := podTemplate(lbls)
	tmpl.Spec.Tolerations = []corev1.Toleration{
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
	}
	_, err := e.client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](4), Selector: &metav1.LabelSelector{MatchLabels: lbls}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitReplicaSet(ns, "web", 4)
	var onA []string
	for _, p := range activePods(e.pods(ns, lbls)) {
		if p.Spec.NodeName == "node-a" {
			onA = append(onA, p.Name)
		}
	}
	if len(onA) == 0 {
		t.Fatal("no pod on node-a to lose")
	}

	k.stopNode("node-a")
	eventually(t, 30*time.Second, "node-a Unknown and tainted unreachable", func() (bool, error) {
		n, err := e.client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown && c.Reason == "NodeStatusUnknown" {
				ready = true
			}
		}
		tainted := false
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoExecute && tn.TimeAdded != nil {
				tainted = true
			}
		}
		return ready && tainted, nil
	})
	eventually(t, 60*time.Second, "pods replaced on node-b", func() (bool, error) {
		pods := activePods(e.pods(ns, lbls))
		if len(pods) != 4 {
			return false, nil
		}
		for _, p := range pods {
			if p.Spec.NodeName != "node-b" || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return true, nil
	})
	for _, name := range onA {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue // gone entirely is fine too
		}
		if p.DeletionTimestamp == nil {
			t.Errorf("pod %s on the lost node not evicted", name)
		}
		disrupted := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				t.Errorf("pod %s on the lost node still Ready", name)
			}
			disrupted = disrupted || c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "DeletionByTaintManager"
		}
		// Jobs' pod failure policies tell this deletion from a failure
		// by it.
		if !disrupted {
			t.Errorf("pod %s evicted without the DisruptionTarget condition: %+v", name, p.Status.Conditions)
		}
	}
	e.waitEvent(ns, onA[0], "TaintManagerEviction")
	// What `kubectl describe node` lists under Events.
	e.waitEvent(metav1.NamespaceDefault, "node-a", "RegisteredNode")
	e.waitEvent(metav1.NamespaceDefault, "node-a", "NodeNotReady")
}

// With every node lost (full disruption: more likely the control plane's
// network than the nodes), Kubernetes evicts nothing: the node is Unknown
// and unschedulable, but gets no NoExecute taint.
func TestOnlyNodeLostEvictsNothing(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e, "solo")
	k.stopNode("solo")
	eventually(t, 30*time.Second, "solo unreachable", func() (bool, error) {
		n, err := e.client.CoreV1().Nodes().Get(ctx, "solo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoSchedule {
				for _, other := range n.Spec.Taints {
					if other.Effect == corev1.TaintEffectNoExecute {
						t.Fatalf("NoExecute taint %v on the only node", other)
					}
				}
				return true, nil
			}
		}
		return false, nil
	})
}
