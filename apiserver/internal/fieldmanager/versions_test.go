package fieldmanager

import (
	"fmt"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"coracle.dev/apiserver/internal/kinds/autoscaling"
)

var (
	hpaV1 = autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
	hpaV2 = autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
)

// convertHPA converts HorizontalPodAutoscalers between autoscaling/v1
// and v2 as the server's views do, typed or unstructured.
func convertHPA(obj kruntime.Object, gv schema.GroupVersion) (kruntime.Object, error) {
	from := obj.GetObjectKind().GroupVersionKind()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		var typed kruntime.Object
		switch from {
		case hpaV1:
			typed = &autoscalingv1.HorizontalPodAutoscaler{}
		case hpaV2:
			typed = &autoscalingv2.HorizontalPodAutoscaler{}
		default:
			return nil, kruntime.NewNotRegisteredGVKErrForTarget("test", from, gv)
		}
		if err := kruntime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
			return nil, err
		}
		obj = typed
	}
	var out kruntime.Object
	var err error
	switch in := obj.(type) {
	case *autoscalingv1.HorizontalPodAutoscaler:
		switch gv {
		case hpaV1.GroupVersion():
			out = in.DeepCopy()
		case hpaV2.GroupVersion():
			out, err = autoscaling.HPAToV2(in)
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		switch gv {
		case hpaV2.GroupVersion():
			out = in.DeepCopy()
		case hpaV1.GroupVersion():
			out, err = autoscaling.HPAToV1(in)
		}
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, kruntime.NewNotRegisteredGVKErrForTarget("test", from, gv)
	}
	out.GetObjectKind().SetGroupVersionKind(gv.WithKind("HorizontalPodAutoscaler"))
	return out, nil
}

func hpaManager(t *testing.T, kind schema.GroupVersionKind, other schema.GroupVersion, versions bool) *Manager {
	t.Helper()
	_, tc := builtin()
	newObj := func() kruntime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }
	if kind == hpaV1 {
		newObj = func() kruntime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }
	}
	opts := []Option{Typed(newObj), StatusSubresource()}
	if versions {
		opts = append(opts, Versions(convertHPA, other))
	}
	m, err := New(tc, kind, "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// entryVersions maps each managedFields entry ("mgr/Apply") to the
// apiVersion it was recorded at.
func entryVersions(t *testing.T, obj kruntime.Object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range obj.(metav1.Object).GetManagedFields() {
		out[e.Manager+"/"+string(e.Operation)] = e.APIVersion
	}
	return out
}

// TestVersions: fields a manager wrote through autoscaling/v1 stay its
// own when another applies through autoscaling/v2, and an apply that
// changes them conflicts with it; without Versions its entry is dropped,
// as for a version no longer served.
func TestVersions(t *testing.T) {
	applyV2 := func(extra string) []byte {
		return []byte("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: default\n  labels: {team: b}\n" + extra)
	}
	for _, versions := range []bool{true, false} {
		t.Run(fmt.Sprintf("versions=%v", versions), func(t *testing.T) {
			v1, v2 := hpaManager(t, hpaV1, hpaV2.GroupVersion(), versions), hpaManager(t, hpaV2, hpaV1.GroupVersion(), versions)
			hpa := &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
					MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](50),
				},
			}
			created, err := v1.Update(nil, hpa, "mgr-a")
			if err != nil {
				t.Fatal(err)
			}
			next := created.DeepCopyObject().(*autoscalingv1.HorizontalPodAutoscaler)
			next.Spec.MaxReplicas = 6
			updated, err := v1.Update(created, next, "mgr-a")
			if err != nil {
				t.Fatal(err)
			}
			// Stored, and read back, as autoscaling/v2.
			live, err := autoscaling.HPAToV2(updated.(*autoscalingv1.HorizontalPodAutoscaler))
			if err != nil {
				t.Fatal(err)
			}
			applied, err := v2.Apply(live, applyV2(""), "mgr-b", false)
			if err != nil {
				t.Fatal(err)
			}
			got := entryVersions(t, applied)
			if got["mgr-b/Apply"] != "autoscaling/v2" {
				t.Errorf("entries %v: no autoscaling/v2 entry of mgr-b", got)
			}
			if !versions {
				if _, ok := got["mgr-a/Update"]; ok {
					t.Errorf("entries %v: mgr-a's autoscaling/v1 entry kept without Versions", got)
				}
				return
			}
			if got["mgr-a/Update"] != "autoscaling/v1" {
				t.Fatalf("entries %v: mgr-a's autoscaling/v1 entry not kept", got)
			}
			if !owns(t, applied, "mgr-a/Update", "spec", "maxReplicas") {
				t.Errorf("owners %v", owners(t, applied))
			}
			_, err = v2.Apply(applied, applyV2("spec:\n  maxReplicas: 9\n"), "mgr-b", false)
			want := `conflict with "mgr-a" using autoscaling/v1: .spec.maxReplicas`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("apply of mgr-a's field: %v, want %q", err, want)
			}
			// A field mgr-a set but does not own at v2's path
			// (targetCPUUtilizationPercentage is v2's metrics) is free.
			if _, err := v2.Apply(applied, applyV2("spec:\n  minReplicas: 1\n"), "mgr-b", false); err != nil {
				t.Errorf("apply of minReplicas, shared at the same value: %v", err)
			}
		})
	}
}

// TestOnly: a write through an endpoint that keeps only some fields (pods/
// ephemeralcontainers) owns only those.
func TestOnly(t *testing.T) {
	_, tc := builtin()
	podKind := corev1.SchemeGroupVersion.WithKind("Pod")
	m, err := New(tc, podKind, "ephemeralcontainers", Typed(func() kruntime.Object { return &corev1.Pod{} }),
		StatusSubresource(), Only(fieldpath.MakePrefixMatcherOrDie("spec", "ephemeralContainers")))
	if err != nil {
		t.Fatal(err)
	}
	live := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
	next := live.DeepCopy()
	next.Labels = map[string]string{"debug": "yes"}
	next.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}}}
	out, err := m.Update(live, next, "kubectl-debug")
	if err != nil {
		t.Fatal(err)
	}
	owner := "kubectl-debug/Update/ephemeralcontainers"
	if !owns(t, out, owner, "spec", "ephemeralContainers", fieldpath.KeyByFields("name", "debugger"), "image") {
		t.Errorf("owners %v", owners(t, out))
	}
	if owns(t, out, owner, "metadata", "labels", "debug") {
		t.Errorf("owns a label the endpoint drops: %v", owners(t, out))
	}
}
