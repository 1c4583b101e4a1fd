// Package namespace is the namespace controller: when a namespace is
// deleted (it turns Terminating, with the "kubernetes" finalizer in
// spec.finalizers), it deletes every object in it, of every namespaced
// resource discovery lists; once nothing remains it removes the
// finalizer through /finalize and the apiserver deletes the namespace.
// Meanwhile the namespace's conditions say what is left.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "namespace-controller"

// recheck is how soon a namespace whose content is still going is
// looked at again.
const recheck = time.Second

// Controller empties and finalizes deleted namespaces.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	lister    corelisters.NamespaceLister
	log       *zap.Logger
	clock     clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	inf := c.Informers.Core().V1().Namespaces()
	ctl := &Controller{
		client: c.Client, dynamic: c.Dynamic, discovery: c.Discovery,
		lister: inf.Lister(), log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, ctl.Watch(inf.Informer(), ctl.Objects())
}

// Remaining is what a pass over a terminating namespace found left.
type Remaining struct {
	// Resources counts the objects left per resource ("pods", "deployments.apps").
	Resources map[string]int
	// Finalizers counts the objects left per finalizer they carry.
	Finalizers map[string]int
	// DiscoveryFailed and DeleteFailed describe errors of the pass.
	DiscoveryFailed string
	DeleteFailed    string
}

// Decide is the pure part: whether the namespace can be finalized, and
// the conditions that describe its deletion.
func Decide(r Remaining, now metav1.Time) (bool, []corev1.NamespaceCondition) {
	cond := func(t corev1.NamespaceConditionType, ok bool, reasonOK, reasonBad, msg string) corev1.NamespaceCondition {
		if ok {
			return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: reasonOK, LastTransitionTime: now}
		}
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: reasonBad, Message: msg, LastTransitionTime: now}
	}
	conds := []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, r.DiscoveryFailed == "", "ResourcesDiscovered", "DiscoveryFailed", r.DiscoveryFailed),
		cond(corev1.NamespaceDeletionGVParsingFailure, true, "ParsedGroupVersions", "", ""),
		cond(corev1.NamespaceDeletionContentFailure, r.DeleteFailed == "", "ContentDeleted", "ContentDeletionFailed", r.DeleteFailed),
		cond(corev1.NamespaceContentRemaining, len(r.Resources) == 0, "ContentRemoved", "SomeResourcesRemain",
			"Some resources are remaining: "+summarize(r.Resources, "resource instances")),
		cond(corev1.NamespaceFinalizersRemaining, len(r.Finalizers) == 0, "ContentHasNoFinalizers", "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+summarize(r.Finalizers, "resource instances")),
	}
	done := len(r.Resources) == 0 && r.DiscoveryFailed == "" && r.DeleteFailed == ""
	return done, conds
}

func summarize(m map[string]int, unit string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s has %d %s", k, m[k], unit))
	}
	return strings.Join(parts, ", ")
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if !hasFinalizer(ns) {
		// Our part is done; the apiserver deletes it once the other
		// finalizers are gone.
		return nil
	}
	remaining := c.deleteContent(ctx, name)
	done, conds := Decide(remaining, metav1.NewTime(c.clock.Now()))
	ns, err = c.updateConditions(ctx, ns, conds)
	if err != nil || ns == nil {
		return err
	}
	if !done {
		c.log.Debug("namespace content remaining", zap.String("namespace", name), zap.Any("resources", remaining.Resources))
		c.EnqueueAfter(name, recheck)
		return nil
	}
	return c.finalize(ctx, ns)
}

// deleteContent deletes the objects of every namespaced resource in the
// namespace and reports what is left.
func (c *Controller) deleteContent(ctx context.Context, namespace string) Remaining {
	r := Remaining{Resources: map[string]int{}, Finalizers: map[string]int{}}
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gdf) || len(lists) == 0 {
			r.DiscoveryFailed = err.Error()
			return r
		}
		r.DiscoveryFailed = err.Error()
	}
	var failures []string
	background := metav1.DeletePropagationBackground
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range list.APIResources {
			verbs := sets.New(res.Verbs...)
			if !verbs.Has("list") || !verbs.Has("delete") || strings.Contains(res.Name, "/") {
				continue
			}
			gvr := gv.WithResource(res.Name)
			client := c.dynamic.Resource(gvr).Namespace(namespace)
			opts := metav1.DeleteOptions{PropagationPolicy: &background}
			if verbs.Has("deletecollection") {
				if err := client.DeleteCollection(ctx, opts, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
					failures = append(failures, fmt.Sprintf("%s: %v", gvr.GroupResource(), err))
				}
			}
			items, err := client.List(ctx, metav1.ListOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) {
					failures = append(failures, fmt.Sprintf("%s: %v", gvr.GroupResource(), err))
				}
				continue
			}
			if len(items.Items) == 0 {
				continue
			}
			r.Resources[gvr.GroupResource().String()] = len(items.Items)
			for _, item := range items.Items {
				for _, f := range item.GetFinalizers() {
					r.Finalizers[f]++
				}
				if item.GetDeletionTimestamp() != nil {
					continue
				}
				uid := item.GetUID()
				o := opts
				o.Preconditions = &metav1.Preconditions{UID: &uid}
				if err := client.Delete(ctx, item.GetName(), o); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					failures = append(failures, fmt.Sprintf("%s %s: %v", gvr.GroupResource(), item.GetName(), err))
				}
			}
		}
	}
	if len(failures) > 0 {
		r.DeleteFailed = strings.Join(failures, "; ")
	}
	return r
}

// updateConditions writes conds and returns the namespace as written; nil
// when it changed or went meanwhile (its next event brings us back).
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, conds []corev1.NamespaceCondition) (*corev1.Namespace, error) {
	next := ns.DeepCopy()
	changed := false
	for _, want := range conds {
		found := false
		for i := range next.Status.Conditions {
			have := &next.Status.Conditions[i]
			if have.Type != want.Type {
				continue
			}
			found = true
			if have.Status != want.Status || have.Reason != want.Reason || have.Message != want.Message {
				*have = want
				changed = true
			}
		}
		if !found {
			next.Status.Conditions = append(next.Status.Conditions, want)
			changed = true
		}
	}
	if !changed {
		return ns, nil
	}
	updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update namespace %s status: %w", ns.Name, err)
	}
	return updated, nil
}

// finalize removes the "kubernetes" finalizer; the apiserver deletes the
// namespace once its finalizers are all gone.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	next := ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range next.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	next.Spec.Finalizers = keep
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	// Delete again: an apiserver that keeps a finalized namespace until
	// the next delete removes it now.
	if err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete finalized namespace %s: %w", ns.Name, err)
	}
	c.log.Info("namespace deleted", zap.String("namespace", ns.Name))
	return nil
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
