// Package core defines the core/v1 kinds the apiserver serves: their
// names, strategies (defaults, validation, what status owns), selectable
// fields and table columns.
package core

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the core/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{
		Namespaces(), Nodes(), Pods(), ReplicationControllers(), Services(), Endpoints(), ConfigMaps(), Secrets(),
		Events(), ServiceAccounts(), PersistentVolumes(), PersistentVolumeClaims(),
		ResourceQuotas(), LimitRanges(), PodTemplates(),
	}
}

// core starts the Descriptor of a core/v1 kind, namespaced unless the
// caller says otherwise.
func core(resource string, obj, list runtime.Object) *apiresource.Descriptor {
	d := apiresource.NewDescriptor(corev1.SchemeGroupVersion, resource, obj, list)
	d.Namespaced = true
	return d
}

// Namespaces: cluster-scoped; deletion waits on spec.finalizers.
func Namespaces() *apiresource.Descriptor {
	d := core("namespaces", &corev1.Namespace{}, &corev1.NamespaceList{})
	d.Namespaced = false
	d.ShortNames = []string{"ns"}
	d.Strategy = namespaceStrategy{}
	d.NameValidator = apivalidation.ValidateNamespaceName
	d.Subresources = []string{apiresource.Status, apiresource.Finalize}
	d.Table = printers.Namespace()
	d.FieldLabels = []string{"status.phase"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
	}
	return d
}

// Nodes: cluster-scoped.
func Nodes() *apiresource.Descriptor {
	d := core("nodes", &corev1.Node{}, &corev1.NodeList{})
	d.Namespaced = false
	d.ShortNames = []string{"no"}
	d.Strategy = nodeStrategy{}
	d.Subresources = []string{apiresource.Status, apiresource.Proxy}
	d.Table = printers.Node()
	d.FieldLabels = []string{"spec.unschedulable"}
	d.Fields = func(obj runtime.Object) fields.Set {
		n := obj.(*corev1.Node)
		return fields.Set{"spec.unschedulable": boolString(n.Spec.Unschedulable)}
	}
	return d
}

// Pods: graceful deletion once bound to a node.
func Pods() *apiresource.Descriptor {
	d := core("pods", &corev1.Pod{}, &corev1.PodList{})
	d.ShortNames = []string{"po"}
	d.Categories = []string{"all"}
	d.Strategy = podStrategy{}
	d.Subresources = []string{apiresource.Status, apiresource.Binding, apiresource.Eviction, apiresource.Log, apiresource.Exec,
		apiresource.Attach, apiresource.PortForward, apiresource.Proxy, apiresource.EphemeralContainers, apiresource.Resize}
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

// Services: ClusterIPs and NodePorts are allocated by the generic store's
// allocator.
func Services() *apiresource.Descriptor {
	d := core("services", &corev1.Service{}, &corev1.ServiceList{})
	d.ShortNames = []string{"svc"}
	d.Categories = []string{"all"}
	d.Strategy = serviceStrategy{}
	d.NameValidator = apivalidation.NameIsDNS1035Label
	d.Subresources = []string{apiresource.Status, apiresource.Proxy}
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
func Endpoints() *apiresource.Descriptor {
	d := core("endpoints", &corev1.Endpoints{}, &corev1.EndpointsList{})
	d.ShortNames = []string{"ep"}
	d.Strategy = endpointsStrategy{}
	d.Table = printers.Endpoints()
	return d
}

// ConfigMaps.
func ConfigMaps() *apiresource.Descriptor {
	d := core("configmaps", &corev1.ConfigMap{}, &corev1.ConfigMapList{})
	d.ShortNames = []string{"cm"}
	d.Strategy = configMapStrategy{}
	d.Table = printers.ConfigMap()
	return d
}

// Secrets.
func Secrets() *apiresource.Descriptor {
	d := core("secrets", &corev1.Secret{}, &corev1.SecretList{})
	d.Strategy = secretStrategy{}
	d.Table = printers.Secret()
	d.FieldLabels = []string{"type"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
	}
	return d
}

// Events (core/v1).
func Events() *apiresource.Descriptor {
	d := core("events", &corev1.Event{}, &corev1.EventList{})
	d.ShortNames = []string{"ev"}
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
func ServiceAccounts() *apiresource.Descriptor {
	d := core("serviceaccounts", &corev1.ServiceAccount{}, &corev1.ServiceAccountList{})
	d.ShortNames = []string{"sa"}
	d.Strategy = serviceAccountStrategy{}
	d.Table = printers.ServiceAccount()
	return d
}

// PersistentVolumes: cluster-scoped.
func PersistentVolumes() *apiresource.Descriptor {
	d := core("persistentvolumes", &corev1.PersistentVolume{}, &corev1.PersistentVolumeList{})
	d.Namespaced = false
	d.ShortNames = []string{"pv"}
	d.Strategy = persistentVolumeStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.PersistentVolume()
	return d
}

// PersistentVolumeClaims.
func PersistentVolumeClaims() *apiresource.Descriptor {
	d := core("persistentvolumeclaims", &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{})
	d.ShortNames = []string{"pvc"}
	d.Strategy = persistentVolumeClaimStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.PersistentVolumeClaim()
	return d
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
