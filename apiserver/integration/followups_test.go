package integration

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// entries maps each managedFields entry ("mgr/Apply", with
// "/subresource" when it has one) to the apiVersion it was recorded at.
func entries(fields []metav1.ManagedFieldsEntry) map[string]string {
	out := map[string]string{}
	for _, e := range fields {
		key := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			key += "/" + e.Subresource
		}
		out[key] = e.APIVersion
	}
	return out
}

// applyYAML sends a server-side apply patch with admin credentials.
func (c *cluster) applyYAML(t *testing.T, path, manager, body string) response {
	t.Helper()
	return c.do(t, http.MethodPatch, path+"?fieldManager="+manager, "application/apply-patch+yaml", []byte(body))
}

// TestManagedFieldsAcrossVersions: what a manager wrote through one
// version of a resource stays its own when another applies through the
// other (autoscaling/v1 and v2 HorizontalPodAutoscalers, core/v1 and
// events.k8s.io/v1 Events), and an apply changing it conflicts with it.
func TestManagedFieldsAcrossVersions(t *testing.T) {
	c := start(t)
	hpas := c.client.AutoscalingV1().HorizontalPodAutoscalers("default")
	created, err := hpas.Create(ctx(t), &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](50),
		},
	}, metav1.CreateOptions{FieldManager: "mgr-a"})
	if err != nil {
		t.Fatal(err)
	}
	created.Spec.MaxReplicas = 6
	if _, err := hpas.Update(ctx(t), created, metav1.UpdateOptions{FieldManager: "mgr-a"}); err != nil {
		t.Fatal(err)
	}
	const hpaV2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web"
	applied := "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  labels: {team: b}\n"
	if r := c.applyYAML(t, hpaV2, "mgr-b", applied); r.code != http.StatusOK {
		t.Fatalf("v2 apply: %d %s", r.code, r.body)
	}
	v2, err := c.client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := entries(v2.ManagedFields)
	if got["mgr-a/Update"] != "autoscaling/v1" || got["mgr-b/Apply"] != "autoscaling/v2" || v2.Spec.MaxReplicas != 6 {
		t.Fatalf("managedFields %v (maxReplicas %d): want mgr-a's at autoscaling/v1 and mgr-b's at autoscaling/v2", got, v2.Spec.MaxReplicas)
	}
	r := c.applyYAML(t, hpaV2, "mgr-b", applied+"spec:\n  maxReplicas: 9\n")
	want := `conflict with "mgr-a" using autoscaling/v1: .spec.maxReplicas`
	if st := r.status(t); r.code != http.StatusConflict || !strings.Contains(st.Message, want) {
		t.Fatalf("v2 apply of mgr-a's maxReplicas: %d %q, want 409 %q", r.code, st.Message, want)
	}

	// The same for Events: written through core/v1, applied through
	// events.k8s.io/v1, whose note is core's message.
	if _, err := c.client.CoreV1().Events("default").Create(ctx(t), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "web"},
		EventTime:      metav1.NewMicroTime(time.Now().Truncate(time.Microsecond)), ReportingController: "example.com/ctl",
		ReportingInstance: "ctl-1", Action: "Start", Reason: "Started", Message: "started", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{FieldManager: "mgr-a"}); err != nil {
		t.Fatal(err)
	}
	const eventsV1 = "/apis/events.k8s.io/v1/namespaces/default/events/web.1"
	appliedEvent := "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: web.1\n  labels: {team: b}\n"
	if r := c.applyYAML(t, eventsV1, "mgr-b", appliedEvent); r.code != http.StatusOK {
		t.Fatalf("events.k8s.io apply: %d %s", r.code, r.body)
	}
	ev, err := c.client.CoreV1().Events("default").Get(ctx(t), "web.1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(ev.ManagedFields); got["mgr-a/Update"] != "v1" || got["mgr-b/Apply"] != "events.k8s.io/v1" {
		t.Fatalf("event managedFields %v: want mgr-a's at v1 and mgr-b's at events.k8s.io/v1", got)
	}
	r = c.applyYAML(t, eventsV1, "mgr-b", appliedEvent+"note: changed\n")
	want = `conflict with "mgr-a" using v1: .message`
	if st := r.status(t); r.code != http.StatusConflict || !strings.Contains(st.Message, want) {
		t.Fatalf("events.k8s.io apply of mgr-a's message: %d %q, want 409 %q", r.code, st.Message, want)
	}
}

// TestEncryptionOfEventsFollowsCoreEvents: an EncryptionConfiguration
// that leaves core events in clear and encrypts everything else ("*.*")
// stores Events in clear, whichever API writes them.
func TestEncryptionOfEventsFollowsCoreEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption.yaml")
	config := `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [events]
  providers: [{identity: {}}]
- resources: ["*.*"]
  providers: [{aescbc: {keys: [{name: key1, secret: MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=}]}}]
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.EncryptionProviderConfig = path }))
	if _, err := c.client.EventsV1().Events("default").Create(ctx(t), &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web.2"}, EventTime: metav1.NewMicroTime(time.Now().Truncate(time.Microsecond)),
		ReportingController: "example.com/ctl", ReportingInstance: "ctl-1", Action: "Start", Reason: "Started",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Note: "plain note", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "secret value"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, c, true)
	for key, encrypted := range map[string]bool{"/registry/events/default/web.2": false, "/registry/configmaps/default/cm": true} {
		resp, err := cli.Get(ctx(t), key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("%s in etcd: %v %v", key, resp, err)
		}
		raw := string(resp.Kvs[0].Value)
		if got := strings.HasPrefix(raw, "k8s:enc:aescbc:v1:key1:"); got != encrypted {
			t.Errorf("%s encrypted %v, want %v: %q", key, got, encrypted, raw[:min(len(raw), 60)])
		}
	}
}

// TestPolicyParamsAtTheirVersion: a ValidatingAdmissionPolicy whose
// paramKind is autoscaling/v1 reads its parameter as a v1 object
// (targetCPUUtilizationPercentage), not as the v2 one it is stored as.
func TestPolicyParamsAtTheirVersion(t *testing.T) {
	c := start(t)
	if _, err := c.client.AutoscalingV1().HorizontalPodAutoscalers("default").Create(ctx(t), &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    3, TargetCPUUtilizationPercentage: ptr.To[int32](50),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx(t), &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "cpu-limit"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind: &admissionregistrationv1.ParamKind{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression:        "object.data.cpu == string(params.spec.targetCPUUtilizationPercentage)",
				MessageExpression: "'cpu must be ' + string(params.spec.targetCPUUtilizationPercentage)",
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx(t), &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cpu-limit"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "cpu-limit", ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			ParamRef: &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default",
				ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := c.client.CoreV1().ConfigMaps("default")
	untilAdmitted(t, "the policy's denial", func() error {
		_, err := cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "wrong-"}, Data: map[string]string{"cpu": "60"}}, metav1.CreateOptions{})
		if err == nil {
			return fmt.Errorf("a ConfigMap asking for 60 was created")
		}
		if !strings.Contains(err.Error(), "cpu must be 50") {
			return err
		}
		return nil
	})
	if _, err := cms.Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "right"}, Data: map[string]string{"cpu": "50"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a ConfigMap the v1 parameter allows: %v", err)
	}
}

// proxyDenier is a validating webhook on CONNECT services/proxy and
// nodes/proxy that refuses every connection, naming what it was asked;
// it keeps the last review.
type proxyDenier struct {
	mu   sync.Mutex // guards last
	last *admissionv1.AdmissionRequest
}

func (p *proxyDenier) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	p.mu.Lock()
	p.last = req
	p.mu.Unlock()
	var opts struct{ Path string }
	_ = json.Unmarshal(req.Object.Raw, &opts)
	review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false, Result: &metav1.Status{
		Message: fmt.Sprintf("proxying to %s %q at %q is not allowed", req.Resource.Resource, req.Name, opts.Path)}}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

func (p *proxyDenier) lastReview() *admissionv1.AdmissionRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// TestConnectAdmissionOfServiceAndNodeProxies: services/proxy and
// nodes/proxy are admitted as CONNECTs with their options, before
// anything is resolved, as kube-apiserver admits them.
func TestConnectAdmissionOfServiceAndNodeProxies(t *testing.T) {
	c := start(t)
	denier := &proxyDenier{}
	hook := httpsServer(t, http.HandlerFunc(denier.serve))
	if _, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx(t), &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-proxies"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny-proxies.example.com",
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Connect},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services/proxy", "nodes/proxy"}},
			}},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(hook.url), CABundle: hook.caBundle},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `proxying to services "web:http" at "/a/b" is not allowed`
	untilAdmitted(t, "services/proxy denial", func() error {
		r := c.do(t, http.MethodGet, "/api/v1/namespaces/default/services/web:http/proxy/a/b", "", nil)
		if st := r.status(t); r.code != http.StatusBadRequest || st.Message != "admission webhook \"deny-proxies.example.com\" denied the request: "+want {
			return fmt.Errorf("%d %q", r.code, st.Message)
		}
		return nil
	})
	req := denier.lastReview()
	if req.Operation != admissionv1.Connect || req.Kind != (metav1.GroupVersionKind{Version: "v1", Kind: "ServiceProxyOptions"}) ||
		req.Resource != (metav1.GroupVersionResource{Version: "v1", Resource: "services"}) || req.SubResource != "proxy" ||
		req.Namespace != "default" || req.Name != "web:http" {
		t.Errorf("services/proxy review: %s %v %v %s %s/%s", req.Operation, req.Kind, req.Resource, req.SubResource, req.Namespace, req.Name)
	}

	// A node's proxy, which need not exist: admission comes first.
	r := c.do(t, http.MethodGet, "/api/v1/nodes/n1/proxy/", "", nil)
	if st := r.status(t); r.code != http.StatusBadRequest || !strings.Contains(st.Message, `proxying to nodes "n1" at "/" is not allowed`) {
		t.Errorf("nodes/proxy: %d %q", r.code, st.Message)
	}
	if req := denier.lastReview(); req.Kind.Kind != "NodeProxyOptions" || req.Resource.Resource != "nodes" || req.SubResource != "proxy" || req.Namespace != "" {
		t.Errorf("nodes/proxy review: %v %v %s %q", req.Kind, req.Resource, req.SubResource, req.Namespace)
	}
}

// tlsHook is an HTTPS server on loopback and its CA bundle.
type tlsHook struct {
	url      string
	caBundle []byte
}

func httpsServer(t *testing.T, h http.Handler) tlsHook {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return tlsHook{url: srv.URL, caBundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
}

// TestEphemeralContainersManagedFields: writes through
// pods/ephemeralcontainers record their manager's fields (its ephemeral
// containers only), and server-side apply works there.
func TestEphemeralContainersManagedFields(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), pod("dbg"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/namespaces/default/pods/dbg/ephemeralcontainers"
	body := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dbg\n  labels: {debugged: \"yes\"}\nspec:\n  ephemeralContainers:\n  - {name: debugger, image: busybox, targetContainerName: c}\n"
	r := c.applyYAML(t, path, "debugger", body)
	if r.code != http.StatusOK {
		t.Fatalf("apply through ephemeralcontainers: %d %s", r.code, r.body)
	}
	var applied corev1.Pod
	if err := json.Unmarshal(r.body, &applied); err != nil {
		t.Fatal(err)
	}
	if len(applied.Spec.EphemeralContainers) != 1 || applied.Labels["debugged"] != "" {
		t.Fatalf("applied: ephemeral %v, labels %v", applied.Spec.EphemeralContainers, applied.Labels)
	}
	owned := ""
	for _, e := range applied.ManagedFields {
		if e.Manager == "debugger" && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "ephemeralcontainers" {
			owned = string(e.FieldsV1.Raw)
		}
	}
	if !strings.Contains(owned, `"k:{\"name\":\"debugger\"}"`) || strings.Contains(owned, "debugged") {
		t.Fatalf("debugger owns %s; entries %v", owned, entries(applied.ManagedFields))
	}

	// An update through the subresource is recorded too.
	live, err := pods.Get(ctx(t), "dbg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	live.Spec.EphemeralContainers = append(live.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "second", Image: "alpine", ImagePullPolicy: corev1.PullIfNotPresent,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
	updated, err := pods.UpdateEphemeralContainers(ctx(t), "dbg", live, metav1.UpdateOptions{FieldManager: "kubectl-debug"})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(updated.ManagedFields); got["kubectl-debug/Update/ephemeralcontainers"] != "v1" || got["debugger/Apply/ephemeralcontainers"] != "v1" {
		t.Errorf("managedFields %v", got)
	}
}

// TestCoreEventReportingComponent: a core/v1 Event's errors name its
// own field, reportingComponent.
func TestCoreEventReportingComponent(t *testing.T) {
	c := start(t)
	_, err := c.client.CoreV1().Events("default").Create(ctx(t), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.3"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		EventTime:      metav1.NewMicroTime(time.Now()), ReportingInstance: "ctl-1", Action: "Start", Reason: "Started",
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "reportingComponent: Required value") || strings.Contains(err.Error(), "reportingController") {
		t.Fatalf("an event without its reporter: %v", err)
	}
}

// TestWebSocketUpgradeNeedsCreate: a user who may only get pods/exec
// and pods/portforward cannot run or forward by a GET (WebSocket)
// upgrade: it must be allowed to create them too, as Kubernetes checks
// since 1.35.
func TestWebSocketUpgradeNeedsCreate(t *testing.T) {
	c := start(t)
	k := startStubKubelet(t, c.Server.CACertPEM())
	nodeFor(t, c, k)
	p := pod("shell")
	p.Spec.NodeName = "n1"
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	roles := c.client.RbacV1().Roles("default")
	role, err := roles.Create(ctx(t), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "streams"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/portforward"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.RbacV1().RoleBindings("default").Create(ctx(t), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "streams"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "streams"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	asAlice := http.Header{"Impersonate-User": {"alice"}}
	portForward := func() (*http.Response, error) {
		tlsCfg, err := rest.TLSConfigFor(c.Config)
		if err != nil {
			t.Fatal(err)
		}
		d := websocket.Dialer{TLSClientConfig: tlsCfg, Subprotocols: []string{"portforward.k8s.io"}}
		conn, resp, err := d.Dial("wss://"+strings.TrimPrefix(c.Server.URL(), "https://")+"/api/v1/namespaces/default/pods/shell/portforward?ports=8080", asAlice)
		if err != nil {
			return resp, err
		}
		defer conn.Close()
		if err := conn.WriteMessage(websocket.BinaryMessage, []byte("data")); err != nil {
			return resp, err
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "forwarded: data" {
			return resp, fmt.Errorf("tunnel: %q, %v", msg, err)
		}
		return resp, nil
	}

	// Get alone passes the filter (RBAC caches the binding a moment
	// after it is made) and is refused by the subresource.
	want := `pods "shell" is forbidden`
	untilAdmitted(t, "the refusal of a get-only upgrade", func() error {
		resp, err := portForward()
		if err == nil {
			return fmt.Errorf("a get-only user forwarded ports")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			return fmt.Errorf("portforward: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil || !strings.HasPrefix(st.Message, want) || st.Reason != metav1.StatusReasonForbidden {
			return fmt.Errorf("portforward refused with %s", body)
		}
		return nil
	})
	r := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/pods/shell/exec?command=sh&stdout=true", "", nil, asAlice)
	if st := r.status(t); r.code != http.StatusForbidden || !strings.HasPrefix(st.Message, want) || st.Details == nil || st.Details.Kind != "pods" {
		t.Errorf("GET exec: %d %s", r.code, r.body)
	}
	if requests, _ := k.seen(); len(requests) != 0 {
		t.Fatalf("a refused upgrade reached the kubelet: %q", requests)
	}

	// With create too, the tunnel goes through.
	role.Rules[0].Verbs = []string{"get", "create"}
	if _, err := roles.Update(ctx(t), role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	untilAdmitted(t, "portforward with create", func() error {
		_, err := portForward()
		return err
	})
}
