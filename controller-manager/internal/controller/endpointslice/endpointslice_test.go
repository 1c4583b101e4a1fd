package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func pod(i int, ready, terminating bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "ns", UID: types.UID(fmt.Sprint(i))},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.%d.%d", i/256, i%256),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func svc(publishNotReady bool) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, PublishNotReadyAddresses: publishNotReady,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func TestDesiredConditions(t *testing.T) {
	tests := []struct {
		name                        string
		svc                         *corev1.Service
		pod                         *corev1.Pod
		ready, serving, terminating bool
	}{
		{"ready pod", svc(false), pod(1, true, false), true, true, false},
		{"not ready pod", svc(false), pod(1, false, false), false, false, false},
		{"terminating ready pod serves but is not ready", svc(false), pod(1, true, true), false, true, true},
		{"publishNotReadyAddresses", svc(true), pod(1, false, false), true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups := Desired(tt.svc, []*corev1.Pod{tt.pod})
			if len(groups) != 1 || len(groups[0].Endpoints) != 1 {
				t.Fatalf("groups = %+v", groups)
			}
			c := groups[0].Endpoints[0].Conditions
			if *c.Ready != tt.ready || *c.Serving != tt.serving || *c.Terminating != tt.terminating {
				t.Errorf("conditions ready=%v serving=%v terminating=%v, want %v %v %v", *c.Ready, *c.Serving, *c.Terminating, tt.ready, tt.serving, tt.terminating)
			}
			if *groups[0].Ports[0].Port != 8080 {
				t.Errorf("port = %d, want the named targetPort 8080", *groups[0].Ports[0].Port)
			}
		})
	}
}

func TestDesiredCutsAt100(t *testing.T) {
	var pods []*corev1.Pod
	for i := 0; i < 250; i++ {
		pods = append(pods, pod(i, true, false))
	}
	groups := Desired(svc(false), pods)
	if len(groups) != 3 || len(groups[0].Endpoints) != 100 || len(groups[2].Endpoints) != 50 {
		t.Errorf("250 endpoints cut into %d slices", len(groups))
	}
}

func TestReconcile(t *testing.T) {
	port := []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}
	other := []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](9090), Protocol: ptr.To(corev1.ProtocolTCP)}}
	ep := func(ip string) discoveryv1.Endpoint { return discoveryv1.Endpoint{Addresses: []string{ip}} }
	slice := func(name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name}, Ports: ports, Endpoints: eps}
	}
	tests := []struct {
		name                        string
		existing                    []*discoveryv1.EndpointSlice
		desired                     []Group
		wantUpdate, wantCreate, del int
	}{
		{"nothing exists: create", nil, []Group{{Ports: port, Endpoints: []discoveryv1.Endpoint{ep("1")}}}, 0, 1, 0},
		{"same content: untouched", []*discoveryv1.EndpointSlice{slice("a", port, ep("1"))},
			[]Group{{Ports: port, Endpoints: []discoveryv1.Endpoint{ep("1")}}}, 0, 0, 0},
		{"same ports, new endpoints: update in place", []*discoveryv1.EndpointSlice{slice("a", port, ep("1"))},
			[]Group{{Ports: port, Endpoints: []discoveryv1.Endpoint{ep("1"), ep("2")}}}, 1, 0, 0},
		{"ports changed: new slice, old one deleted", []*discoveryv1.EndpointSlice{slice("a", port, ep("1"))},
			[]Group{{Ports: other, Endpoints: []discoveryv1.Endpoint{ep("1")}}}, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Reconcile(tt.existing, tt.desired)
			if len(p.Update) != tt.wantUpdate || len(p.Create) != tt.wantCreate || len(p.Delete) != tt.del {
				t.Errorf("plan = %d updates, %d creates, %d deletes; want %d %d %d", len(p.Update), len(p.Create), len(p.Delete), tt.wantUpdate, tt.wantCreate, tt.del)
			}
		})
	}
}
