// Package core defines the core/v1 kinds the apiserver serves: their
// names, strategies (defaults, validation, what status owns), selectable
// fields and table columns.
package core

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the core/v1 kinds.
func All() []*resource.Descriptor {
	return []*resource.Descriptor{
		Namespaces(), Nodes(), Pods(), ReplicationControllers(), Services(), Endpoints(), ConfigMaps(), Secrets(),
		Events(), ServiceAccounts(), PersistentVolumes(), PersistentVolumeClaims(),
	}
}

func core(kind, res, singular string) *resource.Descriptor {
	return &resource.Descriptor{Group: "", Version: "v1", Kind: kind, Resource: res, Singular: singular, Namespaced: true}
}

// Namespaces: cluster-scoped; deletion waits on spec.finalizers.
func Namespaces() *resource.Descriptor {
	d := core("Namespace", "namespaces", "namespace")
	d.Namespaced = false
	d.ShortNames = []string{"ns"}
	d.New = func() runtime.Object { return &corev1.Namespace{} }
	d.NewList = func() runtime.Object { return &corev1.NamespaceList{} }
	d.Strategy = namespaceStrategy{}
	d.NameValidator = apivalidation.ValidateNamespaceName
	d.Subresources = []string{resource.Status, resource.Finalize}
	d.Table = printers.Namespace()
	d.FieldLabels = []string{"status.phase"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
	}
	return d
}

// Nodes: cluster-scoped.
func Nodes() *resource.Descriptor {
	d := core("Node", "nodes", "node")
	d.Namespaced = false
	d.ShortNames = []string{"no"}
	d.New = func() runtime.Object { return &corev1.Node{} }
	d.NewList = func() runtime.Object { return &corev1.NodeList{} }
	d.Strategy = nodeStrategy{}
	d.Subresources = []string{resource.Status}
	d.Table = printers.Node()
	d.FieldLabels = []string{"spec.unschedulable"}
	d.Fields = func(obj runtime.Object) fields.Set {
		n := obj.(*corev1.Node)
		return fields.Set{"spec.unschedulable": boolString(n.Spec.Unschedulable)}
	}
	return d
}

// Pods: graceful deletion once bound to a node.
func Pods() *resource.Descriptor {
	d := core("Pod", "pods", "pod")
	d.ShortNames = []string{"po"}
	d.Categories = []string{"all"}
	d.New = func() runtime.Object { return &corev1.Pod{} }
	d.NewList = func() runtime.Object { return &corev1.PodList{} }
	d.Strategy = podStrategy{}
	d.Subresources = []string{resource.Status, resource.Binding, resource.Eviction, resource.Log, resource.Exec}
	d.Table = printers.Pod()
	d.FieldLabels = []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
		"spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}
	d.Fields = func(obj runtime.Object) fields.Set {
		p := obj.(*corev1.Pod)
		podIP := ""
		if len(p.Status.PodIPs) > 0 {
			podIP = p.Status.PodIPs[0].IP
		}
		return fields.Set{
			"spec.nodeName":            p.Spec.NodeName,
			"spec.restartPolicy":       string(p.Spec.RestartPolicy),
			"spec.schedulerName":       p.Spec.SchedulerName,
			"spec.serviceAccountName":  p.Spec.ServiceAccountName,
			"spec.hostNetwork":         boolString(p.Spec.HostNetwork),
			"status.phase":             string(p.Status.Phase),
			"status.podIP":             podIP,
			"status.nominatedNodeName": p.Status.NominatedNodeName,
		}
	}
	return d
}

// Services: ClusterIPs and NodePorts are allocated by the registry's
// allocator.
func Services() *resource.Descriptor {
	d := core("Service", "services", "service")
	d.ShortNames = []string{"svc"}
	d.Categories = []string{"all"}
	d.New = func() runtime.Object { return &corev1.Service{} }
	d.NewList = func() runtime.Object { return &corev1.ServiceList{} }
	d.Strategy = serviceStrategy{}
	d.NameValidator = apivalidation.NameIsDNS1035Label
	d.Subresources = []string{resource.Status}
	d.Table = printers.Service()
	d.FieldLabels = []string{"spec.clusterIP", "spec.type"}
	d.Fields = func(obj runtime.Object) fields.Set {
		s := obj.(*corev1.Service)
		return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
	}
	return d
}

// Endpoints: written by the endpoints controller, or by hand for Services
// without a selector.
func Endpoints() *resource.Descriptor {
	d := core("Endpoints", "endpoints", "endpoints")
	d.ShortNames = []string{"ep"}
	d.New = func() runtime.Object { return &corev1.Endpoints{} }
	d.NewList = func() runtime.Object { return &corev1.EndpointsList{} }
	d.Strategy = endpointsStrategy{}
	d.Table = printers.Endpoints()
	return d
}

// ConfigMaps.
func ConfigMaps() *resource.Descriptor {
	d := core("ConfigMap", "configmaps", "configmap")
	d.ShortNames = []string{"cm"}
	d.New = func() runtime.Object { return &corev1.ConfigMap{} }
	d.NewList = func() runtime.Object { return &corev1.ConfigMapList{} }
	d.Strategy = configMapStrategy{}
	d.Table = printers.ConfigMap()
	return d
}

// Secrets.
func Secrets() *resource.Descriptor {
	d := core("Secret", "secrets", "secret")
	d.New = func() runtime.Object { return &corev1.Secret{} }
	d.NewList = func() runtime.Object { return &corev1.SecretList{} }
	d.Strategy = secretStrategy{}
	d.Table = printers.Secret()
	d.FieldLabels = []string{"type"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
	}
	return d
}

// Events (core/v1).
func Events() *resource.Descriptor {
	d := core("Event", "events", "event")
	d.ShortNames = []string{"ev"}
	d.New = func() runtime.Object { return &corev1.Event{} }
	d.NewList = func() runtime.Object { return &corev1.EventList{} }
	d.Strategy = eventStrategy{}
	d.Table = printers.Event()
	d.FieldLabels = []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
		"involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
		"involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}
	d.Fields = func(obj runtime.Object) fields.Set {
		e := obj.(*corev1.Event)
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		return fields.Set{
			"involvedObject.kind":            e.InvolvedObject.Kind,
			"involvedObject.namespace":       e.InvolvedObject.Namespace,
			"involvedObject.name":            e.InvolvedObject.Name,
			"involvedObject.uid":             string(e.InvolvedObject.UID),
			"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
			"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
			"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
			"reason":                         e.Reason,
			"reportingComponent":             e.ReportingController,
			"source":                         source,
			"type":                           e.Type,
		}
	}
	return d
}

// ServiceAccounts.
func ServiceAccounts() *resource.Descriptor {
	d := core("ServiceAccount", "serviceaccounts", "serviceaccount")
	d.ShortNames = []string{"sa"}
	d.New = func() runtime.Object { return &corev1.ServiceAccount{} }
	d.NewList = func() runtime.Object { return &corev1.ServiceAccountList{} }
	d.Strategy = serviceAccountStrategy{}
	d.Table = printers.ServiceAccount()
	return d
}

// PersistentVolumes: cluster-scoped.
func PersistentVolumes() *resource.Descriptor {
	d := core("PersistentVolume", "persistentvolumes", "persistentvolume")
	d.Namespaced = false
	d.ShortNames = []string{"pv"}
	d.New = func() runtime.Object { return &corev1.PersistentVolume{} }
	d.NewList = func() runtime.Object { return &corev1.PersistentVolumeList{} }
	d.Strategy = persistentVolumeStrategy{}
	d.Subresources = []string{resource.Status}
	d.Table = printers.PersistentVolume()
	return d
}

// PersistentVolumeClaims.
func PersistentVolumeClaims() *resource.Descriptor {
	d := core("PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim")
	d.ShortNames = []string{"pvc"}
	d.New = func() runtime.Object { return &corev1.PersistentVolumeClaim{} }
	d.NewList = func() runtime.Object { return &corev1.PersistentVolumeClaimList{} }
	d.Strategy = persistentVolumeClaimStrategy{}
	d.Subresources = []string{resource.Status}
	d.Table = printers.PersistentVolumeClaim()
	return d
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
