package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	pfconstants "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Port forwarding, as the kubelet's /portForward serves it. A client
// reaches it in one of three ways, all of which our apiserver passes
// through unchanged (it does not translate the WebSocket tunnel to SPDY
// as kube-apiserver does):
//
//   - SPDY/3.1 with the portforward.k8s.io protocol: the client opens a
//     data and an error stream per forwarded connection, with the port and
//     a requestID in their headers (kubectl with
//     KUBECTL_PORT_FORWARD_WEBSOCKETS=false, and older kubectls);
//   - the same SPDY session tunnelled in a WebSocket whose subprotocol is
//     SPDY/3.1+portforward.k8s.io (kubectl's default since 1.31);
//   - the channel protocol over WebSocket (portforward.k8s.io,
//     v4.channel.k8s.io): the ports are in the query, one data and one
//     error channel per port, each starting with the port in two
//     little-endian bytes, and one connection per port for the session.
const (
	portForwardStreamType      = "streamType"
	portForwardStreamTypeData  = "data"
	portForwardStreamTypeError = "error"
	portForwardRequestIDHeader = "requestID"

	// portForwardIdleTimeout is the kubelet's default
	// streamingConnectionIdleTimeout; portForwardStreamCreationTimeout is
	// how long a connection's second stream may lag its first, as
	// upstream's DefaultStreamCreationTimeout.
	portForwardIdleTimeout           = 4 * time.Hour
	portForwardStreamCreationTimeout = 30 * time.Second
	// portForwardDialTimeout bounds the dial of a pod's port.
	portForwardDialTimeout = 10 * time.Second
)

// portForwarder copies between a stream and a port of a pod.
type portForwarder func(ctx context.Context, port int32, stream io.ReadWriteCloser) error

// servePortForward forwards a client's connections to ports of a pod.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, name, uid := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("uid")
	pod := s.findPod(ns, name)
	if pod == nil || (uid != "" && string(pod.UID) != uid) {
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
		return
	}
	forward := func(ctx context.Context, port int32, stream io.ReadWriteCloser) error {
		return s.forwardPort(ctx, pod, port, stream)
	}
	log := s.log.With(zap.String("pod", ns+"/"+name))
	var err error
	switch {
	case tunnelsSPDY(r):
		err = serveTunnelledPortForward(w, r, log, string(pod.UID), name, forward)
	case wsstream.IsWebSocketRequest(r):
		err = serveWebSocketPortForward(w, r, log, string(pod.UID), name, forward)
	default:
		err = serveSPDYPortForward(w, r, log, string(pod.UID), name, forward)
	}
	if err != nil {
		log.Debug("port forward", zap.Error(err))
	}
}

// tunnelsSPDY says whether r is a WebSocket that carries a SPDY session.
func tunnelsSPDY(r *http.Request) bool {
	if !websocket.IsWebSocketUpgrade(r) {
		return false
	}
	for _, p := range websocket.Subprotocols(r) {
		if p == pfconstants.WebsocketsSPDYTunnelingPortForwardV1 {
			return true
		}
	}
	return false
}

// serveSPDYPortForward upgrades r to a SPDY session and forwards its
// stream pairs until the client closes it.
func serveSPDYPortForward(w http.ResponseWriter, r *http.Request, log *zap.Logger, uid, podName string, forward portForwarder) error {
	if _, err := httpstream.Handshake(r, w, []string{pfconstants.PortForwardV1Name}); err != nil {
		// Handshake has answered the client.
		return err
	}
	streams := make(chan httpstream.Stream, 1)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, portForwardStreamReceived(streams))
	if conn == nil {
		// The upgrader has answered the client.
		return errors.New("unable to upgrade the port-forward connection to SPDY")
	}
	defer conn.Close()
	conn.SetIdleTimeout(portForwardIdleTimeout)
	newStreamPairs(conn, streams, log, uid, podName, forward).run()
	return nil
}

// serveTunnelledPortForward accepts a WebSocket that carries a SPDY
// session, as kube-apiserver's tunnelling handler does before it passes
// the session on to the kubelet, and serves that session.
func serveTunnelledPortForward(w http.ResponseWriter, r *http.Request, log *zap.Logger, uid, podName string, forward portForwarder) error {
	up := websocket.Upgrader{
		Subprotocols:    []string{pfconstants.WebsocketsSPDYTunnelingPortForwardV1},
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  32 * 1024,
		WriteBufferSize: 32 * 1024,
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the client.
		return err
	}
	streams := make(chan httpstream.Stream, 1)
	conn, err := spdy.NewServerConnection(portforward.NewTunnelingConnection("server", ws), portForwardStreamReceived(streams))
	if err != nil {
		_ = ws.Close()
		return fmt.Errorf("SPDY session in the WebSocket tunnel: %w", err)
	}
	defer conn.Close()
	conn.SetIdleTimeout(portForwardIdleTimeout)
	newStreamPairs(conn, streams, log, uid, podName, forward).run()
	return nil
}

// portForwardStreamReceived accepts a stream whose port and type headers
// are valid and hands it to streams; the client is refused the others.
func portForwardStreamReceived(streams chan<- httpstream.Stream) httpstream.NewStreamHandler {
	return func(stream httpstream.Stream, _ <-chan struct{}) error {
		if _, err := parsePortHeader(stream.Headers().Get(v1.PortHeader)); err != nil {
			return err
		}
		switch t := stream.Headers().Get(portForwardStreamType); t {
		case "":
			return fmt.Errorf("%q header is required", portForwardStreamType)
		case portForwardStreamTypeData, portForwardStreamTypeError:
		default:
			return fmt.Errorf("invalid stream type %q", t)
		}
		streams <- stream
		return nil
	}
}

// parsePortHeader reads a port a client asks for: a number from 1 to
// 65535, with upstream's messages.
func parsePortHeader(s string) (int32, error) {
	if s == "" {
		return 0, fmt.Errorf("%q header is required", v1.PortHeader)
	}
	port, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("unable to parse %q as a port: %v", s, err)
	}
	if port < 1 {
		return 0, fmt.Errorf("port %q must be > 0", s)
	}
	return int32(port), nil
}

// streamPairs pairs a SPDY session's data and error streams by requestID;
// each complete pair is one forwarded connection.
type streamPairs struct {
	conn    httpstream.Connection
	streams <-chan httpstream.Stream
	log     *zap.Logger
	uid     string
	pod     string
	forward portForwarder

	mu    sync.Mutex
	pairs map[string]*streamPair
}

// streamPair is one forwarded connection's streams.
type streamPair struct {
	requestID string
	mu        sync.Mutex // guards data and errs
	data      httpstream.Stream
	errs      httpstream.Stream
	complete  chan struct{}
}

func newStreamPairs(conn httpstream.Connection, streams <-chan httpstream.Stream, log *zap.Logger, uid, pod string, forward portForwarder) *streamPairs {
	return &streamPairs{conn: conn, streams: streams, log: log, uid: uid, pod: pod, forward: forward, pairs: map[string]*streamPair{}}
}

// run pairs streams until the session ends; the connections it forwards
// end with it, because the session's end resets their streams.
func (h *streamPairs) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-h.conn.CloseChan():
			return
		case stream := <-h.streams:
			id := requestID(stream)
			p, created := h.pair(id)
			if created {
				go h.expire(p)
			}
			complete, err := p.add(stream)
			switch {
			case err != nil:
				msg := fmt.Sprintf("error processing stream for request %s: %v", id, err)
				h.log.Debug("port forward", zap.String("error", msg))
				p.printError(msg)
			case complete:
				go h.portForward(ctx, p)
			}
		}
	}
}

// requestID names the connection a stream belongs to. Clients older than
// the requestID header open a connection's error stream and then its data
// stream, with consecutive odd identifiers: upstream's best effort for
// them is followed.
func requestID(stream httpstream.Stream) string {
	if id := stream.Headers().Get(portForwardRequestIDHeader); id != "" {
		return id
	}
	if stream.Headers().Get(portForwardStreamType) == portForwardStreamTypeData {
		return strconv.Itoa(int(stream.Identifier()) - 2)
	}
	return strconv.Itoa(int(stream.Identifier()))
}

// pair returns the pair of requestID, new if there is none yet.
func (h *streamPairs) pair(id string) (*streamPair, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pairs[id]; ok {
		return p, false
	}
	p := &streamPair{requestID: id, complete: make(chan struct{})}
	h.pairs[id] = p
	return p, true
}

// expire forgets a pair once it is complete, or tells the client when its
// second stream did not come in time.
func (h *streamPairs) expire(p *streamPair) {
	t := time.NewTimer(portForwardStreamCreationTimeout)
	defer t.Stop()
	select {
	case <-p.complete:
	case <-t.C:
		p.printError(fmt.Sprintf("(conn=%p, request=%s) timed out waiting for streams", h.conn, p.requestID))
	case <-h.conn.CloseChan():
	}
	h.mu.Lock()
	delete(h.pairs, p.requestID)
	h.mu.Unlock()
	// The session keeps a stream until it is removed: without this a
	// long session would hold every connection it ever forwarded.
	p.mu.Lock()
	var done []httpstream.Stream
	for _, s := range []httpstream.Stream{p.data, p.errs} {
		if s != nil {
			done = append(done, s)
		}
	}
	p.mu.Unlock()
	if len(done) < 2 {
		h.conn.RemoveStreams(done...)
	}
}

// add gives the pair one of its streams and says whether it has both.
func (p *streamPair) add(stream httpstream.Stream) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch stream.Headers().Get(portForwardStreamType) {
	case portForwardStreamTypeError:
		if p.errs != nil {
			return false, errors.New("error stream already assigned")
		}
		p.errs = stream
	case portForwardStreamTypeData:
		if p.data != nil {
			return false, errors.New("data stream already assigned")
		}
		p.data = stream
	}
	complete := p.errs != nil && p.data != nil
	if complete {
		close(p.complete)
	}
	return complete, nil
}

// printError writes msg to the pair's error stream, if it has one yet.
func (p *streamPair) printError(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errs != nil {
		_, _ = fmt.Fprint(p.errs, msg)
	}
}

// portForward forwards one connection; a failure goes to the client on
// the error stream, and both streams are reset so the client gives up on
// this connection (and only this one).
func (h *streamPairs) portForward(ctx context.Context, p *streamPair) {
	defer h.conn.RemoveStreams(p.data, p.errs)
	defer p.errs.Close()
	defer p.data.Close()
	port, _ := parsePortHeader(p.data.Headers().Get(v1.PortHeader))
	if err := h.forward(ctx, port, p.data); err != nil {
		msg := fmt.Sprintf("error forwarding port %d to pod %s, uid %v: %v", port, h.pod, h.uid, err)
		h.log.Debug("port forward", zap.String("error", msg))
		_, _ = fmt.Fprint(p.errs, msg)
		_ = p.data.Reset()
		_ = p.errs.Reset()
	}
}

// serveWebSocketPortForward serves the channel protocol: the ports are
// the query's, and the session forwards one connection to each.
func serveWebSocketPortForward(w http.ResponseWriter, r *http.Request, log *zap.Logger, uid, podName string, forward portForwarder) error {
	ports, err := portsQuery(r.URL.Query()[v1.PortHeader])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return err
	}
	channels := make([]wsstream.ChannelType, 0, 2*len(ports))
	for range ports {
		channels = append(channels, wsstream.ReadWriteChannel, wsstream.WriteChannel)
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"": {Binary: true, Channels: channels},
		"v4." + wsstream.ChannelWebSocketProtocol:       {Binary: true, Channels: channels},
		"v4." + wsstream.Base64ChannelWebSocketProtocol: {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(portForwardIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return fmt.Errorf("unable to upgrade websocket connection: %w", err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	for i, port := range ports {
		data, errs := streams[2*i], streams[2*i+1]
		// Each channel starts with its port, so the client knows which
		// is which.
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], uint16(port))
		_, _ = data.Write(b[:])
		_, _ = errs.Write(b[:])
		// A channel cannot be half-closed: its end is the client's, and
		// ends the pod's connection too.
		ctx, cancel := context.WithCancel(r.Context())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			defer errs.Close()
			defer data.Close()
			if err := forward(ctx, port, cancelOnEnd{data, cancel}); err != nil {
				msg := fmt.Sprintf("error forwarding port %d to pod %s, uid %v: %v", port, podName, uid, err)
				log.Debug("port forward", zap.String("error", msg))
				_, _ = fmt.Fprint(errs, msg)
			}
		}()
	}
	wg.Wait()
	return nil
}

// cancelOnEnd is a stream that cancels a context when its reading ends.
type cancelOnEnd struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (c cancelOnEnd) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if err != nil {
		c.cancel()
	}
	return n, err
}

// portsQuery reads the channel protocol's ports: repeated or comma
// separated, each from 1 to 65535.
func portsQuery(values []string) ([]int32, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("query parameter %q is required", v1.PortHeader)
	}
	var ports []int32
	for _, v := range values {
		if v == "" {
			return nil, fmt.Errorf("query parameter %q cannot be empty", v1.PortHeader)
		}
		for _, p := range strings.Split(v, ",") {
			port, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("unable to parse %q as a port: %v", v, err)
			}
			if port < 1 {
				return nil, fmt.Errorf("port %q must be > 0", v)
			}
			ports = append(ports, int32(port))
		}
	}
	return ports, nil
}

// forwardPort connects stream to localhost:port in the pod's network
// namespace and copies both ways until the pod's side is done or either
// side fails.
func (s *Server) forwardPort(ctx context.Context, pod *v1.Pod, port int32, stream io.ReadWriteCloser) error {
	netns, err := s.podNetNS(ctx, pod)
	if err != nil {
		return err
	}
	// localhost by its addresses, IPv4 first as containerd does: a name
	// with addresses of both families would be dialled by racing
	// goroutines, on threads outside the namespace.
	conn, err := dialInNetNS(ctx, netns, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		c6, err6 := dialInNetNS(ctx, netns, "tcp6", net.JoinHostPort("::1", strconv.Itoa(int(port))))
		if err6 != nil {
			return err
		}
		conn = c6
	}
	copyBoth(ctx, conn, stream)
	return nil
}

// copyBoth copies between a forwarded connection's stream and the pod's
// end until the pod's end is done or either fails, and closes conn.
func copyBoth(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) {
	defer conn.Close()
	// The pod's end is closed when the client's ends, so neither copy
	// outlives the session.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	go func() {
		if _, err := io.Copy(conn, stream); err != nil {
			_ = conn.Close()
			return
		}
		// The client has sent everything: pass the half-close on, and
		// keep reading the answer.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(stream, conn)
}

// podNetNS is the path of the pod's network namespace: that of any of its
// running containers, all of which share the sandbox's.
func (s *Server) podNetNS(ctx context.Context, pod *v1.Pod) (string, error) {
	rp, err := s.opts.Runtime.GetPod(ctx, pod.UID)
	if err != nil {
		return "", fmt.Errorf("pod sandbox not found: %w", err)
	}
	for _, c := range rp.Containers {
		if c.State == kruntime.StateRunning && c.PID > 0 {
			return fmt.Sprintf("/proc/%d/ns/net", c.PID), nil
		}
	}
	return "", errors.New("no running container in the pod")
}

// dialInNetNS dials addr from inside the network namespace at path. The
// socket is made on a thread switched into the namespace and keeps it,
// so it can be used from any goroutine afterwards. The thread stays
// locked, and dies with its goroutine, if it cannot switch back.
func dialInNetNS(ctx context.Context, path, network, addr string) (net.Conn, error) {
	target, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter network namespace: %w", err)}
			return
		}
		d := net.Dialer{Timeout: portForwardDialTimeout}
		c, derr := d.DialContext(ctx, network, addr)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			if c != nil {
				_ = c.Close()
			}
			done <- result{err: fmt.Errorf("leave network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{c, derr}
	}()
	r := <-done
	return r.conn, r.err
}
