package loadtest

import (
	"math"
	"strings"
	"testing"
)

const etcdMetrics = `# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 80
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 95
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.128"} 99
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.256"} 100
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 100
etcd_disk_wal_fsync_duration_seconds_sum 0.5
etcd_disk_wal_fsync_duration_seconds_count 100
# HELP etcd_disk_backend_commit_duration_seconds The latency distributions of commit called by backend.
# TYPE etcd_disk_backend_commit_duration_seconds histogram
etcd_disk_backend_commit_duration_seconds_bucket{le="0.001"} 3
etcd_disk_backend_commit_duration_seconds_bucket{le="+Inf"} 4
etcd_disk_backend_commit_duration_seconds_sum 1.5
etcd_disk_backend_commit_duration_seconds_count 4
# HELP etcd_server_has_leader Whether or not a leader exists.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
`

func TestParseDiskStats(t *testing.T) {
	d, err := ParseDiskStats(strings.NewReader(etcdMetrics))
	if err != nil {
		t.Fatal(err)
	}
	if d.WALFsync.Count != 100 || len(d.WALFsync.Bounds) != 4 || d.WALFsync.Counts[3] != 100 {
		t.Errorf("wal fsync = %+v, want 100 observations in 4 finite buckets", d.WALFsync)
	}
	if d.BackendCommit.Count != 4 || len(d.BackendCommit.Bounds) != 1 {
		t.Errorf("backend commit = %+v, want 4 observations, 1 finite bucket", d.BackendCommit)
	}
	if _, err := ParseDiskStats(strings.NewReader("etcd_server_has_leader 1\n")); err == nil {
		t.Error("ParseDiskStats without the histograms = nil error, want one")
	}
}

func TestHistogramQuantile(t *testing.T) {
	d, _ := ParseDiskStats(strings.NewReader(etcdMetrics))
	h := d.WALFsync
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		{"median in the first bucket", h, 0.5, 0.001},
		{"p95 at a bucket's edge", h, 0.95, 0.002},
		{"p99", h, 0.99, 0.128},
		{"max", h, 1, 0.256},
		{"above every bound", d.BackendCommit, 1, math.Inf(1)},
		{"no observations", Histogram{}, 0.99, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestDiskStatsSub(t *testing.T) {
	before := Histogram{Bounds: []float64{0.001, 0.1}, Counts: []uint64{10, 10}, Count: 10}
	after := Histogram{Bounds: []float64{0.001, 0.1}, Counts: []uint64{15, 16}, Count: 17}
	got := DiskStats{WALFsync: after}.Sub(DiskStats{WALFsync: before})
	w := got.WALFsync
	if w.Count != 7 || w.Counts[0] != 5 || w.Counts[1] != 6 {
		t.Errorf("Sub = %+v, want 7 observations: 5 <= 1ms, 6 <= 100ms", w)
	}
	if s := got.String(); s != "etcd wal fsyncs 7, p99 <= inf, max <= inf" {
		t.Errorf("String = %q", s)
	}
	if s := (DiskStats{}).String(); s != "no etcd fsyncs" {
		t.Errorf("String of nothing = %q", s)
	}
}
