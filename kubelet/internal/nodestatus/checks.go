package nodestatus

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Thresholds below which the node reports pressure, as the kubelet's
// default hard eviction thresholds.
type Thresholds struct {
	// MemoryAvailable is the least MemAvailable (100Mi).
	MemoryAvailable int64
	// DiskAvailablePercent is the least free share of the file system
	// holding the root dir (10).
	DiskAvailablePercent float64
	// PIDAvailablePercent is the least share of pid_max still free (10).
	PIDAvailablePercent float64
}

// DefaultThresholds are Kubernetes' defaults.
var DefaultThresholds = Thresholds{MemoryAvailable: 100 << 20, DiskAvailablePercent: 10, PIDAvailablePercent: 10}

// HostChecks returns the real pressure checks for this machine, looking
// at the file system that holds dir.
func HostChecks(dir string, th Thresholds) map[v1.NodeConditionType]Check {
	return map[v1.NodeConditionType]Check{
		v1.NodeMemoryPressure: func() (v1.ConditionStatus, string, string) {
			avail, err := memInfo("MemAvailable")
			if err != nil || avail >= th.MemoryAvailable {
				return v1.ConditionFalse, "", ""
			}
			return v1.ConditionTrue, "", ""
		},
		v1.NodeDiskPressure: func() (v1.ConditionStatus, string, string) {
			var st unix.Statfs_t
			if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
				return v1.ConditionFalse, "", ""
			}
			if float64(st.Bavail)*100/float64(st.Blocks) >= th.DiskAvailablePercent {
				return v1.ConditionFalse, "", ""
			}
			return v1.ConditionTrue, "", ""
		},
		v1.NodePIDPressure: func() (v1.ConditionStatus, string, string) {
			max, used, err := pids()
			if err != nil || max == 0 || float64(max-used)*100/float64(max) >= th.PIDAvailablePercent {
				return v1.ConditionFalse, "", ""
			}
			return v1.ConditionTrue, "", ""
		},
	}
}

// HostCapacity is this machine's capacity: CPUs, memory, the size of the
// file system holding dir, and maxPods.
func HostCapacity(cpus int, dir string, maxPods int) (v1.ResourceList, error) {
	mem, err := memInfo("MemTotal")
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return v1.ResourceList{
		v1.ResourceCPU:              *resource.NewQuantity(int64(cpus), resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(mem, resource.BinarySI),
		v1.ResourcePods:             *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
		v1.ResourceEphemeralStorage: *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI),
	}, nil
}

// Allocatable is capacity less what the eviction thresholds hold back.
func Allocatable(capacity v1.ResourceList, th Thresholds) v1.ResourceList {
	out := capacity.DeepCopy()
	if m, ok := out[v1.ResourceMemory]; ok {
		m.Sub(*resource.NewQuantity(th.MemoryAvailable, resource.BinarySI))
		out[v1.ResourceMemory] = m
	}
	if s, ok := out[v1.ResourceEphemeralStorage]; ok {
		keep := int64(float64(s.Value()) * th.DiskAvailablePercent / 100)
		s.Sub(*resource.NewQuantity(keep, resource.BinarySI))
		out[v1.ResourceEphemeralStorage] = s
	}
	return out
}

// memInfo reads one /proc/meminfo field, in bytes.
func memInfo(field string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("/proc/meminfo: no %s", field)
}

// pids returns pid_max and the number of processes (and threads) in use.
func pids() (max, used int64, err error) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, 0, err
	}
	max, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	b, err = os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, 0, err
	}
	// The fourth field is running/total scheduling entities.
	fields := strings.Fields(string(b))
	if len(fields) < 4 {
		return max, 0, nil
	}
	_, total, _ := strings.Cut(fields[3], "/")
	used, _ = strconv.ParseInt(total, 10, 64)
	return max, used, nil
}
