package server

import (
	"context"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/admission"
	storageadmission "coracle.dev/apiserver/internal/admission/storage"
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
	out = append(out, s.storageAdmitters(d, on)...)
	if d.Group == "" && d.Resource == "pods" && on(AdmissionRuntimeClass) {
		out = append(out, &admission.RuntimeClass{Classes: runtimeClasses{s}})
	}
	if d.Group == networkingv1.GroupName && d.Resource == "ingresses" && on(AdmissionDefaultIngressClass) {
		out = append(out, &admission.DefaultIngressClass{Classes: ingressClasses{s}})
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

// storageAdmitters are the storage plugins of d's kind, in kube-apiserver's
// order: DefaultStorageClass and StorageObjectInUseProtection mutate new
// claims (and volumes), PersistentVolumeClaimResize judges claim updates
// once they are valid.
func (s *Server) storageAdmitters(d *apiresource.Descriptor, on func(string) bool) []genericstore.Admitter {
	if d.Group != "" || (d.Resource != "persistentvolumeclaims" && d.Resource != "persistentvolumes") {
		return nil
	}
	claims := d.Resource == "persistentvolumeclaims"
	var out []genericstore.Admitter
	if claims && on(AdmissionDefaultStorageClass) {
		out = append(out, &storageadmission.DefaultStorageClass{Classes: storageClasses{s}})
	}
	if on(AdmissionStorageObjectInUseProtection) {
		out = append(out, storageadmission.ObjectInUseProtection{})
	}
	if claims && on(AdmissionPersistentVolumeClaimResize) {
		out = append(out, &storageadmission.PersistentVolumeClaimResize{Classes: storageClasses{s}})
	}
	return out
}

// storageClasses reads StorageClasses for the storage admission from the
// watch cache, as kube-apiserver's plugins read them from an informer;
// like listFresh it first waits (briefly) for the cache to show this
// apiserver's own writes, so a class just created is seen by the next
// claim.
type storageClasses struct{ s *Server }

var _ storageadmission.Classes = storageClasses{}

func (c storageClasses) store() *genericstore.Store {
	return c.s.store(storagev1.GroupName, "storageclasses")
}

func (c storageClasses) Get(ctx context.Context, name string) (*storagev1.StorageClass, error) {
	obj, err := c.store().Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*storagev1.StorageClass), nil
}

func (c storageClasses) List(ctx context.Context) ([]*storagev1.StorageClass, error) {
	items, err := c.s.listFresh(ctx, storagev1.GroupName, "storageclasses", "")
	if err != nil {
		return nil, err
	}
	out := make([]*storagev1.StorageClass, len(items))
	for i, obj := range items {
		out[i] = obj.(*storagev1.StorageClass)
	}
	return out, nil
}

// runtimeClasses reads RuntimeClasses for the RuntimeClass admission from
// storage, as Kubernetes' plugin falls back to a live read: a pod created
// right after its class must find it.
type runtimeClasses struct{ s *Server }

var _ admission.RuntimeClasses = runtimeClasses{}

func (c runtimeClasses) Get(ctx context.Context, name string) (*nodev1.RuntimeClass, error) {
	obj, err := c.s.store(nodev1.GroupName, "runtimeclasses").Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*nodev1.RuntimeClass), nil
}

// ingressClasses reads IngressClasses for DefaultIngressClass, fresh as
// storageClasses are.
type ingressClasses struct{ s *Server }

func (c ingressClasses) List(ctx context.Context) ([]*networkingv1.IngressClass, error) {
	items, err := c.s.listFresh(ctx, networkingv1.GroupName, "ingressclasses", "")
	if err != nil {
		return nil, err
	}
	out := make([]*networkingv1.IngressClass, len(items))
	for i, obj := range items {
		out[i] = obj.(*networkingv1.IngressClass)
	}
	return out, nil
}

// restricted are the kinds NodeRestriction judges.
var restricted = map[schema.GroupResource]bool{
	{Resource: "pods"}: true, {Resource: "nodes"}: true, {Resource: "persistentvolumeclaims"}: true,
	{Group: "coordination.k8s.io", Resource: "leases"}:                     true,
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}: true,
}
