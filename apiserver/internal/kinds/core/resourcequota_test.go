package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func rl(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func validQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default", ResourceVersion: "5"},
		Spec:       corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "2", "count/deployments.apps", "3", "example.com/widgets", "1")},
	}
}

func TestValidateResourceQuota(t *testing.T) {
	selector := func(reqs ...corev1.ScopedResourceSelectorRequirement) *corev1.ScopeSelector {
		return &corev1.ScopeSelector{MatchExpressions: reqs}
	}
	kindstest.Create(t, resourceQuotaStrategy{}, validQuota, []kindstest.Case[*corev1.ResourceQuota]{
		{Name: "standard, count and qualified names are valid", Mutate: func(*corev1.ResourceQuota) {}},
		{Name: "hugepages are quota resources", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("requests.hugepages-2Mi", "4Mi") }},
		{Name: "an unknown unqualified name", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("widgets", "1") },
			Path: "spec.hard[widgets]", Type: field.ErrorTypeInvalid},
		{Name: "storage is a resource but not for quota", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("storage", "1Gi") },
			Path: "spec.hard[storage]", Type: field.ErrorTypeInvalid},
		{Name: "a negative quantity", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("requests.cpu", "-1") },
			Path: "spec.hard[requests.cpu]", Type: field.ErrorTypeInvalid},
		{Name: "counts are whole", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("pods", "1500m") },
			Path: "spec.hard[pods]", Type: field.ErrorTypeInvalid},
		{Name: "a pod scope limits pods and compute", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1", "limits.memory", "1Gi")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"NotTerminating"}
		}},
		{Name: "BestEffort limits only the pod count", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1", "requests.cpu", "1")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"BestEffort"}
		}, Path: "spec.scopes", Type: field.ErrorTypeInvalid},
		{Name: "a pod scope cannot limit services", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("services", "1")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"Terminating"}
		}, Path: "spec.scopes", Type: field.ErrorTypeInvalid},
		{Name: "an unknown scope", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"Sometimes"}
		}, Path: "spec.scopes", Type: field.ErrorTypeInvalid},
		{Name: "conflicting scopes", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"BestEffort", "NotBestEffort"}
		}, Path: "spec.scopes", Type: field.ErrorTypeInvalid},
		{Name: "a PriorityClass selector", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "In", Values: []string{"high"}})
		}},
		{Name: "In needs values", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "In"})
		}, Path: "spec.scopeSelector.matchExpressions.values", Type: field.ErrorTypeRequired},
		{Name: "Exists takes no values", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "Exists", Values: []string{"x"}})
		}, Path: "spec.scopeSelector.matchExpressions.values", Type: field.ErrorTypeInvalid},
		{Name: "BestEffort is selected only with Exists", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(corev1.ScopedResourceSelectorRequirement{ScopeName: "BestEffort", Operator: "In", Values: []string{"x"}})
		}, Path: "spec.scopeSelector.matchExpressions.operator", Type: field.ErrorTypeInvalid},
		{Name: "an unknown operator", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(corev1.ScopedResourceSelectorRequirement{ScopeName: "PriorityClass", Operator: "Near"})
		}, Path: "spec.scopeSelector.matchExpressions.operator", Type: field.ErrorTypeInvalid},
		{Name: "selected scopes conflict too", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.ScopeSelector = selector(
				corev1.ScopedResourceSelectorRequirement{ScopeName: "Terminating", Operator: "Exists"},
				corev1.ScopedResourceSelectorRequirement{ScopeName: "NotTerminating", Operator: "Exists"})
		}, Path: "spec.scopeSelector.matchExpressions", Type: field.ErrorTypeInvalid},
	})
}

func TestResourceQuotaUpdate(t *testing.T) {
	kindstest.Update(t, resourceQuotaStrategy{}, validQuota, "", []kindstest.Case[*corev1.ResourceQuota]{
		{Name: "hard may change", Mutate: func(q *corev1.ResourceQuota) { q.Spec.Hard = rl("pods", "20") }},
		{Name: "scopes may not", Mutate: func(q *corev1.ResourceQuota) {
			q.Spec.Hard = rl("pods", "1")
			q.Spec.Scopes = []corev1.ResourceQuotaScope{"BestEffort"}
		}, Path: "spec.scopes", Type: field.ErrorTypeInvalid},
	})

	s := resourceQuotaStrategy{}
	old := validQuota()
	old.Status = corev1.ResourceQuotaStatus{Hard: rl("pods", "10"), Used: rl("pods", "3")}
	obj := old.DeepCopy()
	obj.Status = corev1.ResourceQuotaStatus{}
	s.PrepareForUpdate(obj, old)
	eq(t, obj.Status, old.Status)

	created := validQuota()
	created.Status.Used = rl("pods", "0")
	s.PrepareForCreate(created)
	eq(t, created.Status, corev1.ResourceQuotaStatus{})
}

func TestValidateResourceQuotaStatusUpdate(t *testing.T) {
	s := resourceQuotaStrategy{}
	q := validQuota()
	q.Status = corev1.ResourceQuotaStatus{Hard: rl("pods", "10"), Used: rl("pods", "3")}
	checkErrs(t, s.ValidateStatusUpdate(q, validQuota()))
	q.Status.Used = rl("pods", "-1", "gadgets", "1")
	checkErrs(t, s.ValidateStatusUpdate(q, validQuota()), "status.used[pods]: Invalid value", "status.used[gadgets]: Invalid value")
	q.Status.Used = nil
	q.ResourceVersion = ""
	checkErrs(t, s.ValidateStatusUpdate(q, validQuota()), "resourceVersion: Required value")
}

func TestResourceQuotaWarnings(t *testing.T) {
	q := validQuota()
	q.Spec.Hard = rl("cpu", "2", "limits.cpu", "1", "requests.memory", "1Gi", "limits.memory", "2Gi")
	eq(t, resourceQuotaStrategy{}.Warnings(q), []string{"ResourceQuota cpu (2) should be less than limits.cpu (1)"})
}

func validLimitRange() *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("cpu", "2", "memory", "1Gi"), DefaultRequest: rl("memory", "256Mi")},
			{Type: corev1.LimitTypePod, Max: rl("cpu", "4")},
			{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi")},
		}},
	}
}

func TestLimitRangeDefaults(t *testing.T) {
	lr := validLimitRange()
	limitRangeStrategy{}.Default(lr)
	c := lr.Spec.Limits[0]
	// The default limit is the max; the default request the given one,
	// else the default limit, never the min when a default limit exists.
	eq(t, c.Default.Cpu().String(), "2")
	eq(t, c.Default.Memory().String(), "1Gi")
	eq(t, c.DefaultRequest.Memory().String(), "256Mi")
	eq(t, c.DefaultRequest.Cpu().String(), "2")
	eq(t, lr.Spec.Limits[1].Default, corev1.ResourceList(nil))

	onlyMin := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")}}}}
	limitRangeStrategy{}.Default(onlyMin)
	eq(t, onlyMin.Spec.Limits[0].DefaultRequest.Cpu().String(), "100m")
	eq(t, len(onlyMin.Spec.Limits[0].Default), 0)
}

func TestValidateLimitRange(t *testing.T) {
	item := func(lr *corev1.LimitRange) *corev1.LimitRangeItem { return &lr.Spec.Limits[0] }
	kindstest.Create(t, limitRangeStrategy{}, validLimitRange, []kindstest.Case[*corev1.LimitRange]{
		{Name: "a valid LimitRange", Mutate: func(*corev1.LimitRange) {}},
		{Name: "a type appears once", Mutate: func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Type = corev1.LimitTypeContainer },
			Path: "spec.limits[1].type", Type: field.ErrorTypeDuplicate},
		{Name: "an unknown type", Mutate: func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Type = "Node" },
			Path: "spec.limits[1].type", Type: field.ErrorTypeInvalid},
		{Name: "containers know no storage", Mutate: func(lr *corev1.LimitRange) { item(lr).Max = rl("storage", "1Gi") },
			Path: "spec.limits[0].max[storage]", Type: field.ErrorTypeInvalid},
		{Name: "pods have no defaults", Mutate: func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Default = rl("cpu", "1") },
			Path: "spec.limits[1].default", Type: field.ErrorTypeForbidden},
		{Name: "a claim limit needs min or max storage", Mutate: func(lr *corev1.LimitRange) { lr.Spec.Limits[2].Min = nil },
			Path: "spec.limits[2].limits", Type: field.ErrorTypeRequired},
		{Name: "min above max", Mutate: func(lr *corev1.LimitRange) { item(lr).Min = rl("cpu", "3") },
			Path: "spec.limits[0].min[cpu]", Type: field.ErrorTypeInvalid},
		{Name: "default request above the default limit", Mutate: func(lr *corev1.LimitRange) {
			item(lr).Default = rl("memory", "128Mi")
		}, Path: "spec.limits[0].defaultRequest[memory]", Type: field.ErrorTypeInvalid},
		{Name: "a ratio below 1", Mutate: func(lr *corev1.LimitRange) { item(lr).MaxLimitRequestRatio = rl("memory", "500m") },
			Path: "spec.limits[0].maxLimitRequestRatio[memory]", Type: field.ErrorTypeInvalid},
		{Name: "a ratio above max/min", Mutate: func(lr *corev1.LimitRange) { item(lr).MaxLimitRequestRatio = rl("cpu", "30") },
			Path: "spec.limits[0].maxLimitRequestRatio[cpu]", Type: field.ErrorTypeInvalid},
		{Name: "hugepages take no different default request", Mutate: func(lr *corev1.LimitRange) {
			item(lr).Default = rl("hugepages-2Mi", "4Mi")
			item(lr).DefaultRequest = rl("hugepages-2Mi", "2Mi")
		}, Path: "spec.limits[0].defaultRequest[hugepages-2Mi]", Type: field.ErrorTypeInvalid},
	})
}
