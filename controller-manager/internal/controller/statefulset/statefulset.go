// Package statefulset is the StatefulSet controller: pods name-0 …
// name-(N-1) with stable hostnames in the subdomain of the governing
// (headless) Service, one PersistentVolumeClaim per pod and claim
// template (kept when the set scales down), OrderedReady (one at a time,
// in order) or Parallel pod management, and RollingUpdate with a
// partition, or OnDelete.
//
// The apiserver serves no ControllerRevisions, so a revision is the
// template's hash only: a pod below the partition that is deleted comes
// back at the update revision, not the current one.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
)

// Name is the controller's name.
const Name = "statefulset-controller"

// Event reasons, as Kubernetes records them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
)

var kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	sets     appslisters.StatefulSetLister
	owned    controller.OwnedPods
	claims   corelisters.PersistentVolumeClaimLister
	recorder record.EventRecorder
	clock    clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	setInf := c.Informers.Apps().V1().StatefulSets()
	podInf := c.Informers.Core().V1().Pods()
	owned, err := c.OwnedPods()
	if err != nil {
		return nil, err
	}
	pvcInf := c.Informers.Core().V1().PersistentVolumeClaims()
	ctl := &Controller{client: c.Client, sets: setInf.Lister(), owned: owned, claims: pvcInf.Lister(), recorder: c.Recorder, clock: c.Clock}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.WaitFor(pvcInf.Informer())
	return ctl, errors.Join(
		ctl.Watch(setInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.Owners(kind)),
	)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*appsv1.StatefulSet](key, c.sets.StatefulSets)
	if !ok {
		return err
	}
	ns, name := cached.Namespace, cached.Name
	set := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil
	}
	all, err := c.owned.List(ns, set.UID)
	if err != nil {
		return err
	}
	mgr := claim.NewManager(set, kind, selector, claim.PodPatcher(c.client), func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	})
	var members []*corev1.Pod
	for _, p := range all {
		// Only pods named as members are adopted.
		if Ordinal(set, p) >= 0 {
			members = append(members, p)
		}
	}
	pods, claimErr := claim.Claim(ctx, mgr, members)
	revision := Revision(set)
	var manageErr error
	if set.DeletionTimestamp == nil {
		manageErr = c.act(ctx, set, Decide(set, pods, revision), revision)
	}
	st := Status(set, pods, revision, c.clock.Now())
	if !reflect.DeepEqual(st, set.Status) {
		set.Status = st
		if _, err := c.client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update statefulset %s status: %w", key, err)
		}
	}
	if set.Spec.MinReadySeconds > 0 && st.ReadyReplicas != st.AvailableReplicas {
		c.EnqueueAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(claimErr, manageErr)
}

func (c *Controller) act(ctx context.Context, set *appsv1.StatefulSet, plan Plan, revision string) error {
	var errs []error
	for _, i := range plan.Create {
		if err := c.create(ctx, set, i, revision); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range plan.Delete {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulDelete, "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	}
	return errors.Join(errs...)
}

// create makes the claims of ordinal i that are missing, then its pod.
func (c *Controller) create(ctx context.Context, set *appsv1.StatefulSet, i int, revision string) error {
	pod := NewPod(set, i, revision)
	for _, pvc := range NewClaims(set, i) {
		if _, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(pvc.Name); err == nil {
			continue
		}
		_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %v", pvc.Name, pod.Name, set.Name, err)
			return fmt.Errorf("create claim %s: %w", pvc.Name, err)
		}
		if err == nil {
			c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success", pvc.Name, pod.Name, set.Name)
		}
	}
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, kind)}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}
