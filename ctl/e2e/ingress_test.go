package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestDescribeIngressParity describes Ingresses and an IngressClass made
// as a person makes them (kubectl create ingress, Services, the slices
// an EndpointSlice controller would write, an address set by an Ingress
// controller, an event) and requires ctl to print what kubectl prints,
// ages aside: endpoints per backend port, a missing Service's error, TLS,
// the default backend.
func TestDescribeIngressParity(t *testing.T) {
	c := startCluster(t)
	ours, theirs := ctl(t, c), kubectl(t, c)
	ctx := context.Background()
	ns := c.namespace(t)

	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "metrics", Port: 9090}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"},
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(9000)}}}},
	} {
		if _, err := c.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// web has five endpoints, one not ready, so both print "+ 1 more...";
	// api's single slice has its unnamed port.
	var webEndpoints []discoveryv1.Endpoint
	for i, ip := range []string{"10.244.1.7", "10.244.1.8", "10.244.2.3", "10.244.2.4", "10.244.2.5"} {
		webEndpoints = append(webEndpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(i != 2)}})
	}
	for _, s := range []*discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: webEndpoints,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}, {Name: ptr.To("metrics"), Port: ptr.To[int32](9090)}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "api-fghij", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.3.9"}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](9000)}}},
	} {
		if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	theirs.ok(t, "-n", ns, "create", "ingress", "web", "--class=coracle",
		"--rule=web.example/*=web:80", "--rule=web.example/metrics=web:metrics",
		"--rule=api.example/v1=api:8080,tls=api-tls", "--rule=api.example/v2*=missing:80",
		"--default-backend=web:80", "--annotation=note=routes the shop")
	theirs.ok(t, "-n", ns, "create", "ingress", "bare", "--default-backend=gone:http")
	// Made with kubectl apply (its last-applied annotation is not shown),
	// with a long and a multi-line annotation (shown under their keys).
	applied := filepath.Join(t.TempDir(), "applied.yaml")
	manifest := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: applied
  annotations:
    long: "` + strings.Repeat("x", 150) + `"
    lines: "first\nsecond"
spec:
  defaultBackend:
    service: {name: web, port: {number: 80}}
`
	if err := os.WriteFile(applied, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	theirs.ok(t, "-n", ns, "apply", "-f", applied)
	ing, err := c.client.NetworkingV1().Ingresses(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Labels = map[string]string{"app": "web", "tier": "edge"}
	if ing, err = c.client.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An Ingress controller reports every node's address, unordered.
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "172.31.250.12"}, {IP: "172.31.250.11"}}
	if ing, err = c.client.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	_, err = c.client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Ingress", Name: "web", Namespace: ns, UID: ing.UID, APIVersion: "networking.k8s.io/v1"},
		Reason:         "BackendNotFound", Message: `service "missing" not found`, Type: "Warning",
		Source: corev1.EventSource{Component: "coracle-ingress"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "coracle-parity", Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: "coracle.dev/ingress",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "lb"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Ages are the only thing that may differ between the two runs.
	maskAge := regexp.MustCompile(`\b[0-9]+[smhd]([0-9]+[smh])?\b`)
	for _, args := range [][]string{
		{"-n", ns, "describe", "ingress", "web"},
		{"-n", ns, "describe", "ing", "bare"},
		{"-n", ns, "describe", "ingress", "applied"},
		{"-n", ns, "describe", "ingresses"},
		{"describe", "ingressclass", "coracle-parity"},
	} {
		got, want := ours.ok(t, args...), theirs.ok(t, args...)
		if maskAge.ReplaceAllString(got, "AGE") != maskAge.ReplaceAllString(want, "AGE") {
			t.Errorf("ctl %q printed:\n%s\nkubectl printed:\n%s", args, got, want)
		}
	}
}
