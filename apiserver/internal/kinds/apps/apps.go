// Package apps defines the apps/v1 kinds: Deployments, ReplicaSets,
// DaemonSets and StatefulSets.
package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the apps/v1 kinds.
func All() []*resource.Descriptor {
	return []*resource.Descriptor{Deployments(), ReplicaSets(), DaemonSets(), StatefulSets(), ControllerRevisions()}
}

func apps(kind, res, singular string) *resource.Descriptor {
	return &resource.Descriptor{
		Group: "apps", Version: "v1", Kind: kind, Resource: res, Singular: singular,
		Namespaced: true, Categories: []string{"all"}, TracksGeneration: true,
	}
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

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// Deployments.
func Deployments() *resource.Descriptor {
	d := apps("Deployment", "deployments", "deployment")
	d.ShortNames = []string{"deploy"}
	d.New = func() runtime.Object { return &appsv1.Deployment{} }
	d.NewList = func() runtime.Object { return &appsv1.DeploymentList{} }
	d.Strategy = deploymentStrategy{}
	d.Subresources = []string{resource.Status, resource.Scale}
	d.Table = printers.Deployment()
	d.Scale = &resource.ScaleAccess{
		Get: func(obj runtime.Object) (int32, int32, string) {
			x := obj.(*appsv1.Deployment)
			return replicas(x.Spec.Replicas), x.Status.Replicas, selectorString(x.Spec.Selector)
		},
		Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
	}
	return d
}

// ReplicaSets.
func ReplicaSets() *resource.Descriptor {
	d := apps("ReplicaSet", "replicasets", "replicaset")
	d.ShortNames = []string{"rs"}
	d.New = func() runtime.Object { return &appsv1.ReplicaSet{} }
	d.NewList = func() runtime.Object { return &appsv1.ReplicaSetList{} }
	d.Strategy = replicaSetStrategy{}
	d.Subresources = []string{resource.Status, resource.Scale}
	d.Table = printers.ReplicaSet()
	d.FieldLabels = []string{"status.replicas"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": itoa(obj.(*appsv1.ReplicaSet).Status.Replicas)}
	}
	d.Scale = &resource.ScaleAccess{
		Get: func(obj runtime.Object) (int32, int32, string) {
			x := obj.(*appsv1.ReplicaSet)
			return replicas(x.Spec.Replicas), x.Status.Replicas, selectorString(x.Spec.Selector)
		},
		Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
	}
	return d
}

// DaemonSets.
func DaemonSets() *resource.Descriptor {
	d := apps("DaemonSet", "daemonsets", "daemonset")
	d.ShortNames = []string{"ds"}
	d.New = func() runtime.Object { return &appsv1.DaemonSet{} }
	d.NewList = func() runtime.Object { return &appsv1.DaemonSetList{} }
	d.Strategy = daemonSetStrategy{}
	d.Subresources = []string{resource.Status}
	d.Table = printers.DaemonSet()
	return d
}

// StatefulSets.
func StatefulSets() *resource.Descriptor {
	d := apps("StatefulSet", "statefulsets", "statefulset")
	d.ShortNames = []string{"sts"}
	d.New = func() runtime.Object { return &appsv1.StatefulSet{} }
	d.NewList = func() runtime.Object { return &appsv1.StatefulSetList{} }
	d.Strategy = statefulSetStrategy{}
	// Pod names and hostnames are the set's name plus an ordinal, so it
	// must be a DNS label, as Kubernetes requires.
	d.NameValidator = apivalidation.NameIsDNSLabel
	d.Subresources = []string{resource.Status, resource.Scale}
	d.Table = printers.StatefulSet()
	d.Scale = &resource.ScaleAccess{
		Get: func(obj runtime.Object) (int32, int32, string) {
			x := obj.(*appsv1.StatefulSet)
			return replicas(x.Spec.Replicas), x.Status.Replicas, selectorString(x.Spec.Selector)
		},
		Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
	}
	return d
}
