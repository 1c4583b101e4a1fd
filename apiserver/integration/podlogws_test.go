package integration

import (
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The conformance test "Pods should support retrieving logs from the
// container over websockets" reads pods/log through a WebSocket: the
// apiserver answers the upgrade with the log as messages, in the framing
// the subprotocol names.
func TestPodLogOverWebSocket(t *testing.T) {
	c := start(t)
	k := startStubKubelet(t, c.Server.CACertPEM())
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(k.srv.URL, "https://"))
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
	p := pod("web")
	p.Spec.NodeName = "n1"
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), pod("pending"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const want = "line1\nline2\nquery=tailLines=1\n"

	for _, tc := range []struct {
		subprotocol string
		msgType     int
		decode      func([]byte) ([]byte, error)
	}{
		{subprotocol: "", msgType: websocket.BinaryMessage},
		{subprotocol: "binary.k8s.io", msgType: websocket.BinaryMessage},
		{subprotocol: "base64.binary.k8s.io", msgType: websocket.TextMessage, decode: func(b []byte) ([]byte, error) {
			return base64.StdEncoding.DecodeString(string(b))
		}},
	} {
		t.Run("subprotocol "+strconv.Quote(tc.subprotocol), func(t *testing.T) {
			var protocols []string
			if tc.subprotocol != "" {
				protocols = []string{tc.subprotocol}
			}
			conn, resp, err := c.dialWebSocket(t, "/api/v1/namespaces/default/pods/web/log?container=c&tailLines=1", protocols...)
			if err != nil {
				t.Fatalf("dial: %v (response %v)", err, resp)
			}
			defer conn.Close()
			if got := conn.Subprotocol(); got != tc.subprotocol {
				t.Errorf("subprotocol %q, want %q", got, tc.subprotocol)
			}
			var log strings.Builder
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				typ, msg, err := conn.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) && log.Len() == 0 {
						t.Fatalf("read: %v", err)
					}
					break
				}
				if typ != tc.msgType {
					t.Errorf("message type %d, want %d", typ, tc.msgType)
				}
				if tc.decode != nil {
					if msg, err = tc.decode(msg); err != nil {
						t.Fatalf("decode %q: %v", msg, err)
					}
				}
				log.Write(msg)
			}
			if log.String() != want {
				t.Errorf("log %q, want %q", log.String(), want)
			}
		})
	}

	// What fails before the kubelet is asked is an HTTP error, not an
	// upgrade: a pod on no node is a 400.
	_, resp, err := c.dialWebSocket(t, "/api/v1/namespaces/default/pods/pending/log", "binary.k8s.io")
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("pending pod: error %v, response %v: want a 400", err, resp)
	}
}
