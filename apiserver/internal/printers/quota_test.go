package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResourceQuotaCells(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute", CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Minute))},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("1Gi"), "limits.cpu": resource.MustParse("4")},
			Used: corev1.ResourceList{"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("500m"), "limits.cpu": resource.MustParse("1")},
		},
	}
	want := []interface{}{"compute", "pods: 1/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/1Gi", "5m"}
	if got := resourceQuotaCells(q, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if got := resourceQuotaCells(&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, now); !reflect.DeepEqual(got, []interface{}{"new", "", "", "<unknown>"}) {
		t.Fatalf("a quota without status: got %#v", got)
	}
}
