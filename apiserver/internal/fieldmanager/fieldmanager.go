// Package fieldmanager keeps objects' metadata.managedFields and merges
// server-side apply patches, with Kubernetes' own machinery
// (k8s.io/apimachinery/pkg/util/managedfields over structured-merge-diff):
// who owns which field, the 409 conflicts of an apply that would change
// another manager's field, force, the cap on update managers, the
// "before-first-apply" manager, and the upgrade of an object kubectl
// client-side applied (its last-applied annotation) to server-side apply.
//
// One Manager serves one kind at one version, for the object or for one
// subresource; all of a server's Managers share one TypeConverter, built
// from the OpenAPI models of the built-in kinds (NewTypeConverter) or of a
// CRD (NewCRDTypeConverter):
//
//	tc, err := fieldmanager.NewTypeConverter(openapiHandler.Models())
//	m, err := fieldmanager.New(tc, appsv1.SchemeGroupVersion.WithKind("Deployment"), "",
//		fieldmanager.Typed(func() runtime.Object { return &appsv1.Deployment{} }), fieldmanager.StatusSubresource())
//	obj, err = m.Update(old, obj, fieldmanager.DefaultManagerName(userAgent)) // create (old nil), update, patch
//	obj, err = m.Apply(live, patch, "kubectl", force)                        // PATCH application/apply-patch+yaml
package fieldmanager

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdbuilder "k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"
)

// NewTypeConverter returns the type converter of the built-in kinds, from
// their OpenAPI models (each kind's carries its
// x-kubernetes-group-version-kind), as kube-apiserver builds its own.
func NewTypeConverter(models map[string]*spec.Schema) (managedfields.TypeConverter, error) {
	return managedfields.NewTypeConverter(models, false)
}

// NewCRDTypeConverter returns the type converter of crd's custom
// resources, every version, as apiextensions-apiserver builds it: the
// versions' schemas merged with the built-in models their objects refer
// to (ObjectMeta), unknown fields kept where the CRD says
// preserveUnknownFields. models are the built-in models
// (openapi.Handler.Models). A CRD whose schema cannot be made into models
// is merged as Kubernetes does without them: every field atomic.
func NewCRDTypeConverter(models map[string]*spec.Schema, crd *apiextensionsv1.CustomResourceDefinition) (managedfields.TypeConverter, error) {
	crdModels, err := crdModels(models, crd)
	if err != nil || len(crdModels) == 0 {
		return managedfields.NewDeducedTypeConverter(), nil
	}
	return managedfields.NewTypeConverter(crdModels, crd.Spec.PreserveUnknownFields)
}

func crdModels(models map[string]*spec.Schema, crd *apiextensionsv1.CustomResourceDefinition) (map[string]*spec.Schema, error) {
	if models == nil {
		return nil, nil
	}
	docs := []*spec3.OpenAPI{{
		Version:    "3.0.0",
		Info:       &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes CRD Swagger", Version: "v0.1.0"}},
		Components: &spec3.Components{Schemas: models},
	}}
	for _, v := range crd.Spec.Versions {
		// Defaults stay: apply defaults what it creates.
		doc, err := crdbuilder.BuildOpenAPIV3(crd, v.Name, crdbuilder.Options{})
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
	merged, err := crdbuilder.MergeSpecsV3(docs...)
	if err != nil {
		return nil, err
	}
	return merged.Components.Schemas, nil
}

// DefaultManagerName is the manager of a create, update or patch that
// names none (no fieldManager parameter), as kube-apiserver names it:
// the User-Agent up to its first "/", printable characters only, at most
// 128 bytes ("kubectl" for "kubectl/v1.32.4 (linux/amd64) kubernetes/…").
func DefaultManagerName(userAgent string) string {
	prefix, _, _ := strings.Cut(userAgent, "/")
	var buf bytes.Buffer
	for _, r := range prefix {
		if !unicode.IsPrint(r) {
			continue
		}
		if buf.Len()+utf8.RuneLen(r) > metav1validation.FieldManagerMaxLength {
			break
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// Option configures a Manager.
type Option func(*options)

type options struct {
	newObj    func() runtime.Object
	defaulter func(runtime.Object)
	status    bool
	reset     []fieldpath.Path
	convert   VersionConverter
	versions  []schema.GroupVersion
	only      []*fieldpath.SetMatcher
}

// Typed says the kind's objects are the Go type newObj returns (a
// built-in kind); without it they are unstructured (a custom resource).
// Apply hands back objects of that type.
func Typed(newObj func() runtime.Object) Option {
	return func(o *options) { o.newObj = newObj }
}

// Defaulter is applied to what an apply makes, before it is handed back,
// as kube-apiserver defaults the merged object (the kind's strategy
// Default).
func Defaulter(f func(runtime.Object)) Option {
	return func(o *options) { o.defaulter = f }
}

// StatusSubresource says the kind serves /status: writes to the object
// own no status fields and writes to /status no spec fields, because the
// server drops them (Kubernetes' strategies' reset fields).
func StatusSubresource() Option {
	return func(o *options) { o.status = true }
}

// ResetFields names more fields the endpoint drops from what it is sent,
// which nobody writing through it may own.
func ResetFields(paths ...fieldpath.Path) Option {
	return func(o *options) { o.reset = append(o.reset, paths...) }
}

// Only says the endpoint keeps only the fields under these matchers
// (fieldpath.MakePrefixMatcherOrDie("spec", "ephemeralContainers") for
// pods/ephemeralcontainers) of what it is sent and resets the rest,
// which nobody writing through it may own.
func Only(matchers ...*fieldpath.SetMatcher) Option {
	return func(o *options) { o.only = append(o.only, matchers...) }
}

// VersionConverter converts obj, an object of a Manager's kind at one of
// the versions its resource is served at (typed, or unstructured as the
// merge hands it over, its apiVersion and kind set), into the same
// object at version gv, as the apiserver converts between a resource's
// versions. It must not modify obj, and must answer a version it cannot
// convert to or from with runtime's not-registered error
// (runtime.NewNotRegisteredGVKErrForTarget): the merge then drops the
// managers recorded at that version instead of failing.
type VersionConverter func(obj runtime.Object, gv schema.GroupVersion) (runtime.Object, error)

// Versions says a built-in kind is one resource served at several
// versions, others beside the Manager's own (autoscaling/v1 beside v2
// HorizontalPodAutoscalers, events.k8s.io/v1 beside core/v1 Events):
// managedFields entries recorded at any of them are kept, the object
// converted to each entry's version with convert to tell what its manager
// owns and whether an apply conflicts with it, as kube-apiserver converts
// to each entry's version through its internal one. The fields the
// endpoint resets are reset at every version.
func Versions(convert VersionConverter, others ...schema.GroupVersion) Option {
	return func(o *options) {
		o.convert = convert
		o.versions = append(o.versions, others...)
	}
}

// Manager records and merges managed fields for one kind at one version
// through one endpoint (the object, or a subresource). It is safe for
// concurrent use.
type Manager struct {
	fm      *managedfields.FieldManager
	kind    schema.GroupVersionKind
	newObj  func() runtime.Object
	convert VersionConverter
}

// New returns the Manager of kind written through subresource ("" for
// the object itself).
func New(tc managedfields.TypeConverter, kind schema.GroupVersionKind, subresource string, opts ...Option) (*Manager, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	m := &Manager{kind: kind, newObj: o.newObj}
	if o.newObj != nil {
		// Custom resources' versions differ in apiVersion only.
		m.convert = o.convert
	}
	c := converter{m: m}
	var defaulter runtime.ObjectDefaulter = nopDefaulter{}
	if o.defaulter != nil {
		defaulter = funcDefaulter(o.defaulter)
	}
	paths := o.reset
	if o.status {
		paths = append(paths, statusResetFields(kind, subresource, o.newObj == nil)...)
	}
	var filters filterChain
	if len(paths) > 0 {
		filters = append(filters, fieldpath.NewExcludeSetFilter(fieldpath.NewSet(paths...)))
	}
	if len(o.only) > 0 {
		filters = append(filters, fieldpath.NewIncludeMatcherFilter(o.only...))
	}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if len(filters) > 0 {
		reset = map[fieldpath.APIVersion]fieldpath.Filter{}
		for _, gv := range append([]schema.GroupVersion{kind.GroupVersion()}, o.versions...) {
			reset[fieldpath.APIVersion(gv.String())] = filters
		}
	}
	// There are no internal versions here: the hub, which upstream
	// converts the merged object to, is the kind's own version.
	var err error
	if o.newObj == nil {
		m.fm, err = managedfields.NewDefaultCRDFieldManager(tc, c, defaulter, c, kind, kind.GroupVersion(), subresource, reset)
	} else {
		m.fm, err = managedfields.NewDefaultFieldManager(tc, c, defaulter, c, kind, kind.GroupVersion(), subresource, reset)
	}
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", kind, err)
	}
	return m, nil
}

// statusResetFields are the fields kube-apiserver's strategies drop, and
// so declare reset, for a kind with a status subresource: status through
// the object; spec through /status, with the metadata some kinds'
// status strategies drop too (custom resources': all of it).
func statusResetFields(kind schema.GroupVersionKind, subresource string, custom bool) []fieldpath.Path {
	switch subresource {
	case "":
		return []fieldpath.Path{fieldpath.MakePathOrDie("status")}
	case "status":
		paths := []fieldpath.Path{fieldpath.MakePathOrDie("spec")}
		switch {
		case custom:
			paths = append(paths, fieldpath.MakePathOrDie("metadata"))
		case kind.Group == "" && kind.Kind == "Pod":
			paths = append(paths, fieldpath.MakePathOrDie("metadata", "deletionTimestamp"), fieldpath.MakePathOrDie("metadata", "ownerReferences"))
		case kind.Group == "apps" && kind.Kind == "Deployment":
			paths = append(paths, fieldpath.MakePathOrDie("metadata", "labels"))
		case kind.Group == "flowcontrol.apiserver.k8s.io",
			kind.Group == "admissionregistration.k8s.io" && strings.HasPrefix(kind.Kind, "ValidatingAdmissionPolicy"),
			kind.Group == "networking.k8s.io" && kind.Kind == "ServiceCIDR",
			kind.Group == "storage.k8s.io" && kind.Kind == "VolumeAttachment":
			paths = append(paths, fieldpath.MakePathOrDie("metadata"))
		}
		return paths
	}
	return nil
}

// Update records manager as the owner of the fields obj changes from live,
// for a create (live nil: nothing was there), an update or a non-apply
// patch, and returns obj with its managedFields. A managedFields obj sets
// itself replaces the recorded ones (an empty list clears them), as in
// Kubernetes. On an error obj keeps live's managedFields and comes back
// with the error: kube-apiserver logs it and goes on with the write.
func (m *Manager) Update(live, obj runtime.Object, manager string) (runtime.Object, error) {
	if live == nil {
		var err error
		if live, err = m.New(m.kind); err != nil {
			return obj, err
		}
	}
	out, err := m.fm.Update(live, obj, manager)
	if err != nil {
		if liveMeta, aErr := meta.Accessor(live); aErr == nil {
			if objMeta, aErr := meta.Accessor(obj); aErr == nil {
				objMeta.SetManagedFields(liveMeta.GetManagedFields())
			}
		}
		return obj, err
	}
	return out, nil
}

// Apply merges an apply patch (YAML or JSON, a whole object of the kind
// as the manager wants it) into live (nil when the object does not exist
// yet) and returns the object to store: the fields the manager no longer
// applies and nobody else owns removed, managedFields recorded. Changing a
// field another manager owns is a 409 Conflict naming each field, unless
// force takes them over; "kubectl" taking over what the last-applied
// annotation of its client-side apply says it set is no conflict.
func (m *Manager) Apply(live runtime.Object, patch []byte, manager string, force bool) (runtime.Object, error) {
	patchObj := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(patch, &patchObj.Object); err != nil {
		return nil, errors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
	}
	if live == nil {
		var err error
		if live, err = m.New(m.kind); err != nil {
			return nil, err
		}
	}
	return m.fm.Apply(live, patchObj, manager, force)
}

// New makes an empty object of the kind (runtime.ObjectCreater), as the
// field manager needs for a create.
func (m *Manager) New(kind schema.GroupVersionKind) (runtime.Object, error) {
	if kind != m.kind {
		return nil, runtime.NewNotRegisteredErrForKind("fieldmanager", kind)
	}
	var obj runtime.Object = &unstructured.Unstructured{Object: map[string]any{}}
	if m.newObj != nil {
		obj = m.newObj()
	}
	obj.GetObjectKind().SetGroupVersionKind(kind)
	return obj, nil
}

// filterChain applies its filters in turn: what an endpoint resets is
// what any of them drops.
type filterChain []fieldpath.Filter

func (fs filterChain) Filter(set *fieldpath.Set) *fieldpath.Set {
	for _, f := range fs {
		set = f.Filter(set)
	}
	return set
}

type nopDefaulter struct{}

func (nopDefaulter) Default(runtime.Object) {}

type funcDefaulter func(runtime.Object)

func (f funcDefaulter) Default(obj runtime.Object) { f(obj) }
