// Package metrics defines kube-proxy's Prometheus metrics, named as
// upstream kube-proxy's are.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are kube-proxy's metrics.
type Metrics struct {
	// SyncDuration is how long one sync of the rules took.
	SyncDuration *prometheus.HistogramVec
	// LastSync is when the rules were last synced (Unix seconds).
	LastSync prometheus.Gauge
	// Rules is how many rules kube-proxy has in each table.
	Rules *prometheus.GaugeVec
	// Syncs counts syncs by kind (full, partial) and result.
	Syncs *prometheus.CounterVec
	// NetworkProgramming is the time from an endpoint change (the
	// EndpointSlice's endpoints.kubernetes.io/last-change-trigger-time)
	// to the rules for it being live.
	NetworkProgramming prometheus.Histogram
}

// New registers the metrics on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kubeproxy_sync_proxy_rules_duration_seconds", Help: "Time taken to sync the proxy rules.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"kind"}),
		LastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds", Help: "The last time the proxy rules were successfully synced.",
		}),
		Rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_iptables_total", Help: "Number of iptables rules kube-proxy owns, by table.",
		}, []string{"table"}),
		Syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubeproxy_sync_proxy_rules_total", Help: "Syncs of the proxy rules, by kind and result.",
		}, []string{"kind", "result"}),
		NetworkProgramming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kubeproxy_network_programming_duration_seconds", Help: "Time from an endpoint change to its rules being live.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{m.SyncDuration, m.LastSync, m.Rules, m.Syncs, m.NetworkProgramming} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
