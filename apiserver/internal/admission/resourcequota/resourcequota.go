// Package resourcequota is Kubernetes' ResourceQuota admission plugin:
// each write that would use more of a namespace's quota (a new object, a
// Service becoming a LoadBalancer, a claim growing) is checked against
// every ResourceQuota of the namespace that matches it, refused with 403
// Forbidden ("exceeded quota: …") when it does not fit, and otherwise
// charged to the quotas' status.used before the object is stored, with
// an optimistic write of each quota (retried on conflict). The resource
// quota controller later recounts, so what deleted objects used comes
// back.
//
// What an object uses is measured by coracle.dev/shared/quota, the
// evaluators the controller counts with; the check itself is
// k8s.io/apiserver's CheckRequest, so messages and rules are
// Kubernetes' own.
package resourcequota

import (
	"context"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	rqadmission "k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/shared/quota"
)

// retries is how often a charge is tried again after a quota changed
// under it (the controller's recount, another apiserver's charge), as
// many as Kubernetes tries.
const retries = 3

// Quotas reads and writes ResourceQuotas.
type Quotas interface {
	// List returns the ResourceQuotas of namespace, as recent as the
	// apiserver's cache has them; the plugin does not modify them.
	List(ctx context.Context, namespace string) ([]*corev1.ResourceQuota, error)
	// Get reads one ResourceQuota from storage, for a fresh copy after
	// a conflict.
	Get(ctx context.Context, namespace, name string) (*corev1.ResourceQuota, error)
	// UpdateStatus writes q's status if q's resourceVersion is still the
	// stored one, and returns the written quota; a Conflict error if
	// the quota changed since.
	UpdateStatus(ctx context.Context, q *corev1.ResourceQuota) (*corev1.ResourceQuota, error)
}

// Options configure the plugin.
type Options struct {
	Quotas Quotas
	// DryRun reports whether the request in ctx is a dry run, which is
	// checked but not charged; nil, no request is.
	DryRun func(ctx context.Context) bool
	// Now is the clock pods' grace periods are measured by; nil,
	// time.Now.
	Now func() time.Time
}

// Admission is the plugin, shared by the admitters of every kind so that
// charges in one namespace are made one at a time.
type Admission struct {
	quotas   Quotas
	dryRun   func(ctx context.Context) bool
	registry quotav1.Registry

	mu sync.Mutex // guards locks and written
	// locks serialise the charges to one namespace's quotas on this
	// apiserver: two pods racing for the last slot of a quota would
	// otherwise both read it free, and one would fail on a conflict it
	// need not have met.
	locks map[string]*sync.Mutex
	// written are the quotas this plugin last wrote, by namespace/name:
	// the cache may not show the write yet when the next request comes,
	// and charging from the older copy would only conflict.
	written map[string]*corev1.ResourceQuota
}

// New returns the plugin.
func New(opts Options) *Admission {
	return &Admission{
		quotas: opts.Quotas, dryRun: opts.DryRun,
		registry: quota.NewRegistry(nil, opts.Now),
		locks:    map[string]*sync.Mutex{},
		written:  map[string]*corev1.ResourceQuota{},
	}
}

// Admitter judges the writes of one kind.
type Admitter struct {
	a         *Admission
	desc      *apiresource.Descriptor
	evaluator quotav1.Evaluator
}

// For returns the admitter of d's kind, nil for the kinds quota never
// counts (cluster-scoped ones, events, the review kinds).
func (a *Admission) For(d *apiresource.Descriptor) *Admitter {
	gr := d.GroupResource()
	if !d.Namespaced || d.Virtual() || quota.Ignored(gr) {
		return nil
	}
	e := a.registry.Get(gr)
	if e == nil {
		e = quota.ObjectCountEvaluator(gr, nil)
	}
	return &Admitter{a: a, desc: d, evaluator: e}
}

// AdmitCreate implements genericstore.Admitter: quota does nothing
// before validation.
func (k *Admitter) AdmitCreate(context.Context, runtime.Object) error { return nil }

// ValidateCreate implements genericstore.CreateValidator: a new object
// is charged once it is valid and every mutating plugin is done with it,
// as Kubernetes runs this plugin last.
func (k *Admitter) ValidateCreate(ctx context.Context, obj runtime.Object) error {
	return k.admit(ctx, admission.Create, "", obj, nil)
}

// AdmitUpdate implements genericstore.UpdateAdmitter.
func (k *Admitter) AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	return k.admit(ctx, admission.Update, subresource, obj, old)
}

func (k *Admitter) admit(ctx context.Context, op admission.Operation, sub string, obj, old runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetNamespace() == "" {
		return nil
	}
	ns := m.GetNamespace()
	dryRun := k.a.dryRun != nil && k.a.dryRun(ctx)
	attrs := admission.NewAttributesRecord(obj, old, k.desc.GVK(), ns, m.GetName(),
		k.desc.GroupVersion().WithResource(k.desc.Resource), sub, op, nil, dryRun, nil)
	if !k.evaluator.Handles(attrs) {
		return nil
	}
	unlock := k.a.lock(ns)
	defer unlock()
	quotas, err := k.a.current(ctx, ns)
	if err != nil || len(quotas) == 0 {
		return err
	}
	for attempt := 0; ; attempt++ {
		charged, err := rqadmission.CheckRequest(quotas, attrs, k.evaluator, nil)
		if err != nil || dryRun {
			return err
		}
		var failed []string
		var lastErr error
		for i := range charged {
			if quotav1.Equals(quotas[i].Status.Used, charged[i].Status.Used) {
				continue
			}
			written, err := k.a.quotas.UpdateStatus(ctx, &charged[i])
			if err != nil {
				failed, lastErr = append(failed, charged[i].Name), err
				continue
			}
			k.a.remember(written)
		}
		if len(failed) == 0 {
			return nil
		}
		if attempt == retries {
			return lastErr
		}
		// The quotas charged are done; only those that changed under
		// the charge are read again and judged anew.
		if quotas, err = k.a.fresh(ctx, ns, failed); err != nil {
			return err
		}
	}
}

// lock takes the namespace's lock and returns its release.
func (a *Admission) lock(ns string) func() {
	a.mu.Lock()
	l, ok := a.locks[ns]
	if !ok {
		l = &sync.Mutex{}
		a.locks[ns] = l
	}
	a.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// current returns copies of the namespace's quotas, each the newer of
// the cache's and the one this plugin last wrote.
func (a *Admission) current(ctx context.Context, ns string) ([]corev1.ResourceQuota, error) {
	items, err := a.quotas.List(ctx, ns)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]corev1.ResourceQuota, 0, len(items))
	listed := map[string]bool{}
	for _, q := range items {
		key := q.Namespace + "/" + q.Name
		listed[key] = true
		if w, ok := a.written[key]; ok {
			if w.UID == q.UID && newer(w, q) {
				q = w
			} else {
				// The cache has caught up (or the quota was replaced).
				delete(a.written, key)
			}
		}
		out = append(out, *q.DeepCopy())
	}
	for key, w := range a.written {
		if w.Namespace == ns && !listed[key] {
			delete(a.written, key)
		}
	}
	return out, nil
}

// fresh reads the named quotas from storage; those gone are left out.
func (a *Admission) fresh(ctx context.Context, ns string, names []string) ([]corev1.ResourceQuota, error) {
	var out []corev1.ResourceQuota
	for _, name := range names {
		q, err := a.quotas.Get(ctx, ns, name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *q.DeepCopy())
	}
	return out, nil
}

func (a *Admission) remember(q *corev1.ResourceQuota) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.written[q.Namespace+"/"+q.Name] = q.DeepCopy()
}

// newer reports whether a was written after b: resourceVersions are
// etcd revisions, which only grow.
func newer(a, b *corev1.ResourceQuota) bool {
	ra, errA := strconv.ParseInt(a.ResourceVersion, 10, 64)
	rb, errB := strconv.ParseInt(b.ResourceVersion, 10, 64)
	return errA == nil && errB == nil && ra > rb
}
