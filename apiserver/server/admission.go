package server

import (
	"context"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/admission"
	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/rbac"
	"coracle.dev/apiserver/internal/serviceaccount"
	"coracle.dev/apiserver/internal/watchcache"
)

// priorityClasses reads PriorityClasses for the Priority admission from
// the registry.
type priorityClasses struct{ s *Server }

var _ admission.PriorityClasses = priorityClasses{}

func (p priorityClasses) Get(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	obj, err := p.s.store("scheduling.k8s.io", "priorityclasses").Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*schedulingv1.PriorityClass), nil
}

func (p priorityClasses) GlobalDefault(context.Context) (*schedulingv1.PriorityClass, error) {
	items, _ := p.s.store("scheduling.k8s.io", "priorityclasses").Cache().List(watchcache.Predicate{Field: fields.Everything()})
	var best *schedulingv1.PriorityClass
	for _, obj := range items {
		pc := obj.(*schedulingv1.PriorityClass)
		// Of several global defaults, Kubernetes takes the lowest value.
		if pc.GlobalDefault && (best == nil || pc.Value < best.Value) {
			best = pc
		}
	}
	return best, nil
}

// admitters are the admission plugins of d's kind, in kube-apiserver's
// order, less those disabled.
func (s *Server) admitters(d *apiresource.Descriptor) []genericstore.Admitter {
	on := func(name string) bool { return !slices.Contains(s.cfg.DisableAdmissionPlugins, name) }
	var out []genericstore.Admitter
	if a := s.limitRanger(d, on); a != nil {
		out = append(out, a)
	}
	if s.restriction != nil && on(AdmissionNodeRestriction) && restricted[d.GroupResource()] {
		out = append(out, s.restriction)
	}
	if d.Group == rbacv1.GroupName && s.rbac != nil {
		// Not a plugin upstream but the RBAC storage itself: always on.
		out = append(out, rbac.EscalationCheck{Authorizer: authorizer{s}, Rules: s.rbac})
	}
	if d.Group == "" && d.Resource == "pods" {
		if on(AdmissionServiceAccount) {
			out = append(out, &serviceaccount.Admission{Get: objectGetter{s}.GetServiceAccount})
		}
		if on(AdmissionPriority) {
			out = append(out, &admission.Priority{Classes: priorityClasses{s}})
		}
		if on(AdmissionDefaultTolerationSeconds) {
			out = append(out, admission.DefaultTolerations{})
		}
	}
	// The webhooks come after the built-in plugins, as in kube-apiserver.
	if a := s.webhookAdmitter(d, on); a != nil {
		out = append(out, a)
	}
	// ResourceQuota last, as in kube-apiserver: it charges the object as
	// every other plugin has left it.
	if a := s.quotaAdmitter(d, on); a != nil {
		out = append(out, a)
	}
	return out
}

// restricted are the kinds NodeRestriction judges.
var restricted = map[schema.GroupResource]bool{
	{Resource: "pods"}: true, {Resource: "nodes"}: true, {Resource: "persistentvolumeclaims"}: true,
	{Group: "coordination.k8s.io", Resource: "leases"}:                     true,
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}: true,
}
