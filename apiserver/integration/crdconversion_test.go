package integration

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

// convertWebhook is a conversion webhook between v1 (spec.hostPort
// "h:p") and v2 (spec.host, spec.port), as the conformance suite's.
func convertWebhook(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review apiextensionsv1.ConversionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
		for _, raw := range review.Request.Objects {
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(raw.Raw); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			spec, _, _ := unstructured.NestedMap(u.Object, "spec")
			switch review.Request.DesiredAPIVersion {
			case "stable.example.com/v2":
				if hp, ok := spec["hostPort"].(string); ok {
					host, port, _ := strings.Cut(hp, ":")
					spec = map[string]any{"host": host, "port": port}
				}
			case "stable.example.com/v1":
				if host, ok := spec["host"].(string); ok {
					spec = map[string]any{"hostPort": host + ":" + spec["port"].(string)}
				}
			}
			u.Object["spec"] = spec
			u.SetAPIVersion(review.Request.DesiredAPIVersion)
			data, _ := u.MarshalJSON()
			resp.ConvertedObjects = append(resp.ConvertedObjects, runtimeRaw(data))
		}
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(&review)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A CRD with a conversion webhook: an object written in one version reads
// converted in the other, a list of objects written in both reads in one.
func TestCustomResourceConversionWebhook(t *testing.T) {
	c := start(t)
	hook := convertWebhook(t)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})
	open := &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
		},
	}}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "hosts.stable.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "stable.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "hosts", Singular: "host", Kind: "Host", ListKind: "HostList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: true, Schema: open},
				{Name: "v2", Served: true, Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true), Properties: map[string]apiextensionsv1.JSONSchemaProps{"host": {Type: "string"}}},
					},
				}}, SelectableFields: []apiextensionsv1.SelectableField{{JSONPath: ".spec.host"}}},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ClientConfig:             &apiextensionsv1.WebhookClientConfig{URL: ptr.To(hook.URL + "/convert"), CABundle: caPEM},
					ConversionReviewVersions: []string{"v1"},
				},
			},
		},
	}
	c.createCRD(t, crd)
	dyn := dynamic.NewForConfigOrDie(c.Config)
	v1 := dyn.Resource(schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "hosts"}).Namespace("default")
	v2 := dyn.Resource(schema.GroupVersionResource{Group: "stable.example.com", Version: "v2", Resource: "hosts"}).Namespace("default")

	one := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stable.example.com/v1", "kind": "Host", "metadata": map[string]any{"name": "one"},
		"spec": map[string]any{"hostPort": "localhost:8080"},
	}}
	if _, err := v1.Create(ctx(t), one, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := v2.Get(ctx(t), "one", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAPIVersion() != "stable.example.com/v2" || got.Object["spec"].(map[string]any)["host"] != "localhost" {
		t.Fatalf("v1 object read through v2: %v", got.Object)
	}
	two := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stable.example.com/v2", "kind": "Host", "metadata": map[string]any{"name": "two"},
		"spec": map[string]any{"host": "example", "port": "9090"},
	}}
	if _, err := v2.Create(ctx(t), two, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := v1.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, item := range list.Items {
		if item.GetAPIVersion() != "stable.example.com/v1" {
			t.Errorf("%s listed as %s", item.GetName(), item.GetAPIVersion())
		}
		hp, _, _ := unstructured.NestedString(item.Object, "spec", "hostPort")
		seen[item.GetName()] = hp
	}
	if seen["one"] != "localhost:8080" || seen["two"] != "example:9090" {
		t.Fatalf("v1 list: %v", seen)
	}

	// v2's selectable field selects objects written in v1, converted.
	selected, err := v2.List(ctx(t), metav1.ListOptions{FieldSelector: "spec.host=localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(selected.Items) != 1 || selected.Items[0].GetName() != "one" {
		t.Fatalf("v2 list with spec.host=localhost: %d items", len(selected.Items))
	}
}

func runtimeRaw(data []byte) runtime.RawExtension { return runtime.RawExtension{Raw: data} }
