// Package namespace is the namespace controller: when a namespace is
// deleted (it turns Terminating, with the "kubernetes" finalizer in
// spec.finalizers), it deletes every object in it, of every namespaced
// resource discovery lists; once nothing remains it removes the
// finalizer through /finalize and the apiserver deletes the namespace.
//
// The content goes in waves, as Kubernetes' ordered namespace deletion
// (KEP-5080): first the pods, and the rest only once no pod remains, so
// that what a running pod relies on or is fenced by (its ConfigMaps and
// Secrets, its ServiceAccount, the NetworkPolicies around it) outlives
// it. Meanwhile the namespace's conditions say what is left, in
// upstream's words.
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// podsResource is the resource whose objects go first.
var podsResource = schema.GroupResource{Resource: "pods"}

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

// Resource is a namespaced resource the controller deletes the objects
// of, with the collection verbs discovery says it supports.
type Resource struct {
	schema.GroupVersionResource
	// List and DeleteCollection are whether the resource supports them;
	// every Resource supports delete.
	List, DeleteCollection bool
}

// Waves orders the resources for deletion: the pods alone first, then
// everything else (sorted, so that passes are alike). A wave starts only
// once the one before it has left nothing, not even objects that are
// being deleted (a terminating pod still runs), and failed nowhere (a
// pod list that failed does not say the pods are gone).
func Waves(resources []Resource) [][]Resource {
	var pods, rest []Resource
	for _, r := range resources {
		if r.GroupResource() == podsResource {
			pods = append(pods, r)
		} else {
			rest = append(rest, r)
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		a, b := rest[i].GroupVersionResource, rest[j].GroupVersionResource
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Resource < b.Resource
	})
	var waves [][]Resource
	for _, w := range [][]Resource{pods, rest} {
		if len(w) > 0 {
			waves = append(waves, w)
		}
	}
	return waves
}

// Remaining is what a pass over a terminating namespace found left.
type Remaining struct {
	// Resources counts the objects left per resource.
	Resources map[schema.GroupResource]int
	// Finalizers counts the objects left per finalizer they carry.
	Finalizers map[string]int
	// DiscoveryFailed and GroupVersionFailed describe a discovery that
	// failed, wholly or for some groups, or listed a group version that
	// does not parse.
	DiscoveryFailed    string
	GroupVersionFailed string
	// DeleteFailed holds the errors of deleting and listing content.
	DeleteFailed []string
}

// clear is whether nothing is left of what the pass has looked at so
// far and nothing failed: the next wave may start.
func (r *Remaining) clear() bool {
	return len(r.Resources) == 0 && len(r.DeleteFailed) == 0
}

// Plan is what a pass over a terminating namespace leads to.
type Plan struct {
	// Finalize is whether the content is all gone: the controller
	// removes its finalizer.
	Finalize bool
	// Conditions are the namespace's deletion conditions, one of each
	// type the controller owns, in upstream's order and words.
	Conditions []corev1.NamespaceCondition
}

// conditionTypes are the namespace conditions the controller owns, and
// what each says when all is well.
var conditionTypes = []struct {
	t               corev1.NamespaceConditionType
	reason, message string
}{
	{corev1.NamespaceDeletionDiscoveryFailure, "ResourcesDiscovered", "All resources successfully discovered"},
	{corev1.NamespaceDeletionGVParsingFailure, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
	{corev1.NamespaceDeletionContentFailure, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	{corev1.NamespaceContentRemaining, "ContentRemoved", "All content successfully removed"},
	{corev1.NamespaceFinalizersRemaining, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// Decide is the pure part: whether the namespace can be finalized, and
// the conditions that describe its deletion. While pods remain, the
// conditions name them (upstream v1.37 reports "All content successfully
// removed" then, kubernetes/kubernetes#138208; we say what is there).
func Decide(r Remaining, now metav1.Time) Plan {
	bad := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	set := func(t corev1.NamespaceConditionType, reason, msg string) {
		bad[t] = corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now}
	}
	if r.DiscoveryFailed != "" {
		set(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", r.DiscoveryFailed)
	}
	if r.GroupVersionFailed != "" {
		set(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", r.GroupVersionFailed)
	}
	if len(r.DeleteFailed) > 0 {
		msgs := append([]string(nil), r.DeleteFailed...)
		sort.Strings(msgs)
		set(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(msgs), strings.Join(msgs, ", ")))
	}
	if len(r.Resources) > 0 {
		var parts []string
		for gr, n := range r.Resources {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gr.Resource, gr.Group, n))
		}
		sort.Strings(parts)
		set(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(r.Finalizers) > 0 {
		var parts []string
		for f, n := range r.Finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		set(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
	plan := Plan{Finalize: len(bad) == 0}
	for _, ct := range conditionTypes {
		c, ok := bad[ct.t]
		if !ok {
			c = corev1.NamespaceCondition{Type: ct.t, Status: corev1.ConditionFalse, Reason: ct.reason, Message: ct.message, LastTransitionTime: now}
		}
		plan.Conditions = append(plan.Conditions, c)
	}
	return plan
}

// mergeConditions writes want over have and reports whether anything
// changed. A condition keeps its lastTransitionTime while its status
// stays.
func mergeConditions(have, want []corev1.NamespaceCondition) ([]corev1.NamespaceCondition, bool) {
	out := append([]corev1.NamespaceCondition(nil), have...)
	changed := false
	for _, w := range want {
		i := 0
		for i < len(out) && out[i].Type != w.Type {
			i++
		}
		if i == len(out) {
			out = append(out, w)
			changed = true
			continue
		}
		h := &out[i]
		if h.Status == w.Status && h.Reason == w.Reason && h.Message == w.Message {
			continue
		}
		if h.Status == w.Status {
			w.LastTransitionTime = h.LastTransitionTime
		}
		*h = w
		changed = true
	}
	return out, changed
}

// graceLeft is how many seconds of pods' graceful termination may still
// be running: the longest grace period of the pods not yet finished,
// unless the namespace has been deleted for longer than that. Pods
// within it are expected to remain, as upstream estimates.
func graceLeft(pods []unstructured.Unstructured, deletedAt, now time.Time) int64 {
	var longest int64
	for _, p := range pods {
		phase, _, _ := unstructured.NestedString(p.Object, "status", "phase")
		if phase == string(corev1.PodSucceeded) || phase == string(corev1.PodFailed) {
			continue
		}
		if g, ok, _ := unstructured.NestedInt64(p.Object, "spec", "terminationGracePeriodSeconds"); ok && g > longest {
			longest = g
		}
	}
	if now.Sub(deletedAt) >= time.Duration(longest)*time.Second {
		return 0
	}
	return longest
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
	remaining := c.deleteContent(ctx, ns)
	plan := Decide(remaining, metav1.NewTime(c.clock.Now()))
	ns, err = c.updateConditions(ctx, ns, plan.Conditions)
	if err != nil || ns == nil {
		return err
	}
	if !plan.Finalize {
		c.log.Debug("namespace content remaining", zap.String("namespace", name), zap.Any("conditions", plan.Conditions))
		c.EnqueueAfter(name, recheck)
		return nil
	}
	return c.finalize(ctx, ns)
}

// deleteContent deletes the namespace's objects wave by wave and reports
// what is left; a wave that leaves anything, or fails, holds back the
// next until a later pass.
func (c *Controller) deleteContent(ctx context.Context, ns *corev1.Namespace) Remaining {
	r := Remaining{Resources: map[schema.GroupResource]int{}, Finalizers: map[string]int{}}
	resources, err := c.discover(&r)
	if err != nil {
		return r
	}
	for _, wave := range Waves(resources) {
		for _, res := range wave {
			c.deleteResource(ctx, ns, res, &r)
		}
		if !r.clear() {
			break
		}
	}
	return r
}

// discover lists the namespaced resources whose objects can be deleted.
// Discovery that failed for some groups is reported but not fatal: the
// others are emptied meanwhile.
func (c *Controller) discover(r *Remaining) ([]Resource, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if errors.As(err, &gdf) {
			r.DiscoveryFailed = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(gdf.Groups), err)
		} else {
			r.DiscoveryFailed = err.Error()
		}
		if len(lists) == 0 {
			return nil, err
		}
	}
	var out []Resource
	var badGVs []string
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			badGVs = append(badGVs, err.Error())
			continue
		}
		for _, res := range list.APIResources {
			verbs := sets.New(res.Verbs...)
			if !verbs.Has("delete") || strings.Contains(res.Name, "/") {
				continue
			}
			out = append(out, Resource{
				GroupVersionResource: gv.WithResource(res.Name),
				List:                 verbs.Has("list"),
				DeleteCollection:     verbs.Has("deletecollection"),
			})
		}
	}
	r.GroupVersionFailed = strings.Join(badGVs, "; ")
	return out, nil
}

// deleteResource deletes the objects of one resource in the namespace
// and adds what is left of them to r.
func (c *Controller) deleteResource(ctx context.Context, ns *corev1.Namespace, res Resource, r *Remaining) {
	fail := func(err error) {
		if res.GroupResource() == podsResource {
			err = fmt.Errorf("failed to delete pods for namespace: %s, err: %w", ns.Name, err)
		}
		r.DeleteFailed = append(r.DeleteFailed, err.Error())
	}
	client := c.dynamic.Resource(res.GroupVersionResource).Namespace(ns.Name)
	collected := false
	if res.DeleteCollection {
		err := client.DeleteCollection(ctx, deleteOptions(nil), metav1.ListOptions{})
		if err != nil && !notSupported(err) {
			fail(err)
			return
		}
		collected = err == nil
	}
	if !res.List {
		// Nothing to delete by name or to count.
		return
	}
	if !collected {
		if err := deleteEach(ctx, client); err != nil {
			fail(err)
			return
		}
	}
	items, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		if !notSupported(err) {
			fail(err)
		}
		return
	}
	if len(items.Items) == 0 {
		return
	}
	r.Resources[res.GroupResource()] += len(items.Items)
	held := false
	for _, item := range items.Items {
		for _, f := range item.GetFinalizers() {
			r.Finalizers[f]++
			held = true
		}
	}
	// Objects left with no finalizer to wait for and no grace period
	// running are unexpected: something keeps them.
	if !held && (res.GroupResource() != podsResource || graceLeft(items.Items, ns.DeletionTimestamp.Time, c.clock.Now()) == 0) {
		fail(fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, res.GroupVersionResource))
	}
}

// deleteEach deletes one by one the objects of a resource that has no
// collection delete; those already being deleted are left to finish.
func deleteEach(ctx context.Context, client dynamic.ResourceInterface) error {
	items, err := client.List(ctx, metav1.ListOptions{})
	if notSupported(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, item := range items.Items {
		if item.GetDeletionTimestamp() != nil {
			continue
		}
		// Only the object listed, should the list be stale.
		uid := item.GetUID()
		err := client.Delete(ctx, item.GetName(), deleteOptions(&metav1.Preconditions{UID: &uid}))
		if err != nil && !notSupported(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// notSupported is whether err says the resource does not serve a verb.
// A resource discovery lists may still answer a collection verb with
// 404 rather than 405, as upstream notes (kubernetes#22413).
func notSupported(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

// deleteOptions are those of every deletion: background propagation, so
// that the garbage collector adds no orphan finalizer to what the
// controller deletes generically (it deletes the dependents itself).
func deleteOptions(pre *metav1.Preconditions) metav1.DeleteOptions {
	background := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: pre}
}

// updateConditions writes conds and returns the namespace as written; nil
// when it changed or went meanwhile (its next event brings us back).
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, conds []corev1.NamespaceCondition) (*corev1.Namespace, error) {
	merged, changed := mergeConditions(ns.Status.Conditions, conds)
	if !changed {
		return ns, nil
	}
	next := ns.DeepCopy()
	next.Status.Conditions = merged
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
