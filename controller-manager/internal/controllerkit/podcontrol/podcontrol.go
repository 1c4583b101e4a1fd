// Package podcontrol creates and deletes the pods of a controller object
// (ReplicaSet, Job, DaemonSet, StatefulSet) from its pod template, with
// the owner reference and the events Kubernetes records for them.
package podcontrol

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Event reasons, as Kubernetes records them for a controller's pods.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Control creates and deletes pods on behalf of controller objects.
type Control struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

// Interface is what controllers use of Control, so tests can fake it.
type Interface interface {
	// Create creates a pod from template owned through ref by owner;
	// mutate, if not nil, adjusts the pod before it is sent.
	Create(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error)
	// Delete deletes the pod name, if its uid is still uid.
	Delete(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error
}

var _ Interface = &Control{}

// GenerateNamePrefix is the generateName of the pods of the controller
// object named name: "name-", or name when that would be too long.
func GenerateNamePrefix(name string) string {
	prefix := name + "-"
	if len(validation.IsDNS1123Subdomain(prefix+"a")) != 0 {
		return name
	}
	return prefix
}

// FromTemplate returns the pod template describes, owned through ref.
// Its labels, annotations and finalizers are copies of the template's.
func FromTemplate(template *corev1.PodTemplateSpec, namespace string, ownerName string, ref *metav1.OwnerReference) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: GenerateNamePrefix(ownerName),
			Labels:       copyMap(template.Labels),
			Annotations:  copyMap(template.Annotations),
			Finalizers:   append([]string(nil), template.Finalizers...),
		},
		Spec: *template.Spec.DeepCopy(),
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Create implements Interface.
func (c *Control) Create(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
	ownerName := ""
	if ref != nil {
		ownerName = ref.Name
	}
	pod := FromTemplate(template, namespace, ownerName, ref)
	if mutate != nil {
		mutate(pod)
	}
	if len(pod.Labels) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// A terminating namespace refuses every create: not worth a
		// warning on the owner.
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return nil, err
	}
	c.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %v", created.Name)
	return created, nil
}

// Delete implements Interface.
func (c *Control) Delete(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error {
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.Client.CoreV1().Pods(namespace).Delete(ctx, name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or replaced by another pod of the same name.
		return nil
	}
	if err != nil {
		c.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	c.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %v", name)
	return nil
}

// SlowStartBatch calls fn count times, in batches that start at initial
// and double while every call succeeds, as Kubernetes' controllers create
// pods: a template the apiserver refuses fails once, not count times. It
// returns how many calls succeeded and the first error.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}

// Parallel calls fn for each index in [0, n) concurrently and returns
// the first error.
func Parallel(n int, fn func(i int) error) error {
	errCh := make(chan error, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer wg.Done()
			if err := fn(i); err != nil {
				errCh <- err
			}
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errCh:
		return err
	default:
		return nil
	}
}

// DeletePods deletes pods on behalf of owner, concurrently, and returns
// the first error. failed is called with each pod whose deletion failed:
// a controller that expected the deletion will never see it.
func DeletePods(ctx context.Context, ctl Interface, pods []*corev1.Pod, owner runtime.Object, failed func(*corev1.Pod)) error {
	return Parallel(len(pods), func(i int) error {
		p := pods[i]
		if err := ctl.Delete(ctx, p.Namespace, p.Name, p.UID, owner); err != nil {
			failed(p)
			return err
		}
		return nil
	})
}

// UIDs are the UIDs of pods: the deletions a controller expects.
func UIDs(pods []*corev1.Pod) []types.UID {
	out := make([]types.UID, len(pods))
	for i, p := range pods {
		out[i] = p.UID
	}
	return out
}
