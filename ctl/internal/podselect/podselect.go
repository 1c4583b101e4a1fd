// Package podselect picks the pod and the container that logs and exec
// talk to: POD, or TYPE/NAME (a deployment, replica set, stateful set,
// daemon set, job or service) standing for the first of its pods, and the
// container named, annotated as the default, or first — as kubectl picks
// them.
package podselect

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/workload"
)

// DefaultContainerAnnotation names the container commands pick when none
// is given.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Pod resolves POD or TYPE/NAME to one pod, as kubectl's logs and exec
// do: the first of the workload's pods.
func Pod(ctx context.Context, env *cmdenv.Env, arg string) (*corev1.Pod, error) {
	ns, _, err := env.Namespace()
	if err != nil {
		return nil, err
	}
	typed, err := env.Typed()
	if err != nil {
		return nil, err
	}
	if !strings.Contains(arg, "/") {
		return typed.CoreV1().Pods(ns).Get(ctx, arg, metav1.GetOptions{})
	}
	infos, err := objects.Select(ctx, env, objects.Selection{Args: []string{arg}})
	if err != nil {
		return nil, err
	}
	obj := infos[0].Object
	if obj.GetKind() == "Pod" {
		return typed.CoreV1().Pods(ns).Get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	sel, err := podSelectorOf(obj)
	if err != nil {
		return nil, err
	}
	list, err := typed.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("timed out waiting for the condition")
	}
	pods := list.Items
	sort.SliceStable(pods, func(i, j int) bool { return podRank(&pods[i]) < podRank(&pods[j]) })
	if len(pods) > 1 {
		fmt.Fprintf(env.ErrOut, "Found %d pods, using pod/%s\n", len(pods), pods[0].Name)
	}
	return &pods[0], nil
}

// podRank prefers running, ready, older pods.
func podRank(p *corev1.Pod) int {
	switch p.Status.Phase {
	case corev1.PodRunning:
		return 0
	case corev1.PodPending:
		return 1
	}
	return 2
}

func podSelectorOf(obj *unstructured.Unstructured) (string, error) {
	if obj.GetKind() == "Service" {
		m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector")
		return labels.SelectorFromSet(m).String(), nil
	}
	sel, err := workload.Selector(obj)
	if err != nil {
		if obj.GetKind() == "Job" {
			m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
			return labels.SelectorFromSet(m).String(), nil
		}
		return "", fmt.Errorf("cannot get the logs from %s", obj.GetKind())
	}
	return sel, nil
}

// Container picks the container: the one named, the default-container
// annotation's, or the first (saying so when there are several).
func Container(env *cmdenv.Env, pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
	}
	if d := pod.Annotations[DefaultContainerAnnotation]; d != "" {
		return d, nil
	}
	if len(pod.Spec.Containers) > 1 {
		var names []string
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		fmt.Fprintf(env.ErrOut, "Defaulted container %q out of: %s\n", names[0], strings.Join(names, ", "))
	}
	return pod.Spec.Containers[0].Name, nil
}
