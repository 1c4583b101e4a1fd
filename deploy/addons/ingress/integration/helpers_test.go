// Package integration tests the Ingress controller through the real
// thing: the built apiserver (coracle.dev/shared/testserver), the
// controller in this process with Caddy on loopback ports, backends that
// are real HTTP servers described to the apiserver as Services and
// EndpointSlices (no controller manager runs, so nothing else touches
// those slices), and clients that speak HTTP, HTTPS, HTTP/2 and
// WebSocket to the proxy. All of it runs in a network namespace of the
// test's own (see TestMain).
//
// Caddy is one per process, so the tests share one controller and run
// one after another; each uses hosts of its own.
package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/net/websocket"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/addons/ingress/app"
	"coracle.dev/shared/addontest"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testserver"
)

const (
	// publishNS/publishName is the controller's own Service.
	publishNS, publishName = "kube-system", "coracle-ingress"
	// publishedIP stands for a node address of the built-in service LB;
	// it is only ever written into statuses, never dialled.
	publishedIP = "198.51.100.7"
	// waitTimeout bounds what a busy machine may take.
	waitTimeout = 30 * time.Second
)

// env is an apiserver, the controller and clients of both.
type env struct {
	t      *testing.T
	client kubernetes.Interface
	server *app.Server
	// httpAddr and httpsAddr are the proxy's listeners.
	httpAddr, httpsAddr string
	ca                  *testCA
}

// start runs an apiserver with the manifest's IngressClass, RBAC and
// publish Service, and the controller with the manifest's ServiceAccount's
// rights; all stop when the test ends.
func start(t *testing.T) *env {
	t.Helper()
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	e := &env{t: t, client: kubernetes.NewForConfigOrDie(cfg), ca: newTestCA(t)}
	ctx := context.Background()
	e.applyManifest()
	if _, err := e.client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/other"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress class: %v", err)
	}
	e.setPublishedIP(nil, publishedIP)

	ports := testnet.FreePorts(t, 2)
	e.httpAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	e.httpsAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	c := app.DefaultConfig()
	// The controller has the rights the manifest gives its pods.
	c.RESTConfig = rest.CopyConfig(ts.Config)
	c.RESTConfig.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + publishNS + ":coracle-ingress",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + publishNS, "system:authenticated"},
	}
	c.HTTPAddress, c.HTTPSAddress, c.StatusAddress = e.httpAddr, e.httpsAddr, "127.0.0.1:0"
	c.PublishService = publishNS + "/" + publishName
	c.DataDir = t.TempDir()
	c.DrainTimeout = 10 * time.Second
	c.Log = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("ingress")
	s, err := app.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start controller: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close controller: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case <-s.Done():
		t.Fatalf("controller stopped: %v", s.Err())
	case <-time.After(waitTimeout):
		t.Fatal("controller not ready")
	}
	e.server = s
	return e
}

// applyManifest creates the manifest's objects but the Deployment: no
// controller manager runs here; the controller runs in this process.
func (e *env) applyManifest() {
	e.t.Helper()
	ctx := context.Background()
	for _, obj := range addontest.Manifest(e.t, "../manifest.yaml") {
		var err error
		switch o := obj.(type) {
		case *networkingv1.IngressClass:
			_, err = e.client.NetworkingV1().IngressClasses().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ServiceAccount:
			_, err = e.client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = e.client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = e.client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = e.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
		default:
			e.t.Fatalf("manifest.yaml: unexpected %T", obj)
		}
		if err != nil {
			e.t.Fatalf("create %T from the manifest: %v", obj, err)
		}
	}
}

// setPublishedIP writes the publish Service's load-balancer status, as
// kube-proxy's service LB does.
func (e *env) setPublishedIP(svc *corev1.Service, ip string) {
	e.t.Helper()
	ctx := context.Background()
	if svc == nil {
		var err error
		if svc, err = e.client.CoreV1().Services(publishNS).Get(ctx, publishName, metav1.GetOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if _, err := e.client.CoreV1().Services(publishNS).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("publish service status: %v", err)
	}
}

// reply is what a backend answers: who it is and what it saw.
type reply struct {
	Backend        string `json:"backend"`
	Path           string `json:"path"`
	Host           string `json:"host"`
	Proto          string `json:"proto"`
	ForwardedFor   string `json:"xForwardedFor"`
	ForwardedProto string `json:"xForwardedProto"`
	ForwardedHost  string `json:"xForwardedHost"`
}

// backend is a real HTTP server on 127.0.0.1 answering with a reply,
// echoing WebSocket messages on /ws.
type backend struct {
	name string
	ip   string
	port int32
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	return serveOn(t, name, listen(t, backendIPs[0]+":0"), nil)
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return ln
}

func serveOn(t *testing.T, name string, ln net.Listener, extra http.Handler) *backend {
	mux := http.NewServeMux()
	mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { _, _ = io.Copy(c, c) }))
	if extra != nil {
		mux.Handle("/slow", extra)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply{
			Backend: name, Path: r.URL.Path, Host: r.Host, Proto: r.Proto,
			ForwardedFor: r.Header.Get("X-Forwarded-For"), ForwardedProto: r.Header.Get("X-Forwarded-Proto"),
			ForwardedHost: r.Header.Get("X-Forwarded-Host"),
		})
	})
	srv := httptest.NewUnstartedServer(mux)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	a := ln.Addr().(*net.TCPAddr)
	return &backend{name: name, ip: a.IP.String(), port: int32(a.Port)}
}

// service describes backends to the apiserver: a selector-less Service
// with port 80 ("http") and an EndpointSlice of the backends' addresses,
// which must share one port.
func (e *env) service(ns, name string, backends ...*backend) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			// No endpointslice controller runs; the label says that none
			// may touch the slice anyway.
			discoveryv1.LabelManagedBy: "ingress-integration-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(backends[0].port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, b := range backends {
		if b.port != backends[0].port {
			e.t.Fatalf("backends of one slice must share a port")
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{b.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		})
	}
	if _, err := e.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create endpointslice %s/%s: %v", ns, name, err)
	}
}

func (e *env) namespace(name string) string {
	e.t.Helper()
	_, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

func (e *env) createIngress(ns string, ing *networkingv1.Ingress) *networkingv1.Ingress {
	e.t.Helper()
	out, err := e.client.NetworkingV1().Ingresses(ns).Create(context.Background(), ing, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create ingress %s/%s: %v", ns, ing.Name, err)
	}
	return out
}

// updateIngress applies edit to the current Ingress, retrying on
// conflicts with the controller's status writes.
func (e *env) updateIngress(ns, name string, edit func(*networkingv1.Ingress)) {
	e.t.Helper()
	ctx := context.Background()
	for {
		ing, err := e.client.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		edit(ing)
		_, err = e.client.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			e.t.Fatalf("update ingress %s/%s: %v", ns, name, err)
		}
		return
	}
}

func ingressOf(name string, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressSpec{Rules: rules}}
}

type route struct {
	path    string
	typ     networkingv1.PathType
	service string
}

func rule(host string, routes ...route) networkingv1.IngressRule {
	r := networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
	for _, rt := range routes {
		r.HTTP.Paths = append(r.HTTP.Paths, networkingv1.HTTPIngressPath{
			Path: rt.path, PathType: ptr.To(rt.typ), Backend: serviceBackend(rt.service),
		})
	}
	return r
}

func serviceBackend(name string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: name, Port: networkingv1.ServiceBackendPort{Number: 80},
	}}
}

const (
	exact  = networkingv1.PathTypeExact
	prefix = networkingv1.PathTypePrefix
)

// httpClient reaches the proxy's plain HTTP listener whatever the URL's
// host, which becomes the Host header; it follows no redirects and opens
// a connection per request, so each sees the configuration of the moment.
func (e *env) httpClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, e.httpAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpsClient reaches the HTTPS listener, trusting the test CA and
// sending the URL's host as SNI; it speaks HTTP/2 when the proxy offers
// it.
func (e *env) httpsClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{RootCAs: e.ca.pool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, e.httpsAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// answer is one response, read whole.
type answer struct {
	code   int
	body   string
	header http.Header
	proto  string
	reply  reply
	tls    *tls.ConnectionState
}

func (a answer) String() string {
	return fmt.Sprintf("%d %q", a.code, strings.TrimSpace(a.body))
}

func get(c *http.Client, url string, header http.Header) (answer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{code: resp.StatusCode, body: string(body), header: resp.Header, proto: resp.Proto, tls: resp.TLS}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &a.reply)
	}
	return a, nil
}

// served says what a request should get: a backend's answer for want
// ("backend:NAME"), or a bare status code ("404", "503").
func served(a answer, want string) bool {
	if name, ok := strings.CutPrefix(want, "backend:"); ok {
		return a.code == http.StatusOK && a.reply.Backend == name
	}
	return strconv.Itoa(a.code) == want
}

// expect polls url until it is served as want, and returns that answer.
func expect(t *testing.T, c *http.Client, url, want string) answer {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last string
	for {
		a, err := get(c, url, nil)
		if err == nil && served(a, want) {
			return a
		}
		if err != nil {
			last = err.Error()
		} else {
			last = a.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: want %s, last got %s", url, want, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// warning waits for a Warning event with reason on the Ingress and
// returns its message.
func (e *env) warning(t *testing.T, ns, ingress, reason string) string {
	t.Helper()
	var msg string
	eventually(t, "a "+reason+" event on ingress "+ns+"/"+ingress, func() error {
		list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == "Ingress" && ev.InvolvedObject.Name == ingress {
				if ev.Type == corev1.EventTypeWarning && ev.Reason == reason {
					msg = ev.Message
					return nil
				}
				seen = append(seen, ev.Type+" "+ev.Reason)
			}
		}
		return fmt.Errorf("events of the ingress: %v", seen)
	})
	return msg
}

// testCA issues serving certificates.
type testCA struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	pool   *x509.CertPool
	mu     sync.Mutex // guards serial
	serial int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ingress test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{t: t, key: key, cert: cert, pool: pool, serial: 1}
}

// issue returns a serving certificate for hosts and its key, PEM.
func (ca *testCA) issue(hosts ...string) (crt, key []byte) {
	ca.t.Helper()
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		ca.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func (e *env) tlsSecret(ns, name string, crt, key []byte) {
	e.t.Helper()
	_, err := e.client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create secret %s/%s: %v", ns, name, err)
	}
}

// handshake tries a TLS handshake with the HTTPS listener for server
// name host and returns the certificate's names.
func (e *env) handshake(host string) ([]string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.httpsAddr,
		&tls.Config{ServerName: host, RootCAs: e.ca.pool})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].DNSNames, nil
}

var errNoListener = errors.New("no free port pair")

// backendPair serves two backends named a and b on two addresses with
// the same port, so that one EndpointSlice holds both.
func backendPair(t *testing.T, a, b string) (*backend, *backend) {
	t.Helper()
	for range 20 {
		first := listen(t, backendIPs[1]+":0")
		port := first.Addr().(*net.TCPAddr).Port
		second, err := net.Listen("tcp", backendIPs[2]+":"+strconv.Itoa(port))
		if err != nil {
			_ = first.Close()
			continue
		}
		return serveOn(t, a, first, nil), serveOn(t, b, second, nil)
	}
	t.Fatal(errNoListener)
	return nil, nil
}
