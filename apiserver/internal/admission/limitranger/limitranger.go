// Package limitranger is Kubernetes' LimitRanger admission plugin
// (plugin/pkg/admission/limitranger): it gives a new pod's containers
// the default requests and limits of the namespace's LimitRanges, then
// refuses pods, containers and PersistentVolumeClaims outside their
// minimums, maximums and limit-to-request ratios, with 403 Forbidden and
// Kubernetes' messages.
package limitranger

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Annotation records on a pod which defaults the plugin set.
const Annotation = "kubernetes.io/limit-ranger"

// LimitRanges reads a namespace's LimitRanges.
type LimitRanges interface {
	// List returns the LimitRanges of namespace; the plugin does not
	// modify them.
	List(ctx context.Context, namespace string) ([]*corev1.LimitRange, error)
}

// LimitRanger is the admission plugin, for pods and
// PersistentVolumeClaims.
type LimitRanger struct {
	Ranges LimitRanges
}

var (
	podsResource = schema.GroupResource{Resource: "pods"}
	pvcsResource = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// AdmitCreate defaults and checks a new pod, and checks a new claim.
func (l *LimitRanger) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		ranges, err := l.Ranges.List(ctx, o.Namespace)
		if err != nil || len(ranges) == 0 {
			return err
		}
		for _, lr := range ranges {
			DefaultPod(lr, o)
		}
		return forbidden(podsResource, o.Name, ranges, func(lr *corev1.LimitRange) error { return ValidatePod(lr, o) })
	case *corev1.PersistentVolumeClaim:
		return l.checkClaim(ctx, o)
	}
	return nil
}

// AdmitUpdate checks a claim's new size. A pod's containers cannot
// change after creation, so its updates are not judged again; nor is
// anything already being deleted.
func (l *LimitRanger) AdmitUpdate(ctx context.Context, subresource string, obj, old runtime.Object) error {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || subresource != "" {
		return nil
	}
	if oldPVC, ok := old.(*corev1.PersistentVolumeClaim); ok && oldPVC.DeletionTimestamp != nil {
		return nil
	}
	return l.checkClaim(ctx, pvc)
}

func (l *LimitRanger) checkClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	ranges, err := l.Ranges.List(ctx, pvc.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	return forbidden(pvcsResource, pvc.Name, ranges, func(lr *corev1.LimitRange) error { return ValidateClaim(lr, pvc) })
}

// forbidden runs check against each LimitRange and turns the first
// failure into Kubernetes' 403.
func forbidden(gr schema.GroupResource, name string, ranges []*corev1.LimitRange, check func(*corev1.LimitRange) error) error {
	for _, lr := range ranges {
		if err := check(lr); err != nil {
			return apierrors.NewForbidden(gr, name, err)
		}
	}
	return nil
}

// DefaultPod gives each container of pod the Container defaults of lr it
// does not set itself, and records what it set in the pod's
// kubernetes.io/limit-ranger annotation.
func DefaultPod(lr *corev1.LimitRange, pod *corev1.Pod) {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range item.DefaultRequest {
			requests[k] = v.DeepCopy()
		}
		for k, v := range item.Default {
			limits[k] = v.DeepCopy()
		}
	}
	var notes []string
	for i := range pod.Spec.Containers {
		notes = defaultContainer(&pod.Spec.Containers[i], requests, limits, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = defaultContainer(&pod.Spec.InitContainers[i], requests, limits, "init container", notes)
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

func defaultContainer(c *corev1.Container, requests, limits corev1.ResourceList, what string, notes []string) []string {
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	fill := func(dst, src corev1.ResourceList) []string {
		var set []string
		for k, v := range src {
			if _, ok := dst[k]; !ok {
				dst[k] = v.DeepCopy()
				set = append(set, string(k))
			}
		}
		sort.Strings(set)
		return set
	}
	setLimits := fill(c.Resources.Limits, limits)
	if set := fill(c.Resources.Requests, requests); len(set) > 0 {
		notes = append(notes, strings.Join(set, ", ")+fmt.Sprintf(" request for %s %s", what, c.Name))
	}
	if len(setLimits) > 0 {
		notes = append(notes, strings.Join(setLimits, ", ")+fmt.Sprintf(" limit for %s %s", what, c.Name))
	}
	return notes
}

// ValidatePod checks pod's containers against lr's Container limits and
// the whole pod against its Pod limits; the error names every breach.
func ValidatePod(lr *corev1.LimitRange, pod *corev1.Pod) error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
				for i := range cs {
					errs = append(errs, checkItem(item, cs[i].Resources.Requests, cs[i].Resources.Limits)...)
				}
			}
		case corev1.LimitTypePod:
			// The pod's total as the scheduler sees it, from the spec
			// alone and without overhead.
			opts := resourcehelper.PodResourcesOptions{ExcludeOverhead: true}
			errs = append(errs, checkItem(item, resourcehelper.PodRequests(pod, opts), resourcehelper.PodLimits(pod, opts))...)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// checkItem checks requests and limits against one item's min, max and
// ratio, in Kubernetes' order.
func checkItem(item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []error {
	var errs []error
	t := string(item.Type)
	for _, k := range sortedNames(item.Min) {
		if err := minConstraint(t, k, item.Min[k], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedNames(item.Max) {
		if err := maxConstraint(t, k, item.Max[k], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedNames(item.MaxLimitRequestRatio) {
		if err := ratioConstraint(t, k, item.MaxLimitRequestRatio[k], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ValidateClaim checks a claim's requested storage against lr's
// PersistentVolumeClaim limits; claims get no defaults, and their
// limits are not user input.
func ValidateClaim(lr *corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		t := string(item.Type)
		for _, k := range sortedNames(item.Min) {
			if err := minConstraint(t, k, item.Min[k], pvc.Spec.Resources.Requests, corev1.ResourceList{}); err != nil {
				errs = append(errs, err)
			}
		}
		for _, k := range sortedNames(item.Max) {
			if err := maxRequestConstraint(t, k, item.Max[k], pvc.Spec.Resources.Requests); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return utilerrors.NewAggregate(errs)
}

// comparable returns request, limit and the enforced value at a common
// precision: thousandths when none overflows, else units.
func comparable(request, limit, enforced resource.Quantity) (int64, int64, int64) {
	r, l, e := request.Value(), limit.Value(), enforced.Value()
	if r <= resource.MaxMilliValue && l <= resource.MaxMilliValue && e <= resource.MaxMilliValue {
		return request.MilliValue(), limit.MilliValue(), enforced.MilliValue()
	}
	return r, l, e
}

func minConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, e := comparable(req, lim, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	case hasLim && l < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	}
	return nil
}

// maxRequestConstraint is the max check for kinds that have only
// requests (claims).
func maxRequestConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, hasReq := requests[name]
	r, _, e := comparable(req, resource.Quantity{}, enforced)
	switch {
	case !hasReq:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func maxConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, e := comparable(req, lim, enforced)
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, limitType, enforced.String())
	case l > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	case hasReq && r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	r, l, _ := comparable(req, lim, enforced)
	if !hasReq || r == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, limitType, enforced.String())
	}
	if !hasLim || l == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, limitType, enforced.String())
	}
	observed := float64(l) / float64(r)
	shown := observed
	maxRatio := float64(enforced.Value())
	if enforced.Value() <= resource.MaxMilliValue {
		observed *= 1000
		maxRatio = float64(enforced.MilliValue())
	}
	if observed > maxRatio {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, limitType, enforced.String(), shown)
	}
	return nil
}

// sortedNames gives a list's names in order, so that a pod breaking
// several limits always reads the same message.
func sortedNames(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for k := range list {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
