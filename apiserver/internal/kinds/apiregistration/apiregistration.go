// Package apiregistration serves apiregistration.k8s.io/v1 APIServices:
// the record of which server answers each API group-version. A local
// APIService (no spec.service) says the apiserver serves the
// group-version itself; the server keeps one per group-version it serves,
// as kube-aggregator's autoregister controller does. One with a service
// hands the group-version to an extension apiserver behind that Service.
// The rules are kube-aggregator's own: the object is converted to its
// internal type and checked by its validation package.
package apiregistration

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/validation"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the group's kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{APIServices()}
}

// APIServices: cluster-scoped, named "<version>.<group>", status (the
// Available condition) owned by /status.
func APIServices() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(apiregistrationv1.SchemeGroupVersion, "apiservices",
		&apiregistrationv1.APIService{}, &apiregistrationv1.APIServiceList{})
	d.Categories = []string{"api-extensions"}
	d.Subresources = []string{apiresource.Status}
	d.Strategy = strategy{}
	// The name only has to fit in a URL path here; that it is
	// spec.version+"."+spec.group depends on the spec, which the
	// strategy checks.
	d.NameValidator = path.ValidatePathSegmentName
	d.Table = printers.APIService()
	return d
}

type strategy struct{ apiresource.DefaultStrategy }

var (
	_ apiresource.Strategy            = strategy{}
	_ apiresource.SubresourceStrategy = strategy{}
)

// Default sets spec.service.port to 443 when a service is named without one.
func (strategy) Default(obj runtime.Object) {
	apiregistrationv1.SetObjectDefaults_APIService(obj.(*apiregistrationv1.APIService))
}

// PrepareForCreate drops any status the client sent; a local APIService
// is Available from the start, as kube-aggregator's strategy marks it: the
// apiserver itself serves it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	svc := obj.(*apiregistrationv1.APIService)
	svc.Status = apiregistrationv1.APIServiceStatus{}
	if svc.Spec.Service == nil {
		helper.SetAPIServiceCondition(svc, helper.NewLocalAvailableAPIServiceCondition())
	}
}

func (strategy) Validate(obj runtime.Object) field.ErrorList {
	in, err := internal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return withoutStoreMetadata(validation.ValidateAPIService(context.Background(), in))
}

func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	in, err := internal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := internal(old)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return withoutStoreMetadata(validation.ValidateAPIServiceUpdate(context.Background(), in, oldIn))
}

// PrepareForSubresourceUpdate keeps labels and annotations on a status
// write besides what the store keeps (spec, owners, finalizers), as
// kube-aggregator's status strategy: the status controllers write
// conditions only.
func (strategy) PrepareForSubresourceUpdate(_ string, obj, old runtime.Object) {
	svc, was := obj.(*apiregistrationv1.APIService), old.(*apiregistrationv1.APIService)
	svc.Labels, svc.Annotations = was.Labels, was.Annotations
}

// ValidateSubresourceUpdate checks a status write: each condition's status
// is True, False or Unknown.
func (strategy) ValidateSubresourceUpdate(_ string, obj, old runtime.Object) field.ErrorList {
	return strategy{}.ValidateStatusUpdate(obj, old)
}

func (strategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	in, err := internal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return validation.ValidateAPIServiceStatus(&in.Status, field.NewPath("status"))
}

// internal converts an APIService to kube-aggregator's internal type, which
// its validation takes.
func internal(obj runtime.Object) (*apiregistration.APIService, error) {
	svc := obj.(*apiregistrationv1.APIService)
	out := &apiregistration.APIService{}
	if err := apiregistrationv1.Convert_v1_APIService_To_apiregistration_APIService(svc, out, nil); err != nil {
		return nil, fmt.Errorf("convert APIService %s: %w", svc.Name, err)
	}
	return out, nil
}

// nameRule starts the one metadata error only kube-aggregator's
// validation knows: the name must be spec.version+"."+spec.group.
const nameRule = "must be `spec.version+\".\"+spec.group`"

// withoutStoreMetadata drops from upstream's errors the metadata checks
// the generic store makes itself (the same ObjectMeta rules, the name as a
// path segment), so that a bad label is not reported twice; the rule that
// ties the name to the spec stays.
func withoutStoreMetadata(errs field.ErrorList) field.ErrorList {
	var out field.ErrorList
	for _, e := range errs {
		if strings.HasPrefix(e.Field, "metadata") && !(e.Field == "metadata.name" && strings.HasPrefix(e.Detail, nameRule)) {
			continue
		}
		out = append(out, e)
	}
	return out
}
