// Package metrics defines the apiserver's Prometheus metrics, named as
// Kubernetes names them so existing dashboards read them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one apiserver's metrics, on its own registry (never the global
// one: tests run several apiservers in one process).
type Metrics struct {
	Registry    *prometheus.Registry
	Requests    *prometheus.CounterVec
	Latency     *prometheus.HistogramVec
	LongRunning *prometheus.GaugeVec
	Etcd        *prometheus.HistogramVec
}

// New creates and registers the metrics. watchers reports the open
// watchers per resource for the apiserver_registered_watchers gauge.
func New(watchers func() map[string]int) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out by verb, group, version, resource, subresource and HTTP response code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "code"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, group, version, resource and subresource.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10, 30, 60},
		}, []string{"verb", "group", "version", "resource", "subresource"}),
		LongRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_longrunning_requests",
			Help: "Gauge of all active long-running apiserver requests (watches) broken out by verb and resource.",
		}, []string{"verb", "resource"}),
		Etcd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etcd_request_duration_seconds",
			Help:    "Etcd request latency in seconds for each operation.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"operation"}),
	}
	m.Registry.MustRegister(m.Requests, m.Latency, m.LongRunning, m.Etcd,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&watcherCollector{watchers: watchers})
	return m
}

// ObserveEtcd records one etcd request.
func (m *Metrics) ObserveEtcd(op string, d time.Duration) {
	m.Etcd.WithLabelValues(op).Observe(d.Seconds())
}

var watchersDesc = prometheus.NewDesc("apiserver_registered_watchers",
	"Number of currently registered watchers for a given resource.", []string{"resource"}, nil)

// watcherCollector reads the watch caches' watcher counts at scrape time.
type watcherCollector struct {
	watchers func() map[string]int
}

func (c *watcherCollector) Describe(ch chan<- *prometheus.Desc) { ch <- watchersDesc }

func (c *watcherCollector) Collect(ch chan<- prometheus.Metric) {
	if c.watchers == nil {
		return
	}
	for res, n := range c.watchers() {
		ch <- prometheus.MustNewConstMetric(watchersDesc, prometheus.GaugeValue, float64(n), res)
	}
}
