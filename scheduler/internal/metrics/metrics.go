// Package metrics defines the scheduler's Prometheus metrics, named as
// kube-scheduler's where it has them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a scheduling attempt.
const (
	ResultScheduled     = "scheduled"
	ResultUnschedulable = "unschedulable"
	ResultError         = "error"
)

// Metrics are the scheduler's metrics.
type Metrics struct {
	// ScheduleAttempts counts attempts by result.
	ScheduleAttempts *prometheus.CounterVec
	// AttemptDuration is one attempt's decision time (algorithm and
	// preemption), by result.
	AttemptDuration *prometheus.HistogramVec
	// E2ESchedulingDuration is from the pod entering the queue to its
	// binding succeeding, across attempts.
	E2ESchedulingDuration prometheus.Histogram
	// BindingDuration is the pods/binding call.
	BindingDuration prometheus.Histogram
	// PodSchedulingAttempts is how many attempts a bound pod took.
	PodSchedulingAttempts prometheus.Histogram
	// PreemptionAttempts counts preemptions; PreemptionVictims the victims
	// of each.
	PreemptionAttempts prometheus.Counter
	PreemptionVictims  prometheus.Histogram
	// Leader is 1 while this replica leads (always 1 without election).
	Leader prometheus.Gauge
}

// New creates the metrics and registers them on reg, with a pending_pods
// gauge per sub-queue read from pending.
func New(reg prometheus.Registerer, pending func() map[string]int) (*Metrics, error) {
	latency := prometheus.ExponentialBuckets(0.0005, 2, 18) // 0.5ms .. ~65s
	m := &Metrics{
		ScheduleAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Scheduling attempts, by result: scheduled, unschedulable (fits no node) or error.",
		}, []string{"result"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scheduler_scheduling_attempt_duration_seconds", Buckets: latency,
			Help: "Time to decide one attempt (filter, score, preemption), by result.",
		}, []string{"result"}),
		E2ESchedulingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_e2e_scheduling_duration_seconds", Buckets: latency,
			Help: "Time from a pod entering the scheduling queue to its binding succeeding, across attempts.",
		}),
		BindingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_binding_duration_seconds", Buckets: latency,
			Help: "Duration of the pods/binding API call.",
		}),
		PodSchedulingAttempts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_pod_scheduling_attempts", Buckets: prometheus.ExponentialBuckets(1, 2, 6),
			Help: "Attempts it took to schedule a pod.",
		}),
		PreemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_preemption_attempts_total", Help: "Preemptions carried out.",
		}),
		PreemptionVictims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_preemption_victims", Buckets: prometheus.ExponentialBuckets(1, 2, 7),
			Help: "Pods evicted by each preemption.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scheduler_leader", Help: "1 while this replica is the leader and schedules, else 0.",
		}),
	}
	collectors := []prometheus.Collector{m.ScheduleAttempts, m.AttemptDuration, m.E2ESchedulingDuration, m.BindingDuration,
		m.PodSchedulingAttempts, m.PreemptionAttempts, m.PreemptionVictims, m.Leader}
	for _, q := range []string{"active", "backoff", "unschedulable", "gated"} {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scheduler_pending_pods", ConstLabels: prometheus.Labels{"queue": q},
			Help: "Pods waiting in each sub-queue: active (ready to try), backoff, unschedulable (waiting for a cluster event), gated.",
		}, func() float64 { return float64(pending()[q]) }))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
