package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// TestOpenAPI reads the apiserver's OpenAPI documents as its clients do:
// kubectl explain (v3, then v2), a raw /openapi/v2 parsed with
// kube-openapi's types, and client-go's OpenAPI v3 client.
func TestOpenAPI(t *testing.T) {
	c := start(t)

	out := c.kubectlRun(t, "explain", "pods.spec.containers")
	for _, want := range []string{"KIND:", "Pod", "FIELD: containers <[]Container>", "image\t<string>", "Container image name."} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain pods.spec.containers: no %q in\n%s", want, out)
		}
	}
	out = c.kubectlRun(t, "explain", "deployments.spec.strategy", "--output=plaintext-openapiv2")
	if !strings.Contains(out, "rollingUpdate") || !strings.Contains(out, "apps") {
		t.Errorf("kubectl explain (v2) deployments.spec.strategy:\n%s", out)
	}

	r := c.do(t, http.MethodGet, "/openapi/v2", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("/openapi/v2: %d %s", r.code, r.body)
	}
	var s spec.Swagger
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("/openapi/v2 does not parse: %v", err)
	}
	if _, ok := s.Definitions["io.k8s.api.core.v1.Pod"]; !ok {
		t.Error("/openapi/v2 has no Pod")
	}
	// The review kinds the server adds are created, never read.
	review := s.Paths.Paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
	if review.Post == nil || review.Post.ID != "createAuthorizationV1SelfSubjectAccessReview" || review.Get != nil {
		t.Errorf("selfsubjectaccessreviews: %+v", review)
	}

	paths, err := c.client.Discovery().OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	apps, ok := paths["apis/apps/v1"]
	if !ok {
		t.Fatalf("OpenAPI v3 paths %v lack apis/apps/v1", paths)
	}
	raw, err := apps.Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("apps/v1 document does not parse: %v", err)
	}
	deployment, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if !ok {
		t.Fatal("apps/v1 document has no Deployment")
	}
	if _, ok := deployment.Properties["spec"]; !ok {
		t.Errorf("Deployment schema %+v", deployment.Properties)
	}
}
