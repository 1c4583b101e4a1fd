package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

func TestParsePortHeader(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int32
		wantErr string
	}{
		{"8080", 8080, ""},
		{"1", 1, ""},
		{"65535", 65535, ""},
		{"", 0, `"port" header is required`},
		{"0", 0, `port "0" must be > 0`},
		{"65536", 0, `unable to parse "65536" as a port`},
		{"-1", 0, `unable to parse "-1" as a port`},
		{"http", 0, `unable to parse "http" as a port`},
	} {
		got, err := parsePortHeader(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parsePortHeader(%q) = %d, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parsePortHeader(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// The cases of upstream's NewV4Options test.
func TestPortsQuery(t *testing.T) {
	for name, tc := range map[string]struct {
		in      []string
		want    []int32
		wantErr bool
	}{
		"missing port":         {nil, nil, true},
		"empty port":           {[]string{""}, nil, true},
		"one port":             {[]string{"8080"}, []int32{8080}, false},
		"multiple ports":       {[]string{"8080,9090"}, []int32{8080, 9090}, false},
		"repeated parameters":  {[]string{"8080", "9090"}, []int32{8080, 9090}, false},
		"negative port":        {[]string{"-1"}, nil, true},
		"zero port":            {[]string{"0"}, nil, true},
		"unable to parse port": {[]string{"abc"}, nil, true},
		"port too large":       {[]string{"65536"}, nil, true},
	} {
		got, err := portsQuery(tc.in)
		if (err != nil) != tc.wantErr || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: portsQuery(%q) = %v, %v; want %v (error %v)", name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

type fakeStream struct {
	httpstream.Stream
	headers http.Header
	id      uint32
}

func (s fakeStream) Headers() http.Header { return s.headers }
func (s fakeStream) Identifier() uint32   { return s.id }

func TestRequestID(t *testing.T) {
	for _, tc := range []struct {
		headers http.Header
		id      uint32
		want    string
	}{
		{http.Header{"Requestid": {"7"}, "Streamtype": {"data"}}, 3, "7"},
		// Old clients: the error stream's identifier, the data stream's
		// less two.
		{http.Header{"Streamtype": {"error"}}, 5, "5"},
		{http.Header{"Streamtype": {"data"}}, 7, "5"},
	} {
		if got := requestID(fakeStream{headers: tc.headers, id: tc.id}); got != tc.want {
			t.Errorf("requestID(%v, %d) = %q, want %q", tc.headers, tc.id, got, tc.want)
		}
	}
}

// echoHTTP serves, on the loopback, a body naming its port.
func echoHTTP(t *testing.T) (port int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = int32(l.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "from %d", port)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return port
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// loopbackForwarder forwards to the host's loopback, as the kubelet does
// to the pod's.
func loopbackForwarder(ctx context.Context, port int32, stream io.ReadWriteCloser) error {
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	copyBoth(ctx, conn, stream)
	return nil
}

// portForwardServer serves port-forward to the loopback for pod "web",
// uid "uid-1".
func portForwardServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := zap.NewNop()
		switch {
		case tunnelsSPDY(r):
			_ = serveTunnelledPortForward(w, r, log, "uid-1", "web", loopbackForwarder)
		case websocket.IsWebSocketUpgrade(r):
			_ = serveWebSocketPortForward(w, r, log, "uid-1", "web", loopbackForwarder)
		default:
			_ = serveSPDYPortForward(w, r, log, "uid-1", "web", loopbackForwarder)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func spdyDialer(t *testing.T, srv *httptest.Server, tunnel bool) httpstream.Dialer {
	t.Helper()
	cfg := &rest.Config{Host: srv.URL}
	u, _ := url.Parse(srv.URL + "/portForward/default/web")
	if tunnel {
		d, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u)
}

// TestPortForwardWithClientGo forwards many concurrent connections to
// two ports with client-go's port forwarder (kubectl's), over SPDY and
// over SPDY in a WebSocket.
func TestPortForwardWithClientGo(t *testing.T) {
	srv := portForwardServer(t)
	a, b := echoHTTP(t), echoHTTP(t)
	for _, tunnel := range []bool{false, true} {
		t.Run(fmt.Sprintf("tunnel=%v", tunnel), func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			// The forwarder writes a line per connection from many
			// goroutines: not to a buffer.
			fw, err := portforward.NewOnAddresses(spdyDialer(t, srv, tunnel), []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", a), fmt.Sprintf("0:%d", b)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				<-done
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("ForwardPorts: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("not ready in 20s")
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := 0; i < 40; i++ {
				p := ports[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", p.Local))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					body, err := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("from %d", p.Remote); err != nil || string(body) != want {
						errs <- fmt.Errorf("body %q, %v; want %q", body, err, want)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestPortForwardErrorKeepsSession opens a connection to a closed port
// and then one to an open port in the same SPDY session: the first gets
// upstream's message on its error stream, the second works.
func TestPortForwardErrorKeepsSession(t *testing.T) {
	srv := portForwardServer(t)
	open, closed := echoHTTP(t), closedPort(t)
	for _, tunnel := range []bool{false, true} {
		t.Run(fmt.Sprintf("tunnel=%v", tunnel), func(t *testing.T) {
			conn, proto, err := spdyDialer(t, srv, tunnel).Dial(portforward.PortForwardProtocolV1Name)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if proto != portforward.PortForwardProtocolV1Name {
				t.Errorf("protocol %q", proto)
			}
			// pair opens a connection's error and data streams; the data
			// stream's error is returned, since the kubelet may reset
			// the streams of a failed dial before the data stream's
			// creation is answered.
			pair := func(id string, port int32) (data, errs httpstream.Stream, dataErr error) {
				h := http.Header{}
				h.Set(v1.PortHeader, strconv.Itoa(int(port)))
				h.Set(v1.PortForwardRequestIDHeader, id)
				h.Set(v1.StreamType, v1.StreamTypeError)
				errs, err := conn.CreateStream(h)
				if err != nil {
					t.Fatal(err)
				}
				_ = errs.Close()
				h.Set(v1.StreamType, v1.StreamTypeData)
				data, dataErr = conn.CreateStream(h)
				return data, errs, dataErr
			}
			_, errs, _ := pair("0", closed)
			msg, _ := io.ReadAll(errs)
			want := fmt.Sprintf("error forwarding port %d to pod web, uid uid-1: dial tcp4 127.0.0.1:%d: connect: connection refused", closed, closed)
			if string(msg) != want {
				t.Errorf("error stream: %q, want %q", msg, want)
			}

			data, errs, err := pair("1", open)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(data, "GET / HTTP/1.0\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = data.Close() // half-close: the request is complete
			resp, _ := io.ReadAll(data)
			if !bytes.HasSuffix(resp, []byte(fmt.Sprintf("from %d", open))) {
				t.Errorf("response through the session after a failed connection: %q", resp)
			}
			if msg, _ := io.ReadAll(errs); len(msg) != 0 {
				t.Errorf("error stream of a good connection: %q", msg)
			}
		})
	}
}

// TestPortForwardWebSocketChannels speaks the channel protocol: ports in
// the query, each channel starting with its port.
func TestPortForwardWebSocketChannels(t *testing.T) {
	srv := portForwardServer(t)
	open, closed := echoHTTP(t), closedPort(t)
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + fmt.Sprintf("/portForward/default/web?port=%d,%d", open, closed)
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{"v4.channel.k8s.io"}}).Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, "GET / HTTP/1.0\r\n\r\n"...)); err != nil {
		t.Fatal(err)
	}
	got := map[byte][]byte{}
	firsts := map[byte]uint16{}
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			break
		}
		if len(m) == 0 {
			continue
		}
		ch, body := m[0], m[1:]
		if _, ok := firsts[ch]; !ok && len(body) == 2 {
			firsts[ch] = binary.LittleEndian.Uint16(body)
			continue
		}
		got[ch] = append(got[ch], body...)
	}
	wantFirsts := map[byte]uint16{0: uint16(open), 1: uint16(open), 2: uint16(closed), 3: uint16(closed)}
	if fmt.Sprint(firsts) != fmt.Sprint(wantFirsts) {
		t.Errorf("ports at the channels' start: %v, want %v", firsts, wantFirsts)
	}
	if !bytes.HasSuffix(got[0], []byte(fmt.Sprintf("from %d", open))) {
		t.Errorf("data of port %d: %q", open, got[0])
	}
	if want := fmt.Sprintf("error forwarding port %d to pod web, uid uid-1: dial tcp4 127.0.0.1:%d: connect: connection refused", closed, closed); string(got[3]) != want {
		t.Errorf("error channel of port %d: %q, want %q", closed, got[3], want)
	}
	if len(got[1]) != 0 {
		t.Errorf("error channel of port %d: %q", open, got[1])
	}
}
