package discovery

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"coracle.dev/shared/pki"
)

const (
	tokenID     = "abcdef"
	tokenSecret = "0123456789abcdef"
	token       = tokenID + "." + tokenSecret
	// advertised is the server cluster-info names: not the endpoint
	// asked, to show the result comes from cluster-info.
	advertised = "https://10.0.0.1:6443"
)

// apiserver is a TLS server answering GET cluster-info with what the
// test arranged; answers[i] is the i-th answer, the last one repeats.
type apiserver struct {
	srv *httptest.Server

	mu       sync.Mutex // guards answers and requests
	answers  []func(w http.ResponseWriter)
	requests int
}

func newAPIServer(t *testing.T) *apiserver {
	t.Helper()
	a := &apiserver{}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/kube-public/configmaps/cluster-info" || r.Header.Get("Authorization") != "" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		i := min(a.requests, len(a.answers)-1)
		a.requests++
		answer := a.answers[i]
		a.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiserver) serve(answers ...func(w http.ResponseWriter)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answers = answers
}

func (a *apiserver) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

func (a *apiserver) endpoint() string { return a.srv.Listener.Addr().String() }

// caPEM is the PEM of the server's own (self-signed CA) certificate.
func (a *apiserver) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
}

func (a *apiserver) caHash() string { return pki.PublicKeyHash(a.srv.Certificate()) }

// kubeconfig is cluster-info's kubeconfig as the apiserver writes it, as
// kubeadm does: one unnamed cluster and nothing else.
func kubeconfig(t *testing.T, caPEM []byte) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: advertised, CertificateAuthorityData: caPEM}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clusterInfo answers with a cluster-info holding kubeconfig and a JWS
// of it for each id, made with secrets[id].
func clusterInfo(t *testing.T, kubeconfig string, secrets map[string]string) func(w http.ResponseWriter) {
	t.Helper()
	data := map[string]string{"kubeconfig": kubeconfig}
	for id, secret := range secrets {
		sig, err := jws.ComputeDetachedSignature(kubeconfig, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		data["jws-kubeconfig-"+id] = sig
	}
	cm := corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"},
		Data:       data,
	}
	body, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

func status(code int, reason metav1.StatusReason) func(w http.ResponseWriter) {
	body, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: string(reason),
	})
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}
}

func TestDiscover(t *testing.T) {
	otherCA, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// arrange sets up the server and returns the options' pins.
		arrange func(t *testing.T, a *apiserver) []string
		skipCA  bool
		token   string
		// timeout bounds discovery; 30 s unless set (a case that must
		// wait out the deadline sets a short one).
		timeout time.Duration
		// wantErr is the refusal (nil for success); wantMsg a part of
		// its message; wantRequests how many reads were made (-1: any).
		wantErr      error
		wantMsg      string
		wantRequests int
	}{
		{
			name: "good token and pinned CA: trusted after a second, verified read",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: tokenSecret, "zzzzzz": "zzzzzzzzzzzzzzzz"}))
				return []string{"sha256:0000000000000000000000000000000000000000000000000000000000000000", strings.ToUpper(a.caHash())[:6] + a.caHash()[6:]}
			},
			wantRequests: 2,
		},
		{
			name: "waits while the apiserver is not ready and the signer has not signed",
			arrange: func(t *testing.T, a *apiserver) []string {
				kc := kubeconfig(t, a.caPEM())
				a.serve(status(503, metav1.StatusReasonServiceUnavailable), status(404, metav1.StatusReasonNotFound),
					clusterInfo(t, kc, nil), clusterInfo(t, kc, map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantRequests: 5,
		},
		{
			name: "no JWS for the token's id",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{"zzzzzz": "zzzzzzzzzzzzzzzz"}))
				return []string{a.caHash()}
			},
			timeout:      2 * time.Second,
			wantErr:      ErrNoJWS,
			wantMsg:      `there is no JWS signed token in the cluster-info ConfigMap. This token id "abcdef" is invalid for this cluster, or it has expired. Use "ctl token create" on the control-plane node to create a new valid token`,
			wantRequests: -1,
		},
		{
			name: "JWS made with another secret",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: "ffffffffffffffff"}))
				return []string{a.caHash()}
			},
			wantErr:      ErrBadSignature,
			wantMsg:      "failed to verify JWS signature of received cluster info object, can't trust this API Server",
			wantRequests: 1,
		},
		{
			name: "CA hash not pinned",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: tokenSecret}))
				return []string{pki.PublicKeyHash(otherCA.Cert)}
			},
			wantErr:      ErrNotPinned,
			wantMsg:      "cluster CA found in cluster-info ConfigMap is not trusted: public key sha256:",
			wantRequests: 1,
		},
		{
			name: "no pin, verification skipped: the signature alone vouches",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: tokenSecret}))
				return nil
			},
			skipCA:       true,
			wantRequests: 1,
		},
		{
			name: "no pin and no skip: refused before any request",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: tokenSecret}))
				return nil
			},
			wantMsg:      "using token-based discovery without --discovery-token-ca-cert-hash can be unsafe",
			wantRequests: 0,
		},
		{
			name: "malformed pin: refused before any request",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, a.caPEM()), map[string]string{tokenID: tokenSecret}))
				return []string{"sha256:abcd"}
			},
			wantMsg:      `invalid hash "sha256:abcd", expected a 32 byte SHA-256 hash, found 2 bytes`,
			wantRequests: 0,
		},
		{
			name:         "badly shaped token: refused before any request",
			arrange:      func(t *testing.T, a *apiserver) []string { return []string{a.caHash()} },
			token:        "abcdef.0123",
			wantMsg:      `the bootstrap token "abcdef.0123" was not of the form`,
			wantRequests: 0,
		},
		{
			name: "kubeconfig with two clusters",
			arrange: func(t *testing.T, a *apiserver) []string {
				cfg := clientcmdapi.NewConfig()
				cfg.Clusters["a"] = &clientcmdapi.Cluster{Server: advertised, CertificateAuthorityData: a.caPEM()}
				cfg.Clusters["b"] = &clientcmdapi.Cluster{Server: "https://10.0.0.2:6443", CertificateAuthorityData: a.caPEM()}
				b, _ := clientcmd.Write(*cfg)
				a.serve(clusterInfo(t, string(b), map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantErr:      ErrMalformed,
			wantMsg:      "malformed kubeconfig in the cluster-info ConfigMap: it names 2 clusters, want exactly one",
			wantRequests: 1,
		},
		{
			name: "kubeconfig that does not parse",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, "clusters: [", map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantErr:      ErrMalformed,
			wantRequests: 1,
		},
		{
			name: "kubeconfig without a CA",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, nil), map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantErr:      ErrMalformed,
			wantRequests: 1,
		},
		{
			name: "no kubeconfig key",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, "", map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantErr:      ErrNoKubeconfig,
			wantRequests: 1,
		},
		{
			name: "pinned CA is not the server's: the verified second read fails",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(clusterInfo(t, kubeconfig(t, otherCA.CertPEM), map[string]string{tokenID: tokenSecret}))
				return []string{pki.PublicKeyHash(otherCA.Cert)}
			},
			wantErr:      ErrUntrustedServer,
			wantMsg:      "certificate",
			wantRequests: 1,
		},
		{
			name: "second read gives another kubeconfig",
			arrange: func(t *testing.T, a *apiserver) []string {
				first := kubeconfig(t, a.caPEM())
				second := strings.Replace(first, advertised, "https://10.9.9.9:6443", 1)
				a.serve(clusterInfo(t, first, map[string]string{tokenID: tokenSecret}), clusterInfo(t, second, map[string]string{tokenID: tokenSecret}))
				return []string{a.caHash()}
			},
			wantErr:      ErrChanged,
			wantRequests: 2,
		},
		{
			name: "anonymous reads forbidden: no retry",
			arrange: func(t *testing.T, a *apiserver) []string {
				a.serve(status(403, metav1.StatusReasonForbidden))
				return []string{a.caHash()}
			},
			wantMsg:      "failed to request the cluster-info ConfigMap: Forbidden",
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPIServer(t)
			pins := tt.arrange(t, a)
			tok := tt.token
			if tok == "" {
				tok = token
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			got, err := Discover(context.Background(), Options{
				Endpoint:                 a.endpoint(),
				Token:                    tok,
				CACertHashes:             pins,
				UnsafeSkipCAVerification: tt.skipCA,
				Timeout:                  timeout,
				RetryInterval:            20 * time.Millisecond,
			})
			if tt.wantRequests >= 0 && a.count() != tt.wantRequests {
				t.Errorf("%d requests, want %d", a.count(), tt.wantRequests)
			}
			if tt.wantErr == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Server != advertised || string(got.CAData) != string(a.caPEM()) {
					t.Errorf("got server %q and CA\n%s", got.Server, got.CAData)
				}
				return
			}
			if err == nil {
				t.Fatalf("trusted %+v", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}

// The wait for a signature is reported once, not once per read.
func TestDiscoverReportsWaitingOnce(t *testing.T) {
	a := newAPIServer(t)
	kc := kubeconfig(t, a.caPEM())
	a.serve(clusterInfo(t, kc, nil), clusterInfo(t, kc, nil), clusterInfo(t, kc, nil), clusterInfo(t, kc, map[string]string{tokenID: tokenSecret}))
	var progress []string
	_, err := Discover(context.Background(), Options{
		Endpoint: a.endpoint(), Token: token, CACertHashes: []string{a.caHash()},
		Timeout: 30 * time.Second, RetryInterval: 10 * time.Millisecond,
		Progress: func(r string) { progress = append(progress, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `waiting for the cluster-info ConfigMap to receive a JWS signature for token ID "abcdef"`
	if len(progress) != 1 || progress[0] != want {
		t.Errorf("progress %q, want [%q]", progress, want)
	}
}

// Nothing answering at all: the deadline ends discovery with the reason.
func TestDiscoverGivesUpAtTheDeadline(t *testing.T) {
	a := newAPIServer(t)
	endpoint := a.endpoint()
	a.srv.Close()
	start := time.Now()
	_, err := Discover(context.Background(), Options{
		Endpoint: endpoint, Token: token, UnsafeSkipCAVerification: true,
		Timeout: 300 * time.Millisecond, RetryInterval: 20 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "failed to request the cluster-info ConfigMap") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
}
