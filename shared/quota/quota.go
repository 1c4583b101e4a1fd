// Package quota measures what objects use of a namespace's ResourceQuotas,
// in one place for the two programs that must agree on it: the
// apiserver's ResourceQuota admission, which charges each new object
// against the quotas, and the controller manager's resource quota
// controller, which recounts a namespace and so gives back what deleted
// objects used.
//
// The evaluators are Kubernetes' own (pkg/quota/v1/evaluator/core):
// pods (compute resources, scopes and scope selectors), services (load
// balancers and node ports), PersistentVolumeClaims (storage, also per
// storage class) and object counts, count/<resource>.<group>, with the
// legacy names configmaps, secrets, replicationcontrollers and
// resourcequotas. They implement k8s.io/apiserver's quota.Evaluator, so
// that library's helpers (generic.Matches, quota.CalculateUsage, the
// admission's CheckRequest) work on them unchanged.
package quota

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// ListFunc lists the objects of one resource in a namespace, for the
// evaluators' UsageStats. The admission never recounts and passes nil.
type ListFunc func(gr schema.GroupResource, namespace string) ([]runtime.Object, error)

// ErrNoLister is what UsageStats returns when the evaluators were built
// without a ListFunc.
var ErrNoLister = errors.New("quota: no lister to count objects with")

// Resources with their own evaluators, and those counted under a legacy
// name besides count/<resource>.
var (
	Pods                   = schema.GroupResource{Resource: "pods"}
	Services               = schema.GroupResource{Resource: "services"}
	PersistentVolumeClaims = schema.GroupResource{Resource: "persistentvolumeclaims"}

	legacyCounts = map[schema.GroupResource]corev1.ResourceName{
		{Resource: "configmaps"}:             corev1.ResourceConfigMaps,
		{Resource: "resourcequotas"}:         corev1.ResourceQuotas,
		{Resource: "replicationcontrollers"}: corev1.ResourceReplicationControllers,
		{Resource: "secrets"}:                corev1.ResourceSecrets,
	}
)

// ignored are never charged, as kube-apiserver's quota configuration
// ignores them: virtual resources and events.
var ignored = map[schema.GroupResource]bool{
	{Resource: "bindings"}:                                                 true,
	{Resource: "componentstatuses"}:                                        true,
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             true,
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       true,
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  true,
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: true,
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   true,
	{Resource: "events"}:                            true,
	{Group: eventsv1.GroupName, Resource: "events"}: true,
}

// Ignored reports whether quota never counts gr.
func Ignored(gr schema.GroupResource) bool { return ignored[gr] }

// NewEvaluators returns the evaluators of the resources quota knows
// beyond counting: pods, services, PersistentVolumeClaims, and the
// object counts that have a legacy name. list counts objects for
// UsageStats (nil when only admission uses them); now is the clock that
// decides whether a deleted pod's grace period is over (nil, time.Now).
func NewEvaluators(list ListFunc, now func() time.Time) []quota.Evaluator {
	if now == nil {
		now = time.Now
	}
	out := []quota.Evaluator{
		&podEvaluator{list: lister(list, Pods), now: now},
		&serviceEvaluator{list: lister(list, Services)},
		&pvcEvaluator{list: lister(list, PersistentVolumeClaims)},
	}
	for gr, alias := range legacyCounts {
		out = append(out, generic.NewObjectCountEvaluator(gr, lister(list, gr), alias))
	}
	return out
}

// NewRegistry is a registry of NewEvaluators.
func NewRegistry(list ListFunc, now func() time.Time) quota.Registry {
	return generic.NewRegistry(NewEvaluators(list, now))
}

// ObjectCountEvaluator counts the objects of a resource no evaluator
// knows, as count/<resource>.<group>.
func ObjectCountEvaluator(gr schema.GroupResource, list ListFunc) quota.Evaluator {
	return generic.NewObjectCountEvaluator(gr, lister(list, gr), "")
}

// ObjectCountName is the quota resource that counts gr's objects:
// count/pods, count/deployments.apps.
func ObjectCountName(gr schema.GroupResource) corev1.ResourceName {
	return generic.ObjectCountQuotaResourceNameFor(gr)
}

// ParseObjectCountName is ObjectCountName's inverse: the resource a
// count/<resource>.<group> name counts, false for other names.
func ParseObjectCountName(name corev1.ResourceName) (schema.GroupResource, bool) {
	rest, ok := strings.CutPrefix(string(name), "count/")
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	resource, group, _ := strings.Cut(rest, ".")
	return schema.GroupResource{Group: group, Resource: resource}, true
}

func lister(list ListFunc, gr schema.GroupResource) generic.ListFuncByNamespace {
	return func(namespace string) ([]runtime.Object, error) {
		if list == nil {
			return nil, ErrNoLister
		}
		return list(gr, namespace)
	}
}

// matchingScopes returns the selectors obj matches, by matches.
func matchingScopes(obj runtime.Object, selectors []corev1.ScopedResourceSelectorRequirement, matches generic.MatchesScopeFunc) ([]corev1.ScopedResourceSelectorRequirement, error) {
	out := []corev1.ScopedResourceSelectorRequirement{}
	for _, s := range selectors {
		ok, err := matches(s, obj)
		if err != nil {
			return []corev1.ScopedResourceSelectorRequirement{}, fmt.Errorf("error on matching scope %v: %w", s, err)
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// uncoveredScopes are the limited scopes no matched quota scope covers
// (by name), as the pod evaluator reports them.
func uncoveredScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) []corev1.ScopedResourceSelectorRequirement {
	out := []corev1.ScopedResourceSelectorRequirement{}
	for _, l := range limited {
		covered := false
		for _, m := range matched {
			if m.ScopeName == l.ScopeName {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, l)
		}
	}
	return out
}
