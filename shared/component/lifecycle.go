// Package component is what every Coracle daemon shares: the life of a
// running component (Start, Ready, Done, Err, Close, and Run over them)
// and the steps of its main function (flags, config, logger, klog bridge,
// signals, Run), as etcd's embed package does for its server. A component
// can so be run as a binary and, the same way, in-process by tests.
package component

import (
	"context"
	"errors"
	"sync"
	"time"

	"coracle.dev/shared/statusserver"
)

// Component is a daemon that can also run in-process.
type Component interface {
	// Start brings the component up in the background and returns once it
	// listens; ctx bounds the start only. The component then runs until
	// Close, or until it stops on its own (Done closes, Err says why).
	Start(ctx context.Context) error
	// Ready closes once the component does its work (caches synced,
	// first rules written, node registered: each component says).
	Ready() <-chan struct{}
	// Done closes once the component's background work has ended.
	Done() <-chan struct{}
	// Err is why the component stopped on its own; nil while it runs and
	// after a Close it did not fail on its own before.
	Err() error
	// Close stops everything Start started and waits for it. It is safe
	// to call more than once and without Start.
	Close() error
}

// Run starts c and blocks until ctx ends (SIGTERM) or c stops on its own,
// then closes it. It returns why c stopped on its own, else Close's error.
func Run(ctx context.Context, c Component) error {
	if err := c.Start(ctx); err != nil {
		_ = c.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-c.Done():
	}
	closeErr := c.Close()
	if err := c.Err(); err != nil {
		return err
	}
	return closeErr
}

// CloseTimeout bounds each clean-up Close runs (OnClosing and OnClose
// functions); one that needs longer (an HTTP server's drain) uses a
// timeout of its own.
const CloseTimeout = 5 * time.Second

// Lifecycle is the bookkeeping every component does; a component embeds
// it and gets Ready, Done, Err and Close. The component's Start calls
// Lifecycle.Start with a function that starts its background work with
// Go, registers what Close must undo with OnClosing and OnClose, and
// calls MarkReady when ready (or arranges for it).
//
//	        Start             MarkReady
//	 new ─────────► running ───────────► ready
//	  │               │                    │
//	  │               ├── a Go function fails: Err is set, the run
//	  │               │   context is cancelled, Done closes when all
//	  │               │   Go functions have returned
//	  ▼ Close         ▼ Close              ▼ Close
//	closed ◄── OnClosing functions (in order), cancel the run context,
//	           wait for the Go functions, OnClose functions (in reverse)
//
// The zero value is ready to use.
type Lifecycle struct {
	initOnce  sync.Once
	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{}
	doneOnce  sync.Once
	wg        sync.WaitGroup

	mu        sync.Mutex // guards everything below
	started   bool
	closed    bool
	cancel    context.CancelFunc
	err       error
	closing   []func(context.Context) error
	closers   []func(context.Context) error
	closeErr  error
	closeDone chan struct{}
}

// ErrStarted is returned by Start when the component was started or
// closed before.
var ErrStarted = errors.New("already started or closed")

func (l *Lifecycle) init() {
	l.initOnce.Do(func() {
		l.ready = make(chan struct{})
		l.done = make(chan struct{})
	})
}

// Start marks the component started and calls start with the context its
// background work runs under, which ends when Close is called or a Go
// function fails. If start fails, Start closes what start had registered
// and returns its error, so a failed start leaves nothing running. A
// second Start, or one after Close, is ErrStarted.
func (l *Lifecycle) Start(start func(ctx context.Context) error) error {
	ctx, err := l.begin()
	if err != nil {
		return err
	}
	if err := start(ctx); err != nil {
		_ = l.Close()
		return err
	}
	return nil
}

func (l *Lifecycle) begin() (context.Context, error) {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return nil, ErrStarted
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	// Done closes when the last Go function returns after the run
	// context ended; this count holds it open until then.
	l.wg.Add(1)
	go func() {
		l.wg.Wait()
		l.doneOnce.Do(func() { close(l.done) })
	}()
	context.AfterFunc(ctx, l.wg.Done)
	return ctx, nil
}

// Go runs f in the background under the run context. If f returns an
// error while the component is not closing, the component stops: Err
// says why and the other background work is cancelled.
func (l *Lifecycle) Go(ctx context.Context, f func(ctx context.Context) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := f(ctx); err != nil && ctx.Err() == nil {
			l.fail(err)
		}
	}()
}

func (l *Lifecycle) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && !l.closed {
		l.err = err
	}
	l.cancel()
}

// OnClosing registers f to run at the start of Close, before the run
// context is cancelled: for what must stop while the background work
// still runs (an HTTP server draining its requests). They run in order.
func (l *Lifecycle) OnClosing(f func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing = append(l.closing, f)
}

// OnClose registers f to run in Close after the background work has
// ended; the last registered runs first, as with defer.
func (l *Lifecycle) OnClose(f func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

// ServeStatus starts a component's status server (/healthz, /readyz,
// /metrics), adds a /readyz check named check that passes once the
// component is ready (notReady is its message until then), and closes
// the server last.
func (l *Lifecycle) ServeStatus(s *statusserver.Server, check, notReady string) error {
	l.init()
	s.AddReadyCheck(check, func(context.Context) error {
		select {
		case <-l.ready:
			return nil
		default:
			return errors.New(notReady)
		}
	})
	if err := s.Start(); err != nil {
		return err
	}
	l.OnClose(s.Close)
	return nil
}

// MarkReady closes Ready; later calls do nothing.
func (l *Lifecycle) MarkReady() {
	l.init()
	l.readyOnce.Do(func() { close(l.ready) })
}

// Ready closes once the component marked itself ready.
func (l *Lifecycle) Ready() <-chan struct{} {
	l.init()
	return l.ready
}

// Done closes once the background work has ended (after Close, or when
// the component stopped on its own).
func (l *Lifecycle) Done() <-chan struct{} {
	l.init()
	return l.done
}

// Err is why the component stopped on its own, if it did.
func (l *Lifecycle) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close runs the OnClosing functions, cancels the run context, waits for
// the background work and runs the OnClose functions; it returns the
// first error of those. Calls after the first wait for it and return the
// same error.
func (l *Lifecycle) Close() error {
	l.init()
	l.mu.Lock()
	if l.closed {
		wait := l.closeDone
		l.mu.Unlock()
		<-wait
		return l.closeErr
	}
	l.closed = true
	l.closeDone = make(chan struct{})
	started, cancel := l.started, l.cancel
	closing, closers := l.closing, l.closers
	l.mu.Unlock()
	defer close(l.closeDone)

	var first error
	run := func(f func(context.Context) error) {
		ctx, stop := context.WithTimeout(context.Background(), CloseTimeout)
		defer stop()
		if err := f(ctx); err != nil && first == nil {
			first = err
		}
	}
	for _, f := range closing {
		run(f)
	}
	if started {
		cancel()
		<-l.done
	} else {
		l.doneOnce.Do(func() { close(l.done) })
	}
	for i := len(closers) - 1; i >= 0; i-- {
		run(closers[i])
	}
	l.closeErr = first
	return first
}
