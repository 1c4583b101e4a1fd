// Package customresource makes the descriptors that serve a
// CustomResourceDefinition's objects: one per served version, all stored
// under /registry/{group}/{plural}/ as unstructured JSON. Their rules come
// from apiextensions-apiserver: its custom resource strategy (typeMeta,
// metadata, OpenAPI schema validation, CEL rules, list types, status and
// scale subresources, generation), its structural pruning and defaulting,
// and its table convertor for additionalPrinterColumns.
//
// Versions convert as conversion strategy None: an object read through
// another served version only changes apiVersion.
package customresource

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/conversion"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	crstrategy "k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/webhook"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// StoragePrefix is where crd's objects live in etcd.
func StoragePrefix(crd *apiextensionsv1.CustomResourceDefinition) string {
	return "/registry/" + crd.Spec.Group + "/" + crd.Status.AcceptedNames.Plural + "/"
}

// StorageVersion is the version crd's objects are written in.
func StorageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// Descriptors returns one descriptor per served version of crd, by its
// accepted names. conv converts between the versions (see NewConverter).
func Descriptors(crd *apiextensionsv1.CustomResourceDefinition, conv runtime.ObjectConvertor) ([]*apiresource.Descriptor, error) {
	var out []*apiresource.Descriptor
	for i, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		d, err := descriptor(crd, &crd.Spec.Versions[i], conv)
		if err != nil {
			return nil, fmt.Errorf("%s version %s: %w", crd.Name, v.Name, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// internalVersion converts what one version says to the internal types
// apiextensions-apiserver's strategy and validators take. (The whole
// CRD's conversion would hoist fields all versions share to the spec.)
func internalVersion(v *apiextensionsv1.CustomResourceDefinitionVersion) (*apiextensions.JSONSchemaProps, *apiextensions.CustomResourceSubresources, error) {
	var props *apiextensions.JSONSchemaProps
	if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
		val := &apiextensions.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, val, nil); err != nil {
			return nil, nil, err
		}
		props = val.OpenAPIV3Schema
	}
	var subs *apiextensions.CustomResourceSubresources
	if v.Subresources != nil {
		subs = &apiextensions.CustomResourceSubresources{}
		if err := apiextensionsv1.Convert_v1_CustomResourceSubresources_To_apiextensions_CustomResourceSubresources(v.Subresources, subs, nil); err != nil {
			return nil, nil, err
		}
	}
	return props, subs, nil
}

func descriptor(crd *apiextensionsv1.CustomResourceDefinition, v *apiextensionsv1.CustomResourceDefinitionVersion, conv runtime.ObjectConvertor) (*apiresource.Descriptor, error) {
	names := crd.Status.AcceptedNames
	gv := schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}
	gvk := gv.WithKind(names.Kind)
	namespaced := crd.Spec.Scope == apiextensionsv1.NamespaceScoped

	schemaProps, subs, err := internalVersion(v)
	if err != nil {
		return nil, err
	}
	var structural *structuralschema.Structural
	if schemaProps != nil {
		s, err := structuralschema.NewStructural(schemaProps)
		if err != nil && !crd.Spec.PreserveUnknownFields {
			return nil, fmt.Errorf("schema is not structural: %w", err)
		}
		if s != nil && !crd.Spec.PreserveUnknownFields {
			s = s.DeepCopy()
			if err := structuraldefaulting.PruneDefaults(s); err != nil {
				return nil, fmt.Errorf("prune defaults: %w", err)
			}
		}
		structural = s
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(schemaProps)
	if err != nil {
		return nil, err
	}
	var status *apiextensions.CustomResourceSubresourceStatus
	var statusValidator apiservervalidation.SchemaValidator
	var scale *apiextensions.CustomResourceSubresourceScale
	var subresources []string
	if subs != nil && subs.Status != nil {
		status = subs.Status
		subresources = append(subresources, apiresource.Status)
		if schemaProps != nil {
			if st, ok := schemaProps.Properties["status"]; ok {
				if statusValidator, _, err = apiservervalidation.NewSchemaValidator(&st); err != nil {
					return nil, err
				}
			}
		}
	}
	if subs != nil && subs.Scale != nil {
		scale = subs.Scale
		subresources = append(subresources, apiresource.Scale)
	}
	up := crstrategy.NewStrategy(nil, namespaced, gvk, validator, statusValidator, structural, status, scale, v.SelectableFields)

	table, err := printers.CustomResource(v.AdditionalPrinterColumns)
	if err != nil {
		// Kubernetes falls back to the default columns too.
		table, _ = printers.CustomResource(nil)
	}
	d := &apiresource.Descriptor{
		Group: gv.Group, Version: gv.Version, Kind: names.Kind,
		Resource: names.Plural, Singular: names.Singular,
		ShortNames: names.ShortNames, Categories: names.Categories,
		Namespaced:    namespaced,
		New:           func() runtime.Object { return &unstructured.Unstructured{} },
		NewList:       func() runtime.Object { return &unstructured.UnstructuredList{} },
		Subresources:  subresources,
		Table:         table,
		StoragePrefix: StoragePrefix(crd),
		ReadAs:        readAs(gvk, structural, conv),
		Strategy: &strategy{
			up: up, status: crstrategy.NewStatusStrategy(up),
			structural: structural, preserveUnknown: crd.Spec.PreserveUnknownFields,
		},
	}
	if scale != nil {
		d.Scale = scaleAccess(v.Subresources.Scale)
	}
	if structural != nil && !crd.Spec.PreserveUnknownFields {
		d.UnknownFields = func(obj runtime.Object) []string { return unknownFields(obj, structural) }
	}
	if len(v.SelectableFields) > 0 {
		for _, f := range v.SelectableFields {
			d.FieldLabels = append(d.FieldLabels, strings.TrimPrefix(f.JSONPath, "."))
		}
		d.Fields = func(obj runtime.Object) fields.Set {
			_, set, err := up.GetAttrs(obj)
			if err != nil {
				return fields.Set{}
			}
			return set
		}
	}
	return d, nil
}

// upstreamStrategy is what this package uses of apiextensions-apiserver's
// custom resource strategy.
type upstreamStrategy interface {
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	WarningsOnCreate(ctx context.Context, obj runtime.Object) []string
}

type upstreamStatusStrategy interface {
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// strategy adapts upstream's strategy to Coracle's. Generation is
// upstream's to keep (every change outside metadata and status bumps it),
// so the descriptor does not track it as well.
type strategy struct {
	apiresource.DefaultStrategy
	up              upstreamStrategy
	status          upstreamStatusStrategy
	structural      *structuralschema.Structural
	preserveUnknown bool
}

// Default prunes fields the schema does not know, then fills in the
// schema's defaults, and tidies metadata, as kube-apiserver does when it
// decodes a custom resource.
func (s *strategy) Default(obj runtime.Object) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || s.structural == nil {
		return
	}
	apiVersion, kind := u.GetAPIVersion(), u.GetKind()
	objectMeta, found, _, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{})
	if err != nil {
		return // Validate reports malformed metadata
	}
	if !s.preserveUnknown {
		structuralpruning.Prune(u.Object, s.structural, true)
		structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, s.structural)
	}
	_ = schemaobjectmeta.Coerce(nil, u.Object, s.structural, false, false)
	structuraldefaulting.Default(u.Object, s.structural)
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	if found {
		_ = schemaobjectmeta.SetObjectMeta(u.Object, objectMeta)
	}
}

func (s *strategy) PrepareForCreate(obj runtime.Object) {
	s.up.PrepareForCreate(context.Background(), obj)
}

func (s *strategy) PrepareForUpdate(obj, old runtime.Object) {
	s.up.PrepareForUpdate(context.Background(), obj, old)
}

func (s *strategy) Validate(obj runtime.Object) field.ErrorList {
	return s.up.Validate(context.Background(), obj)
}

func (s *strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return s.up.ValidateUpdate(context.Background(), obj, old)
}

func (s *strategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	s.status.PrepareForUpdate(context.Background(), obj, old)
	return s.status.ValidateUpdate(context.Background(), obj, old)
}

func (s *strategy) Warnings(obj runtime.Object) []string {
	return s.up.WarningsOnCreate(context.Background(), obj)
}

// scaleAccess reads and writes replicas at the paths the CRD names.
func scaleAccess(sc *apiextensionsv1.CustomResourceSubresourceScale) *apiresource.ScaleAccess {
	path := func(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }
	return &apiresource.ScaleAccess{
		Get: func(obj runtime.Object) (int32, int32, string) {
			u := obj.(*unstructured.Unstructured)
			spec, _, _ := unstructured.NestedInt64(u.Object, path(sc.SpecReplicasPath)...)
			status, _, _ := unstructured.NestedInt64(u.Object, path(sc.StatusReplicasPath)...)
			selector := ""
			if sc.LabelSelectorPath != nil {
				selector, _, _ = unstructured.NestedString(u.Object, path(*sc.LabelSelectorPath)...)
			}
			return int32(spec), int32(status), selector
		},
		Set: func(obj runtime.Object, n int32) {
			u := obj.(*unstructured.Unstructured)
			_ = unstructured.SetNestedField(u.Object, int64(n), path(sc.SpecReplicasPath)...)
		},
	}
}

// unknownFields lists what pruning would drop from obj (on a copy):
// metadata fields ObjectMeta lacks, fields the schema does not declare,
// and unknown metadata of embedded resources, with kube-apiserver's paths.
func unknownFields(obj runtime.Object, s *structuralschema.Structural) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	content := runtime.DeepCopyJSON(u.Object)
	_, _, paths, err := schemaobjectmeta.GetObjectMetaWithOptions(content, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return nil
	}
	paths = append(paths, structuralpruning.PruneWithOptions(content, s, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	_, more := schemaobjectmeta.CoerceWithOptions(nil, content, s, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	return append(paths, more...)
}

// readAs finishes an object read from storage: converted to this version
// if it was written in another, with the schema's defaults filled in
// (defaults added to a CRD after an object was written apply to it when
// read, as in Kubernetes).
func readAs(gvk schema.GroupVersionKind, s *structuralschema.Structural, conv runtime.ObjectConvertor) func(runtime.Object) error {
	return func(obj runtime.Object) error {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("read %s: %T is not unstructured", gvk, obj)
		}
		if u.GetAPIVersion() != gvk.GroupVersion().String() {
			out, err := conv.ConvertToVersion(u, gvk.GroupVersion())
			if err != nil {
				return err
			}
			converted, ok := out.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("convert to %s: got %T", gvk, out)
			}
			*u = *converted
		}
		u.SetGroupVersionKind(gvk)
		if s != nil {
			structuraldefaulting.Default(u.Object, s)
		}
		return nil
	}
}

// NewConverter returns crd's converter between its versions: None
// changes apiVersion only, Webhook asks the CRD's conversion webhook
// (a ConversionReview over HTTPS, the service resolved by resolver), both
// as apiextensions-apiserver does.
func NewConverter(crd *apiextensionsv1.CustomResourceDefinition, resolver webhook.ServiceResolver) (runtime.ObjectConvertor, error) {
	factory, err := conversion.NewCRConverterFactory(resolver, func(r webhook.AuthenticationInfoResolver) webhook.AuthenticationInfoResolver { return r })
	if err != nil {
		return nil, err
	}
	safe, _, err := factory.NewConverter(crd)
	return safe, err
}
