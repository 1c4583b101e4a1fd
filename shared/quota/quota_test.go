package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/utils/ptr"
)

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "pause", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pod(name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

// equal compares resource lists by value, so that 1 and 1000m are equal.
func equal(t *testing.T, got, want corev1.ResourceList) {
	t.Helper()
	if !quota.Equals(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPodUsage(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{
		{"a best-effort pod counts as a pod", pod("p", container("c", nil, nil)),
			list("count/pods", "1", "pods", "1")},
		{"requests count under both names, limits as limits.*",
			pod("p", container("a", list("cpu", "100m", "memory", "1Gi", "ephemeral-storage", "1Gi"), list("cpu", "200m", "memory", "2Gi"))),
			list("count/pods", "1", "pods", "1", "cpu", "100m", "requests.cpu", "100m", "memory", "1Gi", "requests.memory", "1Gi",
				"ephemeral-storage", "1Gi", "requests.ephemeral-storage", "1Gi", "limits.cpu", "200m", "limits.memory", "2Gi")},
		{"containers add up", pod("p", container("a", list("cpu", "100m"), nil), container("b", list("cpu", "300m"), nil)),
			list("count/pods", "1", "pods", "1", "cpu", "400m", "requests.cpu", "400m")},
		{"hugepages and extended resources are charged as requests",
			pod("p", container("a", list("hugepages-2Mi", "4Mi", "example.com/dongle", "2"), list("hugepages-2Mi", "4Mi", "example.com/dongle", "2"))),
			list("count/pods", "1", "pods", "1", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi", "requests.example.com/dongle", "2")},
		{"a finished pod counts only as an object", func() *corev1.Pod {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.Status.Phase = corev1.PodSucceeded
			return p
		}(), list("count/pods", "1")},
		{"a pod past its deletion grace period counts only as an object", func() *corev1.Pod {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			return p
		}(), list("count/pods", "1")},
		{"a pod within its deletion grace period still counts", func() *corev1.Pod {
			p := pod("p", container("a", list("cpu", "1"), nil))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-10 * time.Second)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			return p
		}(), list("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, PodUsage(tt.pod, now), tt.want)
		})
	}
}

func TestPodConstraints(t *testing.T) {
	e := &podEvaluator{now: time.Now}
	tests := []struct {
		name     string
		required []corev1.ResourceName
		pod      *corev1.Pod
		want     string
	}{
		{"no cpu or memory limited: anything goes", []corev1.ResourceName{"pods", "requests.storage"}, pod("p", container("a", nil, nil)), ""},
		{"every container must name what the quota limits", []corev1.ResourceName{"limits.cpu", "limits.memory", "pods"},
			pod("p", container("a", nil, list("cpu", "1")), container("b", nil, nil)),
			"must specify limits.cpu for: b; limits.memory for: a,b"},
		{"requests satisfy cpu and requests.cpu", []corev1.ResourceName{"cpu", "requests.cpu"},
			pod("p", container("a", list("cpu", "1"), nil)), ""},
		{"pod-level resources replace the per-container rule", []corev1.ResourceName{"limits.cpu"}, func() *corev1.Pod {
			p := pod("p", container("a", nil, nil))
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: list("cpu", "1")}
			return p
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Constraints(tt.required, tt.pod)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPodMatchesQuota(t *testing.T) {
	e := &podEvaluator{now: time.Now}
	bestEffort := pod("be", container("a", nil, nil))
	burstable := pod("bu", container("a", list("cpu", "1"), nil))
	terminating := pod("t", container("a", nil, nil))
	terminating.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	gold := pod("g", container("a", nil, nil))
	gold.Spec.PriorityClassName = "gold"
	affinity := pod("x", container("a", nil, nil))
	affinity.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone", Namespaces: []string{"other"}}},
	}}
	quotaWith := func(scopes []corev1.ResourceQuotaScope, selector ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Scopes: scopes}, Status: corev1.ResourceQuotaStatus{Hard: list("pods", "5")}}
		if len(selector) > 0 {
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: selector}
		}
		return q
	}
	tests := []struct {
		name  string
		quota *corev1.ResourceQuota
		pod   *corev1.Pod
		want  bool
	}{
		{"no scopes match every pod", quotaWith(nil), burstable, true},
		{"a quota without status.hard matches nothing", &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: list("pods", "1")}}, burstable, false},
		{"a quota of other resources does not match", &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: list("services", "1")}}, burstable, false},
		{"BestEffort matches a pod asking nothing", quotaWith([]corev1.ResourceQuotaScope{"BestEffort"}), bestEffort, true},
		{"BestEffort does not match a pod asking cpu", quotaWith([]corev1.ResourceQuotaScope{"BestEffort"}), burstable, false},
		{"NotBestEffort matches a pod asking cpu", quotaWith([]corev1.ResourceQuotaScope{"NotBestEffort"}), burstable, true},
		{"Terminating matches a pod with a deadline", quotaWith([]corev1.ResourceQuotaScope{"Terminating"}), terminating, true},
		{"NotTerminating does not", quotaWith([]corev1.ResourceQuotaScope{"NotTerminating"}), terminating, false},
		{"scopes are ANDed", quotaWith([]corev1.ResourceQuotaScope{"Terminating", "NotBestEffort"}), terminating, false},
		{"PriorityClass In matches the class", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "In", Values: []string{"gold", "silver"}}), gold, true},
		{"PriorityClass In misses other classes", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "In", Values: []string{"silver"}}), gold, false},
		{"PriorityClass NotIn matches a pod without a class", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "NotIn", Values: []string{"gold"}}), bestEffort, true},
		{"PriorityClass Exists needs a class", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "Exists"}), bestEffort, false},
		{"PriorityClass DoesNotExist matches a pod without one", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "DoesNotExist"}), bestEffort, true},
		{"CrossNamespacePodAffinity matches a term naming namespaces", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "CrossNamespacePodAffinity", Operator: "Exists"}), affinity, true},
		{"CrossNamespacePodAffinity misses a pod without affinity", quotaWith(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: "CrossNamespacePodAffinity", Operator: "Exists"}), bestEffort, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Matches(tt.quota, tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodMatchingResources(t *testing.T) {
	got := (&podEvaluator{}).MatchingResources([]corev1.ResourceName{
		"pods", "requests.cpu", "services", "hugepages-2Mi", "requests.hugepages-1Gi", "requests.example.com/dongle", "example.com/dongle", "count/pods",
	})
	equal(t, toList(got), toList([]corev1.ResourceName{"pods", "requests.cpu", "hugepages-2Mi", "requests.hugepages-1Gi", "requests.example.com/dongle", "count/pods"}))
}

func toList(names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, n := range names {
		out[n] = resource.MustParse("1")
	}
	return out
}

func TestServiceUsage(t *testing.T) {
	ports := []corev1.ServicePort{{Port: 80}, {Port: 443, NodePort: 30443}}
	tests := []struct {
		name string
		svc  corev1.ServiceSpec
		want corev1.ResourceList
	}{
		{"a ClusterIP service", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports},
			list("count/services", "1", "services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"a NodePort service takes a node port per port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports},
			list("count/services", "1", "services", "1", "services.nodeports", "2", "services.loadbalancers", "0")},
		{"a LoadBalancer is a load balancer with node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports},
			list("count/services", "1", "services", "1", "services.nodeports", "2", "services.loadbalancers", "1")},
		{"a LoadBalancer without allocated node ports counts the explicit ones",
			corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports, AllocateLoadBalancerNodePorts: ptr.To(false)},
			list("count/services", "1", "services", "1", "services.nodeports", "1", "services.loadbalancers", "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&serviceEvaluator{}).Usage(&corev1.Service{Spec: tt.svc})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, tt.want)
		})
	}
}

func TestPVCUsage(t *testing.T) {
	claim := func(class *string, storage string, allocated string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class}}
		if storage != "" {
			c.Spec.Resources.Requests = list("storage", storage)
		}
		if allocated != "" {
			c.Status.AllocatedResources = list("storage", allocated)
		}
		return c
	}
	tests := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want corev1.ResourceList
	}{
		{"a claim without a class", claim(nil, "1Gi", ""),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi")},
		{"a claim's class is charged too", claim(ptr.To("gold"), "1Gi", ""),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
				"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi")},
		{"more allocated than asked is charged", claim(nil, "1Gi", "2Gi"),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi")},
		{"fractional bytes round up", claim(nil, "1500m", ""),
			list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&pvcEvaluator{}).Usage(tt.pvc)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, tt.want)
		})
	}
	got := (&pvcEvaluator{}).MatchingResources([]corev1.ResourceName{"requests.storage", "gold.storageclass.storage.k8s.io/requests.storage", "pods", "count/persistentvolumeclaims"})
	equal(t, toList(got), toList([]corev1.ResourceName{"requests.storage", "gold.storageclass.storage.k8s.io/requests.storage", "count/persistentvolumeclaims"}))
}

func TestParseObjectCountName(t *testing.T) {
	tests := []struct {
		name corev1.ResourceName
		want schema.GroupResource
		ok   bool
	}{
		{"count/pods", schema.GroupResource{Resource: "pods"}, true},
		{"count/deployments.apps", schema.GroupResource{Group: "apps", Resource: "deployments"}, true},
		{"count/widgets.example.com", schema.GroupResource{Group: "example.com", Resource: "widgets"}, true},
		{"pods", schema.GroupResource{}, false},
		{"count/", schema.GroupResource{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseObjectCountName(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseObjectCountName(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		if ok && ObjectCountName(got) != tt.name {
			t.Errorf("ObjectCountName(%v) = %q, want %q", got, ObjectCountName(got), tt.name)
		}
	}
}

// TestCalculateUsage recounts a namespace the way the quota controller
// does, through k8s.io/apiserver's CalculateUsage over these evaluators.
func TestCalculateUsage(t *testing.T) {
	best := pod("best", container("a", nil, nil))
	cpu := pod("cpu", container("a", list("cpu", "250m"), list("cpu", "500m")))
	done := pod("done", container("a", list("cpu", "1"), nil))
	done.Status.Phase = corev1.PodFailed
	objects := map[schema.GroupResource][]runtime.Object{
		Pods:                         {best, cpu, done},
		Services:                     {&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}}}},
		{Resource: "configmaps"}:     {&corev1.ConfigMap{}, &corev1.ConfigMap{}},
		{Resource: "resourcequotas"}: {&corev1.ResourceQuota{}},
	}
	listFn := func(gr schema.GroupResource, namespace string) ([]runtime.Object, error) {
		if namespace != "ns" {
			t.Errorf("listed namespace %q", namespace)
		}
		return objects[gr], nil
	}
	registry := NewRegistry(listFn, time.Now)
	registry.Add(ObjectCountEvaluator(schema.GroupResource{Group: "apps", Resource: "deployments"}, listFn))

	tests := []struct {
		name     string
		scopes   []corev1.ResourceQuotaScope
		selector *corev1.ScopeSelector
		hard     corev1.ResourceList
		want     corev1.ResourceList
	}{
		{"every kind of resource", nil, nil,
			list("pods", "10", "count/pods", "10", "requests.cpu", "4", "limits.cpu", "4", "services", "5", "services.nodeports", "5",
				"configmaps", "5", "resourcequotas", "1", "count/deployments.apps", "3", "requests.storage", "1Gi"),
			list("pods", "2", "count/pods", "3", "requests.cpu", "250m", "limits.cpu", "500m", "services", "1", "services.nodeports", "1",
				"configmaps", "2", "resourcequotas", "1", "count/deployments.apps", "0", "requests.storage", "0")},
		{"a BestEffort quota counts only best-effort pods", []corev1.ResourceQuotaScope{"BestEffort"}, nil,
			list("pods", "10"), list("pods", "1")},
		{"a NotBestEffort selector counts the others", nil,
			&corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{ScopeName: "NotBestEffort", Operator: "Exists"}}},
			list("pods", "10", "requests.cpu", "1"), list("pods", "1", "requests.cpu", "250m")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := quota.CalculateUsage("ns", tt.scopes, tt.hard, registry, tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, tt.want)
		})
	}
}

func TestChangesUsage(t *testing.T) {
	now := time.Now()
	running := pod("p", container("a", list("cpu", "1"), nil))
	finished := running.DeepCopy()
	finished.Status.Phase = corev1.PodSucceeded
	relabeled := running.DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	clusterIP := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}
	nodePort := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}
	tests := []struct {
		name     string
		gr       schema.GroupResource
		old, obj runtime.Object
		want     bool
	}{
		{"a pod that finished gives its resources back", Pods, running, finished, true},
		{"a relabeled pod does not", Pods, running, relabeled, false},
		{"a service changing type", Services, clusterIP, nodePort, true},
		{"a service keeping its type", Services, nodePort, nodePort.DeepCopy(), false},
		{"other kinds never", schema.GroupResource{Resource: "configmaps"}, &corev1.ConfigMap{}, &corev1.ConfigMap{}, false},
	}
	for _, tt := range tests {
		if got := ChangesUsage(tt.gr, tt.old, tt.obj, now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
