// Package workload knows the shapes of the kinds that run pods, read as
// unstructured objects: where each keeps its pod template's spec, and which
// pods it selects. set image, expose, logs and exec find their containers
// and pods through it.
package workload

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// PodSpecPath is where a kind keeps its pod spec.
func PodSpecPath(kind string) ([]string, bool) {
	switch kind {
	case "Pod":
		return []string{"spec"}, true
	case "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController":
		return []string{"spec", "template", "spec"}, true
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}, true
	}
	return nil, false
}

// Selector is the pod selector of an exposable object, as a label
// selector string; its errors are kubectl expose's.
func Selector(obj *unstructured.Unstructured) (string, error) {
	switch obj.GetKind() {
	case "Pod":
		if len(obj.GetLabels()) == 0 {
			return "", fmt.Errorf("the pod has no labels and cannot be exposed")
		}
		return labels.SelectorFromSet(obj.GetLabels()).String(), nil
	case "Service", "ReplicationController":
		m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector")
		if len(m) == 0 {
			return "", fmt.Errorf("couldn't retrieve selectors via --selector flag or introspection: the %s has no selector", strings.ToLower(obj.GetKind()))
		}
		return labels.SelectorFromSet(m).String(), nil
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
		m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
		exprs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "selector", "matchExpressions")
		if len(exprs) > 0 {
			return "", fmt.Errorf("couldn't convert expressions - \"%v\" to map-based selector format", exprs)
		}
		return labels.SelectorFromSet(m).String(), nil
	}
	return "", fmt.Errorf("cannot expose a %s", obj.GetKind())
}
