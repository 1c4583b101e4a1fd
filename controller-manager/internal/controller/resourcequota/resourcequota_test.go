package resourcequota

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"coracle.dev/shared/quota"
)

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func TestRecount(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Resources: corev1.ResourceRequirements{Requests: list("cpu", "250m")},
	}}}}
	objects := map[schema.GroupResource][]runtime.Object{quota.Pods: {pod}}
	broken := errors.New("secrets not synced")
	listFn := func(gr schema.GroupResource, _ string) ([]runtime.Object, error) {
		if gr.Resource == "secrets" {
			return nil, broken
		}
		return objects[gr], nil
	}
	registry := quota.NewRegistry(listFn, time.Now)
	quotaWith := func(spec, hard, used corev1.ResourceList) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
			Spec:       corev1.ResourceQuotaSpec{Hard: spec},
			Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
		}
	}
	tests := []struct {
		name      string
		quota     *corev1.ResourceQuota
		want      corev1.ResourceQuotaStatus
		wantDirty bool
		wantErr   bool
	}{
		{"a new quota gets hard and used", quotaWith(list("pods", "5", "requests.cpu", "1"), nil, nil),
			corev1.ResourceQuotaStatus{Hard: list("pods", "5", "requests.cpu", "1"), Used: list("pods", "1", "requests.cpu", "250m")}, true, false},
		{"a counted quota is left alone", quotaWith(list("pods", "5"), list("pods", "5"), list("pods", "1")),
			corev1.ResourceQuotaStatus{Hard: list("pods", "5"), Used: list("pods", "1")}, false, false},
		{"usage given back by a deletion is recounted", quotaWith(list("pods", "5"), list("pods", "5"), list("pods", "3")),
			corev1.ResourceQuotaStatus{Hard: list("pods", "5"), Used: list("pods", "1")}, true, false},
		{"new limits are copied to status, dropped ones forgotten",
			quotaWith(list("pods", "9"), list("pods", "5", "services", "2"), list("pods", "1", "services", "1")),
			corev1.ResourceQuotaStatus{Hard: list("pods", "9"), Used: list("pods", "1")}, true, false},
		{"what cannot be counted keeps its last count",
			quotaWith(list("pods", "5", "secrets", "5"), list("pods", "5", "secrets", "5"), list("pods", "1", "secrets", "2")),
			corev1.ResourceQuotaStatus{Hard: list("pods", "5", "secrets", "5"), Used: list("pods", "1", "secrets", "2")}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dirty, err := Recount(tt.quota, registry)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if dirty != tt.wantDirty {
				t.Errorf("dirty = %v, want %v", dirty, tt.wantDirty)
			}
			if !quotav1.Equals(got.Hard, tt.want.Hard) || !quotav1.Equals(got.Used, tt.want.Used) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}
