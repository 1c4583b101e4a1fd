package integration

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func service(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func TestKubernetesServiceExists(t *testing.T) {
	c := start(t)
	svc, err := c.client.CoreV1().Services("default").Get(ctx(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.96.0.1" || svc.Spec.Ports[0].Port != 443 {
		t.Fatalf("kubernetes service %+v", svc.Spec)
	}
	if net.ParseIP(c.Server.AdvertiseAddress()).IsLoopback() {
		t.Fatalf("advertise address %s is loopback: this host has no other address", c.Server.AdvertiseAddress())
	}
	ep, err := c.client.CoreV1().Endpoints("default").Get(ctx(t), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != c.Server.AdvertiseAddress() || int(ep.Subsets[0].Ports[0].Port) != c.Server.Port() {
		t.Fatalf("kubernetes endpoints %+v", ep.Subsets)
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := c.client.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	for _, pc := range []string{"system-node-critical", "system-cluster-critical"} {
		if _, err := c.client.SchedulingV1().PriorityClasses().Get(ctx(t), pc, metav1.GetOptions{}); err != nil {
			t.Errorf("priority class %s: %v", pc, err)
		}
	}
}

func TestClusterIPsAndNodePortsAreUniqueUnderConcurrency(t *testing.T) {
	c := start(t)
	svcs := c.client.CoreV1().Services("default")
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := service(fmt.Sprintf("s%d", i), corev1.ServiceTypeNodePort)
			if _, err := svcs.Create(ctx(t), s, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := svcs.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]string{}, map[int32]string{}
	for _, s := range list.Items {
		if prev, dup := ips[s.Spec.ClusterIP]; dup {
			t.Fatalf("ClusterIP %s given to %s and %s", s.Spec.ClusterIP, prev, s.Name)
		}
		ips[s.Spec.ClusterIP] = s.Name
		if s.Name == "kubernetes" {
			continue
		}
		if !strings.HasPrefix(s.Spec.ClusterIP, "10.") || len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
			t.Fatalf("%s: clusterIP %q clusterIPs %v", s.Name, s.Spec.ClusterIP, s.Spec.ClusterIPs)
		}
		p := s.Spec.Ports[0].NodePort
		if p < 30000 || p > 32767 {
			t.Fatalf("%s: nodePort %d out of range", s.Name, p)
		}
		if prev, dup := ports[p]; dup {
			t.Fatalf("NodePort %d given to %s and %s", p, prev, s.Name)
		}
		ports[p] = s.Name
	}
	if len(ips) != n+1 || len(ports) != n {
		t.Fatalf("%d IPs and %d ports for %d services", len(ips), len(ports), n)
	}
}

func TestRequestedClusterIPAndNodePort(t *testing.T) {
	c := start(t)
	svcs := c.client.CoreV1().Services("default")
	want := service("fixed", corev1.ServiceTypeNodePort)
	want.Spec.ClusterIP = "10.96.100.100"
	want.Spec.Ports[0].NodePort = 30100
	got, err := svcs.Create(ctx(t), want, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != "10.96.100.100" || got.Spec.Ports[0].NodePort != 30100 {
		t.Fatalf("requested values not honoured: %s %d", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
	}
	tests := []struct {
		name  string
		ip    string
		port  int32
		field string
		text  string
	}{
		{"taken IP", "10.96.100.100", 0, "spec.clusterIPs", "provided IP is already allocated"},
		{"IP out of range", "192.168.1.1", 0, "spec.clusterIPs", "not in the valid range"},
		{"taken port", "", 30100, "spec.ports[0].nodePort", "provided port is already allocated"},
		{"port out of range", "", 8080, "spec.ports[0].nodePort", "not in the valid range"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := service(fmt.Sprintf("clash%d", i), corev1.ServiceTypeNodePort)
			s.Spec.ClusterIP = tt.ip
			s.Spec.Ports[0].NodePort = tt.port
			_, err := svcs.Create(ctx(t), s, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("want 422 on %s (%s), got %v", tt.field, tt.text, err)
			}
		})
	}
}

func TestDeleteReleasesAllocations(t *testing.T) {
	c := start(t)
	svcs := c.client.CoreV1().Services("default")
	s := service("rel", corev1.ServiceTypeNodePort)
	s.Spec.ClusterIP = "10.96.50.50"
	s.Spec.Ports[0].NodePort = 30500
	if _, err := svcs.Create(ctx(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx(t), "rel", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := service("rel2", corev1.ServiceTypeNodePort)
	again.Spec.ClusterIP = "10.96.50.50"
	again.Spec.Ports[0].NodePort = 30500
	if _, err := svcs.Create(ctx(t), again, metav1.CreateOptions{}); err != nil {
		t.Fatalf("released IP and port not reusable: %v", err)
	}
}

func TestServiceTypeChangesAllocateAndRelease(t *testing.T) {
	c := start(t)
	svcs := c.client.CoreV1().Services("default")
	s, err := svcs.Create(ctx(t), service("flip", corev1.ServiceTypeClusterIP), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Ports[0].NodePort != 0 {
		t.Fatal("ClusterIP service got a nodePort")
	}
	s.Spec.Type = corev1.ServiceTypeNodePort
	if s, err = svcs.Update(ctx(t), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	port := s.Spec.Ports[0].NodePort
	if port == 0 {
		t.Fatal("NodePort service got no nodePort")
	}
	ip := s.Spec.ClusterIP
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.Ports[0].NodePort = 0
	s.Spec.ExternalTrafficPolicy = ""
	if s, err = svcs.Update(ctx(t), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.Spec.ClusterIP != ip || s.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("after flip back: ip %s port %d", s.Spec.ClusterIP, s.Spec.Ports[0].NodePort)
	}
	other := service("takes-port", corev1.ServiceTypeNodePort)
	other.Spec.Ports[0].NodePort = port
	if _, err := svcs.Create(ctx(t), other, metav1.CreateOptions{}); err != nil {
		t.Fatalf("released nodePort %d not reusable: %v", port, err)
	}
	headless := service("headless", corev1.ServiceTypeClusterIP)
	headless.Spec.ClusterIP = "None"
	h, err := svcs.Create(ctx(t), headless, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.ClusterIP != "None" {
		t.Fatalf("headless clusterIP %q", h.Spec.ClusterIP)
	}
}
