package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/controller-manager/internal/controller/podgc"
	"coracle.dev/controller-manager/manager"
)

func TestPodGC(t *testing.T) {
	e := start(t, withControllers(podgc.Name), func(c *manager.Config) { c.TerminatedPodGCThreshold = 2 })
	ctx := e.ctx()
	startKubelet(e, "node-a")
	ns := e.namespace("podgc")

	t.Run("finished pods over the threshold, oldest first", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			e.createPod(ns, fmt.Sprintf("done-%d", i), map[string]string{"app": "batch"}, func(p *corev1.Pod) {
				p.Annotations = map[string]string{annExit: "0"}
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
			})
			// Creation timestamps have second precision: space them.
			eventually(t, 30*time.Second, "pod finished", func() (bool, error) {
				p, err := e.client.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("done-%d", i), metav1.GetOptions{})
				return err == nil && p.Status.Phase == corev1.PodSucceeded, err
			})
			time.Sleep(1100 * time.Millisecond)
		}
		eventually(t, 30*time.Second, "two newest kept", func() (bool, error) {
			pods := e.pods(ns, map[string]string{"app": "batch"})
			if len(pods) != 2 {
				return false, nil
			}
			names := map[string]bool{}
			for _, p := range pods {
				names[p.Name] = true
			}
			return names["done-2"] && names["done-3"], nil
		})
	})

	t.Run("pods of a node that is gone", func(t *testing.T) {
		w, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=orphan"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		e.createPod(ns, "orphan", map[string]string{"app": "orphan"}, func(p *corev1.Pod) { p.Spec.NodeName = "no-such-node" })
		eventually(t, 30*time.Second, "orphan collected", func() (bool, error) {
			_, err := e.client.CoreV1().Pods(ns).Get(context.Background(), "orphan", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		// Before it was deleted, it was marked Failed, with Kubernetes'
		// condition saying why.
		timeout := time.After(10 * time.Second)
		for marked := false; !marked; {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("watch ended before the orphan was seen marked Failed")
				}
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod || p.Status.Phase != corev1.PodFailed {
					continue
				}
				for _, c := range p.Status.Conditions {
					marked = marked || c.Type == corev1.DisruptionTarget && c.Reason == podgc.DisruptionReason
				}
				if !marked {
					t.Errorf("orphan Failed without a %s condition: %+v", corev1.DisruptionTarget, p.Status.Conditions)
				}
			case <-timeout:
				t.Fatal("the orphan was never seen marked Failed before its deletion")
			}
		}
	})
}
