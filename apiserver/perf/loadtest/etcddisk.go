package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// etcd's disk latency histograms: every write waits for a WAL fsync, so
// their tail is a floor under the apiserver's write latency tail.
const (
	walFsyncMetric      = "etcd_disk_wal_fsync_duration_seconds"
	backendCommitMetric = "etcd_disk_backend_commit_duration_seconds"
)

// Histogram is a Prometheus histogram: cumulative counts per upper bound.
type Histogram struct {
	Bounds []float64 // ascending upper bounds, in seconds
	Counts []uint64  // Counts[i]: observations <= Bounds[i]
	Count  uint64    // all observations, including those above every bound
}

// Sub is the histogram of the observations made after before.
func (h Histogram) Sub(before Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Count: h.Count - before.Count}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i]
		if i < len(before.Counts) {
			out.Counts[i] -= before.Counts[i]
		}
	}
	return out
}

// Quantile is the upper bound of the bucket holding the q-quantile
// (0 < q <= 1): the observation is at most that. +Inf when it lies above
// every bound; 0 with no observations.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Count)))
	for i, c := range h.Counts {
		if c >= rank {
			return h.Bounds[i]
		}
	}
	return math.Inf(1)
}

// DiskStats are an etcd's disk latencies over some time.
type DiskStats struct {
	WALFsync, BackendCommit Histogram
}

// Sub is what happened after before.
func (d DiskStats) Sub(before DiskStats) DiskStats {
	return DiskStats{WALFsync: d.WALFsync.Sub(before.WALFsync), BackendCommit: d.BackendCommit.Sub(before.BackendCommit)}
}

// String summarises the WAL fsyncs for a row's note: how many, the bucket
// of their p99 and of the slowest.
func (d DiskStats) String() string {
	h := d.WALFsync
	if h.Count == 0 {
		return "no etcd fsyncs"
	}
	return fmt.Sprintf("etcd wal fsyncs %d, p99 <= %s, max <= %s", h.Count, boundString(h.Quantile(0.99)), boundString(h.Quantile(1)))
}

func boundString(seconds float64) string {
	if math.IsInf(seconds, 1) {
		return "inf"
	}
	return time.Duration(seconds * float64(time.Second)).String()
}

// ParseDiskStats reads the disk histograms from an etcd /metrics text.
func ParseDiskStats(r io.Reader) (DiskStats, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return DiskStats{}, fmt.Errorf("parse etcd metrics: %w", err)
	}
	wal, err := histogramOf(families, walFsyncMetric)
	if err != nil {
		return DiskStats{}, err
	}
	commit, err := histogramOf(families, backendCommitMetric)
	if err != nil {
		return DiskStats{}, err
	}
	return DiskStats{WALFsync: wal, BackendCommit: commit}, nil
}

func histogramOf(families map[string]*dto.MetricFamily, name string) (Histogram, error) {
	f, ok := families[name]
	if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
		return Histogram{}, fmt.Errorf("etcd metrics: no histogram %s", name)
	}
	ph := f.GetMetric()[0].GetHistogram()
	h := Histogram{Count: ph.GetSampleCount()}
	for _, b := range ph.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		h.Bounds = append(h.Bounds, b.GetUpperBound())
		h.Counts = append(h.Counts, b.GetCumulativeCount())
	}
	return h, nil
}

// etcdDisk reads an etcd's disk latencies from its metrics URL.
type etcdDisk struct {
	url    string
	client *http.Client
}

func (e etcdDisk) read(ctx context.Context) (DiskStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url, nil)
	if err != nil {
		return DiskStats{}, fmt.Errorf("etcd metrics %s: %w", e.url, err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return DiskStats{}, fmt.Errorf("etcd metrics %s: %w", e.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return DiskStats{}, fmt.Errorf("etcd metrics %s: %s", e.url, resp.Status)
	}
	return ParseDiskStats(resp.Body)
}
