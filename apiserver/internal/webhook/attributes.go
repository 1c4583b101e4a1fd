package webhook

import (
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Request is what a request gives admission, as upstream's
// admission.NewAttributesRecord takes it.
type Request struct {
	Operation admission.Operation
	// Kind and Resource are the served kind's; Subresource is "" for the
	// object itself.
	Kind        schema.GroupVersionKind
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	Name        string
	// Object is the new object (nil for DELETE and CONNECT); mutation
	// changes it in place. OldObject is the stored one on UPDATE and
	// DELETE. Both carry their apiVersion and kind.
	Object    runtime.Object
	OldObject runtime.Object
	// Options are the request's CreateOptions, UpdateOptions,
	// DeleteOptions or, for CONNECT, the subresource's options.
	Options runtime.Object
	DryRun  bool
	User    user.Info
	// Default applies the kind's defaults to an object a webhook changed,
	// as kube-apiserver defaults a patched object; nil for none.
	Default func(obj runtime.Object)
}

// Attributes are one request's admission attributes and what admission
// gives back besides its verdict: warnings for the client and
// annotations for the audit log. The mutating and validating phases of
// one request share one Attributes, so a mutating webhook's reinvocation
// state and annotations carry over.
type Attributes struct {
	admission.Attributes
	defaulter func(obj runtime.Object)

	mu          sync.Mutex // guards annotations and warnings: validating webhooks run in parallel
	annotations map[string]string
	warnings    []string
}

// NewAttributes returns the attributes of r.
func NewAttributes(r Request) *Attributes {
	return &Attributes{
		Attributes: admission.NewAttributesRecord(r.Object, r.OldObject, r.Kind, r.Namespace, r.Name,
			r.Resource, r.Subresource, r.Operation, r.Options, r.DryRun, r.User),
		defaulter: r.Default,
	}
}

// AddAnnotation records an audit annotation at the Metadata level.
func (a *Attributes) AddAnnotation(key, value string) error {
	return a.AddAnnotationWithLevel(key, value, auditinternal.LevelMetadata)
}

// AddAnnotationWithLevel records an audit annotation, refusing a bad key
// or a changed value as upstream does. Only Metadata-level annotations
// are kept for the audit log: the others (a webhook's patch) would need
// the request's audit level.
func (a *Attributes) AddAnnotationWithLevel(key, value string, level auditinternal.Level) error {
	if err := a.Attributes.AddAnnotationWithLevel(key, value, level); err != nil {
		return err
	}
	if level != auditinternal.LevelMetadata {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.annotations == nil {
		a.annotations = map[string]string{}
	}
	a.annotations[key] = value
	return nil
}

// AddWarning records a warning for the client.
func (a *Attributes) AddWarning(text string) {
	if text == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warnings = append(a.warnings, text)
}

// Warnings returns the warnings webhooks and policies gave, in order.
func (a *Attributes) Warnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.warnings...)
}

// Annotations returns the audit annotations admission added.
func (a *Attributes) Annotations() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.annotations)
}

// defaultObject applies the kind's defaults to obj.
func (a *Attributes) defaultObject(obj runtime.Object) {
	if a.defaulter != nil {
		a.defaulter(obj)
	}
}
