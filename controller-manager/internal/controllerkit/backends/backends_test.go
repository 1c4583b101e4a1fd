package backends

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFindPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080},
		{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
	}}}}}
	tests := []struct {
		name    string
		sp      corev1.ServicePort
		want    int32
		wantErr bool
	}{
		{"named port", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, 8080, false},
		{"named port needs the same protocol", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("dns")}, 0, true},
		{"named UDP port", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}, 5353, false},
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, 9090, false},
		{"no target means the port", corev1.ServicePort{Port: 80}, 80, false},
		{"unknown name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindPort(pod, &tt.sp)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("FindPort = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name        string
		pod         corev1.Pod
		terminating bool
		want        bool
	}{
		{"running with IP", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodRunning}}, false, true},
		{"no IP yet", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, false, false},
		{"terminating excluded", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}}, false, false},
		{"terminating included", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}}, true, true},
		{"finished with restartPolicy Never", corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}, Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodFailed}}, false, false},
		{"succeeded with OnFailure", corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure}, Status: corev1.PodStatus{PodIP: "10.0.0.1", Phase: corev1.PodSucceeded}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Include(&tt.pod, tt.terminating); got != tt.want {
				t.Errorf("Include = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHostname(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "db-0", Subdomain: "db"}}
	if got := Hostname(pod, svc); got != "db-0" {
		t.Errorf("Hostname = %q, want db-0", got)
	}
	pod.Spec.Subdomain = "other"
	if got := Hostname(pod, svc); got != "" {
		t.Errorf("Hostname with another subdomain = %q, want empty", got)
	}
}
