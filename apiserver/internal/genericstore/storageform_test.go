package genericstore

import (
	"context"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/etcd/etcdtest"
	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/kinds/autoscaling"
	"coracle.dev/apiserver/internal/watchcache"
)

// newStores starts one store with its watch cache per descriptor, all on
// one etcd, as the server builds them.
func newStores(t *testing.T, descs ...*apiresource.Descriptor) []*Store {
	t.Helper()
	client := etcdtest.Start(t)
	storage := etcdstore.New(client, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out []*Store
	for _, d := range descs {
		cache := watchcache.New(watchcache.Config{
			Client: client, Prefix: d.KeyPrefix(), NewObject: d.NewStored, Convert: d.FromStorage, Attrs: d.Fields,
			RequestProgress: client.RequestProgress,
		})
		done := make(chan struct{})
		go func() { defer close(done); cache.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		deadline := time.Now().Add(30 * time.Second)
		for !cache.Ready() {
			if time.Now().After(deadline) {
				t.Fatal("cache never ready")
			}
			time.Sleep(10 * time.Millisecond)
		}
		out = append(out, New(Options{Descriptor: d, Storage: storage, Cache: cache}))
	}
	return out
}

// TestStoredInAnotherForm: autoscaling/v1 HPAs are autoscaling/v2 HPAs
// in etcd; every verb through either store reads and writes the one
// object.
func TestStoredInAnotherForm(t *testing.T) {
	stores := newStores(t, autoscaling.HorizontalPodAutoscalers(), autoscaling.HorizontalPodAutoscalersV1())
	v2, v1 := stores[0], stores[1]
	ctx := context.Background()

	res, err := v1.Create(ctx, "default", &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    3, TargetCPUUtilizationPercentage: ptr.To[int32](50),
		},
	}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := res.Object.(*autoscalingv1.HorizontalPodAutoscaler)
	if created.ResourceVersion == "" || created.APIVersion != "autoscaling/v1" {
		t.Fatalf("created %+v", created.TypeMeta)
	}

	got, err := v2.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	h2 := got.(*autoscalingv2.HorizontalPodAutoscaler)
	if h2.UID != created.UID || h2.ResourceVersion != created.ResourceVersion || len(h2.Spec.Metrics) != 1 ||
		ptr.Deref(h2.Spec.Metrics[0].Resource.Target.AverageUtilization, 0) != 50 || ptr.Deref(h2.Spec.MinReplicas, 0) != 1 {
		t.Fatalf("through v2: %+v", h2)
	}

	// A metric only v2 can say, added through v2, survives an update
	// through v1 (in an annotation there).
	q := resource.MustParse("10")
	res, err = v2.Update(ctx, "default", "web", func(cur runtime.Object) (runtime.Object, error) {
		h := cur.(*autoscalingv2.HorizontalPodAutoscaler)
		h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType,
			Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}})
		return h, nil
	}, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The v1 view has its own watch cache, which may not have seen the
	// v2 write yet: the update is then tried on that stale object first
	// and again on the fresh one after the conflict. The last try counts.
	var seen map[string]string
	res, err = v1.Update(ctx, "default", "web", func(cur runtime.Object) (runtime.Object, error) {
		h := cur.(*autoscalingv1.HorizontalPodAutoscaler)
		seen = h.Annotations
		h.Spec.MaxReplicas = 7
		return h, nil
	}, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if seen[autoscaling.MetricSpecsAnnotation] == "" {
		t.Errorf("v1 shows no metrics annotation: %v", seen)
	}
	updated := res.Object.(*autoscalingv1.HorizontalPodAutoscaler)
	got, err = v2.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	h2 = got.(*autoscalingv2.HorizontalPodAutoscaler)
	if h2.Spec.MaxReplicas != 7 || len(h2.Spec.Metrics) != 2 || h2.ResourceVersion != updated.ResourceVersion {
		t.Fatalf("after the v1 update, v2 reads %+v at %s (v1 wrote %s)", h2.Spec, h2.ResourceVersion, updated.ResourceVersion)
	}
	if _, ok := h2.Annotations[autoscaling.MetricSpecsAnnotation]; ok {
		t.Fatalf("the round-trip annotation was stored: %v", h2.Annotations)
	}

	// A status write through v1 keeps the spec.
	if _, err := v1.Update(ctx, "default", "web", func(cur runtime.Object) (runtime.Object, error) {
		h := cur.(*autoscalingv1.HorizontalPodAutoscaler)
		h.Annotations = nil
		h.Status.DesiredReplicas = 2
		return h, nil
	}, UpdateOptions{Subresource: apiresource.Status}); err != nil {
		t.Fatal(err)
	}
	got, _ = v2.Get(ctx, "default", "web")
	if h := got.(*autoscalingv2.HorizontalPodAutoscaler); len(h.Spec.Metrics) != 2 || h.Status.DesiredReplicas != 2 {
		t.Fatalf("after the v1 status write: %+v %+v", h.Spec.Metrics, h.Status)
	}

	// Lists, from etcd and from the cache, are in the store's version.
	for _, rv := range []string{"", "0"} {
		list, err := v1.List(ctx, ListOptions{Namespace: "default", Label: labels.SelectorFromSet(labels.Set{"app": "web"}), ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		items := list.(*autoscalingv1.HorizontalPodAutoscalerList).Items
		if len(items) != 1 || ptr.Deref(items[0].Spec.TargetCPUUtilizationPercentage, 0) != 50 {
			t.Fatalf("list at %q: %+v", rv, items)
		}
	}

	// Delete through v1, with a precondition on the shared resourceVersion.
	got, _ = v2.Get(ctx, "default", "web")
	rv := got.(*autoscalingv2.HorizontalPodAutoscaler).ResourceVersion
	del, err := v1.Delete(ctx, "default", "web", &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := del.Object.(*autoscalingv1.HorizontalPodAutoscaler); !ok || !del.Deleted {
		t.Fatalf("delete answered %T deleted=%v", del.Object, del.Deleted)
	}
	if _, err := v2.Get(ctx, "default", "web"); err == nil {
		t.Fatal("still there through v2")
	}
}
