package webhook

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/utils/ptr"
)

var (
	configMapKind = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	configMapsGVR = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// fakeSource serves fixed configurations.
type fakeSource struct {
	mutating   []*admissionregistrationv1.MutatingWebhookConfiguration
	validating []*admissionregistrationv1.ValidatingWebhookConfiguration
}

func (f *fakeSource) MutatingWebhookConfigurations() []*admissionregistrationv1.MutatingWebhookConfiguration {
	return f.mutating
}

func (f *fakeSource) ValidatingWebhookConfigurations() []*admissionregistrationv1.ValidatingWebhookConfiguration {
	return f.validating
}

// fakeNamespaces knows namespaces by name.
type fakeNamespaces map[string]map[string]string

func (f fakeNamespaces) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	l, ok := f[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, nil
}

// server is a test webhook; answer decides each review of a ConfigMap.
type server struct {
	srv *httptest.Server
	ca  []byte
	mu  sync.Mutex
	log []string // paths called, in order
}

func newServer(t *testing.T, answer func(path string, cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse)) *server {
	s := &server{}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, r.URL.Path)
		s.mu.Unlock()
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		var cm corev1.ConfigMap
		_ = json.Unmarshal(review.Request.Object.Raw, &cm)
		answer(r.URL.Path, &cm, resp)
		review.Request, review.Response = nil, resp
		_ = json.NewEncoder(w).Encode(&review)
	}))
	t.Cleanup(s.srv.Close)
	s.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	return s
}

func (s *server) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *server) config(path string) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(s.srv.URL + path), CABundle: s.ca}
}

func rule(resources ...string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources, Scope: ptr.To(admissionregistrationv1.AllScopes)},
	}
}

func mutatingHook(name string, cc admissionregistrationv1.WebhookClientConfig, reinvoke admissionregistrationv1.ReinvocationPolicyType) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name: name, ClientConfig: cc, Rules: []admissionregistrationv1.RuleWithOperations{rule("configmaps")},
		FailurePolicy: ptr.To(admissionregistrationv1.Fail), MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{},
		SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), TimeoutSeconds: ptr.To[int32](5),
		AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: ptr.To(reinvoke),
	}
}

func validatingHook(name string, cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.ValidatingWebhook {
	m := mutatingHook(name, cc, admissionregistrationv1.NeverReinvocationPolicy)
	return admissionregistrationv1.ValidatingWebhook{
		Name: m.Name, ClientConfig: m.ClientConfig, Rules: m.Rules, FailurePolicy: m.FailurePolicy, MatchPolicy: m.MatchPolicy,
		NamespaceSelector: m.NamespaceSelector, ObjectSelector: m.ObjectSelector, SideEffects: m.SideEffects,
		TimeoutSeconds: m.TimeoutSeconds, AdmissionReviewVersions: m.AdmissionReviewVersions,
	}
}

func newDispatcher(t *testing.T, src Source) *Dispatcher {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	d, err := New(Options{Source: src, Namespaces: fakeNamespaces{"default": {"env": "test"}, "prod": {"env": "prod"}},
		Interfaces: admission.NewObjectInterfacesFromScheme(scheme)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configMapCreate(cm *corev1.ConfigMap, dryRun bool) *Attributes {
	cm.SetGroupVersionKind(configMapKind)
	return NewAttributes(Request{
		Operation: admission.Create, Kind: configMapKind, Resource: configMapsGVR, Namespace: cm.Namespace, Name: cm.Name,
		Object: cm, Options: &metav1.CreateOptions{}, DryRun: dryRun, User: &user.DefaultInfo{Name: "alice"},
	})
}

// addKey answers with a patch adding data[key] = "yes", unless there.
func addKey(cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse, key string, when func(*corev1.ConfigMap) bool) {
	if _, ok := cm.Data[key]; ok || !when(cm) {
		return
	}
	resp.Patch = []byte(fmt.Sprintf(`[{"op":"add","path":"/data/%s","value":"yes"}]`, key))
	resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
}

func always(*corev1.ConfigMap) bool { return true }

// TestMutateReinvocation: the first webhook (IfNeeded) adds a key only
// once the second has added its own, so it must be called again; the
// second (Never) is called once.
func TestMutateReinvocation(t *testing.T) {
	srv := newServer(t, func(path string, cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) {
		switch path {
		case "/first":
			addKey(cm, resp, "first", func(cm *corev1.ConfigMap) bool { return cm.Data["second"] == "yes" })
		case "/second":
			addKey(cm, resp, "second", always)
		}
	})
	src := &fakeSource{mutating: []*admissionregistrationv1.MutatingWebhookConfiguration{{
		ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "1"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			mutatingHook("first.example.com", srv.config("/first"), admissionregistrationv1.IfNeededReinvocationPolicy),
			mutatingHook("second.example.com", srv.config("/second"), admissionregistrationv1.NeverReinvocationPolicy),
		},
	}}}
	d := newDispatcher(t, src)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"start": "yes"}}
	attr := configMapCreate(cm, false)
	if err := d.Mutate(context.Background(), attr, MutatingPlugins{Webhooks: true}); err != nil {
		t.Fatal(err)
	}
	if cm.Data["first"] != "yes" || cm.Data["second"] != "yes" {
		t.Errorf("object not patched in place: %v", cm.Data)
	}
	if got, want := strings.Join(srv.calls(), ","), "/first,/second,/first"; got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
	if _, ok := attr.Annotations()["mutation.webhook.admission.k8s.io/round_1_index_0"]; !ok {
		t.Errorf("no annotation for the second round: %v", attr.Annotations())
	}
}

// TestMutateOrderByConfigurationName: configurations run by name.
func TestMutateOrderByConfigurationName(t *testing.T) {
	srv := newServer(t, func(string, *corev1.ConfigMap, *admissionv1.AdmissionResponse) {})
	mk := func(name, path string) *admissionregistrationv1.MutatingWebhookConfiguration {
		return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{mutatingHook(name+".example.com", srv.config(path), admissionregistrationv1.NeverReinvocationPolicy)}}
	}
	d := newDispatcher(t, &fakeSource{mutating: []*admissionregistrationv1.MutatingWebhookConfiguration{mk("zz", "/z"), mk("aa", "/a")}})
	if err := d.Mutate(context.Background(), configMapCreate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}, false), MutatingPlugins{Webhooks: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(srv.calls(), ","); got != "/a,/z" {
		t.Errorf("calls %s, want /a,/z", got)
	}
}

func TestValidate(t *testing.T) {
	srv := newServer(t, func(path string, cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) {
		switch path {
		case "/deny":
			resp.Allowed = false
			resp.Result = &metav1.Status{Message: "no thanks", Code: http.StatusForbidden}
		case "/warn":
			resp.Warnings = []string{"careful"}
		case "/slow":
			time.Sleep(3 * time.Second)
		}
	})
	hook := func(name, path string, mutate func(h *admissionregistrationv1.ValidatingWebhook)) *admissionregistrationv1.ValidatingWebhookConfiguration {
		h := validatingHook(name, srv.config(path))
		if mutate != nil {
			mutate(&h)
		}
		return &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{h}}
	}
	tests := []struct {
		name     string
		config   *admissionregistrationv1.ValidatingWebhookConfiguration
		ns       string
		dryRun   bool
		code     int32
		message  string
		warnings []string
	}{
		{name: "allowed", config: hook("allow.example.com", "/allow", nil), ns: "default"},
		{name: "denied with the webhook's code", config: hook("deny.example.com", "/deny", nil), ns: "default",
			code: 403, message: `admission webhook "deny.example.com" denied the request: no thanks`},
		{name: "warnings are kept", config: hook("warn.example.com", "/warn", nil), ns: "default", warnings: []string{"careful"}},
		{name: "namespace selector skips other namespaces", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
		}), ns: "default"},
		{name: "namespace selector selects", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
		}), ns: "prod", code: 403, message: `admission webhook "deny.example.com" denied the request: no thanks`},
		{name: "missing namespace under a selector is NotFound", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
		}), ns: "gone", code: 404, message: `namespaces "gone" not found`},
		{name: "object selector skips", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"judge": "me"}}
		}), ns: "default"},
		{name: "rules for other resources skip", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.Rules = []admissionregistrationv1.RuleWithOperations{rule("pods", "pods/*")}
		}), ns: "default"},
		{name: "match condition false skips", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "skip-me", Expression: "object.metadata.name != 'skip-me'"}}
		}), ns: "default"},
		{name: "match condition true calls", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "user", Expression: "request.userInfo.username == 'alice'"}}
		}), ns: "default", code: 403, message: `admission webhook "deny.example.com" denied the request: no thanks`},
		{name: "dry run refused for side effects", config: hook("deny.example.com", "/deny", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.SideEffects = ptr.To(admissionregistrationv1.SideEffectClassSome)
		}), ns: "default", dryRun: true, code: 400, message: `admission webhook "deny.example.com" does not support dry run`},
		{name: "timeout fails closed", config: hook("slow.example.com", "/slow", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.TimeoutSeconds = ptr.To[int32](1)
		}), ns: "default", code: 500, message: `Internal error occurred: failed calling webhook "slow.example.com"`},
		{name: "timeout ignored", config: hook("slow.example.com", "/slow", func(h *admissionregistrationv1.ValidatingWebhook) {
			h.TimeoutSeconds = ptr.To[int32](1)
			h.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		}), ns: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDispatcher(t, &fakeSource{validating: []*admissionregistrationv1.ValidatingWebhookConfiguration{tt.config}})
			name := "c"
			if strings.HasPrefix(tt.name, "match condition false") {
				name = "skip-me"
			}
			attr := configMapCreate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tt.ns}}, tt.dryRun)
			err := d.Validate(context.Background(), attr)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
			} else {
				status, ok := err.(apierrors.APIStatus)
				if !ok || status.Status().Code != tt.code || !strings.HasPrefix(status.Status().Message, tt.message) {
					t.Fatalf("got %v, want %d %q", err, tt.code, tt.message)
				}
			}
			if got := attr.Warnings(); strings.Join(got, "|") != strings.Join(tt.warnings, "|") {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
}

// TestExempt: webhooks never judge admission configuration.
func TestExempt(t *testing.T) {
	srv := newServer(t, func(_ string, _ *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) { resp.Allowed = false })
	h := validatingHook("deny.example.com", srv.config("/deny"))
	h.Rules = []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
	}}
	d := newDispatcher(t, &fakeSource{validating: []*admissionregistrationv1.ValidatingWebhookConfiguration{{
		ObjectMeta: metav1.ObjectMeta{Name: "all"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{h}}}})
	kind := admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration")
	obj := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	attr := NewAttributes(Request{Operation: admission.Delete, Kind: kind, Name: "x", OldObject: obj,
		Resource: admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations"), User: &user.DefaultInfo{}})
	if err := d.Validate(context.Background(), attr); err != nil {
		t.Fatalf("a webhook configuration was judged: %v", err)
	}
	if len(srv.calls()) != 0 {
		t.Fatalf("webhook called: %v", srv.calls())
	}
}

// equivalents serves deployments at apps/v1 and, as the same resource,
// at extensions/v1beta1.
type equivalents struct{}

var (
	appsDeployments       = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	extensionsDeployments = schema.GroupVersionResource{Group: "extensions", Version: "v1beta1", Resource: "deployments"}
)

func (equivalents) EquivalentResourcesFor(schema.GroupVersionResource, string) []schema.GroupVersionResource {
	return []schema.GroupVersionResource{appsDeployments, extensionsDeployments}
}

func (equivalents) KindFor(r schema.GroupVersionResource, _ string) schema.GroupVersionKind {
	return r.GroupVersion().WithKind("Deployment")
}

type interfaces struct{ admission.ObjectInterfaces }

func (interfaces) GetEquivalentResourceMapper() runtime.EquivalentResourceMapper {
	return equivalents{}
}

// TestMatchRules is the table of rule matching, matchPolicy included.
func TestMatchRules(t *testing.T) {
	o := interfaces{admission.NewObjectInterfacesFromScheme(runtime.NewScheme())}
	rule := func(groups, versions, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops,
			Rule: admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources, Scope: ptr.To(admissionregistrationv1.AllScopes)}}
	}
	s := func(v ...string) []string { return v }
	create, update, all := admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.OperationAll
	tests := []struct {
		name      string
		rule      admissionregistrationv1.RuleWithOperations
		policy    admissionregistrationv1.MatchPolicyType
		op        admission.Operation
		sub       string
		want      bool
		wantGroup string
	}{
		{"exact resource", rule(s("apps"), s("v1"), s("deployments"), create), admissionregistrationv1.Exact, admission.Create, "", true, "apps"},
		{"other operation", rule(s("apps"), s("v1"), s("deployments"), update), admissionregistrationv1.Exact, admission.Create, "", false, ""},
		{"wildcard operation", rule(s("apps"), s("v1"), s("deployments"), all), admissionregistrationv1.Exact, admission.Delete, "", true, "apps"},
		{"wildcard everything", rule(s("*"), s("*"), s("*"), all), admissionregistrationv1.Exact, admission.Create, "", true, "apps"},
		{"* does not select subresources", rule(s("*"), s("*"), s("*"), all), admissionregistrationv1.Exact, admission.Update, "status", false, ""},
		{"resource/* selects subresources", rule(s("apps"), s("v1"), s("deployments/*"), all), admissionregistrationv1.Exact, admission.Update, "scale", true, "apps"},
		{"resource/* selects the resource too, as upstream matches", rule(s("apps"), s("v1"), s("deployments/*"), all), admissionregistrationv1.Exact, admission.Update, "", true, "apps"},
		{"*/status", rule(s("apps"), s("v1"), s("*/status"), all), admissionregistrationv1.Exact, admission.Update, "status", true, "apps"},
		{"other version, Exact", rule(s("extensions"), s("v1beta1"), s("deployments"), all), admissionregistrationv1.Exact, admission.Create, "", false, ""},
		{"other version, Equivalent", rule(s("extensions"), s("v1beta1"), s("deployments"), all), admissionregistrationv1.Equivalent, admission.Create, "", true, "extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validatingHook("h.example.com", admissionregistrationv1.WebhookClientConfig{})
			h.Rules, h.MatchPolicy = []admissionregistrationv1.RuleWithOperations{tt.rule}, ptr.To(tt.policy)
			attr := admission.NewAttributesRecord(nil, nil, appsDeployments.GroupVersion().WithKind("Deployment"), "default", "web",
				appsDeployments, tt.sub, tt.op, nil, false, nil)
			inv, err := matchRules(webhookAccessorOf(h), attr, o)
			if err != nil {
				t.Fatal(err)
			}
			if (inv != nil) != tt.want {
				t.Fatalf("matched %v, want %v", inv != nil, tt.want)
			}
			if inv != nil && (inv.Resource.Group != tt.wantGroup || inv.Kind.Group != tt.wantGroup) {
				t.Errorf("invocation for %v %v, want group %q", inv.Resource, inv.Kind, tt.wantGroup)
			}
		})
	}
}

func webhookAccessorOf(h admissionregistrationv1.ValidatingWebhook) webhook.WebhookAccessor {
	return webhook.NewValidatingWebhookAccessor("test/"+h.Name+"/0", "test", &h)
}

type fakeServices map[string]*corev1.Service

func (f fakeServices) Service(_ context.Context, namespace, name string) (*corev1.Service, error) {
	if s, ok := f[namespace+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("services"), name)
}

// TestServiceResolver: service references reach the ClusterIP and port.
func TestServiceResolver(t *testing.T) {
	svc := func(typ corev1.ServiceType, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hook"},
			Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, ExternalName: "hooks.example.com", Ports: []corev1.ServicePort{{Port: 443}}}}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		port int32
		want string // host, or "" for an error
	}{
		{"cluster IP", svc(corev1.ServiceTypeClusterIP, "10.96.0.20"), 443, "10.96.0.20:443"},
		{"node port has a cluster IP too", svc(corev1.ServiceTypeNodePort, "10.96.0.21"), 443, "10.96.0.21:443"},
		{"headless cannot be reached", svc(corev1.ServiceTypeClusterIP, corev1.ClusterIPNone), 443, ""},
		{"unknown port", svc(corev1.ServiceTypeClusterIP, "10.96.0.20"), 8443, ""},
		{"external name", svc(corev1.ServiceTypeExternalName, ""), 8443, "hooks.example.com:8443"},
		{"missing service", nil, 443, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := fakeServices{}
			if tt.svc != nil {
				services["default/hook"] = tt.svc
			}
			u, err := serviceResolver{services}.ResolveEndpoint("default", "hook", tt.port)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("resolved to %v, want an error", u)
			case tt.want != "" && (err != nil || u.Host != tt.want || u.Scheme != "https"):
				t.Fatalf("resolved to %v, %v; want https://%s", u, err, tt.want)
			}
		})
	}
}
