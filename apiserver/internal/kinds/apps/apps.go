// Package apps defines the apps/v1 kinds: Deployments, ReplicaSets,
// DaemonSets and StatefulSets.
package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the apps/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{Deployments(), ReplicaSets(), DaemonSets(), StatefulSets(), ControllerRevisions()}
}

// apps starts the Descriptor of an apps/v1 workload: namespaced, in the
// "all" category, its generation bumped on every spec change.
func apps(resource string, obj, list runtime.Object) *apiresource.Descriptor {
	d := apiresource.NewDescriptor(appsv1.SchemeGroupVersion, resource, obj, list)
	d.Namespaced = true
	d.Categories = []string{"all"}
	d.TracksGeneration = true
	return d
}

// selectorString renders a label selector as the scale subresource's
// status.selector.
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return s.String()
}

// Deployments.
func Deployments() *apiresource.Descriptor {
	d := apps("deployments", &appsv1.Deployment{}, &appsv1.DeploymentList{})
	d.ShortNames = []string{"deploy"}
	d.Strategy = deploymentStrategy{}
	d.Subresources = []string{apiresource.Status, apiresource.Scale}
	d.Table = printers.Deployment()
	d.Scale = apiresource.ScaleOf(func(x *appsv1.Deployment) (**int32, int32, string) {
		return &x.Spec.Replicas, x.Status.Replicas, selectorString(x.Spec.Selector)
	})
	return d
}

// ReplicaSets.
func ReplicaSets() *apiresource.Descriptor {
	d := apps("replicasets", &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{})
	d.ShortNames = []string{"rs"}
	d.Strategy = replicaSetStrategy{}
	d.Subresources = []string{apiresource.Status, apiresource.Scale}
	d.Table = printers.ReplicaSet()
	d.FieldLabels = []string{"status.replicas"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": itoa(obj.(*appsv1.ReplicaSet).Status.Replicas)}
	}
	d.Scale = apiresource.ScaleOf(func(x *appsv1.ReplicaSet) (**int32, int32, string) {
		return &x.Spec.Replicas, x.Status.Replicas, selectorString(x.Spec.Selector)
	})
	return d
}

// DaemonSets.
func DaemonSets() *apiresource.Descriptor {
	d := apps("daemonsets", &appsv1.DaemonSet{}, &appsv1.DaemonSetList{})
	d.ShortNames = []string{"ds"}
	d.Strategy = daemonSetStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.DaemonSet()
	return d
}

// StatefulSets.
func StatefulSets() *apiresource.Descriptor {
	d := apps("statefulsets", &appsv1.StatefulSet{}, &appsv1.StatefulSetList{})
	d.ShortNames = []string{"sts"}
	d.Strategy = statefulSetStrategy{}
	// Pod names and hostnames are the set's name plus an ordinal, so it
	// must be a DNS label, as Kubernetes requires.
	d.NameValidator = apivalidation.NameIsDNSLabel
	d.Subresources = []string{apiresource.Status, apiresource.Scale}
	d.Table = printers.StatefulSet()
	d.Scale = apiresource.ScaleOf(func(x *appsv1.StatefulSet) (**int32, int32, string) {
		return &x.Spec.Replicas, x.Status.Replicas, selectorString(x.Spec.Selector)
	})
	return d
}
