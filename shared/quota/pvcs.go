package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// StorageClassSuffix joins a storage class and a resource into the quota
// resource that limits that class alone:
// gold.storageclass.storage.k8s.io/requests.storage.
const StorageClassSuffix = ".storageclass.storage.k8s.io/"

var pvcResources = []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage}

// pvcEvaluator is Kubernetes' PersistentVolumeClaim evaluator: a claim
// counts once and its requested storage, also under its storage class.
type pvcEvaluator struct {
	list generic.ListFuncByNamespace
}

var _ quota.Evaluator = &pvcEvaluator{}

func (p *pvcEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (p *pvcEvaluator) GroupResource() schema.GroupResource { return PersistentVolumeClaims }

// Handles creates and updates (a resize asks for more storage), and
// status writes that grow the storage allocated to the claim.
func (p *pvcEvaluator) Handles(a admission.Attributes) bool {
	op := a.GetOperation()
	switch a.GetSubresource() {
	case "":
		return op == admission.Create || op == admission.Update
	case "status":
		pvc, ok1 := a.GetObject().(*corev1.PersistentVolumeClaim)
		old, ok2 := a.GetOldObject().(*corev1.PersistentVolumeClaim)
		return ok1 && ok2 && allocatedStorageChanged(pvc, old)
	}
	return false
}

func (p *pvcEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, p.MatchingResources, generic.MatchesNoScopeFunc)
}

func (p *pvcEvaluator) MatchingResources(items []corev1.ResourceName) []corev1.ResourceName {
	out := []corev1.ResourceName{}
	for _, item := range items {
		if item == ObjectCountName(PersistentVolumeClaims) || quota.Contains(pvcResources, item) {
			out = append(out, item)
			continue
		}
		for _, r := range pvcResources {
			if strings.HasSuffix(string(item), StorageClassSuffix+string(r)) {
				out = append(out, item)
				break
			}
		}
	}
	return out
}

func (p *pvcEvaluator) MatchingScopes(runtime.Object, []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

func (p *pvcEvaluator) UncoveredQuotaScopes(_, _ []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

func (p *pvcEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	pvc, ok := item.(*corev1.PersistentVolumeClaim)
	if !ok {
		return corev1.ResourceList{}, fmt.Errorf("expect *v1.PersistentVolumeClaim, got %T", item)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{
		corev1.ResourcePersistentVolumeClaims:   one,
		ObjectCountName(PersistentVolumeClaims): one,
	}
	class := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if class != "" {
		out[corev1.ResourceName(class+StorageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one
	}
	if storage := pvcStorage(pvc); storage != nil {
		out[corev1.ResourceRequestsStorage] = *storage
		if class != "" {
			out[corev1.ResourceName(class+StorageClassSuffix+string(corev1.ResourceRequestsStorage))] = *storage
		}
	}
	return out, nil
}

// pvcStorage is the storage a claim is charged for: what it asks, or
// what was allocated to it if more (a failed expansion the user has
// since shrunk), in whole bytes.
func pvcStorage(pvc *corev1.PersistentVolumeClaim) *resource.Quantity {
	roundUp := func(q resource.Quantity) *resource.Quantity {
		r := q.DeepCopy()
		r.RoundUp(0)
		return &r
	}
	asked, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	out := roundUp(asked)
	if allocated, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(*out) > 0 {
		out = roundUp(allocated)
	}
	return out
}

func (p *pvcEvaluator) UsageStats(opts quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(opts, p.list, generic.MatchesNoScopeFunc, p.Usage)
}

func allocatedStorageChanged(pvc, old *corev1.PersistentVolumeClaim) bool {
	a, b := old.Status.AllocatedResources.Storage(), pvc.Status.AllocatedResources.Storage()
	return a.Cmp(*b) != 0
}
