package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// orderWatch checks, at every pod change, OrderedReady's promises: pod
// db-k is created only when db-(k-1) is Running and Ready, and (with
// scaleDown, when the set only shrinks) db-k starts terminating only when
// db-(k+1) is gone.
type orderWatch struct {
	mu         sync.Mutex // guards violations
	violations []string
	stop       chan struct{}
}

func watchOrder(e *env, ns, set string, scaleDown bool) *orderWatch {
	w := &orderWatch{stop: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	get := func(name string) *corev1.Pod {
		obj, ok, _ := inf.GetStore().GetByKey(ns + "/" + name)
		if !ok {
			return nil
		}
		return obj.(*corev1.Pod)
	}
	ordinal := func(p *corev1.Pod) int {
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(p.Name, set+"-"), "%d", &i); err != nil {
			return -1
		}
		return i
	}
	ready := func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p.Status.Phase == corev1.PodRunning
			}
		}
		return false
	}
	record := func(s string) {
		w.mu.Lock()
		w.violations = append(w.violations, s)
		w.mu.Unlock()
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := obj.(*corev1.Pod)
			if i := ordinal(p); i > 0 {
				if prev := get(fmt.Sprintf("%s-%d", set, i-1)); prev == nil || !ready(prev) || prev.DeletionTimestamp != nil {
					record(fmt.Sprintf("%s created before %s-%d was ready", p.Name, set, i-1))
				}
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, p := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if scaleDown && old.DeletionTimestamp == nil && p.DeletionTimestamp != nil {
				if next := get(fmt.Sprintf("%s-%d", set, ordinal(p)+1)); next != nil {
					record(fmt.Sprintf("%s terminating while %s exists", p.Name, next.Name))
				}
			}
		},
	})
	factory.Start(w.stop)
	factory.WaitForCacheSync(w.stop)
	e.t.Cleanup(func() { w.close() })
	return w
}

func (w *orderWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}

func (w *orderWatch) verify(t *testing.T) {
	t.Helper()
	w.close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Error(v)
	}
}

func TestStatefulSet(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	startKubelet(e, "node-a", "node-b")
	ns := e.namespace("sts")
	lbls := map[string]string{"app": "db"}
	if _, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: lbls},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	order := watchOrder(e, ns, "db", false)
	_, err := e.client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: podTemplate(lbls),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitSet := func(replicas int32, image string) *appsv1.StatefulSet {
		t.Helper()
		var s *appsv1.StatefulSet
		eventually(t, 60*time.Second, "statefulset settled", func() (bool, error) {
			var err error
			s, err = e.client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := s.Status
			if st.ObservedGeneration != s.Generation || st.Replicas != replicas || st.ReadyReplicas != replicas {
				return false, nil
			}
			pods := activePods(e.pods(ns, lbls))
			if len(pods) != int(replicas) {
				return false, nil
			}
			for _, p := range pods {
				if image != "" && p.Spec.Containers[0].Image != image {
					return false, nil
				}
			}
			return true, nil
		})
		return s
	}
	waitSet(3, "")
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("db-%d", i)
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "db" || p.Labels["statefulset.kubernetes.io/pod-name"] != name {
			t.Errorf("pod %s identity: hostname %s subdomain %s labels %v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		if len(p.Spec.Volumes) == 0 || p.Spec.Volumes[len(p.Spec.Volumes)-1].PersistentVolumeClaim == nil ||
			p.Spec.Volumes[len(p.Spec.Volumes)-1].PersistentVolumeClaim.ClaimName != "data-"+name {
			t.Errorf("pod %s volumes %+v", name, p.Spec.Volumes)
		}
		if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-"+name, metav1.GetOptions{}); err != nil {
			t.Errorf("claim data-%s: %v", name, err)
		}
	}

	t.Run("rolling update above the partition, highest first", func(t *testing.T) {
		patch := []byte(`{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}},"template":{"spec":{"containers":[{"name":"app","image":"registry.example/app:2"}]}}}}`)
		if _, err := e.client.AppsV1().StatefulSets(ns).Patch(ctx, "db", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "db-1 and db-2 updated, db-0 kept", func() (bool, error) {
			s, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
			if err != nil || s.Status.UpdatedReplicas != 2 || s.Status.ReadyReplicas != 3 {
				return false, err
			}
			images := map[string]string{}
			for _, p := range activePods(e.pods(ns, lbls)) {
				images[p.Name] = p.Spec.Containers[0].Image
			}
			return images["db-0"] == "registry.example/app:1" && images["db-1"] == "registry.example/app:2" && images["db-2"] == "registry.example/app:2", nil
		})
	})

	order.verify(t)
	t.Run("scale down from the highest ordinal, claims kept", func(t *testing.T) {
		order := watchOrder(e, ns, "db", true)
		defer order.verify(t)
		if _, err := e.client.AppsV1().StatefulSets(ns).Patch(ctx, "db", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSet(1, "")
		if p := activePods(e.pods(ns, lbls)); p[0].Name != "db-0" {
			t.Errorf("kept %s, want db-0", p[0].Name)
		}
		claims, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(claims.Items) != 3 {
			t.Errorf("%d claims after scale-down, want all 3 kept (%v)", len(claims.Items), err)
		}
	})
	e.waitEvent(ns, "db", "SuccessfulCreate")
}
