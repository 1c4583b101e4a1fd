// Package engine runs Caddy in this process as the proxy: it loads a
// JSON configuration (Caddy's graceful reload: listeners are kept, the
// old servers finish their requests while the new ones take new
// connections), sends Caddy's logs into the controller's zap logger, and
// on Close stops Caddy and waits for the open connections to drain.
//
// Caddy keeps its running configuration in package state, so a process
// runs one Engine at a time: New refuses a second until the first is
// closed. For the same reason the two Caddy modules this package
// registers (a log core and a listener wrapper) reach the Engine through
// package state.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	// The Caddy modules the configurations use.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/caddytls"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// Module names of what this package adds to Caddy, for the
// configuration: LogCore is a caddy.logging.cores module, ConnTracker a
// caddy.listeners wrapper.
const (
	LogCore     = "coracle_zap"
	ConnTracker = "coracle_conns"
)

func init() {
	caddy.RegisterModule(logCore{})
	caddy.RegisterModule(connTracker{})
}

// ErrRunning is New's error while another Engine runs in the process.
var ErrRunning = errors.New("caddy already runs in this process")

var (
	// running is set while an Engine exists.
	running atomic.Bool
	// logSink is the core Caddy's log entries go to.
	logSink atomic.Pointer[zapcore.Core]
	// openConns counts the accepted connections not yet closed, of
	// every server of every configuration.
	openConns atomic.Int64
)

// Engine is the proxy.
type Engine struct {
	log *zap.Logger

	mu     sync.Mutex // guards last and closed
	last   []byte
	closed bool
}

// New takes Caddy for this process; log receives Caddy's logs (named
// "caddy.…"). It fails with ErrRunning while another Engine is open.
func New(log *zap.Logger) (*Engine, error) {
	if !running.CompareAndSwap(false, true) {
		return nil, ErrRunning
	}
	core := log.Named("caddy").Core()
	logSink.Store(&core)
	return &Engine{log: log}, nil
}

// Apply runs cfg, Caddy's JSON configuration, unless it already runs; it
// reports whether it loaded it. When cfg fails to load, the configuration
// that ran before keeps running.
func (e *Engine) Apply(cfg []byte) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false, errors.New("engine closed")
	}
	if bytes.Equal(cfg, e.last) {
		return false, nil
	}
	if err := caddy.Load(cfg, false); err != nil {
		return false, fmt.Errorf("load caddy config: %w", err)
	}
	e.last = cfg
	return true, nil
}

// OpenConnections is the number of client connections open now.
func (e *Engine) OpenConnections() int64 { return openConns.Load() }

// Close stops Caddy: its listeners close at once and the servers finish
// the requests in flight; Close waits for their connections to close
// until ctx ends, then gives Caddy back to the process.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	defer running.Store(false)
	err := caddy.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for openConns.Load() > 0 {
		select {
		case <-ctx.Done():
			e.log.Warn("stopping with connections still open", zap.Int64("connections", openConns.Load()))
			return err
		case <-tick.C:
		}
	}
	return err
}

// logCore is the caddy.logging.cores module that tees Caddy's log
// entries into the Engine's logger.
type logCore struct{ namedCore }

func (logCore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.logging.cores." + LogCore, New: func() caddy.Module { return new(logCore) }}
}

// Provision picks up the Engine's logger.
func (c *logCore) Provision(caddy.Context) error {
	c.Core = zapcore.NewNopCore()
	if p := logSink.Load(); p != nil {
		c.Core = *p
	}
	return nil
}

// namedCore prefixes the names of Caddy's loggers ("http.log.access")
// with "caddy.", so its entries read like the controller's own.
type namedCore struct{ zapcore.Core }

func (c namedCore) With(fields []zapcore.Field) zapcore.Core {
	return namedCore{c.Core.With(fields)}
}

func (c namedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c namedCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if e.LoggerName == "" {
		e.LoggerName = "caddy"
	} else {
		e.LoggerName = "caddy." + e.LoggerName
	}
	return c.Core.Write(e, fields)
}

// connTracker is the caddy.listeners module that counts open
// connections, so that Close can wait for them. It must wrap the
// listener below TLS, so that the servers still see *tls.Conn.
type connTracker struct{}

func (connTracker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.listeners." + ConnTracker, New: func() caddy.Module { return new(connTracker) }}
}

func (connTracker) WrapListener(ln net.Listener) net.Listener { return trackedListener{ln} }

type trackedListener struct{ net.Listener }

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	openConns.Add(1)
	return &trackedConn{Conn: c}, nil
}

type trackedConn struct {
	net.Conn
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { openConns.Add(-1) })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, as WebSocket proxying does when
// one side is done sending.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("connection cannot half-close")
}
