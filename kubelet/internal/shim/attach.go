package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// AttachSocket is the Unix socket in the bundle on which a shim serves
// attach: clients get the container's output from the moment they
// connect, and write to its stdin or terminal. It is a relative name:
// the kubelet's paths can be longer than a socket address may be, so
// the shim binds it from inside the bundle and clients reach it through
// a descriptor of the bundle directory (DialAttach).
const AttachSocket = "attach.sock"

// Frames of the attach protocol. After the client's AttachRequest line,
// both sides send frames: a type byte, a big-endian uint32 length and
// the payload.
const (
	FrameStdin  byte = 0 // client → shim: input
	FrameStdout byte = 1 // shim → client
	FrameStderr byte = 2 // shim → client
	FrameResize byte = 4 // client → shim: width, height as two big-endian uint16
	// FrameCloseStdin says the client's input ended: with StdinOnce the
	// container's stdin is closed.
	FrameCloseStdin byte = 5
)

// maxFrame bounds a frame's payload.
const maxFrame = 1 << 20

// AttachRequest is the JSON line a client starts with: the streams it
// wants.
type AttachRequest struct {
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, typ byte, p []byte) error {
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return h[0], p, nil
}

// DialAttach connects to the attach socket of the container whose
// bundle is dir, through a descriptor of the directory (the socket's
// full path may be too long for a socket address).
func DialAttach(dir string) (net.Conn, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return net.Dial("unix", fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), AttachSocket))
}

// attachServer fans the container's output out to attached clients and
// passes their input on.
type attachServer struct {
	l net.Listener
	// stdin is the container's input (a pipe, or the terminal's
	// master), nil when it has none; stdinOnce closes it when the first
	// client that wrote to it is done.
	stdin     io.WriteCloser
	stdinOnce bool
	// resize sets the terminal's size, nil without a terminal.
	resize func(width, height uint16)

	inMu sync.Mutex // serializes writes to stdin

	mu         sync.Mutex // guards what follows
	clients    map[*attachClient]struct{}
	stdinShut  bool
	shutdown   bool
	writersRun sync.WaitGroup
}

type attachClient struct {
	conn           net.Conn
	stdout, stderr bool
	out            chan frame
}

type frame struct {
	typ  byte
	data []byte
}

// clientBuffer is how many chunks of output a slow client may lag
// behind before it misses some: the container never waits for an
// attached client.
const clientBuffer = 1024

func newAttachServer(l net.Listener, stdin io.WriteCloser, stdinOnce bool, resize func(w, h uint16)) *attachServer {
	return &attachServer{l: l, stdin: stdin, stdinOnce: stdinOnce, resize: resize, clients: map[*attachClient]struct{}{}}
}

// serve accepts clients until the listener is closed.
func (s *attachServer) serve() {
	for {
		conn, err := s.l.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func (s *attachServer) handle(conn net.Conn) {
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadBytes('\n')
	var req AttachRequest
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &attachClient{conn: conn, stdout: req.Stdout, stderr: req.Stderr, out: make(chan frame, clientBuffer)}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.clients[c] = struct{}{}
	s.writersRun.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.writersRun.Done()
		defer conn.Close()
		for f := range c.out {
			if err := WriteFrame(conn, f.typ, f.data); err != nil {
				// Gone: drain what is queued so the fan-out never blocks.
				for range c.out {
				}
				return
			}
		}
	}()
	wroteStdin := false
	for {
		typ, data, err := ReadFrame(br)
		if err != nil {
			break
		}
		switch typ {
		case FrameStdin:
			if req.Stdin && s.stdin != nil && len(data) > 0 {
				wroteStdin = true
				s.inMu.Lock()
				_, _ = s.stdin.Write(data)
				s.inMu.Unlock()
			}
		case FrameCloseStdin:
			if req.Stdin {
				s.endStdin()
			}
		case FrameResize:
			if s.resize != nil && len(data) == 4 {
				s.resize(binary.BigEndian.Uint16(data[0:2]), binary.BigEndian.Uint16(data[2:4]))
			}
		}
	}
	// The client went away: with StdinOnce, its stdin ends with it.
	if req.Stdin && (wroteStdin || s.stdinOnce) {
		s.endStdin()
	}
	s.mu.Lock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.out)
	}
	s.mu.Unlock()
}

// endStdin closes the container's stdin if it is StdinOnce.
func (s *attachServer) endStdin() {
	if !s.stdinOnce || s.stdin == nil {
		return
	}
	s.mu.Lock()
	shut := s.stdinShut
	s.stdinShut = true
	s.mu.Unlock()
	if !shut {
		s.inMu.Lock()
		_ = s.stdin.Close()
		s.inMu.Unlock()
	}
}

// writer returns the io.Writer that fans one output stream out.
func (s *attachServer) writer(typ byte) io.Writer {
	return fanout{s: s, typ: typ}
}

type fanout struct {
	s   *attachServer
	typ byte
}

func (f fanout) Write(p []byte) (int, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if len(f.s.clients) == 0 {
		return len(p), nil
	}
	data := append([]byte(nil), p...)
	for c := range f.s.clients {
		if (f.typ == FrameStdout && !c.stdout) || (f.typ == FrameStderr && !c.stderr) {
			continue
		}
		select {
		case c.out <- frame{typ: f.typ, data: data}:
		default:
			// A client this far behind misses output rather than
			// holding the container up.
		}
	}
	return len(p), nil
}

// close stops accepting clients and ends every attached one once it has
// been sent the output queued for it (waiting at most wait).
func (s *attachServer) close(wait time.Duration) {
	_ = s.l.Close()
	s.mu.Lock()
	s.shutdown = true
	for c := range s.clients {
		delete(s.clients, c)
		close(c.out)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.writersRun.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
}

// eioAsEOF reads a terminal's master, whose reads fail with EIO once
// the container's side has closed: that is its end.
type eioAsEOF struct{ r io.Reader }

func (e eioAsEOF) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	var pe *os.PathError
	if err != nil && errors.As(err, &pe) && isEIO(pe.Err) {
		return n, io.EOF
	}
	return n, err
}
