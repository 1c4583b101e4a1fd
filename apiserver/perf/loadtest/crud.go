package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchLabel marks everything the benchmark creates.
const benchLabel = "coracle.dev/loadtest"

// configMap is a small configmap, as the create target asks for.
func configMap(ns, name string, i int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{benchLabel: "true"}},
		Data:       map[string]string{"index": strconv.Itoa(i), "payload": "small configmap for the apiserver benchmark"},
	}
}

// createOp creates uniquely named configmaps in ns; prefix tells the
// phases' objects apart.
func (r *runner) createOp(ns, prefix string) Op {
	cms := r.client.CoreV1().ConfigMaps(ns)
	return func(ctx context.Context, w, i int) error {
		_, err := cms.Create(ctx, configMap(ns, fmt.Sprintf("%s-w%d-%d", prefix, w, i), i), metav1.CreateOptions{})
		if err == nil {
			r.created.Add(1)
		}
		return err
	}
}

func (r *runner) createPhase(ctx context.Context) error {
	for _, conc := range r.cfg.Concurrency {
		r.measure(ctx, func() Row {
			rec, elapsed := ClosedLoop(ctx, conc, r.cfg.Duration, r.createOp(r.ns, fmt.Sprintf("c%d", conc)))
			return r.rowFrom("create", conc, rec, elapsed, "closed loop")
		})
	}
	return ctx.Err()
}

// openLoopPhase creates at cfg.Rate per second, the row the create target
// is checked on.
func (r *runner) openLoopPhase(ctx context.Context) error {
	sched, err := NewSchedule(time.Now(), r.cfg.Rate)
	if err != nil {
		return err
	}
	create := r.createOp(r.ns, "rate")
	// Worker numbers are not unique per send here: name by send index.
	op := func(ctx context.Context, _, i int) error { return create(ctx, 0, i) }
	row := r.measure(ctx, func() Row {
		rec, elapsed := OpenLoop(ctx, sched, r.cfg.Duration, r.cfg.RateWorkers, op)
		return r.rowFrom("create (open loop)", r.cfg.RateWorkers, rec, elapsed,
			fmt.Sprintf("%.0f/s scheduled; latency from due time", r.cfg.Rate))
	})
	r.report.Verdicts = append(r.report.Verdicts, Check(Target{
		Name: fmt.Sprintf("create p99 at %.0f creates/s", r.cfg.Rate), Limit: r.cfg.CreateTarget, MinRate: r.cfg.Rate,
	}, row))
	return ctx.Err()
}

func objectName(i int) string { return fmt.Sprintf("object-%d", i) }

// fillObjects fills, once, the namespace that get, update and list use.
func (r *runner) fillObjects(ctx context.Context) error {
	if r.filled {
		return nil
	}
	cms := r.client.CoreV1().ConfigMaps(r.objects)
	rec, _ := FixedCount(ctx, 32, r.cfg.Objects, func(ctx context.Context, _, i int) error {
		_, err := cms.Create(ctx, configMap(r.objects, objectName(i), i), metav1.CreateOptions{})
		if err == nil {
			r.created.Add(1)
		}
		return err
	})
	if rec.Errors > 0 {
		return fmt.Errorf("fill %s: %d of %d creates failed, first: %w", r.objects, rec.Errors, r.cfg.Objects, rec.FirstErr)
	}
	r.filled = ctx.Err() == nil
	return ctx.Err()
}

func (r *runner) getPhase(ctx context.Context) error {
	if err := r.fillObjects(ctx); err != nil {
		return err
	}
	cms := r.client.CoreV1().ConfigMaps(r.objects)
	op := func(ctx context.Context, _, _ int) error {
		_, err := cms.Get(ctx, objectName(rand.IntN(r.cfg.Objects)), metav1.GetOptions{})
		return err
	}
	for _, conc := range r.cfg.Concurrency {
		r.measure(ctx, func() Row {
			rec, elapsed := ClosedLoop(ctx, conc, r.cfg.Duration, op)
			return r.rowFrom("get", conc, rec, elapsed, "random object")
		})
	}
	return ctx.Err()
}

func (r *runner) updatePhase(ctx context.Context) error {
	if err := r.fillObjects(ctx); err != nil {
		return err
	}
	for _, conc := range r.cfg.Concurrency {
		op, err := r.updateOp(ctx, conc)
		if err != nil {
			return err
		}
		r.measure(ctx, func() Row {
			rec, elapsed := ClosedLoop(ctx, conc, r.cfg.Duration, op)
			return r.rowFrom("update", conc, rec, elapsed, fmt.Sprintf("put of last seen object; %d conflicts", rec.Conflicts))
		})
	}
	return ctx.Err()
}

// updateOp updates the objects namespace's configmaps, each worker its own
// share of them, each put carrying the object the last answer returned. A
// conflict (someone else wrote it) refetches the object.
func (r *runner) updateOp(ctx context.Context, conc int) (Op, error) {
	cms := r.client.CoreV1().ConfigMaps(r.objects)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list objects to update: %w", err)
	}
	shares := make([][]*corev1.ConfigMap, conc)
	for i := range list.Items {
		shares[i%conc] = append(shares[i%conc], &list.Items[i])
	}
	return func(ctx context.Context, w, i int) error {
		share := shares[w]
		k := i % len(share)
		cm := share[k].DeepCopy()
		cm.Data["updates"] = strconv.Itoa(i)
		got, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err == nil {
			share[k] = got
			return nil
		}
		if fresh, gerr := cms.Get(ctx, cm.Name, metav1.GetOptions{}); gerr == nil {
			share[k] = fresh
		}
		return err
	}, nil
}

func (r *runner) listPhase(ctx context.Context) error {
	if err := r.fillObjects(ctx); err != nil {
		return err
	}
	kinds := []struct {
		op, note, rv string
	}{
		{"list (etcd)", "resourceVersion unset: read from etcd", ""},
		{"list (cache, rv=0)", "resourceVersion=0: served by the watch cache", "0"},
	}
	for _, k := range kinds {
		for _, conc := range r.cfg.Concurrency {
			r.measure(ctx, func() Row {
				rec, elapsed := ClosedLoop(ctx, conc, r.cfg.Duration, r.listOp(k.rv))
				return r.rowFrom(k.op, conc, rec, elapsed, fmt.Sprintf("%d objects; %s", r.cfg.Objects, k.note))
			})
		}
	}
	return ctx.Err()
}

// listOp lists the objects namespace; a list short of objects is an error.
func (r *runner) listOp(rv string) Op {
	cms := r.client.CoreV1().ConfigMaps(r.objects)
	return func(ctx context.Context, _, _ int) error {
		list, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			return err
		}
		if len(list.Items) != r.cfg.Objects {
			return fmt.Errorf("list returned %d objects, want %d", len(list.Items), r.cfg.Objects)
		}
		return nil
	}
}
