// Package fake is a runtime that starts no process: it records the pods
// and containers it is asked for and reports them running after a short
// delay. One instance serves every simulated node of a process, so
// thousands of pods cost memory and a little CPU, nothing else. It is for
// scale tests and benchmarks only.
package fake

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Runtime is the fake runtime.
type Runtime struct {
	// StartupDelay is how long a started container stays created before
	// it runs.
	startupDelay time.Duration
	changes      chan types.UID

	mu     sync.Mutex // guards pods and nextIP
	pods   map[types.UID]*kruntime.Pod
	nextIP uint32
}

var _ kruntime.Runtime = &Runtime{}

// New returns an empty fake runtime.
func New(startupDelay time.Duration) *Runtime {
	return &Runtime{
		startupDelay: startupDelay,
		changes:      make(chan types.UID, 1024),
		pods:         map[types.UID]*kruntime.Pod{},
	}
}

// Type implements kruntime.Runtime.
func (r *Runtime) Type() string { return "fake" }

// Version implements kruntime.Runtime.
func (r *Runtime) Version() string { return "0.1.0" }

// Status implements kruntime.Runtime.
func (r *Runtime) Status() error { return nil }

// Changes implements kruntime.Runtime.
func (r *Runtime) Changes() <-chan types.UID { return r.changes }

// EnsureSandbox implements kruntime.Runtime.
func (r *Runtime) EnsureSandbox(_ context.Context, pod *v1.Pod) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[pod.UID]
	if p == nil {
		p = &kruntime.Pod{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, NodeName: pod.Spec.NodeName}
		r.pods[pod.UID] = p
	}
	if !p.SandboxReady {
		n := r.nextIP
		r.nextIP++
		// 10.128.0.0/9: addresses only the fake nodes hand out.
		p.IP = fmt.Sprintf("10.%d.%d.%d", 128+(n>>16)&127, (n>>8)&255, n&255)
		p.SandboxReady = true
	}
	return p.IP, nil
}

// RemoveSandbox implements kruntime.Runtime.
func (r *Runtime) RemoveSandbox(_ context.Context, uid types.UID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pods[uid]; p != nil {
		p.SandboxReady, p.IP = false, ""
	}
	return nil
}

// CreateContainer implements kruntime.Runtime.
func (r *Runtime) CreateContainer(_ context.Context, pod *v1.Pod, cfg kruntime.ContainerConfig) (*kruntime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[pod.UID]
	if p == nil || !p.SandboxReady {
		return nil, fmt.Errorf("create container %s: pod %s has no sandbox", cfg.Name, pod.UID)
	}
	c := kruntime.Container{
		Name: cfg.Name, Attempt: cfg.Attempt, ID: fmt.Sprintf("%s-%s-%d", pod.UID, cfg.Name, cfg.Attempt),
		State: kruntime.StateCreated, Image: cfg.Image, ImageRef: cfg.ImageRef, CreatedAt: time.Now(),
	}
	res := cfg.Resources()
	c.Resources = &res
	p.Containers = append(p.Containers, c)
	return &c, nil
}

// StartContainer implements kruntime.Runtime: the container runs after
// the startup delay.
func (r *Runtime) StartContainer(_ context.Context, uid types.UID, id string) error {
	run := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if c := r.find(uid, id); c != nil && c.State == kruntime.StateCreated {
			c.State, c.StartedAt = kruntime.StateRunning, time.Now()
		}
	}
	r.mu.Lock()
	c := r.find(uid, id)
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("start container %s: %w", id, kruntime.ErrNotFound)
	}
	if r.startupDelay <= 0 {
		run()
		return nil
	}
	time.AfterFunc(r.startupDelay, func() {
		run()
		select {
		case r.changes <- uid:
		default:
		}
	})
	return nil
}

// StopContainer implements kruntime.Runtime: the container exits at once,
// as a process that handles SIGTERM would.
func (r *Runtime) StopContainer(_ context.Context, uid types.UID, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.find(uid, id); c != nil && c.State != kruntime.StateExited {
		if c.StartedAt.IsZero() {
			c.StartedAt = time.Now()
		}
		c.State, c.FinishedAt, c.ExitCode, c.Reason = kruntime.StateExited, time.Now(), 0, "Completed"
	}
	return nil
}

// RemoveContainer implements kruntime.Runtime.
func (r *Runtime) RemoveContainer(_ context.Context, uid types.UID, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[uid]
	if p == nil {
		return nil
	}
	kept := p.Containers[:0]
	for _, c := range p.Containers {
		if c.ID != id {
			kept = append(kept, c)
		}
	}
	p.Containers = kept
	return nil
}

// RemovePod implements kruntime.Runtime.
func (r *Runtime) RemovePod(_ context.Context, uid types.UID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, uid)
	return nil
}

// GetPod implements kruntime.Runtime.
func (r *Runtime) GetPod(_ context.Context, uid types.UID) (*kruntime.Pod, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[uid]
	if p == nil {
		return nil, kruntime.ErrNotFound
	}
	return clone(p), nil
}

// ListPods implements kruntime.Runtime.
func (r *Runtime) ListPods(context.Context) ([]*kruntime.Pod, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*kruntime.Pod, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, clone(p))
	}
	return out, nil
}

// UpdateContainerResources implements kruntime.Runtime: the values are
// recorded as the container's, as a real runtime reports what it
// applied.
func (r *Runtime) UpdateContainerResources(_ context.Context, uid types.UID, id string, res kruntime.ContainerResources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.find(uid, id)
	if c == nil {
		return fmt.Errorf("update container %s: %w", id, kruntime.ErrNotFound)
	}
	if c.State != kruntime.StateRunning {
		return fmt.Errorf("update container %s: container is not running", id)
	}
	c.Resources = &res
	return nil
}

// Exec implements kruntime.Runtime; fake containers run nothing.
func (r *Runtime) Exec(context.Context, types.UID, string, kruntime.ExecOptions) (int, error) {
	return 0, kruntime.ErrNotSupported
}

// Attach implements kruntime.Runtime: a simulated container has no
// streams.
func (r *Runtime) Attach(context.Context, types.UID, string, kruntime.AttachOptions) error {
	return kruntime.ErrNotSupported
}

// find returns the container; r.mu must be held.
func (r *Runtime) find(uid types.UID, id string) *kruntime.Container {
	p := r.pods[uid]
	if p == nil {
		return nil
	}
	for i := range p.Containers {
		if p.Containers[i].ID == id {
			return &p.Containers[i]
		}
	}
	return nil
}

func clone(p *kruntime.Pod) *kruntime.Pod {
	c := *p
	c.Containers = append([]kruntime.Container(nil), p.Containers...)
	for i := range c.Containers {
		if res := c.Containers[i].Resources; res != nil {
			copied := *res
			c.Containers[i].Resources = &copied
		}
	}
	return &c
}
