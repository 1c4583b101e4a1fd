package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name, ip string, ready bool, port int32) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec: corev1.PodSpec{NodeName: "n1", Hostname: name, Subdomain: "svc",
			Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func service(headless, publishNotReady bool, ports ...corev1.ServicePort) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: ports, PublishNotReadyAddresses: publishNotReady, ClusterIP: "10.96.0.10"},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

func TestSubsets(t *testing.T) {
	named := corev1.ServicePort{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}
	tests := []struct {
		name         string
		svc          *corev1.Service
		pods         []*corev1.Pod
		wantSubsets  int
		wantReady    []string
		wantNotReady []string
		wantPort     int32
	}{
		{"ready and not ready", service(false, false, named),
			[]*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", false, 8080)},
			1, []string{"10.0.0.1"}, []string{"10.0.0.2"}, 8080},
		{"publishNotReadyAddresses makes all ready", service(false, true, named),
			[]*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", false, 8080)},
			1, []string{"10.0.0.1", "10.0.0.2"}, nil, 8080},
		{"named targetPort resolved per pod splits subsets", service(false, false, named),
			[]*corev1.Pod{pod("a", "10.0.0.1", true, 8080), pod("b", "10.0.0.2", true, 9090)},
			2, nil, nil, 0},
		{"pods without an IP are left out", service(false, false, named),
			[]*corev1.Pod{pod("a", "", true, 8080)}, 0, nil, nil, 0},
		{"headless without ports lists addresses", service(true, false),
			[]*corev1.Pod{pod("a", "10.0.0.1", true, 8080)}, 1, []string{"10.0.0.1"}, nil, 0},
		{"not headless without ports lists nothing", service(false, false),
			[]*corev1.Pod{pod("a", "10.0.0.1", true, 8080)}, 0, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Subsets(tt.svc, tt.pods)
			if len(got) != tt.wantSubsets {
				t.Fatalf("%d subsets, want %d: %+v", len(got), tt.wantSubsets, got)
			}
			if tt.wantSubsets != 1 {
				return
			}
			s := got[0]
			var ready, notReady []string
			for _, a := range s.Addresses {
				ready = append(ready, a.IP)
			}
			for _, a := range s.NotReadyAddresses {
				notReady = append(notReady, a.IP)
			}
			if len(ready) != len(tt.wantReady) || len(notReady) != len(tt.wantNotReady) {
				t.Errorf("ready %v notReady %v, want %v %v", ready, notReady, tt.wantReady, tt.wantNotReady)
			}
			if tt.wantPort != 0 && (len(s.Ports) != 1 || s.Ports[0].Port != tt.wantPort || s.Ports[0].Name != "web") {
				t.Errorf("ports = %+v, want web:%d", s.Ports, tt.wantPort)
			}
		})
	}
}

func TestSubsetsHostname(t *testing.T) {
	got := Subsets(service(true, false), []*corev1.Pod{pod("svc-0", "10.0.0.1", true, 80)})
	if len(got) != 1 || got[0].Addresses[0].Hostname != "svc-0" {
		t.Errorf("hostname not set for a pod in the service's subdomain: %+v", got)
	}
}

func TestOwned(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"made by the controller", map[string]string{LabelManagedBy: ControllerName}, true},
		{"made by hand", map[string]string{"test-endpoint-static": "true"}, false},
		{"no labels", nil, false},
		{"managed by someone else", map[string]string{LabelManagedBy: "my-operator"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns", Labels: tt.labels}}
			if got := Owned(ep); got != tt.want {
				t.Errorf("Owned = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	svc := service(true, false)
	svc.Labels = map[string]string{"tier": "front"}
	got := Labels(svc)
	want := map[string]string{"tier": "front", corev1.IsHeadlessService: "", LabelManagedBy: ControllerName}
	if len(got) != len(want) {
		t.Fatalf("Labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("Labels = %v, want %v", got, want)
		}
	}
	if len(svc.Labels) != 1 {
		t.Errorf("the Service's labels were changed: %v", svc.Labels)
	}
}
