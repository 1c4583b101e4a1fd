package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

var widgets = schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "widgets"}

// widgetCRD is a namespaced CRD with two served versions (v1 stored), a
// structural schema with a default, an enum, a minimum and a CEL rule,
// status and scale subresources and a printer column.
func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	schemaProps := &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec": {
				Type: "object",
				Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"replicas": {Type: "integer", Minimum: ptr.To(0.0)},
					"color":    {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"red"`)}, {Raw: []byte(`"blue"`)}}},
					"size":     {Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"medium"`)}},
				},
				XValidations: apiextensionsv1.ValidationRules{{Rule: "!has(self.replicas) || self.replicas <= 10", Message: "at most 10 replicas"}},
			},
			"status": {
				Type:       "object",
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}},
			},
		},
	}
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{
			Name: name, Served: true, Storage: storage,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: schemaProps.DeepCopy()},
			Subresources: &apiextensionsv1.CustomResourceSubresources{
				Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
				Scale:  &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas"},
			},
			AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Color", Type: "string", JSONPath: ".spec.color"}},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.stable.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group:    "stable.example.com",
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wd"}, Categories: []string{"all"}},
			Scope:    apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1", true), version("v1beta1", false)},
		},
	}
}

func widget(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stable.example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
}

// createCRD creates crd and waits until it is Established.
func (c *cluster) createCRD(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsclient.Clientset {
	t.Helper()
	ext := apiextensionsclient.NewForConfigOrDie(c.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx(t), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the CRD Established", func() (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx(t), crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return ext
}

// A CRD is served as soon as it is Established: discovery, CRUD with
// schema validation, defaulting, pruning and CEL rules (422 naming the
// field), a second version, status and scale subresources, watches,
// printer columns; after a restart it is still served; deleting it
// deletes its objects.
func TestCustomResourceDefinition(t *testing.T) {
	c := start(t)
	ext := c.createCRD(t, widgetCRD())
	dyn := dynamic.NewForConfigOrDie(c.Config)
	ws := dyn.Resource(widgets).Namespace("default")

	crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx(t), "widgets.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(crd.Finalizers) != 0 || crd.Status.AcceptedNames.Kind != "Widget" || len(crd.Status.StoredVersions) != 1 || crd.Status.StoredVersions[0] != "v1" {
		t.Fatalf("status: finalizers %v, accepted names %+v, storedVersions %v", crd.Finalizers, crd.Status.AcceptedNames, crd.Status.StoredVersions)
	}

	resources, err := c.client.Discovery().ServerResourcesForGroupVersion("stable.example.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range resources.APIResources {
		names[r.Name] = true
		if r.Name == "widgets" && (r.Kind != "Widget" || !r.Namespaced || len(r.ShortNames) != 1 || r.ShortNames[0] != "wd") {
			t.Errorf("discovery of widgets: %+v", r)
		}
	}
	if !names["widgets"] || !names["widgets/status"] || !names["widgets/scale"] {
		t.Fatalf("discovery of stable.example.com/v1: %v", names)
	}
	group, err := c.client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range group.Groups {
		if g.Name == "stable.example.com" && g.PreferredVersion.Version != "v1" {
			t.Errorf("preferred version %s, want v1", g.PreferredVersion.Version)
		}
	}

	w, err := ws.Watch(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := ws.Create(ctx(t), widget("w1", map[string]any{"replicas": int64(2), "color": "red", "unknown": "dropped"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := created.Object["spec"].(map[string]any)
	if spec["size"] != "medium" || spec["unknown"] != nil || created.GetGeneration() != 1 {
		t.Fatalf("created: defaulting/pruning/generation wrong: %v (generation %d)", created.Object, created.GetGeneration())
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*unstructured.Unstructured).GetName() != "w1" {
			t.Fatalf("watch event %v %v", ev.Type, ev.Object)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event for w1")
	}

	for _, tc := range []struct {
		name string
		spec map[string]any
		want string
	}{
		{"negative", map[string]any{"replicas": int64(-1)}, "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"},
		{"enum", map[string]any{"color": "green"}, `spec.color: Unsupported value: "green": supported values: "red", "blue"`},
		{"cel", map[string]any{"replicas": int64(11)}, "spec: Invalid value: at most 10 replicas"},
	} {
		_, err := ws.Create(ctx(t), widget("bad-"+tc.name, tc.spec), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want 422 containing %q", tc.name, err, tc.want)
		}
	}

	// Fields the schema does not know: warned about by default, refused
	// with fieldValidation=Strict, naming each (metadata's too).
	body := []byte(`{"apiVersion":"stable.example.com/v1","kind":"Widget","metadata":{"name":"strict","bogus":1},"spec":{"unknown":1}}`)
	resp := doWith(t, c.http, c.Server.URL(), http.MethodPost, "/apis/stable.example.com/v1/namespaces/default/widgets?fieldValidation=Strict", "application/json", body, nil)
	want := `Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "metadata.bogus", unknown field "spec.unknown"`
	if resp.code != http.StatusBadRequest || resp.status(t).Message != want {
		t.Errorf("strict create: %d %s, want 400 %q", resp.code, resp.body, want)
	}
	resp = doWith(t, c.http, c.Server.URL(), http.MethodPost, "/apis/stable.example.com/v1/namespaces/default/widgets", "application/json", body, nil)
	if resp.code != http.StatusCreated || !strings.Contains(strings.Join(resp.header.Values("Warning"), "\n"), `unknown field \"spec.unknown\"`) {
		t.Errorf("create with unknown fields: %d %v %s", resp.code, resp.header.Values("Warning"), resp.body)
	}

	// Another served version reads the same object.
	beta, err := dyn.Resource(schema.GroupVersionResource{Group: "stable.example.com", Version: "v1beta1", Resource: "widgets"}).Namespace("default").Get(ctx(t), "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if beta.GetAPIVersion() != "stable.example.com/v1beta1" {
		t.Fatalf("read through v1beta1: apiVersion %s", beta.GetAPIVersion())
	}

	// status is the status subresource's: ignored on the object, written
	// through /status, where spec is ignored.
	created.Object["status"] = map[string]any{"replicas": int64(5)}
	updated, err := ws.Update(ctx(t), created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Object["status"] != nil {
		t.Fatalf("status written through the object: %v", updated.Object["status"])
	}
	updated.Object["status"] = map[string]any{"replicas": int64(2)}
	updated.Object["spec"].(map[string]any)["color"] = "blue"
	st, err := ws.UpdateStatus(ctx(t), updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Object["status"].(map[string]any)["replicas"] != int64(2) || st.Object["spec"].(map[string]any)["color"] != "red" {
		t.Fatalf("after /status: %v", st.Object)
	}

	// scale reads and writes the replica paths.
	scale, err := ws.Get(ctx(t), "w1", metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(scale.Object, "spec", "replicas"); got != 2 {
		t.Fatalf("scale: %v", scale.Object)
	}
	patch := []byte(`{"spec":{"replicas":4}}`)
	if _, err := ws.Patch(ctx(t), "w1", "application/merge-patch+json", patch, metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatal(err)
	}
	got, err := ws.Get(ctx(t), "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 4 || got.GetGeneration() != 2 {
		t.Fatalf("after scale: replicas %d generation %d", r, got.GetGeneration())
	}

	// A default added to the CRD applies to stored objects when read, and
	// the resource stays served while the CRD changes.
	crd, err = ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx(t), "widgets.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crd.Spec.Versions {
		props := crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
		props.Properties["shape"] = apiextensionsv1.JSONSchemaProps{Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"round"`)}}
		crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = props
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx(t), crd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the new default read", func() (bool, error) {
		got, err := ws.Get(ctx(t), "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("read while the CRD changes: %v", err)
		}
		shape, _, _ := unstructured.NestedString(got.Object, "spec", "shape")
		return shape == "round", nil
	})

	// kubectl's table: Name, the printer column, Age.
	resp = doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/stable.example.com/v1/namespaces/default/widgets", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || resp.code != http.StatusOK {
		t.Fatalf("table: %d %s", resp.code, resp.body)
	}
	if len(table.ColumnDefinitions) != 2 || table.ColumnDefinitions[1].Name != "Color" || len(table.Rows) != 2 || table.Rows[1].Cells[1] != "red" {
		t.Fatalf("table: %s", resp.body)
	}

	// Served again after a restart, objects kept.
	c.Restart()
	c = newCluster(t, c.TestServer)
	dyn = dynamic.NewForConfigOrDie(c.Config)
	ws = dyn.Resource(widgets).Namespace("default")
	if _, err := ws.Get(ctx(t), "w1", metav1.GetOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	// Deleting the CRD deletes its objects, then the CRD, then the API.
	ext = apiextensionsclient.NewForConfigOrDie(c.Config)
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx(t), "widgets.stable.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the CRD gone", func() (bool, error) {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx(t), "widgets.stable.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, 10*time.Second, "widgets no longer served", func() (bool, error) {
		_, err := ws.List(ctx(t), metav1.ListOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// A CRD of the same name again starts empty.
	c.createCRD(t, widgetCRD())
	list, err := ws.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("objects survived their CRD: %d", len(list.Items))
	}
}

// Two CRDs of one group may not share a plural: the second is not
// accepted and says why.
func TestCustomResourceDefinitionNameConflict(t *testing.T) {
	c := start(t)
	ext := c.createCRD(t, widgetCRD())
	other := widgetCRD()
	other.Name = "gadgets.stable.example.com"
	other.Spec.Names = apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Widget", ListKind: "GadgetList"}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx(t), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "NamesAccepted False", func() (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx(t), other.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
				if cond.Reason != "KindConflict" || cond.Message != `"Widget" is already in use` {
					t.Fatalf("condition %+v", cond)
				}
				return true, nil
			}
		}
		return false, nil
	})
}
