package server

import (
	"context"

	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/fields"

	"coracle.dev/apiserver/internal/admission"
	"coracle.dev/apiserver/internal/watchcache"
)

// priorityClasses reads PriorityClasses for the Priority admission from
// the registry.
type priorityClasses struct{ s *Server }

var _ admission.PriorityClasses = priorityClasses{}

func (p priorityClasses) Get(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	obj, err := p.s.store("scheduling.k8s.io", "priorityclasses").Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*schedulingv1.PriorityClass), nil
}

func (p priorityClasses) GlobalDefault(context.Context) (*schedulingv1.PriorityClass, error) {
	items, _ := p.s.store("scheduling.k8s.io", "priorityclasses").Cache().List(watchcache.Predicate{Field: fields.Everything()})
	var best *schedulingv1.PriorityClass
	for _, obj := range items {
		pc := obj.(*schedulingv1.PriorityClass)
		// Of several global defaults, Kubernetes takes the lowest value.
		if pc.GlobalDefault && (best == nil || pc.Value < best.Value) {
			best = pc
		}
	}
	return best, nil
}
