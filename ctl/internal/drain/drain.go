// Package drain empties a node the way kubectl drain does: it decides
// which pods must go (and refuses, with the reasons, when some cannot go
// safely), evicts them through the pods/eviction subresource, retrying
// while a disruption budget says "not now", and waits until they are gone.
package drain

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Options are drain's flags.
type Options struct {
	IgnoreDaemonSets   bool
	DeleteEmptyDirData bool
	Force              bool
	GracePeriodSeconds int // negative: the pod's own
	Timeout            time.Duration
	PodSelector        string
	DisableEviction    bool
	// Out receives the progress lines, ErrOut the warnings.
	Out, ErrOut io.Writer
}

// Plan is the decision about each pod on the node.
type Plan struct {
	// Evict are the pods to evict.
	Evict []corev1.Pod
	// Warnings are pods left alone or deleted despite something, by reason.
	Warnings map[string][]string
	// Errors are pods that block the drain, by reason.
	Errors map[string][]string
}

// Reasons, in kubectl's words.
const (
	reasonDaemonSet  = "ignoring DaemonSet-managed Pods"
	reasonDSError    = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
	reasonUnmanaged  = "cannot delete Pods that declare no controller (use --force to override)"
	reasonUnmanagedW = "deleting Pods that declare no controller"
	reasonLocal      = "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
	reasonMirror     = "ignoring mirror pods"
)

// Decide is the pure part: which pods go, which stay, what blocks.
func Decide(pods []corev1.Pod, o Options) Plan {
	p := Plan{Warnings: map[string][]string{}, Errors: map[string][]string{}}
	for _, pod := range pods {
		name := pod.Namespace + "/" + pod.Name
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			p.Evict = append(p.Evict, pod)
			continue
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			p.Warnings[reasonMirror] = append(p.Warnings[reasonMirror], name)
			continue
		}
		ctrl := metav1.GetControllerOf(&pod)
		if ctrl != nil && ctrl.Kind == "DaemonSet" {
			if o.IgnoreDaemonSets {
				p.Warnings[reasonDaemonSet] = append(p.Warnings[reasonDaemonSet], name)
			} else {
				p.Errors[reasonDSError] = append(p.Errors[reasonDSError], name)
			}
			continue
		}
		blocked := false
		if ctrl == nil {
			if o.Force {
				p.Warnings[reasonUnmanagedW] = append(p.Warnings[reasonUnmanagedW], name)
			} else {
				p.Errors[reasonUnmanaged] = append(p.Errors[reasonUnmanaged], name)
				blocked = true
			}
		}
		if hasLocalStorage(pod) && !o.DeleteEmptyDirData {
			p.Errors[reasonLocal] = append(p.Errors[reasonLocal], name)
			blocked = true
		}
		if !blocked {
			p.Evict = append(p.Evict, pod)
		}
	}
	return p
}

func hasLocalStorage(pod corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir != nil {
			return true
		}
	}
	return false
}

// Messages words a map of reasons as kubectl: "reason: ns/a, ns/b".
func Messages(m map[string][]string) []string {
	var out []string
	for reason, pods := range m {
		out = append(out, reason+": "+strings.Join(pods, ", "))
	}
	sort.Strings(out)
	return out
}

// Drainer runs drains against the API.
type Drainer struct {
	Client kubernetes.Interface
}

// PodsOn lists the pods bound to a node.
func (d *Drainer) PodsOn(ctx context.Context, node, labelSelector string) ([]corev1.Pod, error) {
	list, err := d.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		LabelSelector: labelSelector,
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Evict evicts (or deletes, with DisableEviction) each pod of the plan and
// waits until all are gone, printing kubectl's progress lines.
func (d *Drainer) Evict(ctx context.Context, pods []corev1.Pod, o Options) error {
	deadline := time.Now().Add(o.Timeout)
	if o.Timeout <= 0 {
		deadline = time.Now().Add(365 * 24 * time.Hour)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, pod := range pods {
		fmt.Fprintf(o.Out, "evicting pod %s/%s\n", pod.Namespace, pod.Name)
	}
	errs := make(chan error, len(pods))
	for _, pod := range pods {
		go func(pod corev1.Pod) {
			errs <- d.evictAndWait(ctx, pod, o)
		}(pod)
	}
	var failed []string
	for range pods {
		if err := <-errs; err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("%s", strings.Join(failed, "\n"))
	}
	return nil
}

func (d *Drainer) evictAndWait(ctx context.Context, pod corev1.Pod, o Options) error {
	var grace *int64
	if o.GracePeriodSeconds >= 0 {
		g := int64(o.GracePeriodSeconds)
		grace = &g
	}
	delOpts := metav1.DeleteOptions{GracePeriodSeconds: grace}
	for {
		var err error
		if o.DisableEviction {
			err = d.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, delOpts)
		} else {
			err = d.Client.PolicyV1().Evictions(pod.Namespace).Evict(ctx, &policyv1.Eviction{
				ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
				DeleteOptions: &delOpts,
			})
		}
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			fmt.Fprintf(o.ErrOut, "error when evicting pods/%q -n %q (will retry after 5s): %v\n", pod.Name, pod.Namespace, err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("error when evicting pods/%q -n %q: global timeout reached: %v", pod.Name, pod.Namespace, o.Timeout)
			case <-time.After(5 * time.Second):
			}
			continue
		default:
			return fmt.Errorf("error when evicting pods/%q -n %q: %w", pod.Name, pod.Namespace, err)
		}
		break
	}
	if err := d.waitGone(ctx, pod.Namespace, pod.Name, pod.UID); err != nil {
		return fmt.Errorf("error when waiting for pod %q in namespace %q to terminate: %w", pod.Name, pod.Namespace, err)
	}
	verb := "evicted"
	if o.DisableEviction {
		verb = "deleted"
	}
	fmt.Fprintf(o.Out, "pod/%s %s\n", pod.Name, verb)
	return nil
}

func (d *Drainer) waitGone(ctx context.Context, ns, name string, uid types.UID) error {
	for {
		p, err := d.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && p.UID != uid) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("global timeout reached")
		case <-time.After(time.Second):
		}
	}
}
