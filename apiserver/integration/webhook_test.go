package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// testWebhook is an HTTPS admission webhook on loopback, answering as the
// conformance suite's webhook does:
//
//	/deny    refuses ConfigMaps with the data key "webhook-e2e-test"
//	/mutate  adds data "mutation-stage-1": "yes" to ConfigMaps
//
// Every review it gets is counted.
type testWebhook struct {
	srv      *httptest.Server
	caBundle []byte
	reviews  atomic.Int64
}

const unwantedKey = "webhook-e2e-test"

func startWebhook(t *testing.T) *testWebhook {
	t.Helper()
	w := &testWebhook{}
	mux := http.NewServeMux()
	mux.HandleFunc("/deny", w.serve(func(cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) {
		if _, ok := cm.Data[unwantedKey]; ok {
			resp.Allowed = false
			resp.Result = &metav1.Status{Reason: "the configmap contains unwanted key and value"}
			resp.Warnings = []string{"unwanted key seen"}
		}
	}))
	mux.HandleFunc("/mutate", w.serve(func(cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) {
		op := `{"op":"add","path":"/data/mutation-stage-1","value":"yes"}`
		if cm.Data == nil {
			op = `{"op":"add","path":"/data","value":{"mutation-stage-1":"yes"}}`
		}
		resp.Patch = []byte("[" + op + "]")
		resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	}))
	w.srv = httptest.NewTLSServer(mux)
	t.Cleanup(w.srv.Close)
	w.caBundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	return w
}

// serve decodes a review of a ConfigMap and answers it as decide says;
// anything else is allowed untouched.
func (w *testWebhook) serve(decide func(cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		w.reviews.Add(1)
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(rw, "bad review", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if review.Request.Kind.Kind == "ConfigMap" && len(review.Request.Object.Raw) > 0 {
			var cm corev1.ConfigMap
			if err := json.Unmarshal(review.Request.Object.Raw, &cm); err == nil {
				decide(&cm, resp)
			}
		}
		review.Response, review.Request = resp, nil
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(&review)
	}
}

func (w *testWebhook) clientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(w.srv.URL + path), CABundle: w.caBundle}
}

// configMapRule selects ConfigMap creates and updates.
func configMapRule() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
}

func validatingHook(name string, cc admissionregistrationv1.WebhookClientConfig, policy admissionregistrationv1.FailurePolicyType) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name: name, ClientConfig: cc, Rules: configMapRule(), FailurePolicy: ptr.To(policy),
		SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1", "v1beta1"},
		TimeoutSeconds: ptr.To[int32](5),
	}
}

// untilAdmitted retries f until it returns nil: a new configuration takes
// effect once the watch cache has it, a moment after it is created.
func untilAdmitted(t *testing.T, what string, f func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, last)
	}
}

func TestWebhookDeniesConfigMap(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	hook := startWebhook(t)
	_, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-configmaps"},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{validatingHook("deny-unwanted-configmap-data.k8s.io", hook.clientConfig("/deny"), admissionregistrationv1.Fail)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	configMaps := c.client.CoreV1().ConfigMaps("default")
	want := `admission webhook "deny-unwanted-configmap-data.k8s.io" denied the request: the configmap contains unwanted key and value`
	untilAdmitted(t, "denial", func() error {
		_, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-"},
			Data: map[string]string{unwantedKey: "yes"}}, metav1.CreateOptions{})
		if err == nil {
			return errors.New("a ConfigMap with the unwanted key was created")
		}
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != http.StatusBadRequest || status.Status().Message != want {
			return err
		}
		return nil
	})

	// Other ConfigMaps pass, and updates are judged too.
	good, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create an allowed ConfigMap: %v", err)
	}
	good.Data[unwantedKey] = "yes"
	if _, err := configMaps.Update(ctx, good, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "unwanted key and value") {
		t.Fatalf("update adding the unwanted key: %v, want the webhook's denial", err)
	}
	if hook.reviews.Load() == 0 {
		t.Fatal("the webhook was never called")
	}

	// Webhooks never see webhook configurations.
	seen := hook.reviews.Load()
	if err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "deny-configmaps", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := hook.reviews.Load(); n != seen {
		t.Errorf("deleting the configuration was reviewed (%d reviews, want %d)", n, seen)
	}
}

func TestWebhookMutatesConfigMap(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	hook := startWebhook(t)
	_, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "mutate-configmaps"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "adding-configmap-data-stage-1.k8s.io", ClientConfig: hook.clientConfig("/mutate"), Rules: configMapRule(),
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	configMaps := c.client.CoreV1().ConfigMaps("default")
	var created *corev1.ConfigMap
	untilAdmitted(t, "mutation", func() error {
		cm, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "mutated-"},
			Data: map[string]string{"mutation-start": "yes"}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if cm.Data["mutation-stage-1"] != "yes" {
			_ = configMaps.Delete(ctx, cm.Name, metav1.DeleteOptions{})
			return errors.New("not mutated yet")
		}
		created = cm
		return nil
	})
	// What was answered is what was stored.
	stored, err := configMaps.Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Data["mutation-stage-1"] != "yes" || stored.Data["mutation-start"] != "yes" {
		t.Errorf("stored data %v, want both keys", stored.Data)
	}
}

func TestWebhookFailurePolicy(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	hook := startWebhook(t)
	// Nothing listens on port 1 of loopback.
	unreachable := admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/unreachable"), CABundle: hook.caBundle}
	configs := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	_, err := configs.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "unreachable"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			validatingHook("fail-open.example.com", unreachable, admissionregistrationv1.Ignore),
			// Proves the configuration is in effect: it denies the marker.
			validatingHook("marker.example.com", hook.clientConfig("/deny"), admissionregistrationv1.Fail),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	configMaps := c.client.CoreV1().ConfigMaps("default")
	untilAdmitted(t, "configuration in effect", func() error {
		_, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "marker-"},
			Data: map[string]string{unwantedKey: "yes"}}, metav1.CreateOptions{})
		if err == nil {
			return errors.New("marker allowed")
		}
		return nil
	})
	if _, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "allowed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failurePolicy Ignore: create = %v, want allowed", err)
	}

	// The same webhook failing closed refuses everything it selects.
	cfg, err := configs.Get(ctx, "unreachable", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks[0].Name = "fail-closed.example.com"
	cfg.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	if _, err := configs.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	untilAdmitted(t, "fail closed", func() error {
		_, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "refused-"}}, metav1.CreateOptions{})
		if err == nil {
			return errors.New("allowed")
		}
		if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `Internal error occurred: failed calling webhook "fail-closed.example.com"`) {
			return err
		}
		return nil
	})
}

func TestValidatingAdmissionPolicyDeniesReplicas(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	policies := c.client.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	_, err := policies.Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "max-replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					},
				}},
			},
			Variables: []admissionregistrationv1.Variable{{Name: "replicas", Expression: "object.spec.replicas"}},
			Validations: []admissionregistrationv1.Validation{{
				Expression:        "variables.replicas <= 5",
				MessageExpression: "'wants at most 5 replicas, got ' + string(variables.replicas)",
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "max-replicas-binding"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "max-replicas",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deployments := c.client.AppsV1().Deployments("default")
	want := "ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: wants at most 5 replicas, got 6"
	untilAdmitted(t, "denial", func() error {
		_, err := deployments.Create(ctx, deployment("big", 6), metav1.CreateOptions{})
		if err == nil {
			_ = deployments.Delete(ctx, "big", metav1.DeleteOptions{})
			return errors.New("a Deployment of 6 replicas was created")
		}
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			return err
		}
		return nil
	})
	small, err := deployments.Create(ctx, deployment("small", 5), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a Deployment of 5 replicas: %v", err)
	}
	small.Spec.Replicas = ptr.To[int32](7)
	if _, err := deployments.Update(ctx, small, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("scaling to 7 by update: %v, want the policy's denial", err)
	}
	// Other kinds are not the policy's.
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a ConfigMap: %v", err)
	}
}
