package server

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/admission/limitranger"
	"coracle.dev/apiserver/internal/admission/resourcequota"
	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// quotas reads ResourceQuotas for the ResourceQuota admission from the
// watch cache, and writes their status through the store, as the
// /status subresource does.
type quotas struct{ s *Server }

var _ resourcequota.Quotas = quotas{}

func (q quotas) List(ctx context.Context, namespace string) ([]*corev1.ResourceQuota, error) {
	items, err := q.s.listFresh(ctx, "", "resourcequotas", namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ResourceQuota, len(items))
	for i, obj := range items {
		out[i] = obj.(*corev1.ResourceQuota)
	}
	return out, nil
}

func (q quotas) Get(ctx context.Context, namespace, name string) (*corev1.ResourceQuota, error) {
	obj, err := q.s.store("", "resourcequotas").Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ResourceQuota), nil
}

// UpdateStatus writes rq's status; rq's resourceVersion pins the write,
// so a quota changed since it was read is a Conflict.
func (q quotas) UpdateStatus(ctx context.Context, rq *corev1.ResourceQuota) (*corev1.ResourceQuota, error) {
	res, err := q.s.store("", "resourcequotas").Update(ctx, rq.Namespace, rq.Name, func(runtime.Object) (runtime.Object, error) {
		return rq.DeepCopy(), nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	if err != nil {
		return nil, err
	}
	return res.Object.(*corev1.ResourceQuota), nil
}

// limitRanges reads LimitRanges for the LimitRanger admission from the
// watch cache.
type limitRanges struct{ s *Server }

var _ limitranger.LimitRanges = limitRanges{}

func (l limitRanges) List(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	items, err := l.s.listFresh(ctx, "", "limitranges", namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.LimitRange, len(items))
	for i, obj := range items {
		out[i] = obj.(*corev1.LimitRange)
	}
	return out, nil
}

// listFresh lists a core/v1 kind's objects in namespace from the watch
// cache once it shows this apiserver's own writes of the kind (a quota
// just counted, a LimitRange just made must apply to the next request),
// or from storage when the cache lags by more than a moment.
func (s *Server) listFresh(ctx context.Context, group, resource, namespace string) ([]runtime.Object, error) {
	st := s.store(group, resource)
	c := st.Cache()
	if rev := st.LastWrite(); c.Ready() && (rev <= c.Revision() || c.WaitForRevision(ctx, rev, admissionFreshWait) == nil) {
		items, _ := c.List(watchcache.Predicate{Namespace: namespace})
		return items, nil
	}
	list, err := st.List(ctx, genericstore.ListOptions{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	return meta.ExtractList(list)
}

// admissionFreshWait bounds how long an admission waits for the cache to show
// this apiserver's own writes before it reads storage.
const admissionFreshWait = time.Second

// limitRanger is the LimitRanger admission of d's kind: pods and
// PersistentVolumeClaims; nil for the others or when disabled.
func (s *Server) limitRanger(d *apiresource.Descriptor, on func(string) bool) genericstore.Admitter {
	if !on(AdmissionLimitRanger) || d.Group != "" || (d.Resource != "pods" && d.Resource != "persistentvolumeclaims") {
		return nil
	}
	return &limitranger.LimitRanger{Ranges: limitRanges{s}}
}

// quotaAdmitter is the ResourceQuota admission of d's kind; nil for the
// kinds quota does not count or when disabled. Every kind's admitter
// shares one plugin, which charges a namespace's quotas one request at a
// time.
func (s *Server) quotaAdmitter(d *apiresource.Descriptor, on func(string) bool) genericstore.Admitter {
	if !on(AdmissionResourceQuota) {
		return nil
	}
	if s.quota == nil {
		s.quota = resourcequota.New(resourcequota.Options{Quotas: quotas{s},
			DryRun: func(ctx context.Context) bool { return genericstore.RequestFrom(ctx).DryRun }})
	}
	if a := s.quota.For(d); a != nil {
		return a
	}
	return nil
}
