package scheduler

import (
	v1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"coracle.dev/scheduler/internal/framework"
)

// Informer handlers only record what changed — in the cache, the queue
// and the nominator — and tell the queue which cluster event happened;
// all deciding happens in the scheduling loop.

func (s *Scheduler) addEventHandlers(pods, nodes toolscache.SharedIndexInformer) error {
	// Bound, live pods count against their node.
	if _, err := pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			p, ok := podOf(obj)
			return ok && p.Spec.NodeName != "" && !terminal(p)
		},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    s.addAssignedPod,
			UpdateFunc: s.updateAssignedPod,
			DeleteFunc: s.deleteAssignedPod,
		},
	}); err != nil {
		return err
	}
	// Unbound pods for this scheduler wait in the queue.
	if _, err := pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			p, ok := podOf(obj)
			return ok && p.Spec.NodeName == "" && !terminal(p) && p.Spec.SchedulerName == s.cfg.SchedulerName
		},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    s.addPendingPod,
			UpdateFunc: s.updatePendingPod,
			DeleteFunc: s.deletePendingPod,
		},
	}); err != nil {
		return err
	}
	_, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    s.addNode,
		UpdateFunc: s.updateNode,
		DeleteFunc: s.deleteNode,
	})
	return err
}

// addStorageEventHandlers tells the queue when claims, volumes and
// classes are added or change; their deletions help no waiting pod.
func (s *Scheduler) addStorageEventHandlers(pvcs, pvs, classes toolscache.SharedIndexInformer) error {
	for _, h := range []struct {
		inf      toolscache.SharedIndexInformer
		resource framework.EventResource
	}{
		{pvcs, framework.PersistentVolumeClaim},
		{pvs, framework.PersistentVolume},
		{classes, framework.StorageClass},
	} {
		add := framework.ClusterEvent{Resource: h.resource, ActionType: framework.Add, Label: string(h.resource) + "Add"}
		update := framework.ClusterEvent{Resource: h.resource, ActionType: framework.Update, Label: string(h.resource) + "Update"}
		if _, err := h.inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.queue.MoveAllToActiveOrBackoffQueue(add) },
			UpdateFunc: func(any, any) { s.queue.MoveAllToActiveOrBackoffQueue(update) },
		}); err != nil {
			return err
		}
	}
	return nil
}

func podOf(obj any) (*v1.Pod, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*v1.Pod)
	return p, ok
}

func nodeOf(obj any) (*v1.Node, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	n, ok := obj.(*v1.Node)
	return n, ok
}

// terminal pods hold no resources: Kubernetes' scheduler does not watch
// them at all.
func terminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

func (s *Scheduler) addAssignedPod(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.cache.AddPod(p)
	s.nominator.Delete(p)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodAdd)
}

func (s *Scheduler) updateAssignedPod(oldObj, newObj any) {
	old, ok1 := podOf(oldObj)
	cur, ok2 := podOf(newObj)
	if !ok1 || !ok2 {
		return
	}
	s.cache.UpdatePod(old, cur)
	if ev, ok := framework.AssignedPodUpdateEvent(old, cur); ok {
		s.queue.MoveAllToActiveOrBackoffQueue(ev)
	}
}

func (s *Scheduler) deleteAssignedPod(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.cache.RemovePod(p)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDel)
}

func (s *Scheduler) addPendingPod(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.queue.Add(p)
	if p.Status.NominatedNodeName != "" {
		s.nominator.Add(framework.NewPodInfo(p), "")
	}
}

func (s *Scheduler) updatePendingPod(_, newObj any) {
	p, ok := podOf(newObj)
	if !ok {
		return
	}
	s.queue.Update(p)
	// Keep the nominator's copy current; a nomination this scheduler made
	// but has not yet seen written stays until it is.
	if node := p.Status.NominatedNodeName; node != "" {
		s.nominator.Add(framework.NewPodInfo(p), node)
	} else if s.nominator.NominatedNode(p) != "" {
		s.nominator.Add(framework.NewPodInfo(p), s.nominator.NominatedNode(p))
	}
}

func (s *Scheduler) deletePendingPod(obj any) {
	p, ok := podOf(obj)
	if !ok {
		return
	}
	s.queue.Delete(p)
	if s.nominator.NominatedNode(p) != "" {
		s.nominator.Delete(p)
		// The room reserved for it is free.
		s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDel)
	}
}

func (s *Scheduler) addNode(obj any) {
	n, ok := nodeOf(obj)
	if !ok {
		return
	}
	s.cache.AddNode(n)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventNodeAdd)
}

func (s *Scheduler) updateNode(oldObj, newObj any) {
	old, ok1 := nodeOf(oldObj)
	cur, ok2 := nodeOf(newObj)
	if !ok1 || !ok2 {
		return
	}
	s.cache.UpdateNode(cur)
	if ev, ok := framework.NodeUpdateEvent(old, cur); ok {
		s.queue.MoveAllToActiveOrBackoffQueue(ev)
	}
}

func (s *Scheduler) deleteNode(obj any) {
	n, ok := nodeOf(obj)
	if !ok {
		return
	}
	s.cache.RemoveNode(n.Name)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventNodeDelete)
}
