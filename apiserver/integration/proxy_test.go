package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// echoed is what the backend answers: what reached it.
type echoed struct {
	Method, Path, Query, Body, Host string
	// Credential reports whether any credential of the client's came
	// through (it must not: it was for the apiserver).
	Credential bool
}

// startBackend is a pod's (or a Service's endpoint's) server on
// 127.0.0.1: it echoes requests as JSON, serves an HTML page with a
// root-relative link at /page, and echoes WebSocket messages at /ws.
func startBackend(t *testing.T) (*httptest.Server, int) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<a href="/rewriteme">test</a>`)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Host: r.Host,
			Credential: r.Header.Get("Authorization") != "" || r.Header.Get("Impersonate-User") != ""})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return srv, n
}

func decodeEcho(t *testing.T, body []byte) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not the backend's echo: %v: %s", err, body)
	}
	return e
}

// podAt creates a pod whose status says it has ip.
func podAt(t *testing.T, c *cluster, p *corev1.Pod, ip string) {
	t.Helper()
	created, err := c.client.CoreV1().Pods("default").Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip == "" {
		return
	}
	created.Status.PodIP, created.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if _, err := c.client.CoreV1().Pods("default").UpdateStatus(ctx(t), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// noRedirects is c's HTTP client without following redirects.
func (c *cluster) noRedirects() *http.Client {
	return &http.Client{Transport: c.http.Transport, Timeout: c.http.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// dialWebSocket opens a WebSocket to path on the apiserver with admin
// credentials, as a browser or kubectl's WebSocket clients do.
func (c *cluster) dialWebSocket(t *testing.T, path string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	tlsCfg, err := rest.TLSConfigFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{}
	if c.Config.BearerToken != "" {
		header.Set("Authorization", "Bearer "+c.Config.BearerToken)
	}
	d := websocket.Dialer{TLSClientConfig: tlsCfg, Subprotocols: subprotocols}
	return d.Dial("wss://"+strings.TrimPrefix(c.Server.URL(), "https://")+path, header)
}

func TestPodProxy(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.ProxyLoopback = true }))
	_, port := startBackend(t)
	p := pod("web")
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: int32(port)}}
	podAt(t, c, p, "127.0.0.1")
	base := "/api/v1/namespaces/default/pods/web/proxy"

	// Every method goes through, with the path after proxy/ and the
	// query (a watch in it is the backend's), without our credential.
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		resp := c.do(t, method, base+"/some/path/with/"+method+"?x=1&watch=true", "text/plain", []byte("body-"+method))
		if resp.code != http.StatusOK {
			t.Fatalf("%s: %d %s", method, resp.code, resp.body)
		}
		e := decodeEcho(t, resp.body)
		if e.Method != method || e.Path != "/some/path/with/"+method || e.Query != "x=1&watch=true" || e.Credential {
			t.Errorf("%s reached the pod as %+v", method, e)
		}
		if method != "GET" && method != "OPTIONS" && e.Body != "body-"+method {
			t.Errorf("%s body %q", method, e.Body)
		}
	}
	if resp := c.do(t, "HEAD", base+"/x", "", nil); resp.code != http.StatusOK || len(resp.body) != 0 {
		t.Errorf("HEAD: %d %q", resp.code, resp.body)
	}

	// No path: redirected to the root, as Kubernetes.
	resp := doWith(t, c.noRedirects(), c.Server.URL(), "GET", base+"?a=b", "", nil, nil)
	if resp.code != http.StatusMovedPermanently || resp.header.Get("Location") != base+"/?a=b" {
		t.Errorf("no path: %d, Location %q", resp.code, resp.header.Get("Location"))
	}

	// client-go's ProxyGet: "scheme:name:port".
	raw, err := c.client.CoreV1().Pods("default").ProxyGet("http", "web", strconv.Itoa(port), "by/client-go", map[string]string{"q": "v"}).DoRaw(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, raw); e.Path != "/by/client-go" || e.Query != "q=v" {
		t.Errorf("client-go proxy reached %+v", e)
	}

	// HTML links are rewritten to go through the proxy.
	resp = c.do(t, "GET", base+"/page", "", nil)
	if want := `<a href="` + base + `/rewriteme">test</a>`; resp.code != http.StatusOK || string(resp.body) != want {
		t.Errorf("page: %d %s, want %s", resp.code, resp.body, want)
	}

	// A WebSocket goes through.
	conn, wsResp, err := c.dialWebSocket(t, base+"/ws")
	if err != nil {
		t.Fatalf("websocket through the pod proxy: %v (%v)", err, wsResp)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "echo: hello" {
		t.Errorf("websocket echo %q, %v", msg, err)
	}
	conn.Close()

	// A pod without an IP, a port nothing listens on, a bad name.
	podAt(t, c, pod("pending"), "")
	resp = c.do(t, "GET", "/api/v1/namespaces/default/pods/pending/proxy/", "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || st.Message != "address not allowed" {
		t.Errorf("pod without IP: %d %s", resp.code, resp.body)
	}
	resp = c.do(t, "GET", "/api/v1/namespaces/default/pods/web:1/proxy/", "", nil)
	if st := resp.status(t); resp.code != http.StatusServiceUnavailable || !strings.Contains(st.Message, "error trying to reach service") {
		t.Errorf("closed port: %d %s", resp.code, resp.body)
	}
	resp = c.do(t, "GET", "/api/v1/namespaces/default/pods/a:b:c:d/proxy/", "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || st.Message != `invalid pod request "a:b:c:d"` {
		t.Errorf("bad name: %d %s", resp.code, resp.body)
	}
	resp = c.do(t, "GET", "/api/v1/namespaces/default/pods/nope/proxy/", "", nil)
	if resp.code != http.StatusNotFound {
		t.Errorf("missing pod: %d %s", resp.code, resp.body)
	}
}

// TestPodProxyRefusesLoopback: by default, as Kubernetes, a pod proxy
// reaches only global unicast addresses.
func TestPodProxyRefusesLoopback(t *testing.T) {
	c := start(t)
	_, port := startBackend(t)
	podAt(t, c, pod("web"), "127.0.0.1")
	resp := c.do(t, "GET", fmt.Sprintf("/api/v1/namespaces/default/pods/web:%d/proxy/", port), "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || st.Message != "address not allowed" {
		t.Errorf("loopback pod: %d %s", resp.code, resp.body)
	}
}

// routeAll is a proxy transport that takes every connection to backend,
// remembering the address asked for: the Service's endpoint chosen.
type routeAll struct {
	backend string
	mu      sync.Mutex // guards dialed
	dialed  []string
}

func (r *routeAll) transport() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		r.mu.Lock()
		r.dialed = append(r.dialed, addr)
		r.mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, r.backend)
	}}
}

func (r *routeAll) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dialed) == 0 {
		return ""
	}
	return r.dialed[len(r.dialed)-1]
}

func TestServiceProxy(t *testing.T) {
	srv, _ := startBackend(t)
	route := &routeAll{backend: srv.Listener.Addr().String()}
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.ProxyTransport = route.transport() }))
	podAt(t, c, pod("web-0"), "10.244.0.5")
	podAt(t, c, pod("web-1"), "10.244.0.6")
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "metrics", Port: 9090}}}}
	}
	slice := func(service, name string, endpoints ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: endpoints,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
	}
	endpoint := func(ip, podName string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: podName}}
	}
	for _, s := range []struct {
		svc   string
		slice *discoveryv1.EndpointSlice
	}{
		// web-1 is not ready: only web-0 serves.
		{"web", slice("web", "web-a", endpoint("10.244.0.5", "web-0", true), endpoint("10.244.0.6", "web-1", false))},
		// The endpoint's address is not its pod's: no endpoint.
		{"stray", slice("stray", "stray-a", endpoint("10.244.0.9", "web-0", true))},
		{"empty", nil},
	} {
		if _, err := c.client.CoreV1().Services("default").Create(ctx(t), svc(s.svc), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if s.slice != nil {
			if _, err := c.client.DiscoveryV1().EndpointSlices("default").Create(ctx(t), s.slice, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// "svc:portname", "svc:port" and "scheme:svc:portname" reach the
	// ready endpoint's target port, with the path and query.
	for _, name := range []string{"web:http", "web:80", "http:web:http"} {
		resp := c.do(t, "POST", "/api/v1/namespaces/default/services/"+name+"/proxy/a/b?c=d", "text/plain", []byte("hi"))
		if resp.code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, resp.code, resp.body)
		}
		if e := decodeEcho(t, resp.body); e.Method != "POST" || e.Path != "/a/b" || e.Query != "c=d" || e.Body != "hi" || e.Credential {
			t.Errorf("%s reached %+v", name, e)
		}
		if got := route.last(); got != "10.244.0.5:8080" {
			t.Errorf("%s dialed %q, want the ready endpoint 10.244.0.5:8080", name, got)
		}
	}
	raw, err := c.client.CoreV1().Services("default").ProxyGet("", "web", "http", "via/client-go", nil).DoRaw(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, raw); e.Path != "/via/client-go" {
		t.Errorf("client-go service proxy reached %+v", e)
	}

	// Nothing to reach: 503 with Kubernetes' messages.
	for _, tc := range []struct{ name, want string }{
		{"web:81", `no service port 81 found for service "web"`},
		{"web", `no endpoints available for service "web"`}, // its ports are named
		{"web:metrics", `no endpoints available for service "web"`},
		{"stray:http", `no endpoints available for service "stray"`},
		{"empty:http", `no endpoints available for service "empty"`},
		{"missing:http", `no endpoints available for service "missing"`},
	} {
		resp := c.do(t, "GET", "/api/v1/namespaces/default/services/"+tc.name+"/proxy/", "", nil)
		if st := resp.status(t); resp.code != http.StatusServiceUnavailable || st.Message != tc.want {
			t.Errorf("%s: %d %q, want 503 %q", tc.name, resp.code, st.Message, tc.want)
		}
	}
}

// nodeFor registers node n1 with the stub kubelet's address and port.
func nodeFor(t *testing.T, c *cluster, k *stubKubelet) int {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(k.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	node, err := c.client.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx(t), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestNodeProxy(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.ProxyLoopback = true }))
	k := startStubKubelet(t, c.Server.CACertPEM())
	port := nodeFor(t, c, k)

	raw, err := c.client.CoreV1().RESTClient().Get().Resource("nodes").Name("n1").SubResource("proxy").Suffix("healthz").DoRaw(ctx(t))
	if err != nil || string(raw) != "ok" {
		t.Fatalf("nodes/n1/proxy/healthz: %q, %v", raw, err)
	}
	// The kubelet's own port is the kubelet too.
	raw, err = c.client.CoreV1().RESTClient().Get().Resource("nodes").Name(fmt.Sprintf("n1:%d", port)).SubResource("proxy").Suffix("healthz").DoRaw(ctx(t))
	if err != nil || string(raw) != "ok" {
		t.Fatalf("nodes/n1:%d/proxy/healthz: %q, %v", port, raw, err)
	}
	requests, cn := k.seen()
	if cn != "kube-apiserver-kubelet-client" || len(requests) != 2 || requests[0] != "/healthz?" {
		t.Fatalf("kubelet saw %q from %q", requests, cn)
	}

	// As kubectl get --raw, when the real kubectl is at hand.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "get", "--raw", "/api/v1/nodes/n1/proxy/healthz").CombinedOutput()
		if err != nil || string(out) != "ok" {
			t.Errorf("kubectl get --raw: %q, %v", out, err)
		}
	}

	resp := c.do(t, "GET", "/api/v1/nodes/nope/proxy/healthz", "", nil)
	if resp.code != http.StatusNotFound {
		t.Errorf("missing node: %d %s", resp.code, resp.body)
	}
}

// attachDenier is a validating webhook on CONNECT pods/attach that
// refuses, as the conformance suite's, attaching with stdin to the
// container "container1".
func startAttachDenier(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		var opts corev1.PodAttachOptions
		if review.Request.Operation == admissionv1.Connect && review.Request.SubResource == "attach" &&
			review.Request.Kind.Kind == "PodAttachOptions" && json.Unmarshal(review.Request.Object.Raw, &opts) == nil &&
			opts.Stdin && opts.Container == "container1" {
			resp.Allowed = false
			resp.Result = &metav1.Status{Message: fmt.Sprintf("attaching to pod '%s' is not allowed", review.Request.Name)}
		}
		review.Response, review.Request = resp, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&review)
	}))
	t.Cleanup(srv.Close)
	return srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestPodAttachAndPortForward(t *testing.T) {
	c := start(t)
	k := startStubKubelet(t, c.Server.CACertPEM())
	nodeFor(t, c, k)
	p := pod("to-be-attached")
	p.Spec.NodeName = "n1"
	p.Spec.Containers = []corev1.Container{{Name: "container1", Image: "busybox"}, {Name: "container2", Image: "busybox"}}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hook, caBundle := startAttachDenier(t)
	_, err := c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx(t), &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-attaching-pod"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny-attaching-pod.k8s.io",
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Connect},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/attach"}},
			}},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(hook.URL), CABundle: caBundle},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	attachURL := func(opts *corev1.PodAttachOptions) string {
		return c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("to-be-attached").SubResource("attach").
			VersionedParams(opts, scheme.ParameterCodec).URL().String()
	}

	// kubectl attach -i -c container1, over WebSocket as kubectl 1.32:
	// the webhook denies it with its message and nothing reaches the
	// kubelet.
	want := "attaching to pod 'to-be-attached' is not allowed"
	untilAdmitted(t, "attach denial", func() error {
		ex, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", attachURL(&corev1.PodAttachOptions{Container: "container1", Stdin: true, Stdout: true, Stderr: true}))
		if err != nil {
			return err
		}
		err = ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
		if err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("attach: %v, want the webhook's denial %q", err, want)
		}
		return nil
	})
	// And a plain POST is the webhook's Status (400 when it names no
	// code, as Kubernetes).
	resp := c.do(t, "POST", "/api/v1/namespaces/default/pods/to-be-attached/attach?container=container1&stdin=true", "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || !strings.Contains(st.Message, want) {
		t.Errorf("POST attach: %d %s", resp.code, resp.body)
	}
	if requests, _ := k.seen(); len(requests) != 0 {
		t.Fatalf("a denied attach reached the kubelet: %q", requests)
	}

	// Another container is allowed: the upgrade goes to the kubelet's
	// /attach with the streams, and this kubelet's refusal comes back.
	conn, wsResp, err := c.dialWebSocket(t, "/api/v1/namespaces/default/pods/to-be-attached/attach?container=container2&stdin=true&stdout=true&tty=true", "v5.channel.k8s.io")
	if err == nil {
		conn.Close()
		t.Fatal("attach upgraded on a kubelet without attach")
	}
	if wsResp == nil || wsResp.StatusCode != http.StatusNotFound {
		t.Fatalf("attach through to the kubelet: %v %v", err, wsResp)
	}
	body, _ := io.ReadAll(wsResp.Body)
	if !strings.Contains(string(body), "attach is not served by this kubelet") {
		t.Errorf("kubelet's answer not passed on: %q", body)
	}
	if requests, _ := k.seen(); len(requests) != 1 || requests[0] != "/attach/default/to-be-attached/container2?input=1&output=1&tty=1" {
		t.Errorf("kubelet saw %q", requests)
	}
	// Without an upgrade, 400 as Kubernetes; a container that is not the
	// pod's, 400.
	resp = c.do(t, "POST", "/api/v1/namespaces/default/pods/to-be-attached/attach?container=container2&stdout=true", "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || st.Message != "Upgrade request required" {
		t.Errorf("attach without upgrade: %d %s", resp.code, resp.body)
	}
	resp = c.do(t, "POST", "/api/v1/namespaces/default/pods/to-be-attached/attach?container=nope&stdout=true", "", nil)
	if st := resp.status(t); resp.code != http.StatusBadRequest || !strings.Contains(st.Message, "container nope is not valid") {
		t.Errorf("attach to a missing container: %d %s", resp.code, resp.body)
	}

	// Port forwarding: the tunnel goes through to the kubelet's
	// /portForward with the ports.
	conn, wsResp, err = c.dialWebSocket(t, "/api/v1/namespaces/default/pods/to-be-attached/portforward?ports=8080&ports=9090", "portforward.k8s.io")
	if err != nil {
		t.Fatalf("portforward: %v (%v)", err, wsResp)
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "forwarded: data" {
		t.Errorf("portforward tunnel: %q, %v", msg, err)
	}
	conn.Close()
	if requests, _ := k.seen(); requests[len(requests)-1] != "/portForward/default/to-be-attached?port=8080%2C9090" {
		t.Errorf("kubelet saw %q", requests)
	}
	resp = c.do(t, "GET", "/api/v1/namespaces/default/pods/to-be-attached/portforward?ports=http", "", nil)
	if resp.code != http.StatusBadRequest {
		t.Errorf("portforward to a port that is not a number: %d %s", resp.code, resp.body)
	}
}

// TestConnectSubresourcesInDiscovery: each is listed with Kubernetes'
// kind and verbs.
func TestConnectSubresourcesInDiscovery(t *testing.T) {
	c := start(t)
	list, err := c.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pods/attach":              "PodAttachOptions [create get]",
		"pods/portforward":         "PodPortForwardOptions [create get]",
		"pods/proxy":               "PodProxyOptions [create delete get patch update]",
		"pods/ephemeralcontainers": "Pod [get patch update]",
		"services/proxy":           "ServiceProxyOptions [create delete get patch update]",
		"nodes/proxy":              "NodeProxyOptions [create delete get patch update]",
	}
	for _, r := range list.APIResources {
		if w, ok := want[r.Name]; ok {
			if got := fmt.Sprintf("%s %v", r.Kind, r.Verbs); got != w {
				t.Errorf("%s: %s, want %s", r.Name, got, w)
			}
			delete(want, r.Name)
		}
	}
	for name := range want {
		t.Errorf("%s is not in discovery", name)
	}
}
