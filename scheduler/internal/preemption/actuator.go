package preemption

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"

	"coracle.dev/scheduler/internal/binder"
	"coracle.dev/scheduler/internal/framework"
)

// Nominator is the part of the queue's nominator the actuator updates.
type Nominator interface {
	NominatedPodsForNode(node string) []*framework.PodInfo
	Delete(pod *v1.Pod)
}

// Actuator carries out a preemption decision through the API.
type Actuator struct {
	Binder    *binder.Binder
	Recorder  record.EventRecorder
	Nominator Nominator
	// SchedulerName is quoted in the victims' DisruptionTarget condition.
	SchedulerName string
	Log           *zap.Logger
}

// Apply marks each victim with a DisruptionTarget condition and deletes it
// gracefully (the kubelet stops it within its grace period; the scheduler
// keeps counting it until it is gone), records a Preempted event on it,
// and withdraws the nominations of lower-priority pods to the node, which
// would no longer fit. Victims are handled in parallel.
func (a *Actuator) Apply(ctx context.Context, preemptor *v1.Pod, c *Candidate) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Victims))
	for i, v := range c.Victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.evict(ctx, preemptor, v.Pod, c.Node)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("preempt on node %s for pod %s: %w", c.Node, framework.PodKey(preemptor), err)
	}
	prio := framework.PodPriority(preemptor)
	for _, p := range a.Nominator.NominatedPodsForNode(c.Node) {
		if p.Pod.UID == preemptor.UID || p.Priority() >= prio {
			continue
		}
		a.Nominator.Delete(p.Pod)
		empty := ""
		cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable,
			Message: "the node it was nominated to was taken by a higher-priority pod"}
		if err := a.Binder.UpdateStatus(ctx, p.Pod, binder.StatusUpdate{Condition: cond, NominatedNodeName: &empty}); err != nil && !apierrors.IsNotFound(err) {
			a.Log.Warn("could not clear a lower-priority nomination", zap.String("pod", framework.PodKey(p.Pod)), zap.Error(err))
		}
	}
	return nil
}

func (a *Actuator) evict(ctx context.Context, preemptor, victim *v1.Pod, node string) error {
	cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
		Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", a.SchedulerName)}
	if err := a.Binder.UpdateStatus(ctx, victim, binder.StatusUpdate{Condition: cond}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := a.Binder.DeletePod(ctx, victim); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	a.Recorder.Eventf(victim, v1.EventTypeNormal, "Preempted", "Preempted by pod %v on node %v", preemptor.UID, node)
	a.Log.Info("preempted pod", zap.String("victim", framework.PodKey(victim)), zap.String("preemptor", framework.PodKey(preemptor)), zap.String("node", node))
	return nil
}
