package component

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// toy is the smallest component: one background loop, ready at once.
type toy struct {
	Lifecycle
	mu    sync.Mutex // guards steps
	steps []string
	fail  chan error
}

func newToy() *toy { return &toy{fail: make(chan error, 1)} }

func (c *toy) step(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps = append(c.steps, s)
}

func (c *toy) Steps() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.steps, ",")
}

func (c *toy) Start(context.Context) error {
	return c.Lifecycle.Start(c.start)
}

func (c *toy) start(ctx context.Context) error {
	c.OnClose(func(context.Context) error { c.step("closer1"); return nil })
	c.OnClose(func(context.Context) error { c.step("closer2"); return nil })
	c.OnClosing(func(context.Context) error { c.step("closing"); return nil })
	c.Go(ctx, func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			c.step("loop stopped")
			return ctx.Err()
		case err := <-c.fail:
			return err
		}
	})
	c.MarkReady()
	return nil
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen within 10s", what)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestCloseRunsStepsInOrder(t *testing.T) {
	c := newToy()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait(t, c.Ready(), "ready")
	if closed(c.Done()) {
		t.Fatal("Done closed while running")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(c.Done()) {
		t.Fatal("Done open after Close")
	}
	if got, want := c.Steps(), "closing,loop stopped,closer2,closer1"; got != want {
		t.Fatalf("close steps %q, want %q", got, want)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err after a clean Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := c.Steps(); got != "closing,loop stopped,closer2,closer1" {
		t.Fatalf("second Close ran steps again: %q", got)
	}
}

func TestFailingBackgroundWorkStopsTheComponent(t *testing.T) {
	c := newToy()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("lease lost")
	c.fail <- boom
	wait(t, c.Done(), "Done after a failure")
	if err := c.Err(); !errors.Is(err, boom) {
		t.Fatalf("Err = %v, want %v", err, boom)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), boom) {
		t.Fatal("Close forgot why the component stopped")
	}
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *toy)
	}{
		{"second start", func(c *toy) { _ = c.Start(context.Background()) }},
		{"start after close", func(c *toy) { _ = c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newToy()
			tt.setup(c)
			if err := c.Start(context.Background()); !errors.Is(err, ErrStarted) {
				t.Fatalf("Start = %v, want ErrStarted", err)
			}
			_ = c.Close()
			wait(t, c.Done(), "Done")
		})
	}
}

func TestFailedStartClosesWhatItStarted(t *testing.T) {
	var l Lifecycle
	var stopped, closed bool
	boom := errors.New("listen: address in use")
	err := l.Start(func(ctx context.Context) error {
		l.OnClose(func(context.Context) error { closed = true; return nil })
		l.Go(ctx, func(ctx context.Context) error { <-ctx.Done(); stopped = true; return nil })
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want %v", err, boom)
	}
	wait(t, l.Done(), "Done after a failed start")
	if !stopped || !closed {
		t.Fatalf("background stopped %v, closer ran %v; want both", stopped, closed)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	c := newToy()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(c.Done()) {
		t.Fatal("Done open after Close without Start")
	}
	if closed(c.Ready()) {
		t.Fatal("Ready closed though never started")
	}
}

func TestRun(t *testing.T) {
	t.Run("returns nil when ctx ends", func(t *testing.T) {
		c := newToy()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- Run(ctx, c) }()
		wait(t, c.Ready(), "ready")
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if !strings.HasSuffix(c.Steps(), "closer1") {
			t.Fatalf("Run did not close: %q", c.Steps())
		}
	})
	t.Run("returns why the component stopped on its own", func(t *testing.T) {
		c := newToy()
		boom := errors.New("boom")
		c.fail <- boom
		if err := Run(context.Background(), c); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want %v", err, boom)
		}
	})
}
