// Package cmdenv is what every ctl command is given: the standard streams
// of the invocation, the connection flags and the API clients built from
// them on first use, the clock and the environment. It plays the part of
// kubectl's Factory and IOStreams.
package cmdenv

import (
	"io"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/ctl/internal/config"
	"coracle.dev/ctl/internal/resource"
)

// IO are the standard streams of one invocation.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Env is what every command shares: the streams, the connection flags and
// the clients built from them, and the clock.
type Env struct {
	IO
	Flags   *config.Flags
	Clients *config.Clients
	Now     func() time.Time
	// Getenv reads the environment ($EDITOR, $KUBECONFIG).
	Getenv func(string) string
}

// New is the Env of one invocation: its clients read the kubeconfig that
// the flags (filled in later, by parsing) and getenv name.
func New(streams IO, getenv func(string) string) *Env {
	env := &Env{IO: streams, Flags: &config.Flags{Env: getenv}, Now: time.Now, Getenv: getenv}
	env.Clients = config.NewClients(env.Flags)
	return env
}

// Namespace is the request's namespace and whether -n chose it.
func (e *Env) Namespace() (string, bool, error) { return e.Clients.Namespace() }

// Resolver maps what a person types to resources through discovery.
func (e *Env) Resolver() (*resource.Resolver, error) {
	m, err := e.Clients.Mapper()
	if err != nil {
		return nil, err
	}
	d, err := e.Clients.Discovery()
	if err != nil {
		return nil, err
	}
	return &resource.Resolver{Mapper: m, Discovery: d}, nil
}

// ObjectClients are what a command that acts on objects named by -f or
// TYPE NAME needs.
type ObjectClients struct {
	// Namespace is the request's namespace; Explicit says whether -n
	// chose it.
	Namespace string
	Explicit  bool
	Resolver  *resource.Resolver
	Dynamic   dynamic.Interface
}

// ObjectClients returns the namespace, the resolver and the dynamic
// client, failing on the first that cannot be had, in that order.
func (e *Env) ObjectClients() (ObjectClients, error) {
	ns, explicit, err := e.Namespace()
	if err != nil {
		return ObjectClients{}, err
	}
	r, err := e.Resolver()
	if err != nil {
		return ObjectClients{}, err
	}
	dyn, err := e.Dynamic()
	if err != nil {
		return ObjectClients{}, err
	}
	return ObjectClients{Namespace: ns, Explicit: explicit, Resolver: r, Dynamic: dyn}, nil
}

// Dynamic is the dynamic client.
func (e *Env) Dynamic() (dynamic.Interface, error) { return e.Clients.Dynamic() }

// Typed is the typed clientset.
func (e *Env) Typed() (kubernetes.Interface, error) { return e.Clients.Typed() }

// REST is the client-go configuration.
func (e *Env) REST() (*rest.Config, error) { return e.Clients.REST() }

// Raw reads server-side Tables and watches them.
func (e *Env) Raw() (*resource.Raw, error) {
	cfg, err := e.Clients.REST()
	if err != nil {
		return nil, err
	}
	return resource.NewRaw(cfg)
}
