package aggregator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/shared/pki"
)

// backend is a stand-in extension apiserver: TLS with a certificate for
// api.wardle.svc from its own CA, front-proxy client certificates
// required, serving one group-version's discovery and echoing what it
// was sent.
type backend struct {
	srv      *httptest.Server
	caPEM    []byte
	frontCA  *pki.KeyPair
	frontKey *pki.KeyPair
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	ca, err := pki.NewCA("wardle-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.Request{CommonName: "api", DNSNames: []string{"api.wardle.svc"}, Usage: pki.ServerUsage})
	if err != nil {
		t.Fatal(err)
	}
	frontCA, err := pki.NewCA("front-proxy-ca")
	if err != nil {
		t.Fatal(err)
	}
	client, err := frontCA.Issue(pki.Request{CommonName: FrontProxyClientName, Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&metav1.APIResourceList{GroupVersion: "wardle.example.com/v1alpha1", APIResources: []metav1.APIResource{
			{Name: "flunders", SingularName: "flunder", Namespaced: true, Kind: "Flunder", Verbs: metav1.Verbs{"get", "list"}},
		}})
	})
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"user": r.Header.Get("X-Remote-User"), "uid": r.Header.Get("X-Remote-Uid"), "groups": r.Header.Values("X-Remote-Group"),
			"extra": r.Header.Get("X-Remote-Extra-Scopes"), "authorization": r.Header.Get("Authorization"),
			"impersonate": r.Header.Get("Impersonate-User"), "query": r.URL.RawQuery,
			"client": r.TLS.PeerCertificates[0].Subject.CommonName,
		})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serving.Cert.Raw}, PrivateKey: serving.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    frontCA.CertPool(),
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &backend{srv: srv, caPEM: ca.CertPEM, frontCA: frontCA, frontKey: client}
}

// resolver sends every Service to the backend.
type resolver struct{ host string }

func (r resolver) ResolveEndpoint(string, string, int32) (*url.URL, error) {
	return &url.URL{Scheme: "https", Host: r.host}, nil
}

func (b *backend) aggregator() *Aggregator {
	u, _ := url.Parse(b.srv.URL)
	return New(b.frontKey.CertPEM, b.frontKey.KeyPEM, resolver{u.Host})
}

func (b *backend) apiService() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com"},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: "wardle.example.com", Version: "v1alpha1", CABundle: b.caPEM,
			Service:              &apiregistrationv1.ServiceReference{Namespace: "wardle", Name: "api", Port: ptr.To[int32](443)},
			GroupPriorityMinimum: 2000, VersionPriority: 200,
		},
		Status: apiregistrationv1.APIServiceStatus{Conditions: []apiregistrationv1.APIServiceCondition{
			{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue},
		}},
	}
}

// objects are fixed Services and EndpointSlices.
type objects struct {
	svc    *corev1.Service
	slices []*discoveryv1.EndpointSlice
	err    error
}

func (o objects) Service(_ context.Context, namespace, name string) (*corev1.Service, error) {
	if o.err != nil {
		return nil, o.err
	}
	if o.svc == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("services"), name)
	}
	return o.svc, nil
}

func (o objects) EndpointSlices(context.Context, string, string) ([]*discoveryv1.EndpointSlice, error) {
	return o.slices, nil
}

func TestAvailable(t *testing.T) {
	b := newBackend(t)
	agg := b.aggregator()
	clusterIP := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10",
		Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	slice := func(ready bool, port string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
			Ports:     []discoveryv1.EndpointPort{{Name: ptr.To(port), Port: ptr.To[int32](8443)}},
		}
	}
	tests := []struct {
		name    string
		objects objects
		mutate  func(*apiregistrationv1.APIService)
		status  apiregistrationv1.ConditionStatus
		reason  string
	}{
		{"no service", objects{}, nil, apiregistrationv1.ConditionFalse, "ServiceNotFound"},
		{"service unreadable", objects{err: apierrors.NewServiceUnavailable("etcd down")}, nil, apiregistrationv1.ConditionUnknown, "ServiceAccessError"},
		{"not listening on the port", objects{svc: clusterIP}, func(s *apiregistrationv1.APIService) { s.Spec.Service.Port = ptr.To[int32](8080) },
			apiregistrationv1.ConditionFalse, "ServicePortError"},
		{"no endpoint slices", objects{svc: clusterIP}, nil, apiregistrationv1.ConditionFalse, "EndpointsNotFound"},
		{"no ready endpoint", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(false, "https")}}, nil,
			apiregistrationv1.ConditionFalse, "MissingEndpoints"},
		{"ready endpoint of another port", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(true, "metrics")}}, nil,
			apiregistrationv1.ConditionFalse, "MissingEndpoints"},
		{"all checks pass", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(true, "https")}}, nil,
			apiregistrationv1.ConditionTrue, "Passed"},
		{"an external name is only probed", objects{svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1"}}}, nil,
			apiregistrationv1.ConditionTrue, "Passed"},
		{"the server's certificate must verify with caBundle", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(true, "https")}},
			func(s *apiregistrationv1.APIService) { s.Spec.CABundle = b.frontCA.CertPEM }, apiregistrationv1.ConditionFalse, "FailedDiscoveryCheck"},
		{"insecureSkipTLSVerify skips it", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(true, "https")}},
			func(s *apiregistrationv1.APIService) { s.Spec.CABundle, s.Spec.InsecureSkipTLSVerify = nil, true }, apiregistrationv1.ConditionTrue, "Passed"},
		{"the group-version must be served", objects{svc: clusterIP, slices: []*discoveryv1.EndpointSlice{slice(true, "https")}},
			func(s *apiregistrationv1.APIService) { s.Spec.Version = "v2" }, apiregistrationv1.ConditionFalse, "FailedDiscoveryCheck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := b.apiService()
			if tt.mutate != nil {
				tt.mutate(svc)
			}
			c := agg.Available(context.Background(), tt.objects, svc)
			if c.Type != apiregistrationv1.Available || c.Status != tt.status || c.Reason != tt.reason {
				t.Errorf("condition %s %s (%s), want %s (%s)", c.Type, c.Status, c.Message, tt.status, tt.reason)
			}
		})
	}
}

func TestDiscoveryFallsBackToTheResourceList(t *testing.T) {
	b := newBackend(t)
	vd, err := b.aggregator().Discovery(context.Background(), b.apiService())
	if err != nil {
		t.Fatal(err)
	}
	if vd.Version != "v1alpha1" || len(vd.Resources) != 1 || vd.Resources[0].Resource != "flunders" || vd.Resources[0].Scope != "Namespaced" {
		t.Errorf("discovery %+v", vd)
	}
}

func TestProxy(t *testing.T) {
	b := newBackend(t)
	agg := b.aggregator()
	user := &authn.User{Name: "jane", UID: "42", Groups: []string{"dev", "system:authenticated"}, Extra: map[string][]string{"scopes": {"view"}}}
	serve := func(svc *apiregistrationv1.APIService) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/apis/wardle.example.com/v1alpha1/namespaces/default/flunders?limit=5", nil)
		r.Header.Set("Authorization", "Bearer secret")
		r.Header.Set("Impersonate-User", "root")
		r.Header.Set("X-Remote-User", "forged")
		w := httptest.NewRecorder()
		agg.Proxy(w, r, svc, user)
		return w
	}
	w := serve(b.apiService())
	if w.Code != http.StatusOK {
		t.Fatalf("proxied GET: %d %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"user": "jane", "uid": "42", "groups": []any{"dev", "system:authenticated"}, "extra": "view",
		"authorization": "", "impersonate": "", "query": "limit=5", "client": FrontProxyClientName,
	}
	for k, v := range want {
		if gj, wj := mustJSON(got[k]), mustJSON(v); gj != wj {
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}

	unavailable := b.apiService()
	unavailable.Status.Conditions[0].Status = apiregistrationv1.ConditionFalse
	if w := serve(unavailable); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "service unavailable") {
		t.Errorf("unavailable APIService: %d %s, want 503 service unavailable", w.Code, w.Body)
	}
	wrongCA := b.apiService()
	wrongCA.Spec.CABundle = b.frontCA.CertPEM
	if w := serve(wrongCA); w.Code != http.StatusServiceUnavailable {
		body, _ := io.ReadAll(w.Body)
		t.Errorf("backend not trusted: %d %s, want 503", w.Code, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAuthenticationConfigMapData(t *testing.T) {
	data := AuthenticationConfigMapData([]byte("client-ca"), []byte("front-ca"))
	want := map[string]string{
		"client-ca-file":                     "client-ca",
		"requestheader-client-ca-file":       "front-ca",
		"requestheader-allowed-names":        `["front-proxy-client"]`,
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-uid-headers":          `["X-Remote-Uid"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %q, want %q", k, data[k], v)
		}
	}
	if len(data) != len(want) {
		t.Errorf("data has %d keys, want %d", len(data), len(want))
	}
}
