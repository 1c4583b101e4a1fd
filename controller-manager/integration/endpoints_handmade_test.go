package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/controller-manager/internal/controller/endpoints"
	"coracle.dev/controller-manager/manager"
)

// TestEndpointsControllerDeletesOnlyItsOwn: the Endpoints controller
// removes the Endpoints it made once their Service is gone, and those of
// a Service it sees deleted, but leaves Endpoints made by hand with no
// Service alone (the conformance suite's Endpoint lifecycle test updates
// and patches such an object).
func TestEndpointsControllerDeletesOnlyItsOwn(t *testing.T) {
	// One worker takes keys in the order they were queued, so once a
	// Service created later has its Endpoints, every earlier key was
	// synced.
	e := start(t, withControllers(endpoints.Name), func(c *manager.Config) { c.ConcurrentSyncs = 1 })
	ctx := e.ctx()
	ns := e.namespace("handmade")
	eps := e.client.CoreV1().Endpoints(ns)
	barriers := 0
	// settle waits until the controller has synced every key queued so far.
	settle := func() {
		t.Helper()
		barriers++
		name := "barrier-" + itoa(barriers)
		_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "endpoints of "+name, func() (bool, error) {
			ep, err := eps.Get(ctx, name, metav1.GetOptions{})
			return err == nil && endpoints.Owned(ep), nil
		})
	}
	subsets := []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.24"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}

	static, err := eps.Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "testservice", Labels: map[string]string{"test-endpoint-static": "true"}},
		Subsets:    subsets,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	static.Labels["test-service"] = "updated"
	if _, err := eps.Update(ctx, static, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	settle()
	patch := `{"metadata":{"labels":{"test-service":"patched"}},"subsets":[{"addresses":[{"ip":"10.0.0.25"}],"ports":[{"name":"http-test","port":8080}]}]}`
	if _, err := eps.Patch(ctx, "testservice", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch of hand-made endpoints: %v", err)
	}
	settle()
	if _, err := eps.Get(ctx, "testservice", metav1.GetOptions{}); err != nil {
		t.Fatalf("hand-made endpoints without a service: %v", err)
	}

	t.Run("endpoints the controller made go when their service is missing", func(t *testing.T) {
		_, err := eps.Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "leftover", Labels: map[string]string{endpoints.LabelManagedBy: endpoints.ControllerName}},
			Subsets:    subsets,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "leftover endpoints deleted", func() (bool, error) {
			_, err := eps.Get(ctx, "leftover", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})

	t.Run("a deleted service takes its hand-made endpoints along", func(t *testing.T) {
		_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "external"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eps.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external"}, Subsets: subsets}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		settle()
		if _, err := eps.Get(ctx, "external", metav1.GetOptions{}); err != nil {
			t.Fatalf("hand-made endpoints of a service without selector: %v", err)
		}
		if err := e.client.CoreV1().Services(ns).Delete(ctx, "external", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "endpoints of the deleted service gone", func() (bool, error) {
			_, err := eps.Get(ctx, "external", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
}
