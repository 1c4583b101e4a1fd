package server

import (
	"context"
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
	"k8s.io/apimachinery/pkg/util/remotecommand"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// The remote-command protocol over WebSocket: every binary message starts
// with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error (a
// metav1.Status when the process ends), 4 resize ({"Width","Height"}).
// v5 adds 255, close: [255, channel] half-closes a channel (the client's
// end of stdin).
var upgrader = websocket.Upgrader{
	Subprotocols:    []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 * 1024,
	WriteBufferSize: 32 * 1024,
}

// wsConn serializes writes to a WebSocket.
type wsConn struct {
	ws *websocket.Conn
	mu sync.Mutex // guards writes to ws
}

func (c *wsConn) write(channel byte, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(60 * time.Second))
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

// serveExec runs a command in a container over a WebSocket, as the
// kubelet's /exec does.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	command := q["command"]
	stdin, stdout, stderr, tty := boolParam(q.Get("input")), boolParam(q.Get("output")), boolParam(q.Get("error")), boolParam(q.Get("tty"))
	if tty {
		stderr = false
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "exec needs a WebSocket upgrade (subprotocol v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported", http.StatusBadRequest)
		return
	}
	if len(command) == 0 {
		http.Error(w, "you must specify at least one command for the container", http.StatusBadRequest)
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
	conn := &wsConn{ws: ws}
	v5 := ws.Subprotocol() == remotecommand.StreamProtocolV5Name
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
		s.readLoop(ctx, ws, v5, stdinW, resize)
		// The client is gone: end the process's input, and the process
		// if it is still running when the client hung up.
		cancel()
	}()

	opts := kruntime.ExecOptions{Command: command, TTY: tty}
	if stdin {
		opts.Stdin = stdinR
	}
	if stdout {
		opts.Stdout = channelWriter{conn, remotecommand.StreamStdOut}
	}
	if stderr {
		opts.Stderr = channelWriter{conn, remotecommand.StreamStdErr}
	}
	if tty {
		opts.Resize = resize
	}
	code, err := s.opts.Runtime.Exec(ctx, pod.UID, ctrID, opts)
	_ = stdinR.Close()
	status := exitStatus(command, code, err)
	b, _ := json.Marshal(status)
	_ = conn.write(remotecommand.StreamErr, b)
	conn.mu.Lock()
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	conn.mu.Unlock()
	// Give the client a moment to read before the connection drops.
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
	}
	if err != nil {
		s.log.Debug("exec", zap.String("pod", ns+"/"+name), zap.String("container", container), zap.Error(err))
	}
}

// readLoop demultiplexes the client's messages: stdin, resize, close.
func (s *Server) readLoop(ctx context.Context, ws *websocket.Conn, v5 bool, stdin *io.PipeWriter, resize chan<- kruntime.TerminalSize) {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) == 0 {
			continue
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
