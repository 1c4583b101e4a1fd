package framework

import (
	"fmt"
	"sort"
)

// PluginFactory builds a plugin for a framework.
type PluginFactory func(h Handle) (Plugin, error)

// Registry maps plugin names to factories. Names are unique: registering
// one twice is an error, so two plugins can never be confused in a status
// or a profile.
type Registry struct {
	factories map[string]PluginFactory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]PluginFactory{}} }

// Register adds a factory under name.
func (r *Registry) Register(name string, f PluginFactory) error {
	if name == "" {
		return fmt.Errorf("register plugin: empty name")
	}
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("register plugin %q: a plugin with that name is already registered", name)
	}
	r.factories[name] = f
	return nil
}

// Get returns the factory registered under name.
func (r *Registry) Get(name string) (PluginFactory, bool) {
	f, ok := r.factories[name]
	return f, ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
