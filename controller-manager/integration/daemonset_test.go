package integration

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// daemonPods maps node name to the active pods of app there.
func (e *env) daemonPods(ns, app string) map[string][]corev1.Pod {
	return e.podsByNode(ns, map[string]string{"app": app})
}

func TestDaemonSet(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e)
	k.addNode("ssd-1", map[string]string{"disk": "ssd"})
	k.addNode("ssd-2", map[string]string{"disk": "ssd"})
	k.addNode("hdd-1", map[string]string{"disk": "hdd"})
	ns := e.namespace("ds")
	lbls := map[string]string{"app": "agent"}
	tmpl := podTemplate(lbls)
	tmpl.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	one := intstr.FromInt32(1)
	_, err := e.client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls}, Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDS := func(desired int32, image string) {
		t.Helper()
		eventually(t, 60*time.Second, "daemonset settled", func() (bool, error) {
			ds, err := e.client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := ds.Status
			if st.ObservedGeneration != ds.Generation || st.DesiredNumberScheduled != desired || st.NumberAvailable != desired ||
				st.UpdatedNumberScheduled != desired || st.CurrentNumberScheduled != desired || st.NumberMisscheduled != 0 {
				return false, nil
			}
			pods := e.daemonPods(ns, "agent")
			if len(pods) != int(desired) {
				return false, nil
			}
			for node, list := range pods {
				if len(list) != 1 || list[0].Spec.Containers[0].Image != image || node == "hdd-1" {
					return false, nil
				}
			}
			return true, nil
		})
	}
	waitDS(2, "registry.example/app:1")

	t.Run("a new node gets its pod", func(t *testing.T) {
		k.addNode("ssd-3", map[string]string{"disk": "ssd"})
		waitDS(3, "registry.example/app:1")
		p := e.daemonPods(ns, "agent")["ssd-3"][0]
		found := false
		for _, tol := range p.Spec.Tolerations {
			if tol.Key == corev1.TaintNodeUnreachable && tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("daemon pod lacks the unreachable toleration: %v", p.Spec.Tolerations)
		}
	})

	t.Run("rolling update one node at a time", func(t *testing.T) {
		watch := watchBounds(e, ns, lbls, 3, 2, 0)
		patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/app:2"}]}}}}`)
		if _, err := e.client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDS(3, "registry.example/app:2")
		watch.verify(t)
	})

	t.Run("a node tainted NoExecute loses its pod", func(t *testing.T) {
		n, err := e.client.CoreV1().Nodes().Get(ctx, "ssd-3", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute})
		if _, err := e.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDS(2, "registry.example/app:2")
	})

	t.Run("cascading delete", func(t *testing.T) {
		if err := e.client.AppsV1().DaemonSets(ns).Delete(ctx, "agent", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "daemon pods gone", func() (bool, error) {
			return len(e.pods(ns, lbls)) == 0, nil
		})
	})
}
