package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/exec"
	"k8s.io/utils/ptr"
)

// stubKubelet stands in for a kubelet's HTTPS API that requires the
// apiserver's kubelet client certificate, to prove what the apiserver
// sends it (the real kubelet's own tests cover the other side): logs and
// exec as the kubelet answers them, /healthz ok, /portForward/ a
// WebSocket that echoes, and /attach/ refused as by a kubelet that does
// not serve it.
type stubKubelet struct {
	srv *httptest.Server

	mu       sync.Mutex // guards requests and clientCN
	requests []string
	clientCN string
}

func startStubKubelet(t *testing.T, caPEM []byte) *stubKubelet {
	t.Helper()
	k := &stubKubelet{}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("/containerLogs/", func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		fmt.Fprintf(w, "line1\nline2\nquery=%s\n", r.URL.RawQuery)
	})
	mux.HandleFunc("/exec/", func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		k.serveExec(t, w, r)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/attach/", func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		http.Error(w, "attach is not served by this kubelet", http.StatusNotFound)
	})
	mux.HandleFunc("/portForward/", func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		conn, err := (&websocket.Upgrader{Subprotocols: []string{"portforward.k8s.io"}}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if typ, msg, err := conn.ReadMessage(); err == nil {
			_ = conn.WriteMessage(typ, append([]byte("forwarded: "), msg...))
		}
	})
	k.srv = httptest.NewUnstartedServer(mux)
	k.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	return k
}

// seen returns the requests the kubelet got and the last client's name.
func (k *stubKubelet) seen() ([]string, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.requests...), k.clientCN
}

func (k *stubKubelet) record(r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests = append(k.requests, r.URL.Path+"?"+r.URL.RawQuery)
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		k.clientCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
}

// serveExec speaks the v5 remote-command protocol: it echoes stdin to
// stdout and exits with the code the command names ("exit N").
func (k *stubKubelet) serveExec(t *testing.T, w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		t.Errorf("stub kubelet: upgrade: %v", err)
		return
	}
	defer conn.Close()
	cmd := strings.Join(r.URL.Query()["command"], " ")
	var stdin bytes.Buffer
	if r.URL.Query().Get("input") == "1" {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil || len(msg) == 0 {
				break
			}
			// Channel 255 closes a stream (v5): stdin is done.
			if msg[0] == 255 || (msg[0] == 0 && len(msg) == 1) {
				break
			}
			if msg[0] == 0 {
				stdin.Write(msg[1:])
			}
		}
	}
	_ = conn.WriteMessage(websocket.BinaryMessage, append([]byte{1}, []byte("got: "+stdin.String())...))
	_ = conn.WriteMessage(websocket.BinaryMessage, append([]byte{2}, []byte("cmd: "+cmd)...))
	st := metav1.Status{Status: metav1.StatusSuccess}
	if code, ok := strings.CutPrefix(cmd, "exit "); ok {
		st = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode", Message: "command terminated with non-zero exit code",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: code}}}}
	}
	b, _ := json.Marshal(st)
	_ = conn.WriteMessage(websocket.BinaryMessage, append([]byte{3}, b...))
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

func TestPodLogAndExecReachTheKubelet(t *testing.T) {
	c := start(t)
	k := startStubKubelet(t, c.Server.CACertPEM())
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(k.srv.URL, "https://"))
	port, _ := strconv.Atoi(portStr)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node, err := c.client.CoreV1().Nodes().Create(ctx(t), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx(t), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := pod("web")
	p.Spec.NodeName = "n1"
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Logs, with options passed through.
	rc, err := c.client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Container: "c", TailLines: ptr.To[int64](5), Timestamps: true}).Stream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.HasPrefix(string(out), "line1\nline2\n") || !strings.Contains(string(out), "tailLines=5") || !strings.Contains(string(out), "timestamps=true") {
		t.Fatalf("logs %q", out)
	}
	k.mu.Lock()
	if k.clientCN != "kube-apiserver-kubelet-client" || !strings.HasPrefix(k.requests[0], "/containerLogs/default/web/c?") {
		t.Fatalf("kubelet saw %q from %q", k.requests, k.clientCN)
	}
	k.mu.Unlock()

	// A pod with two containers and no container named: 400.
	_, err = c.client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).Stream(ctx(t))
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "a container name must be specified") {
		t.Fatalf("want 400 naming the containers, got %v", err)
	}

	// Exec over WebSocket, as kubectl 1.32 does it.
	execURL := func(cmd ...string) string {
		return c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("web").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "c", Command: cmd, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL().String()
	}
	ex, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", execURL("cat"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if stdout.String() != "got: hello" || stderr.String() != "cmd: cat" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	ex, err = remotecommand.NewWebSocketExecutor(c.Config, "GET", execURL("exit", "3"))
	if err != nil {
		t.Fatal(err)
	}
	err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	var exitErr exec.ExitError
	if !errorsAs(err, &exitErr) || exitErr.ExitStatus() != 3 {
		t.Fatalf("want exit code 3, got %v", err)
	}
	k.mu.Lock()
	last := k.requests[len(k.requests)-1]
	k.mu.Unlock()
	if !strings.Contains(last, "input=1") || !strings.Contains(last, "output=1") || !strings.Contains(last, "error=1") || !strings.Contains(last, "command=exit&command=3") {
		t.Fatalf("kubelet exec query %q", last)
	}

	// A pod that is not on a node cannot be reached.
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), pod("pending"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.client.CoreV1().Pods("default").GetLogs("pending", &corev1.PodLogOptions{}).Stream(ctx(t))
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "does not have a host assigned") {
		t.Fatalf("want 400 for an unscheduled pod, got %v", err)
	}
}
