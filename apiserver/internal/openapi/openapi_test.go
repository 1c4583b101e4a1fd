package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/kinds"
)

// serve starts the handler over HTTP, as the apiserver routes it.
func serve(t *testing.T) (*Handler, string) {
	t.Helper()
	reg, err := kinds.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	// As the server gives ServiceAccounts their token subresource.
	sa, ok := reg.Lookup("", "v1", "serviceaccounts")
	if !ok {
		t.Fatal("no serviceaccounts")
	}
	sa.Actions = map[string]*apiresource.Action{"token": {
		GVK: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
		New: func() runtime.Object { return &authenticationv1.TokenRequest{} },
	}}
	h, err := New(reg, "v1.37.2-coracle")
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Install(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return h, srv.URL
}

type answer struct {
	code   int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// Plain transport: gzip is asked for (and undone) by the test itself.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func swagger(t *testing.T, url string) *spec.Swagger {
	t.Helper()
	a := get(t, url+"/openapi/v2")
	if a.code != http.StatusOK {
		t.Fatalf("/openapi/v2: %d %s", a.code, a.body)
	}
	var s spec.Swagger
	if err := json.Unmarshal(a.body, &s); err != nil {
		t.Fatalf("/openapi/v2 does not parse: %v", err)
	}
	return &s
}

func gvks(ext spec.Extensions) []map[string]any {
	var out []map[string]any
	raw, _ := json.Marshal(ext["x-kubernetes-group-version-kind"])
	_ = json.Unmarshal(raw, &out)
	return out
}

// paramNames lists an operation's parameters, shared ones ($ref into the
// document's parameters) resolved.
func paramNames(s *spec.Swagger, params []spec.Parameter) []string {
	var names []string
	for _, p := range params {
		if ref := p.Ref.String(); ref != "" {
			p = s.Parameters[strings.TrimPrefix(ref, "#/parameters/")]
		}
		names = append(names, p.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOpenAPIV2(t *testing.T) {
	_, url := serve(t)
	s := swagger(t, url)
	if s.Info.Title != "Kubernetes" || s.Info.Version != "v1.37.2" {
		t.Errorf("info %+v", s.Info.InfoProps)
	}
	tests := []struct {
		definition string
		gvk        map[string]any
	}{
		{"io.k8s.api.core.v1.Pod", map[string]any{"group": "", "version": "v1", "kind": "Pod"}},
		{"io.k8s.api.apps.v1.Deployment", map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"}},
		{"io.k8s.api.apps.v1.DeploymentList", map[string]any{"group": "apps", "version": "v1", "kind": "DeploymentList"}},
		{"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition", map[string]any{"group": "apiextensions.k8s.io", "version": "v1", "kind": "CustomResourceDefinition"}},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", map[string]any{"group": "apps", "version": "v1", "kind": "DeleteOptions"}},
	}
	for _, tt := range tests {
		def, ok := s.Definitions[tt.definition]
		if !ok {
			t.Errorf("no definition %s", tt.definition)
			continue
		}
		found := false
		for _, g := range gvks(def.Extensions) {
			found = found || fmt.Sprint(g) == fmt.Sprint(tt.gvk)
		}
		if !found {
			t.Errorf("%s: x-kubernetes-group-version-kind %v lacks %v", tt.definition, def.Extensions["x-kubernetes-group-version-kind"], tt.gvk)
		}
	}
	container := s.Definitions["io.k8s.api.core.v1.Container"]
	if _, ok := container.Properties["image"]; !ok {
		t.Errorf("Container has no image: %v", container.Properties)
	}

	item, ok := s.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
	if !ok || item.Patch == nil {
		t.Fatalf("no PATCH of a deployment: %+v", item)
	}
	if item.Patch.ID != "patchAppsV1NamespacedDeployment" || !contains(item.Patch.Consumes, "application/apply-patch+yaml") {
		t.Errorf("patch operation %s consumes %v", item.Patch.ID, item.Patch.Consumes)
	}
	// kubectl reads from this parameter that the server validates fields.
	if names := paramNames(s, item.Patch.Parameters); !contains(names, "fieldValidation") || !contains(names, "force") || !contains(names, "fieldManager") {
		t.Errorf("patch parameters %v", names)
	}
	if ref := item.Get.Responses.StatusCodeResponses[200].Schema.Ref.String(); ref != "#/definitions/io.k8s.api.apps.v1.Deployment" {
		t.Errorf("read answers %s", ref)
	}
	scale := s.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
	if scale.Put == nil || scale.Put.ID != "replaceAppsV1NamespacedDeploymentScale" ||
		scale.Put.Responses.StatusCodeResponses[200].Schema.Ref.String() != "#/definitions/io.k8s.api.autoscaling.v1.Scale" {
		t.Errorf("scale %+v", scale.Put)
	}
	if all := s.Paths.Paths["/api/v1/pods"]; all.Get == nil || all.Get.ID != "listCoreV1PodForAllNamespaces" {
		t.Errorf("pods across namespaces: %+v", all.Get)
	}
	if token := s.Paths.Paths["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]; token.Post == nil ||
		token.Post.ID != "createCoreV1NamespacedServiceAccountToken" ||
		token.Post.Responses.StatusCodeResponses[201].Schema.Ref.String() != "#/definitions/io.k8s.api.authentication.v1.TokenRequest" {
		t.Errorf("serviceaccounts/token: %+v", token.Post)
	}
	// The log's options are its only operation's: the path's parameters.
	if logs := s.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]; logs.Get == nil ||
		!contains(paramNames(s, logs.Parameters), "tailLines") || !logs.Get.Responses.StatusCodeResponses[200].Schema.Type.Contains("string") {
		t.Errorf("pod log %+v", logs)
	}
}

func TestOpenAPIV2Serving(t *testing.T) {
	_, url := serve(t)
	pb := get(t, url+"/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if pb.code != http.StatusOK || pb.header.Get("Content-Type") != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Fatalf("protobuf: %d %s", pb.code, pb.header.Get("Content-Type"))
	}
	var doc openapi_v2.Document
	if err := proto.Unmarshal(pb.body, &doc); err != nil {
		t.Fatalf("protobuf does not parse: %v", err)
	}
	found := false
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		found = found || d.GetName() == "io.k8s.api.core.v1.Pod"
	}
	if !found {
		t.Error("protobuf document has no Pod")
	}

	first := get(t, url+"/openapi/v2")
	etag := first.header.Get("Etag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if again := get(t, url+"/openapi/v2", "If-None-Match", etag); again.code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", again.code)
	}
	zipped := get(t, url+"/openapi/v2", "Accept-Encoding", "gzip")
	if zipped.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip answered %q", zipped.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, first.body) {
		t.Errorf("gzip body differs (%v)", err)
	}
	if bad := get(t, url+"/openapi/v2", "Accept", "text/html"); bad.code != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d, want 406", bad.code)
	}
}

type v3Root struct {
	Paths map[string]struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	} `json:"paths"`
}

func v3root(t *testing.T, url string) v3Root {
	t.Helper()
	a := get(t, url+"/openapi/v3")
	if a.code != http.StatusOK {
		t.Fatalf("/openapi/v3: %d", a.code)
	}
	var root v3Root
	if err := json.Unmarshal(a.body, &root); err != nil {
		t.Fatal(err)
	}
	return root
}

func v3doc(t *testing.T, url string, root v3Root, key string) *spec3.OpenAPI {
	t.Helper()
	entry, ok := root.Paths[key]
	if !ok {
		t.Fatalf("/openapi/v3 does not list %s: %v", key, root.Paths)
	}
	a := get(t, url+entry.ServerRelativeURL)
	if a.code != http.StatusOK {
		t.Fatalf("%s: %d %s", entry.ServerRelativeURL, a.code, a.body)
	}
	if a.header.Get("Cache-Control") != "public, immutable" {
		t.Errorf("%s: Cache-Control %q", key, a.header.Get("Cache-Control"))
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(a.body, &doc); err != nil {
		t.Fatalf("%s does not parse: %v", key, err)
	}
	return &doc
}

func TestOpenAPIV3(t *testing.T) {
	_, url := serve(t)
	root := v3root(t, url)
	for _, key := range []string{"api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1"} {
		if _, ok := root.Paths[key]; !ok {
			t.Errorf("root lacks %s", key)
		}
	}
	core := v3doc(t, url, root, "api/v1")
	pod, ok := core.Components.Schemas["io.k8s.api.core.v1.Pod"]
	if !ok || len(gvks(pod.Extensions)) != 1 {
		t.Fatalf("core/v1 Pod schema %+v", pod)
	}
	if _, ok := core.Components.Schemas["io.k8s.api.apps.v1.Deployment"]; ok {
		t.Error("core/v1 carries apps' schemas")
	}
	patch := core.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Patch
	if patch == nil || patch.OperationId != "patchCoreV1NamespacedPod" {
		t.Fatalf("pod patch %+v", patch)
	}
	var names []string
	for _, p := range patch.Parameters {
		names = append(names, p.Name)
	}
	if !contains(names, "fieldValidation") {
		t.Errorf("pod patch parameters %v", names)
	}
	// The v3 documents keep defaults; v2 drops them, as kube-apiserver.
	if def := core.Components.Schemas["io.k8s.api.core.v1.PodSpec"].Properties["containers"].Items.Schema; def == nil {
		t.Error("PodSpec containers have no item schema")
	}

	if a := get(t, url+"/openapi/v3/apis/nothing.example.com/v1"); a.code != http.StatusNotFound {
		t.Errorf("unknown group-version: %d", a.code)
	}
	if a := get(t, url+"/openapi/v3/api/v1?hash=0123"); a.code != http.StatusMovedPermanently || !strings.Contains(a.header.Get("Location"), root.Paths["api/v1"].ServerRelativeURL[len("/openapi/v3/api/v1"):]) {
		t.Errorf("stale hash: %d %s", a.code, a.header.Get("Location"))
	}
}

const crontabCRD = `{
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "crontabs.stable.example.com"},
  "spec": {
    "group": "stable.example.com", "scope": "Namespaced",
    "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList", "shortNames": ["ct"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "description": "CronTab runs a command on a schedule.", "properties": {
        "spec": {"type": "object", "description": "What to run.", "properties": {
          "cronSpec": {"type": "string", "description": "The schedule, in cron format."},
          "replicas": {"type": "integer", "default": 1}
        }},
        "status": {"type": "object", "properties": {"active": {"type": "integer"}}}
      }}}}]
  }
}`

func crontabs(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := json.Unmarshal([]byte(crontabCRD), crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

func TestCustomResource(t *testing.T) {
	h, url := serve(t)
	crd := crontabs(t)
	if err := h.SetCustomResource(crd); err != nil {
		t.Fatal(err)
	}
	root := v3root(t, url)
	doc := v3doc(t, url, root, "apis/stable.example.com/v1")
	ct, ok := doc.Components.Schemas["com.example.stable.v1.CronTab"]
	if !ok {
		t.Fatalf("no CronTab schema: %v", doc.Components.Schemas)
	}
	if _, ok := ct.Properties["spec"].Properties["cronSpec"]; !ok {
		t.Errorf("CronTab spec %+v", ct.Properties["spec"])
	}
	if doc.Paths.Paths["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status"] == nil {
		t.Error("no status path")
	}
	s := swagger(t, url)
	if _, ok := s.Definitions["com.example.stable.v1.CronTab"]; !ok {
		t.Error("v2 has no CronTab")
	}
	if _, ok := s.Definitions["io.k8s.api.core.v1.Pod"]; !ok {
		t.Error("v2 lost the built-in definitions")
	}
	if s.Paths.Paths["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs"].Get == nil {
		t.Error("v2 has no crontabs list")
	}

	// v1 stops being served, v2 is: v1's documents go.
	next := crd.DeepCopy()
	v2 := next.Spec.Versions[0]
	v2.Name, v2.Storage = "v2", false
	next.Spec.Versions[0].Served = false
	next.Spec.Versions = append(next.Spec.Versions, v2)
	if err := h.SetCustomResource(next); err != nil {
		t.Fatal(err)
	}
	root = v3root(t, url)
	if _, ok := root.Paths["apis/stable.example.com/v1"]; ok {
		t.Error("v1 still listed")
	}
	v3doc(t, url, root, "apis/stable.example.com/v2")
	if a := get(t, url+"/openapi/v3/apis/stable.example.com/v1"); a.code != http.StatusNotFound {
		t.Errorf("v1 document: %d", a.code)
	}
	s = swagger(t, url)
	if _, ok := s.Definitions["com.example.stable.v1.CronTab"]; ok {
		t.Error("v2 document still has v1 CronTab")
	}
	if _, ok := s.Definitions["com.example.stable.v2.CronTab"]; !ok {
		t.Error("v2 document has no v2 CronTab")
	}

	h.RemoveCustomResource(crd.Name)
	if _, ok := v3root(t, url).Paths["apis/stable.example.com/v2"]; ok {
		t.Error("removed CRD still listed")
	}
	if _, ok := swagger(t, url).Definitions["com.example.stable.v2.CronTab"]; ok {
		t.Error("removed CRD still in v2")
	}
	h.RemoveCustomResource("never.set.example.com")
}

// TestCustomResourceConcurrency reads the documents while CRDs come and
// go: readers never see an error, and every CRD is there at the end.
func TestCustomResourceConcurrency(t *testing.T) {
	h, url := serve(t)
	const writers, perWriter = 3, 5
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	done := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, p := range []string{"/openapi/v2", "/openapi/v3"} {
					resp, err := http.Get(url + p)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("%s: %d", p, resp.StatusCode)
					}
				}
			}
		}()
	}
	var wwg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			for i := 0; i < perWriter; i++ {
				crd := crontabs(t)
				crd.Spec.Group = fmt.Sprintf("g%d.example.com", w)
				crd.Name = "crontabs." + crd.Spec.Group
				if err := h.SetCustomResource(crd); err != nil {
					errs <- err
				}
				if i < perWriter-1 {
					h.RemoveCustomResource(crd.Name)
				}
			}
		}(w)
	}
	wwg.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	root := v3root(t, url)
	for w := 0; w < writers; w++ {
		if _, ok := root.Paths[fmt.Sprintf("apis/g%d.example.com/v1", w)]; !ok {
			t.Errorf("g%d missing", w)
		}
	}
}

// TestKubectlExplainCustomResource runs the real kubectl explain against
// the handler (with the little discovery kubectl maps names with) for a
// custom resource, through the v3 documents and through v2.
func TestKubectlExplainCustomResource(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: this test drives the real kubectl (v1.32); install it")
	}
	reg, err := kinds.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(reg, "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetCustomResource(crontabs(t)); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Install(r)
	discovery := map[string]any{
		"/api":    metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}},
		"/apis":   metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{{Name: "stable.example.com", Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: "stable.example.com/v1", Version: "v1"}}, PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: "stable.example.com/v1", Version: "v1"}}}},
		"/api/v1": metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1"},
		"/apis/stable.example.com/v1": metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "stable.example.com/v1",
			APIResources: []metav1.APIResource{{Name: "crontabs", SingularName: "crontab", Namespaced: true, Kind: "CronTab", ShortNames: []string{"ct"}, Verbs: metav1.Verbs{"get", "list", "create"}}}},
	}
	for path, body := range discovery {
		r.GET(path, func(c *gin.Context) { c.JSON(http.StatusOK, body) })
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"explain", "crontabs.spec"},
		{"explain", "ct.spec", "--output=plaintext-openapiv2"},
	} {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, want := range []string{"KIND:", "CronTab", "cronSpec", "The schedule, in cron format."} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kubectl %s: no %q in\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
}
