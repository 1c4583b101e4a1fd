package fieldmanager

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"coracle.dev/apiserver/internal/kinds"
	"coracle.dev/apiserver/internal/openapi"
)

// builtin builds the built-in models and their type converter once for
// the package's tests: they are the server's, from the generated
// definitions and the served kinds.
var builtin = sync.OnceValues(func() (map[string]*spec.Schema, managedfields.TypeConverter) {
	reg, err := kinds.NewRegistry()
	if err != nil {
		panic(err)
	}
	h, err := openapi.New(reg, "v1.37.2")
	if err != nil {
		panic(err)
	}
	tc, err := NewTypeConverter(h.Models())
	if err != nil {
		panic(err)
	}
	return h.Models(), tc
})

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

func deployments(t *testing.T, subresource string) *Manager {
	t.Helper()
	_, tc := builtin()
	m, err := New(tc, deploymentKind, subresource,
		Typed(func() kruntime.Object { return &appsv1.Deployment{} }), StatusSubresource())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func deploymentYAML(replicas int, extra string) []byte {
	return []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
` + extra + `spec:
  replicas: ` + strconv.Itoa(replicas) + `
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
`)
}

// owners returns, per manager and operation ("mgr/Apply"), the fields it
// owns, as the paths structured-merge-diff prints (".spec.replicas").
func owners(t *testing.T, obj kruntime.Object) map[string]*fieldpath.Set {
	t.Helper()
	acc, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*fieldpath.Set{}
	for _, e := range acc.GetManagedFields() {
		set := &fieldpath.Set{}
		if err := set.FromJSON(strings.NewReader(string(e.FieldsV1.Raw))); err != nil {
			t.Fatal(err)
		}
		key := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			key += "/" + e.Subresource
		}
		out[key] = set
	}
	return out
}

func owns(t *testing.T, obj kruntime.Object, manager string, path ...any) bool {
	t.Helper()
	set, ok := owners(t, obj)[manager]
	return ok && set.Has(fieldpath.MakePathOrDie(path...))
}

func replicas(obj kruntime.Object) int32 { return ptr.Deref(obj.(*appsv1.Deployment).Spec.Replicas, 1) }

func TestApplyDeployment(t *testing.T) {
	m := deployments(t, "")
	type step struct {
		manager  string
		patch    []byte
		force    bool
		conflict string // the 409's message; "" when the apply succeeds
	}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, obj kruntime.Object)
	}{
		{
			name:  "an apply that creates owns what it sets",
			steps: []step{{manager: "mgr-a", patch: deploymentYAML(3, "")}},
			check: func(t *testing.T, obj kruntime.Object) {
				if replicas(obj) != 3 || !owns(t, obj, "mgr-a/Apply", "spec", "replicas") {
					t.Errorf("replicas %d, owners %v", replicas(obj), owners(t, obj))
				}
				if obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image != "nginx" {
					t.Errorf("not the applied object: %+v", obj)
				}
			},
		},
		{
			name: "another manager changing an owned field conflicts",
			steps: []step{
				{manager: "mgr-a", patch: deploymentYAML(3, "")},
				{manager: "mgr-b", patch: deploymentYAML(5, ""), conflict: `Apply failed with 1 conflict: conflict with "mgr-a": .spec.replicas`},
			},
			check: func(t *testing.T, obj kruntime.Object) {
				if replicas(obj) != 3 {
					t.Errorf("replicas %d after a refused apply", replicas(obj))
				}
			},
		},
		{
			name: "force takes the field over",
			steps: []step{
				{manager: "mgr-a", patch: deploymentYAML(3, "")},
				{manager: "mgr-b", patch: deploymentYAML(5, ""), force: true},
			},
			check: func(t *testing.T, obj kruntime.Object) {
				if replicas(obj) != 5 || !owns(t, obj, "mgr-b/Apply", "spec", "replicas") || owns(t, obj, "mgr-a/Apply", "spec", "replicas") {
					t.Errorf("replicas %d, owners %v", replicas(obj), owners(t, obj))
				}
				// The rest of what mgr-a applied is still mgr-a's, and
				// mgr-b's too: both applied it with the same values.
				if !owns(t, obj, "mgr-a/Apply", "spec", "selector") || !owns(t, obj, "mgr-b/Apply", "spec", "selector") {
					t.Errorf("owners %v", owners(t, obj))
				}
			},
		},
		{
			name: "applying the same value shares ownership",
			steps: []step{
				{manager: "mgr-a", patch: deploymentYAML(3, "")},
				{manager: "mgr-b", patch: deploymentYAML(3, "")},
			},
			check: func(t *testing.T, obj kruntime.Object) {
				if !owns(t, obj, "mgr-a/Apply", "spec", "replicas") || !owns(t, obj, "mgr-b/Apply", "spec", "replicas") {
					t.Errorf("owners %v", owners(t, obj))
				}
			},
		},
		{
			name: "a field the manager stops applying is removed",
			steps: []step{
				{manager: "mgr-a", patch: deploymentYAML(3, "  labels: {tier: front}\n")},
				{manager: "mgr-a", patch: deploymentYAML(3, "")},
			},
			check: func(t *testing.T, obj kruntime.Object) {
				if _, ok := obj.(*appsv1.Deployment).Labels["tier"]; ok {
					t.Errorf("label kept: %v", obj.(*appsv1.Deployment).Labels)
				}
			},
		},
		{
			name: "a field shared with another manager stays when one stops applying it",
			steps: []step{
				{manager: "mgr-a", patch: deploymentYAML(3, "  labels: {tier: front}\n")},
				{manager: "mgr-b", patch: deploymentYAML(3, "  labels: {tier: front}\n")},
				{manager: "mgr-a", patch: deploymentYAML(3, "")},
			},
			check: func(t *testing.T, obj kruntime.Object) {
				if obj.(*appsv1.Deployment).Labels["tier"] != "front" {
					t.Errorf("label removed: %v", obj.(*appsv1.Deployment).Labels)
				}
			},
		},
		{
			name: "the applied version must be the manager's",
			steps: []step{{manager: "mgr-a", patch: []byte("apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: web}\n"),
				conflict: "invalid object type: apps/v1beta1, Kind=Deployment"}},
		},
		{
			name:  "a patch that is not YAML is a bad request",
			steps: []step{{manager: "mgr-a", patch: []byte("{"), conflict: "error decoding patch"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live kruntime.Object
			for i, s := range tt.steps {
				out, err := m.Apply(live, s.patch, s.manager, s.force)
				if s.conflict != "" {
					if err == nil || !strings.Contains(err.Error(), s.conflict) {
						t.Fatalf("step %d: error %v, want %q", i, err, s.conflict)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				live = out
			}
			if tt.check != nil {
				tt.check(t, live)
			}
		})
	}
}

// TestApplyConflictStatus checks the 409 as kube-apiserver returns it:
// reason Conflict, one FieldManagerConflict cause per field, an update
// manager named with its version.
func TestApplyConflictStatus(t *testing.T) {
	m := deployments(t, "")
	live, err := m.Apply(nil, deploymentYAML(3, ""), "mgr-a", false)
	if err != nil {
		t.Fatal(err)
	}
	// A controller scales it with a plain update.
	scaled := live.DeepCopyObject().(*appsv1.Deployment)
	scaled.Spec.Replicas = ptr.To[int32](4)
	scaled.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	updated, err := m.Update(live, scaled, "kube-controller-manager")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Apply(updated, deploymentYAML(7, ""), "mgr-a", false)
	st, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("error %v is not a status", err)
	}
	s := st.Status()
	if s.Code != http.StatusConflict || s.Reason != metav1.StatusReasonConflict {
		t.Fatalf("status %d %s", s.Code, s.Reason)
	}
	if want := "Apply failed with 2 conflicts: conflicts with \"kube-controller-manager\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"; s.Message != want {
		t.Errorf("message %q, want %q", s.Message, want)
	}
	if s.Details == nil || len(s.Details.Causes) != 2 {
		t.Fatalf("details %+v", s.Details)
	}
	for _, c := range s.Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict || !strings.HasPrefix(c.Message, `conflict with "kube-controller-manager" using apps/v1`) {
			t.Errorf("cause %+v", c)
		}
	}
	// With force the applier owns both and the controller neither.
	forced, err := m.Apply(updated, deploymentYAML(7, ""), "mgr-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if replicas(forced) != 7 || owns(t, forced, "kube-controller-manager/Update", "spec", "replicas") {
		t.Errorf("replicas %d owners %v", replicas(forced), owners(t, forced))
	}
}

func TestUpdate(t *testing.T) {
	m := deployments(t, "")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
	}
	created, err := m.Update(nil, d, "kubectl-create")
	if err != nil {
		t.Fatal(err)
	}
	if !owns(t, created, "kubectl-create/Update", "metadata", "labels", "app") || !owns(t, created, "kubectl-create/Update", "spec", "replicas") {
		t.Fatalf("owners %v", owners(t, created))
	}
	if d.TypeMeta != (metav1.TypeMeta{}) {
		t.Errorf("the object handed in got a TypeMeta: %v", d.TypeMeta)
	}
	// A second manager's update owns only what it changes.
	next := created.DeepCopyObject().(*appsv1.Deployment)
	next.Spec.Replicas = ptr.To[int32](3)
	updated, err := m.Update(created, next, "hpa")
	if err != nil {
		t.Fatal(err)
	}
	if !owns(t, updated, "hpa/Update", "spec", "replicas") || owns(t, updated, "kubectl-create/Update", "spec", "replicas") ||
		owns(t, updated, "hpa/Update", "metadata", "labels", "app") {
		t.Errorf("owners %v", owners(t, updated))
	}
	// An empty managedFields list clears them, as in Kubernetes.
	reset := updated.DeepCopyObject().(*appsv1.Deployment)
	reset.ManagedFields = []metav1.ManagedFieldsEntry{}
	cleared, err := m.Update(updated, reset, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if got := cleared.(*appsv1.Deployment).ManagedFields; len(got) != 0 {
		t.Errorf("managedFields %v, want none", got)
	}
}

// TestStatusResetFields: a write through /status owns no spec field and
// one through the object no status field, as the server drops them.
func TestStatusResetFields(t *testing.T) {
	object, status := deployments(t, ""), deployments(t, "status")
	live, err := object.Apply(nil, deploymentYAML(3, ""), "mgr-a", false)
	if err != nil {
		t.Fatal(err)
	}
	next := live.DeepCopyObject().(*appsv1.Deployment)
	next.Status.Replicas = 3
	next.Spec.Paused = true
	written, err := status.Update(live, next, "kube-controller-manager")
	if err != nil {
		t.Fatal(err)
	}
	if !owns(t, written, "kube-controller-manager/Update/status", "status", "replicas") || owns(t, written, "kube-controller-manager/Update/status", "spec", "paused") {
		t.Errorf("owners %v", owners(t, written))
	}
	// Applying a status through the object owns nothing of it.
	withStatus := append(deploymentYAML(3, ""), []byte("status:\n  replicas: 9\n")...)
	applied, err := object.Apply(written, withStatus, "mgr-b", false)
	if err != nil {
		t.Fatal(err)
	}
	if owns(t, applied, "mgr-b/Apply", "status", "replicas") {
		t.Errorf("owners %v", owners(t, applied))
	}
}

// TestClientSideApplyUpgrade: an object kubectl applied client-side (the
// last-applied annotation, fields owned by "kubectl-client-side-apply")
// is taken over by `kubectl apply --server-side` (manager "kubectl")
// without conflicts on what it had applied; another manager still
// conflicts.
func TestClientSideApplyUpgrade(t *testing.T) {
	m := deployments(t, "")
	lastApplied := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx","name":"web"}]}}}}`
	csa := &appsv1.Deployment{}
	if err := json.Unmarshal([]byte(lastApplied), csa); err != nil {
		t.Fatal(err)
	}
	csa.TypeMeta = metav1.TypeMeta{}
	csa.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": lastApplied}
	live, err := m.Update(nil, csa, "kubectl-client-side-apply")
	if err != nil {
		t.Fatal(err)
	}
	if !owns(t, live, "kubectl-client-side-apply/Update", "spec", "replicas") {
		t.Fatalf("owners %v", owners(t, live))
	}
	if _, err := m.Apply(live, deploymentYAML(5, ""), "someone-else", false); !apierrors.IsConflict(err) {
		t.Fatalf("another manager: error %v, want a conflict", err)
	}
	out, err := m.Apply(live, deploymentYAML(5, ""), "kubectl", false)
	if err != nil {
		t.Fatalf("kubectl server-side apply after client-side apply: %v", err)
	}
	if replicas(out) != 5 || !owns(t, out, "kubectl/Apply", "spec", "replicas") {
		t.Errorf("replicas %d owners %v", replicas(out), owners(t, out))
	}
}

const crontabCRD = `{
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "crontabs.stable.example.com"},
  "spec": {
    "group": "stable.example.com", "scope": "Namespaced",
    "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList"},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
          "cronSpec": {"type": "string"},
          "replicas": {"type": "integer"},
          "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
        }},
        "status": {"type": "object", "properties": {"active": {"type": "integer"}}}
      }}}}]
  }
}`

func crontabYAML(extra string) []byte {
	return []byte("apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: c1\n  namespace: default\nspec:\n" + extra)
}

// TestApplyCustomResource merges unstructured custom resources with the
// CRD's schema: map-keyed list entries are owned one by one.
func TestApplyCustomResource(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := json.Unmarshal([]byte(crontabCRD), crd); err != nil {
		t.Fatal(err)
	}
	models, _ := builtin()
	tc, err := NewCRDTypeConverter(models, crd)
	if err != nil {
		t.Fatal(err)
	}
	kind := schema.GroupVersionKind{Group: "stable.example.com", Version: "v1", Kind: "CronTab"}
	m, err := New(tc, kind, "", StatusSubresource())
	if err != nil {
		t.Fatal(err)
	}
	live, err := m.Apply(nil, crontabYAML("  cronSpec: '* * * * */5'\n  ports:\n  - {name: http, port: 80}\n"), "mgr-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := live.(*unstructured.Unstructured); !ok {
		t.Fatalf("got %T", live)
	}
	// Another manager adds a port of its own: no conflict, both ports kept.
	live, err = m.Apply(live, crontabYAML("  ports:\n  - {name: https, port: 443}\n"), "mgr-b", false)
	if err != nil {
		t.Fatal(err)
	}
	ports, _, _ := unstructured.NestedSlice(live.(*unstructured.Unstructured).Object, "spec", "ports")
	if len(ports) != 2 {
		t.Errorf("ports %v", ports)
	}
	if !owns(t, live, "mgr-b/Apply", "spec", "ports", fieldpath.KeyByFields("name", "https"), "port") ||
		owns(t, live, "mgr-b/Apply", "spec", "ports", fieldpath.KeyByFields("name", "http"), "port") {
		t.Errorf("owners %v", owners(t, live))
	}
	// Changing mgr-a's cronSpec conflicts; a status applied through the
	// object is owned by nobody.
	_, err = m.Apply(live, crontabYAML("  cronSpec: '0 * * * *'\n"), "mgr-b", false)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "mgr-a": .spec.cronSpec`) {
		t.Fatalf("error %v, want a conflict on .spec.cronSpec", err)
	}
	withStatus, err := m.Apply(live, append(crontabYAML("  ports:\n  - {name: https, port: 443}\n"), []byte("status:\n  active: 1\n")...), "mgr-b", false)
	if err != nil {
		t.Fatal(err)
	}
	if owns(t, withStatus, "mgr-b/Apply", "status", "active") {
		t.Errorf("owners %v", owners(t, withStatus))
	}
}

func TestDefaultManagerName(t *testing.T) {
	tests := []struct{ name, userAgent, want string }{
		{"kubectl", "kubectl/v1.32.4 (linux/amd64) kubernetes/abcdef", "kubectl"},
		{"a controller", "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/x/system:serviceaccount:kube-system:deployment-controller", "kube-controller-manager"},
		{"no slash", "curl", "curl"},
		{"empty", "", ""},
		{"unprintable characters dropped", "my\x00tool\x07/1.0", "mytool"},
		{"cut at 128 bytes", strings.Repeat("é", 70) + "/1", strings.Repeat("é", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultManagerName(tt.userAgent); got != tt.want {
				t.Errorf("DefaultManagerName(%q) = %q, want %q", tt.userAgent, got, tt.want)
			}
		})
	}
}

// TestTypeConverterMemory reports what the built-in models and their type
// converter take, once, at start.
func TestTypeConverterMemory(t *testing.T) {
	reg, err := kinds.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h, err := openapi.New(reg, "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var mid runtime.MemStats
	runtime.ReadMemStats(&mid)
	tc, err := NewTypeConverter(h.Models())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("openapi documents and models: %.1f MiB; type converter: %.1f MiB",
		float64(mid.HeapAlloc-before.HeapAlloc)/(1<<20), float64(after.HeapAlloc-mid.HeapAlloc)/(1<<20))
	runtime.KeepAlive(h)
	runtime.KeepAlive(tc)
}
