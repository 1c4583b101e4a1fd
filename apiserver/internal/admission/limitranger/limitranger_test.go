package limitranger

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeRanges []*corev1.LimitRange

func (f fakeRanges) List(_ context.Context, ns string) ([]*corev1.LimitRange, error) {
	var out []*corev1.LimitRange
	for _, lr := range f {
		if lr.Namespace == ns {
			out = append(out, lr.DeepCopy())
		}
	}
	return out, nil
}

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestDefaults(t *testing.T) {
	lr := limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: list("cpu", "500m", "memory", "512Mi"), DefaultRequest: list("cpu", "100m", "memory", "256Mi")})
	p := pod(ctr("a", nil, nil), ctr("b", list("cpu", "200m"), list("memory", "1Gi")))
	p.Spec.InitContainers = []corev1.Container{ctr("init", nil, nil)}
	l := &LimitRanger{Ranges: fakeRanges{lr}}
	if err := l.AdmitCreate(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got  corev1.ResourceRequirements
		want corev1.ResourceRequirements
	}{
		{p.Spec.Containers[0].Resources, corev1.ResourceRequirements{Requests: list("cpu", "100m", "memory", "256Mi"), Limits: list("cpu", "500m", "memory", "512Mi")}},
		// What a container sets itself stays.
		{p.Spec.Containers[1].Resources, corev1.ResourceRequirements{Requests: list("cpu", "200m", "memory", "256Mi"), Limits: list("cpu", "500m", "memory", "1Gi")}},
		{p.Spec.InitContainers[0].Resources, corev1.ResourceRequirements{Requests: list("cpu", "100m", "memory", "256Mi"), Limits: list("cpu", "500m", "memory", "512Mi")}},
	} {
		for name, want := range c.want.Requests {
			if got := c.got.Requests[name]; got.Cmp(want) != 0 {
				t.Errorf("request %s = %s, want %s", name, got.String(), want.String())
			}
		}
		for name, want := range c.want.Limits {
			if got := c.got.Limits[name]; got.Cmp(want) != 0 {
				t.Errorf("limit %s = %s, want %s", name, got.String(), want.String())
			}
		}
	}
	want := "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; " +
		"memory request for container b; cpu limit for container b; cpu, memory request for init container init; cpu, memory limit for init container init"
	if got := p.Annotations[Annotation]; got != want {
		t.Errorf("annotation = %q, want %q", got, want)
	}
}

func TestValidatePod(t *testing.T) {
	container := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Min: list("cpu", "100m"), Max: list("memory", "1Gi"), MaxLimitRequestRatio: list("cpu", "2")}
	podItem := corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu", "1")}
	tests := []struct {
		name string
		item corev1.LimitRangeItem
		pod  *corev1.Pod
		want string
	}{
		{"within every limit", container, pod(ctr("a", list("cpu", "200m", "memory", "1Gi"), list("cpu", "400m", "memory", "1Gi"))), ""},
		{"below the minimum", container, pod(ctr("a", list("cpu", "50m"), list("cpu", "100m", "memory", "1Gi"))),
			"minimum cpu usage per Container is 100m, but request is 50m"},
		{"no request where a minimum is", container, pod(ctr("a", nil, list("cpu", "100m", "memory", "1Gi"))),
			"[minimum cpu usage per Container is 100m.  No request is specified, cpu max limit to request ratio per Container is 2, but no request is specified or request is 0]"},
		{"no limit where a maximum is", container, pod(ctr("a", list("cpu", "100m"), list("cpu", "200m"))),
			"maximum memory usage per Container is 1Gi.  No limit is specified"},
		{"above the maximum", container, pod(ctr("a", list("cpu", "100m"), list("cpu", "200m", "memory", "2Gi"))),
			"maximum memory usage per Container is 1Gi, but limit is 2Gi"},
		{"a limit too far above the request", container, pod(ctr("a", list("cpu", "100m"), list("cpu", "300m", "memory", "1Gi"))),
			"cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"},
		{"the pod's total counts for Pod limits", podItem, pod(ctr("a", list("cpu", "600m"), list("cpu", "600m")), ctr("b", list("cpu", "600m"), list("cpu", "600m"))),
			"maximum cpu usage per Pod is 1, but limit is 1200m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errText(ValidatePod(limitRange(tt.item), tt.pod)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAdmitIsForbidden(t *testing.T) {
	l := &LimitRanger{Ranges: fakeRanges{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "1")})}}
	err := l.AdmitCreate(context.Background(), pod(ctr("a", list("cpu", "2"), list("cpu", "2"))))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("error = %v, want 403", err)
	}
	if want := `pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2`; err.Error() != want {
		t.Fatalf("error = %q, want %q", err.Error(), want)
	}
	// The default limit is the max, so a pod asking nothing fits.
	l = &LimitRanger{Ranges: fakeRanges{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("cpu", "1"), Default: list("cpu", "1")})}}
	if err := l.AdmitCreate(context.Background(), pod(ctr("a", nil, nil))); err != nil {
		t.Fatal(err)
	}
	// Pods in other namespaces are not judged.
	other := pod(ctr("a", list("cpu", "2"), list("cpu", "2")))
	other.Namespace = "elsewhere"
	if err := l.AdmitCreate(context.Background(), other); err != nil {
		t.Fatal(err)
	}
}

func TestClaims(t *testing.T) {
	l := &LimitRanger{Ranges: fakeRanges{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim,
		Min: list("storage", "1Gi"), Max: list("storage", "10Gi")})}}
	claim := func(storage string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
		if storage != "" {
			c.Spec.Resources.Requests = list("storage", storage)
		}
		return c
	}
	tests := []struct {
		name, storage, want string
	}{
		{"within the range", "5Gi", ""},
		{"too small", "500Mi", `persistentvolumeclaims "c" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{"too big", "20Gi", `persistentvolumeclaims "c" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errText(l.AdmitCreate(context.Background(), claim(tt.storage))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	old := claim("5Gi")
	if got := errText(l.AdmitUpdate(context.Background(), "", claim("20Gi"), old)); got == "" {
		t.Fatal("a resize beyond the max was admitted")
	}
	old.DeletionTimestamp = &metav1.Time{}
	if err := l.AdmitUpdate(context.Background(), "", claim("20Gi"), old); err != nil {
		t.Fatalf("a claim being deleted is not judged: %v", err)
	}
}
