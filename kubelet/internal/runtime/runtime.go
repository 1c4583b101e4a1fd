// Package runtime defines what the kubelet asks of a container runtime: a
// pod sandbox (network, IPC and UTS namespaces) and the containers in it,
// with their state kept where a restarted kubelet finds it again. The runc
// runtime runs real processes; the fake runtime only records what it was
// told, for tests and simulated nodes.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrNotFound is returned for a pod or container the runtime does not have.
var ErrNotFound = errors.New("not found")

// ErrNotSupported is returned by runtimes that cannot do what was asked
// (exec in the fake runtime).
var ErrNotSupported = errors.New("not supported by this runtime")

// ContainerState is where one attempt of a container is in its life:
//
//	created ──start──▶ running ──exit or kill──▶ exited
//	   └────────────────── kill ──────────────────▲
type ContainerState string

// Container states.
const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
)

// Container is one attempt (run) of one container of a pod.
type Container struct {
	Name string
	// Attempt counts the runs of this container in this pod from 0; the
	// latest attempt is the restart count.
	Attempt int
	// ID is the runtime's identifier, unique on the node.
	ID       string
	State    ContainerState
	Image    string // as in the pod spec
	ImageRef string // the resolved image, repo@sha256:…
	// PID is the container's first process on the host, while running.
	PID        int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	// Reason says why an exited container stopped: Completed, Error,
	// OOMKilled.
	Reason  string
	LogPath string
	// Resources are the container's cgroup values as the runtime last
	// applied them (at creation, or by UpdateContainerResources); nil
	// when the runtime does not know them.
	Resources *ContainerResources
}

// ContainerResources are the cgroup values of a container's CPU and
// memory, as Kubernetes derives them from its requests and limits.
type ContainerResources struct {
	// MemoryLimit in bytes, 0 for none.
	MemoryLimit int64
	// CPUShares from the CPU request; CPUQuota and CPUPeriod (µs) from the
	// limit, quota 0 for none.
	CPUShares uint64
	CPUQuota  int64
	CPUPeriod uint64
}

// Pod is what the runtime has of one pod: its sandbox and every attempt of
// every container it still keeps.
type Pod struct {
	UID       types.UID
	Namespace string
	Name      string
	NodeName  string
	// IP is the sandbox's address; empty without a sandbox.
	IP string
	// SandboxReady says the pod's namespaces and network exist.
	SandboxReady bool
	Containers   []Container
	// TerminationGracePeriod is the pod's grace period when its sandbox
	// was made, used to stop an orphan whose pod object is gone.
	TerminationGracePeriod time.Duration
}

// Latest returns the newest attempt of the named container, or nil.
func (p *Pod) Latest(name string) *Container {
	var best *Container
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.Name == name && (best == nil || c.Attempt > best.Attempt) {
			best = c
		}
	}
	return best
}

// Previous returns the attempt of the named container before the latest,
// or nil.
func (p *Pod) Previous(name string) *Container {
	latest := p.Latest(name)
	if latest == nil {
		return nil
	}
	var best *Container
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.Name == name && c.Attempt < latest.Attempt && (best == nil || c.Attempt > best.Attempt) {
			best = c
		}
	}
	return best
}

// Running reports whether any container of the pod is created or running.
func (p *Pod) Running() bool {
	for _, c := range p.Containers {
		if c.State != StateExited {
			return true
		}
	}
	return false
}

// ContainerConfig is a container ready to create: everything from the pod
// spec and the image already resolved.
type ContainerConfig struct {
	Name    string
	Attempt int
	Image   string // as in the pod spec
	// ImageRef names the pulled image in the image store.
	ImageRef string
	// Args is the full argv: command and args, or the image's
	// Entrypoint and Cmd.
	Args       []string
	Env        []string // KEY=value
	WorkingDir string
	UID, GID   uint32
	// AdditionalGIDs are the process's supplemental groups (the pod's
	// fsGroup and supplementalGroups, its volumes' groups).
	AdditionalGIDs []uint32
	// ReadOnlyRootfs mounts the container's root file system read-only.
	ReadOnlyRootfs bool
	// MemoryLimit in bytes, 0 for none.
	MemoryLimit int64
	// CPUShares from the CPU request; CPUQuota and CPUPeriod (µs) from the
	// limit, quota 0 for none.
	CPUShares uint64
	CPUQuota  int64
	CPUPeriod uint64
	// PidsLimit is the most processes the container may have, 0 for none.
	PidsLimit int64
	// Mounts are extra bind mounts (volumes).
	Mounts []Mount
	// LogPath is the file the container's output goes to.
	LogPath string
	// TTY, Stdin and StdinOnce as in the container spec: the container
	// runs on a terminal, or with a stdin that attached clients write
	// to (closed after the first client detaches with StdinOnce).
	TTY, Stdin, StdinOnce bool
	// TargetPID, if set, is the host PID of a running process whose PID
	// namespace the container joins (an ephemeral container's
	// targetContainerName), instead of one of its own.
	TargetPID int
}

// Resources are the cgroup values the container is created with.
func (c *ContainerConfig) Resources() ContainerResources {
	return ContainerResources{MemoryLimit: c.MemoryLimit, CPUShares: c.CPUShares, CPUQuota: c.CPUQuota, CPUPeriod: c.CPUPeriod}
}

// Mount is a bind mount into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// ExecOptions are the streams and terminal of a process run in a
// container. Nil streams are not connected.
type ExecOptions struct {
	Command []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	TTY     bool
	// Resize delivers terminal sizes while a TTY process runs.
	Resize <-chan TerminalSize
}

// AttachOptions are the client's streams of an attach. Nil streams are
// not connected; Resize delivers the client's terminal sizes for a TTY
// container.
type AttachOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's width and height in characters.
type TerminalSize struct {
	Width, Height uint16
}

// Runtime runs pods. Every method is safe to call concurrently for
// different pods; calls for one pod come from its one worker. Methods are
// idempotent where it makes sense, so a sync repeated after a crash does
// no harm: EnsureSandbox returns the existing sandbox, StopContainer on an
// exited container does nothing.
type Runtime interface {
	// Type and Version name the runtime for the Node's
	// containerRuntimeVersion ("runc://1.1.5").
	Type() string
	Version() string
	// Status reports nil when the runtime can run pods, else why not.
	Status() error

	// EnsureSandbox creates the pod's namespaces and network unless they
	// exist, and returns the pod's IP.
	EnsureSandbox(ctx context.Context, pod *v1.Pod) (string, error)
	// RemoveSandbox removes the pod's network and namespaces. Containers
	// must have exited.
	RemoveSandbox(ctx context.Context, uid types.UID) error

	// CreateContainer creates (but does not start) one attempt of a
	// container in the pod's sandbox.
	CreateContainer(ctx context.Context, pod *v1.Pod, cfg ContainerConfig) (*Container, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, uid types.UID, id string) error
	// StopContainer stops a running container: SIGTERM, then SIGKILL
	// after grace. It returns when the container has exited.
	StopContainer(ctx context.Context, uid types.UID, id string, grace time.Duration) error
	// RemoveContainer removes an exited container; its log stays until
	// the pod is removed.
	RemoveContainer(ctx context.Context, uid types.UID, id string) error
	// RemovePod removes everything left of the pod: containers, logs,
	// sandbox, records. Containers must have exited.
	RemovePod(ctx context.Context, uid types.UID) error

	// GetPod returns the runtime's view of one pod, or ErrNotFound.
	GetPod(ctx context.Context, uid types.UID) (*Pod, error)
	// ListPods returns every pod the runtime has, for every node it
	// serves.
	ListPods(ctx context.Context) ([]*Pod, error)

	// UpdateContainerResources changes a running container's CPU and
	// memory cgroup values in place (an in-place pod resize), and
	// records them as the container's Resources. A memory limit below
	// what the container uses fails, as the kernel refuses it.
	UpdateContainerResources(ctx context.Context, uid types.UID, id string, res ContainerResources) error

	// Exec runs a process in a running container and returns its exit
	// code.
	Exec(ctx context.Context, uid types.UID, id string, opts ExecOptions) (int, error)

	// Attach connects to the streams of a running container's first
	// process: its output from now on, and its stdin or terminal when
	// the container was made with Stdin or TTY. It returns when the
	// client's streams end or the container exits.
	Attach(ctx context.Context, uid types.UID, id string, opts AttachOptions) error

	// Changes delivers the UID of a pod whose containers changed on their
	// own (a container exited), so its worker syncs at once.
	Changes() <-chan types.UID
}
