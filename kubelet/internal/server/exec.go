package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/remotecommand"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// The remote-command protocol over WebSocket: every binary message starts
// with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error (a
// metav1.Status when the process ends), 4 resize ({"Width","Height"}).
// v5 adds 255, close: [255, channel] half-closes a channel (the client's
// end of stdin). The first version, channel.k8s.io (also what a client
// naming no subprotocol gets), writes only a failure on the error
// channel, as plain text; base64.channel.k8s.io is it in text messages,
// the channel an ASCII digit and the data in base64.
const (
	protocolV1       = "channel.k8s.io"
	protocolV1Base64 = "base64.channel.k8s.io"
)

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name, protocolV1, protocolV1Base64},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 * 1024,
	WriteBufferSize: 32 * 1024,
}

// wsConn serializes writes to a WebSocket.
type wsConn struct {
	ws     *websocket.Conn
	base64 bool
	mu     sync.Mutex // guards writes to ws
}

func (c *wsConn) write(channel byte, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if c.base64 {
		msg := make([]byte, 1+base64.StdEncoding.EncodedLen(len(data)))
		msg[0] = '0' + channel
		base64.StdEncoding.Encode(msg[1:], data)
		return c.ws.WriteMessage(websocket.TextMessage, msg)
	}
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{channel}); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// channelWriter writes to one channel.
type channelWriter struct {
	c       *wsConn
	channel byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if err := w.c.write(w.channel, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// streams are a remote command's client streams: nil when not asked
// for.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool
	resize         <-chan kruntime.TerminalSize
}

// serveExec runs a command in a container over a WebSocket, as the
// kubelet's /exec does.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	command := r.URL.Query()["command"]
	if len(command) == 0 && websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "you must specify at least one command for the container", http.StatusBadRequest)
		return
	}
	s.serveRemoteCommand(w, r, "exec", func(ctx context.Context, uid types.UID, id string, st streams) metav1.Status {
		code, err := s.opts.Runtime.Exec(ctx, uid, id, kruntime.ExecOptions{
			Command: command, Stdin: st.stdin, Stdout: st.stdout, Stderr: st.stderr, TTY: st.tty, Resize: st.resize,
		})
		return exitStatus(command, code, err)
	})
}

// serveAttach connects to a running container's first process over a
// WebSocket, as the kubelet's /attach does: its output from now on, its
// stdin or terminal if it has one. It ends when the container exits or
// the client goes.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	s.serveRemoteCommand(w, r, "attach", func(ctx context.Context, uid types.UID, id string, st streams) metav1.Status {
		err := s.opts.Runtime.Attach(ctx, uid, id, kruntime.AttachOptions{
			Stdin: st.stdin, Stdout: st.stdout, Stderr: st.stderr, Resize: st.resize,
		})
		return exitStatus(nil, 0, err)
	})
}

// serveRemoteCommand serves exec and attach: it checks the request,
// upgrades it, wires the client's channels to run's streams and writes
// the status run returns on the error channel.
func (s *Server) serveRemoteCommand(w http.ResponseWriter, r *http.Request, what string, run func(ctx context.Context, uid types.UID, id string, st streams) metav1.Status) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	stdin, stdout, stderr, tty := boolParam(q.Get("input")), boolParam(q.Get("output")), boolParam(q.Get("error")), boolParam(q.Get("tty"))
	if tty {
		stderr = false
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, what+" needs a WebSocket upgrade (subprotocol v5.channel.k8s.io, v4.channel.k8s.io or channel.k8s.io); SPDY is not supported", http.StatusBadRequest)
		return
	}
	if !stdin && !stdout && !stderr {
		http.Error(w, "you must specify at least one of stdin, stdout, stderr", http.StatusBadRequest)
		return
	}
	pod := s.findPod(ns, name)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
		return
	}
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, name), http.StatusBadRequest)
		return
	}
	var ctrID string
	if rp, err := s.opts.Runtime.GetPod(r.Context(), pod.UID); err == nil {
		if c := rp.Latest(container); c != nil && c.State == kruntime.StateRunning {
			ctrID = c.ID
		}
	}
	if ctrID == "" {
		http.Error(w, fmt.Sprintf("container %s is not running", container), http.StatusBadRequest)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered.
		return
	}
	proto := ws.Subprotocol()
	conn := &wsConn{ws: ws, base64: proto == protocolV1Base64}
	v5 := proto == remotecommand.StreamProtocolV5Name
	v1 := proto != remotecommand.StreamProtocolV5Name && proto != remotecommand.StreamProtocolV4Name
	defer ws.Close()

	// Tell the client the streams are ready: an empty message on the
	// lowest writable channel, as Kubernetes does.
	switch {
	case stdout:
		_ = conn.write(remotecommand.StreamStdOut, nil)
	case stderr:
		_ = conn.write(remotecommand.StreamStdErr, nil)
	default:
		_ = conn.write(remotecommand.StreamErr, nil)
	}

	stdinR, stdinW := io.Pipe()
	resize := make(chan kruntime.TerminalSize, 4)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer stdinW.Close()
		s.readLoop(ctx, ws, conn.base64, v5, stdinW, resize)
		// The client is gone: end the process's input, and the process
		// if it is still running when the client hung up.
		cancel()
	}()

	st := streams{tty: tty}
	if stdin {
		st.stdin = stdinR
	}
	if stdout {
		st.stdout = channelWriter{conn, remotecommand.StreamStdOut}
	}
	if stderr {
		st.stderr = channelWriter{conn, remotecommand.StreamStdErr}
	}
	if tty {
		st.resize = resize
	}
	status := run(ctx, pod.UID, ctrID, st)
	_ = stdinR.Close()
	switch {
	case !v1:
		b, _ := json.Marshal(status)
		_ = conn.write(remotecommand.StreamErr, b)
	case status.Status != metav1.StatusSuccess:
		_ = conn.write(remotecommand.StreamErr, []byte(status.Message))
	}
	conn.mu.Lock()
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	conn.mu.Unlock()
	// Give the client a moment to read before the connection drops.
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
	}
	if status.Status != metav1.StatusSuccess {
		s.log.Debug(what, zap.String("pod", ns+"/"+name), zap.String("container", container), zap.String("status", status.Message))
	}
}

// readLoop demultiplexes the client's messages: stdin, resize, close.
func (s *Server) readLoop(ctx context.Context, ws *websocket.Conn, b64, v5 bool, stdin *io.PipeWriter, resize chan<- kruntime.TerminalSize) {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) == 0 {
			continue
		}
		if b64 {
			decoded, err := base64.StdEncoding.DecodeString(string(data[1:]))
			if err != nil || data[0] < '0' {
				continue
			}
			data = append([]byte{data[0] - '0'}, decoded...)
		}
		switch data[0] {
		case remotecommand.StreamStdIn:
			if len(data) > 1 {
				if _, err := stdin.Write(data[1:]); err != nil {
					// The process no longer reads; drop input.
					continue
				}
			}
		case remotecommand.StreamResize:
			var sz struct{ Width, Height uint16 }
			if err := json.Unmarshal(data[1:], &sz); err == nil {
				select {
				case resize <- kruntime.TerminalSize{Width: sz.Width, Height: sz.Height}:
				case <-ctx.Done():
					return
				}
			}
		case remotecommand.StreamClose:
			if v5 && len(data) > 1 && data[1] == remotecommand.StreamStdIn {
				_ = stdin.Close()
			}
		}
	}
}

// exitStatus is the status the error channel carries when the process
// ends, as Kubernetes writes it.
func exitStatus(command []string, code int, err error) metav1.Status {
	switch {
	case err != nil:
		return metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500}
	case code == 0:
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Reason:  remotecommand.NonZeroExitCodeReason,
		Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command [%s], exit code %d", strings.Join(command, " "), code),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: remotecommand.ExitCodeCauseType, Message: fmt.Sprint(code)}}},
	}
}
