package runc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// A container's CPU and memory cgroup values, as last applied, live
// beside its record so that a restarted kubelet reports them again:
//
//	ROOT/pods/<uid>/containers/<name>-<attempt>/resources.json
//
// They are written at creation (the values of config.json) and after
// every in-place update. A file of its own, not a field of
// container.json: the kubelet's start and stop write that record, and an
// update running beside them must not undo their writes.
const resourcesFile = "resources.json"

// resourcesRecord is what resources.json holds.
type resourcesRecord struct {
	MemoryLimit int64  `json:"memoryLimit,omitempty"`
	CPUShares   uint64 `json:"cpuShares,omitempty"`
	CPUQuota    int64  `json:"cpuQuota,omitempty"`
	CPUPeriod   uint64 `json:"cpuPeriod,omitempty"`
}

// recordResources writes the container's applied cgroup values.
func recordResources(bundle string, res kruntime.ContainerResources) error {
	return writeJSON(filepath.Join(bundle, resourcesFile), resourcesRecord(res))
}

// appliedResources reads the container's applied cgroup values; nil for
// a container made before they were recorded.
func appliedResources(bundle string) *kruntime.ContainerResources {
	rec := resourcesRecord{}
	if err := readJSON(filepath.Join(bundle, resourcesFile), &rec); err != nil {
		return nil
	}
	res := kruntime.ContainerResources(rec)
	return &res
}

// UpdateContainerResources implements kruntime.Runtime with `runc
// update`, which writes the cgroup files of whichever hierarchy the node
// has (v1: memory.limit_in_bytes, cpu.shares, cpu.cfs_quota_us and
// cpu.cfs_period_us; v2: memory.max, cpu.weight converted from the
// shares, cpu.max) and keeps runc's own state in step, so a later `runc
// update` or `runc exec` sees the same values.
func (r *Runtime) UpdateContainerResources(ctx context.Context, uid types.UID, id string, res kruntime.ContainerResources) error {
	bundle, _, err := r.findContainer(uid, id)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err == nil {
		return fmt.Errorf("update container %s: container is not running", id)
	}
	in := filepath.Join(bundle, "resources-update.json")
	if err := writeJSON(in, updateResources(res)); err != nil {
		return err
	}
	defer os.Remove(in)
	if _, err := r.runcCmd(ctx, "update", "--resources", in, id); err != nil {
		return fmt.Errorf("update container %s resources: %w", id, err)
	}
	return recordResources(bundle, res)
}

// updateResources is the `runc update --resources` input for res. runc
// leaves a value of 0 as it is, so a limit the container no longer has
// is written as -1: no memory limit, no CPU quota. The period is always
// given: a quota means nothing without it.
func updateResources(res kruntime.ContainerResources) *specs.LinuxResources {
	limit := res.MemoryLimit
	if limit <= 0 {
		limit = -1
	}
	shares := max(res.CPUShares, minShares)
	quota := res.CPUQuota
	if quota <= 0 {
		quota = -1
	}
	period := res.CPUPeriod
	if period == 0 {
		period = defaultCPUPeriod
	}
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		CPU:    &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period},
	}
}

// The smallest CPU shares the kernel takes, and the CFS period Kubernetes
// uses (100 ms).
const (
	minShares        = 2
	defaultCPUPeriod = 100000
)
