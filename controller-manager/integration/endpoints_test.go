package integration

import (
	"context"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func (e *env) createPod(ns, name string, lbls map[string]string, mutate func(*corev1.Pod)) {
	e.t.Helper()
	tmpl := podTemplate(lbls)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: tmpl.Spec}
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	if mutate != nil {
		mutate(p)
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
}

func (e *env) podIP(ns, name string) string {
	e.t.Helper()
	var ip string
	eventually(e.t, 30*time.Second, "pod "+name+" running", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ip = p.Status.PodIP
		return p.Status.Phase == corev1.PodRunning && ip != "", nil
	})
	return ip
}

func (e *env) slices(ns, svc string) []discoveryv1.EndpointSlice {
	e.t.Helper()
	list, err := e.client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

type sliceView struct{ ready, notReady []string }

func viewSlices(slices []discoveryv1.EndpointSlice) sliceView {
	var v sliceView
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				v.ready = append(v.ready, ep.Addresses[0])
			} else {
				v.notReady = append(v.notReady, ep.Addresses[0])
			}
		}
	}
	sort.Strings(v.ready)
	sort.Strings(v.notReady)
	return v
}

func addresses(ep *corev1.Endpoints) (ready, notReady []string, port int32) {
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			ready = append(ready, a.IP)
		}
		for _, a := range s.NotReadyAddresses {
			notReady = append(notReady, a.IP)
		}
		if len(s.Ports) > 0 {
			port = s.Ports[0].Port
		}
	}
	sort.Strings(ready)
	sort.Strings(notReady)
	return ready, notReady, port
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEndpoints(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e, "node-a")
	ns := e.namespace("ep")
	lbls := map[string]string{"app": "web"}
	e.createPod(ns, "web-1", lbls, nil)
	e.createPod(ns, "web-2", lbls, nil)
	ip1, ip2 := e.podIP(ns, "web-1"), e.podIP(ns, "web-2")
	_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: lbls, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sorted := []string{ip1, ip2}
	sort.Strings(sorted)
	eventually(t, 30*time.Second, "endpoints and slices with both pods", func() (bool, error) {
		ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, _, port := addresses(ep)
		v := viewSlices(e.slices(ns, "web"))
		return equal(ready, sorted) && port == 8080 && ep.Labels["tier"] == "front" && equal(v.ready, sorted), nil
	})
	for _, s := range e.slices(ns, "web") {
		if s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Service" {
			t.Errorf("slice %s: labels %v owners %v", s.Name, s.Labels, s.OwnerReferences)
		}
		if *s.Ports[0].Port != 8080 {
			t.Errorf("slice port %d, want the named targetPort 8080", *s.Ports[0].Port)
		}
	}

	t.Run("a not-ready pod moves to notReadyAddresses", func(t *testing.T) {
		k.setReady(ns, "web-2", false)
		eventually(t, 30*time.Second, "web-2 not ready", func() (bool, error) {
			ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ready, notReady, _ := addresses(ep)
			v := viewSlices(e.slices(ns, "web"))
			return equal(ready, []string{ip1}) && equal(notReady, []string{ip2}) && equal(v.ready, []string{ip1}) && equal(v.notReady, []string{ip2}), nil
		})
	})

	t.Run("publishNotReadyAddresses lists not-ready pods as ready", func(t *testing.T) {
		_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "all"},
			Spec: corev1.ServiceSpec{Selector: lbls, PublishNotReadyAddresses: true, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "both ready", func() (bool, error) {
			ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "all", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ready, _, _ := addresses(ep)
			return equal(ready, sorted) && equal(viewSlices(e.slices(ns, "all")).ready, sorted), nil
		})
	})

	t.Run("headless service gives hostnames", func(t *testing.T) {
		_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "db"},
			Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.createPod(ns, "db-0", map[string]string{"app": "db"}, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })
		e.podIP(ns, "db-0")
		eventually(t, 30*time.Second, "headless endpoints with hostname", func() (bool, error) {
			ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, headless := ep.Labels[corev1.IsHeadlessService]
			return headless && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].Hostname == "db-0", nil
		})
	})

	t.Run("a service without selector keeps its hand-made endpoints", func(t *testing.T) {
		_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "external"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "external"},
			Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.50"}}, Ports: []corev1.EndpointPort{{Name: "pg", Port: 5432}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Touch the service so the controllers certainly look at it.
		svc, _ := e.client.CoreV1().Services(ns).Get(ctx, "external", metav1.GetOptions{})
		svc.Labels = map[string]string{"touched": "yes"}
		if _, err := e.client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Wait until the controller has processed a later event (the
		// "web" endpoints change), then check nothing was written.
		k.setReady(ns, "web-2", true)
		eventually(t, 30*time.Second, "web-2 ready again", func() (bool, error) {
			ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ready, _, _ := addresses(ep)
			return equal(ready, sorted), nil
		})
		ep, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "external", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.50" {
			t.Errorf("hand-made endpoints changed: %+v %v", ep, err)
		}
		// The hand-made Endpoints are mirrored into a slice.
		eventually(t, 30*time.Second, "mirrored slice", func() (bool, error) {
			s := e.slices(ns, "external")
			return len(s) == 1 && s[0].Labels[discoveryv1.LabelManagedBy] == "endpointslicemirroring-controller.k8s.io" &&
				len(s[0].Endpoints) == 1 && s[0].Endpoints[0].Addresses[0] == "192.0.2.50" && *s[0].Ports[0].Port == 5432, nil
		})
		// default/kubernetes is the apiserver's: neither made nor mirrored.
		for _, s := range e.slices("default", "kubernetes") {
			if m := s.Labels[discoveryv1.LabelManagedBy]; m == "endpointslice-controller.k8s.io" || m == "endpointslicemirroring-controller.k8s.io" {
				t.Errorf("slice %s for default/kubernetes made by %s", s.Name, m)
			}
		}
	})

	t.Run("deleting the service deletes its endpoints and slices", func(t *testing.T) {
		if err := e.client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "endpoints and slices gone", func() (bool, error) {
			_, err := e.client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err) && len(e.slices(ns, "web")) == 0, nil
		})
	})
}
