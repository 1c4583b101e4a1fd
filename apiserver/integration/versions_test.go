package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	autoscalingv2apply "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"k8s.io/utils/ptr"
)

// The annotation autoscaling/v1 keeps autoscaling/v2's other metrics in.
const metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"

// nextEvent waits for w's next event of type typ, skipping others.
func nextEvent(t *testing.T, w watch.Interface, typ watch.EventType, what string) watch.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("%s: watch closed", what)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %s event", what, typ)
		}
	}
}

// TestVersionsHPA: an HPA is one object served as autoscaling/v2 and
// autoscaling/v1; every verb through one version is seen through the
// other.
func TestVersionsHPA(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "hpa")
	v1 := c.client.AutoscalingV1().HorizontalPodAutoscalers("hpa")
	v2 := c.client.AutoscalingV2().HorizontalPodAutoscalers("hpa")

	created, err := v1.Create(ctx(t), &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    3, TargetCPUUtilizationPercentage: ptr.To[int32](50),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(created.Spec.MinReplicas, 0) != 1 || ptr.Deref(created.Spec.TargetCPUUtilizationPercentage, 0) != 50 {
		t.Fatalf("created through v1: %+v", created.Spec)
	}
	w1, err := v1.Watch(ctx(t), metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Stop()
	w2, err := v2.Watch(ctx(t), metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()

	got, err := v2.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != created.UID || got.ResourceVersion != created.ResourceVersion || len(got.Spec.Metrics) != 1 ||
		got.Spec.Metrics[0].Resource == nil || ptr.Deref(got.Spec.Metrics[0].Resource.Target.AverageUtilization, 0) != 50 {
		t.Fatalf("read through v2: uid %s rv %s metrics %+v", got.UID, got.ResourceVersion, got.Spec.Metrics)
	}

	// A metric only v2 can say, added by a v2 merge patch, reaches v1's
	// watchers in the annotation.
	patch := `{"spec":{"metrics":[` +
		`{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}},` +
		`{"type":"Pods","pods":{"metric":{"name":"qps"},"target":{"type":"AverageValue","averageValue":"10"}}}]}}`
	if _, err := v2.Patch(ctx(t), "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := nextEvent(t, w1, watch.Modified, "v1 watch after the v2 patch").Object.(*autoscalingv1.HorizontalPodAutoscaler)
	if !strings.Contains(seen.Annotations[metricsAnnotation], `"qps"`) || ptr.Deref(seen.Spec.TargetCPUUtilizationPercentage, 0) != 50 {
		t.Fatalf("v1 watch saw %v %+v", seen.Annotations, seen.Spec)
	}
	if seen2 := nextEvent(t, w2, watch.Modified, "v2 watch after the v2 patch").Object.(*autoscalingv2.HorizontalPodAutoscaler); len(seen2.Spec.Metrics) != 2 {
		t.Fatalf("v2 watch saw metrics %+v", seen2.Spec.Metrics)
	}

	// An update through v1 of what v1 has keeps what it only carries in
	// the annotation.
	cur, err := v1.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.MaxReplicas = 8
	if _, err := v1.Update(ctx(t), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen2 := nextEvent(t, w2, watch.Modified, "v2 watch after the v1 update").Object.(*autoscalingv2.HorizontalPodAutoscaler)
	if seen2.Spec.MaxReplicas != 8 || len(seen2.Spec.Metrics) != 2 || seen2.Annotations[metricsAnnotation] != "" {
		t.Fatalf("v2 watch saw max %d metrics %+v annotations %v", seen2.Spec.MaxReplicas, seen2.Spec.Metrics, seen2.Annotations)
	}

	// A strategic merge patch through v1 (kubectl edit, apply) and a
	// server-side apply through v2.
	if _, err := v1.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(`{"spec":{"minReplicas":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	applied, err := v2.Apply(ctx(t), autoscalingv2apply.HorizontalPodAutoscaler("web", "hpa").
		WithSpec(autoscalingv2apply.HorizontalPodAutoscalerSpec().WithMaxReplicas(9).
			WithScaleTargetRef(autoscalingv2apply.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName("web"))),
		metav1.ApplyOptions{FieldManager: "versions-test", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Spec.MaxReplicas != 9 || ptr.Deref(applied.Spec.MinReplicas, 0) != 2 || len(applied.Spec.Metrics) != 2 {
		t.Fatalf("after the v1 patch and the v2 apply: %+v", applied.Spec)
	}

	// The status the controller writes through v2 shows in v1's fields.
	applied.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		CurrentReplicas: 2, DesiredReplicas: 3,
		CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
				Current: autoscalingv2.MetricValueStatus{AverageValue: ptr.To(resource.MustParse("3"))}}},
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](65)}}},
		},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"}},
	}
	if _, err := v2.UpdateStatus(ctx(t), applied, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, err = v1.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(cur.Status.CurrentCPUUtilizationPercentage, 0) != 65 || cur.Status.DesiredReplicas != 3 ||
		!strings.Contains(cur.Annotations["autoscaling.alpha.kubernetes.io/conditions"], "ReadyForNewScale") {
		t.Fatalf("v1 reads status %+v annotations %v", cur.Status, cur.Annotations)
	}

	// kubectl get hpa's columns, asked of v1.
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/autoscaling/v1/namespaces/hpa/horizontalpodautoscalers", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || resp.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", resp.code, err, resp.body)
	}
	var columns []string
	for _, col := range table.ColumnDefinitions {
		columns = append(columns, col.Name)
	}
	if strings.Join(columns, ",") != "Name,Reference,Targets,MinPods,MaxPods,Replicas,Age" || len(table.Rows) != 1 {
		t.Fatalf("table columns %v, %d rows", columns, len(table.Rows))
	}
	// Through v1 the CPU target went after the metric kept in the
	// annotation, as in Kubernetes; status metrics pair with them in order.
	if cells := table.Rows[0].Cells; cells[0] != "web" || cells[1] != "Deployment/web" || fmt.Sprint(cells[2]) != "3/10, cpu: 65%/50%" {
		t.Fatalf("table row %v", cells)
	}

	// Deleted through v1, gone through v2.
	if err := v1.Delete(ctx(t), "web", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &created.UID}}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, w2, watch.Deleted, "v2 watch after the v1 delete")
	if _, err := v2.Get(ctx(t), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("deleted through v1, still there through v2")
	}
}

// TestVersionsHPAKubectl: kubectl autoscale, then kubectl get hpa through
// each version.
func TestVersionsHPAKubectl(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "kc")
	labels := map[string]string{"app": "web"}
	if _, err := c.client.AppsV1().Deployments("kc").Create(ctx(t), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.kubectlRun(t, "-n", "kc", "autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=3")
	// kubectl explain reads the OpenAPI of both versions.
	if out := c.kubectlRun(t, "explain", "hpa.spec.targetCPUUtilizationPercentage", "--api-version=autoscaling/v1"); !strings.Contains(out, "integer") {
		t.Errorf("kubectl explain through autoscaling/v1:\n%s", out)
	}
	if out := c.kubectlRun(t, "explain", "events.regarding", "--api-version=events.k8s.io/v1"); !strings.Contains(out, "ObjectReference") {
		t.Errorf("kubectl explain through events.k8s.io/v1:\n%s", out)
	}
	for _, resource := range []string{"hpa", "horizontalpodautoscalers.v1.autoscaling", "horizontalpodautoscalers.v2.autoscaling"} {
		out := c.kubectlRun(t, "-n", "kc", "get", resource)
		if !strings.Contains(out, "REFERENCE") || !strings.Contains(out, "Deployment/web") || !strings.Contains(out, "50%") {
			t.Errorf("kubectl get %s:\n%s", resource, out)
		}
	}
}

// TestVersionsEvents: an Event is one object served as core/v1 and
// events.k8s.io/v1, with the newer API's names and rules.
func TestVersionsEvents(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "ev")
	core := c.client.CoreV1().Events("ev")
	events := c.client.EventsV1().Events("ev")

	wCore, err := core.Watch(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wCore.Stop()
	wEvents, err := events.Watch(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wEvents.Stop()

	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	regarding := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "ev", Name: "web-1"}
	created, err := events.Create(ctx(t), &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1.new"}, EventTime: now,
		ReportingController: "example.com/scaler", ReportingInstance: "scaler-1", Action: "Scale", Reason: "Scaled",
		Regarding: regarding, Note: "scaled up", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Note != "scaled up" || created.Regarding.Name != "web-1" {
		t.Fatalf("created %+v", created)
	}
	if e := nextEvent(t, wCore, watch.Added, "core watch").Object.(*corev1.Event); e.Name != "web-1.new" || e.Message != "scaled up" {
		t.Fatalf("core watch saw %+v", e)
	}

	// kubectl get events: the core list, with the field selector it uses.
	list, err := core.List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("core list: %d items", len(list.Items))
	}
	e := list.Items[0]
	if e.Message != "scaled up" || e.InvolvedObject != regarding || e.ReportingController != "example.com/scaler" ||
		e.Action != "Scale" || !e.EventTime.Equal(&now) || e.UID != created.UID || e.ResourceVersion != created.ResourceVersion {
		t.Fatalf("core reads %+v", e)
	}

	// An old-style event written through core/v1 reads through
	// events.k8s.io/v1 with the deprecated fields.
	first := metav1.NewTime(time.Now().Truncate(time.Second))
	if _, err := core.Create(ctx(t), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web-1.old"},
		InvolvedObject: regarding, Reason: "Pulled", Message: "image pulled", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "kubelet", Host: "node-a"}, FirstTimestamp: first, LastTimestamp: first, Count: 2,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, wEvents, watch.Added, "events.k8s.io watch").Object.(*eventsv1.Event); e.Name != "web-1.new" {
		// The first event the watch sees is the one created first.
		t.Fatalf("events.k8s.io watch saw %s first", e.Name)
	}
	if e := nextEvent(t, wEvents, watch.Added, "events.k8s.io watch").Object.(*eventsv1.Event); e.Name != "web-1.old" || e.Note != "image pulled" ||
		e.DeprecatedCount != 2 || e.DeprecatedSource.Component != "kubelet" || !e.DeprecatedFirstTimestamp.Equal(&first) || e.Regarding != regarding {
		t.Fatalf("events.k8s.io watch saw %+v", e)
	}

	// events.k8s.io's own field selectors.
	selected, err := events.List(ctx(t), metav1.ListOptions{FieldSelector: "regarding.name=web-1,reportingController=example.com/scaler"})
	if err != nil {
		t.Fatal(err)
	}
	if len(selected.Items) != 1 || selected.Items[0].Name != "web-1.new" {
		t.Fatalf("selected %d events", len(selected.Items))
	}

	// The stricter rules of the new API.
	_, err = events.Create(ctx(t), &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "bad"}, EventTime: now, Regarding: regarding, Reason: "Scaled", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "reportingController: Required value") || !strings.Contains(err.Error(), "action: Required value") {
		t.Fatalf("an event without reporter and action: %v", err)
	}

	// An update through events.k8s.io (a series), seen by core.
	created.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: now}
	if _, err := events.Update(ctx(t), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		e := nextEvent(t, wCore, watch.Modified, "core watch after the series").Object.(*corev1.Event)
		if e.Name == "web-1.new" {
			if e.Series == nil || e.Series.Count != 2 {
				t.Fatalf("core watch saw series %+v", e.Series)
			}
			break
		}
	}

	// kubectl get events.v1.events.k8s.io's columns.
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/events.k8s.io/v1/namespaces/ev/events", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || resp.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", resp.code, err, resp.body)
	}
	if len(table.ColumnDefinitions) < 5 || table.ColumnDefinitions[0].Name != "Last Seen" || table.ColumnDefinitions[3].Name != "Object" || len(table.Rows) != 2 {
		t.Fatalf("table %+v with %d rows", table.ColumnDefinitions, len(table.Rows))
	}
	out := c.kubectlRun(t, "-n", "ev", "get", "events.v1.events.k8s.io")
	if !strings.Contains(out, "pod/web-1") || !strings.Contains(out, "scaled up") {
		t.Errorf("kubectl get events.v1.events.k8s.io:\n%s", out)
	}

	// Deleted through events.k8s.io, gone from core.
	if err := events.Delete(ctx(t), "web-1.old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if e := nextEvent(t, wCore, watch.Deleted, "core watch after the delete").Object.(*corev1.Event); e.Name == "web-1.old" {
			break
		}
	}
}

// TestVersionsDiscovery: discovery, plain and aggregated, lists
// autoscaling/v2 (preferred) and v1, and events.k8s.io/v1.
func TestVersionsDiscovery(t *testing.T) {
	c := start(t)
	groups, err := c.client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"autoscaling": {"v2", "v1"}, "events.k8s.io": {"v1"}}
	for _, g := range groups.Groups {
		versions, ok := want[g.Name]
		if !ok {
			continue
		}
		delete(want, g.Name)
		var got []string
		for _, v := range g.Versions {
			got = append(got, v.Version)
		}
		if strings.Join(got, ",") != strings.Join(versions, ",") || g.PreferredVersion.Version != versions[0] {
			t.Errorf("group %s: versions %v preferred %s, want %v preferred %s", g.Name, got, g.PreferredVersion.Version, versions, versions[0])
		}
	}
	if len(want) != 0 {
		t.Errorf("groups missing from /apis: %v", want)
	}
	for _, gv := range []struct{ gv, resource string }{
		{"autoscaling/v1", "horizontalpodautoscalers"}, {"autoscaling/v1", "horizontalpodautoscalers/status"},
		{"autoscaling/v2", "horizontalpodautoscalers"}, {"events.k8s.io/v1", "events"},
	} {
		list, err := c.client.Discovery().ServerResourcesForGroupVersion(gv.gv)
		if err != nil {
			t.Fatalf("%s: %v", gv.gv, err)
		}
		found := false
		for _, r := range list.APIResources {
			found = found || r.Name == gv.resource
		}
		if !found {
			t.Errorf("%s does not list %s", gv.gv, gv.resource)
		}
	}

	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis", "", nil,
		http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}})
	var aggregated apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(resp.body, &aggregated); err != nil || resp.code != http.StatusOK {
		t.Fatalf("aggregated discovery: %d %v", resp.code, err)
	}
	for _, g := range aggregated.Items {
		if g.Name != "autoscaling" {
			continue
		}
		if len(g.Versions) != 2 || g.Versions[0].Version != "v2" || g.Versions[1].Version != "v1" {
			t.Fatalf("aggregated autoscaling versions %+v", g.Versions)
		}
	}
	for _, gvr := range [][3]string{{"autoscaling", "v1", "horizontalpodautoscalers"}, {"autoscaling", "v2", "horizontalpodautoscalers"}, {"events.k8s.io", "v1", "events"}} {
		if !inAggregated(aggregated, gvr[0], gvr[1], gvr[2]) {
			t.Errorf("aggregated discovery does not list %v", gvr)
		}
	}
}
