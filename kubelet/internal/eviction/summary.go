package eviction

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/kubelet/internal/cgroups"
	"coracle.dev/kubelet/internal/nodestatus"
)

// Summary is one observation of the node and its pods: what upstream's
// summary API gives its eviction manager. A nil part was not observed.
type Summary struct {
	Time time.Time
	// Memory is the node's: capacity and the root cgroup's working set.
	Memory *MemoryStats
	// PodsMemory is the pods' cgroup's: the node's allocatable memory
	// (before the eviction threshold) as capacity, and its working set.
	PodsMemory      *MemoryStats
	NodeFs, ImageFs *FsStats
	PIDs            *PIDStats
	// Pods are the usage of the pods asked about, by UID.
	Pods map[types.UID]PodStats
}

// MemoryStats is a memory capacity and the working set in it (usage less
// inactive file pages, as upstream).
type MemoryStats struct {
	CapacityBytes, WorkingSetBytes int64
}

// FsStats is one file system's space and inodes.
type FsStats struct {
	CapacityBytes, AvailableBytes int64
	Inodes, InodesFree            int64
}

// PIDStats is the most processes the node can have and how many run.
type PIDStats struct {
	MaxPID, Processes int64
}

// PodStats is one pod's usage.
type PodStats struct {
	// MemoryWorkingSetBytes is the working set of the pod's cgroup.
	MemoryWorkingSetBytes int64
	// Processes is the number of processes in the pod's cgroup.
	Processes int64
	// DiskBytes and Inodes are what the pod uses on the node's disk:
	// its containers' writable layers, its logs and its local volumes.
	DiskBytes, Inodes int64
	Containers        []ContainerStats
}

// ContainerStats is one container's usage, for the eviction message.
type ContainerStats struct {
	Name                  string
	MemoryWorkingSetBytes int64
	// DiskBytes is its writable layer and its logs.
	DiskBytes int64
}

// SummaryProvider observes the node. Tests give their own.
type SummaryProvider interface {
	// Summary observes the node now, and the usage of pods.
	Summary(pods []*v1.Pod) (*Summary, error)
}

// HostOptions say where the host's pods and files are.
type HostOptions struct {
	// CgroupRoot is the kubelet's --cgroup-root: the pods' cgroup, under
	// which each pod has pod<uid>/<container>-<attempt>.
	CgroupRoot string
	// RootDir is the kubelet's --root-dir (nodefs): pods/<uid> holds the
	// pods' containers, volumes/<uid> their volumes.
	RootDir string
	// ImageDir holds the image store (imagefs).
	ImageDir string
	// PodLogDir holds the pods' logs: <ns>_<name>_<uid>/<container>/.
	PodLogDir string
	// PodsMemoryCapacity is the memory the pods may use: capacity less
	// the system and kube reservations.
	PodsMemoryCapacity int64
}

// Host observes this machine: cgroup v1 or v2, statfs and procfs.
type Host struct {
	opts HostOptions
}

// NewHost returns the provider of this machine's summary.
func NewHost(opts HostOptions) *Host { return &Host{opts: opts} }

var _ SummaryProvider = (*Host)(nil)

// Summary observes the machine.
func (h *Host) Summary(pods []*v1.Pod) (*Summary, error) {
	s := &Summary{Time: time.Now(), Pods: map[types.UID]PodStats{}}
	if total, err := nodestatus.MemInfo("MemTotal"); err == nil {
		if ws, err := rootWorkingSet(); err == nil {
			s.Memory = &MemoryStats{CapacityBytes: total, WorkingSetBytes: ws}
		}
	}
	if dir := cgroups.MemoryDir(h.opts.CgroupRoot); dir != "" {
		ws, err := workingSet(dir)
		if os.IsNotExist(err) {
			// No pod ran yet: the pods use nothing.
			ws, err = 0, nil
		}
		if err == nil {
			s.PodsMemory = &MemoryStats{CapacityBytes: h.opts.PodsMemoryCapacity, WorkingSetBytes: ws}
		}
	}
	if fs, err := statFs(h.opts.RootDir); err == nil {
		s.NodeFs = fs
	}
	if fs, err := statFs(h.opts.ImageDir); err == nil {
		s.ImageFs = fs
	} else {
		s.ImageFs = s.NodeFs
	}
	if max, procs, err := pidStats(); err == nil {
		s.PIDs = &PIDStats{MaxPID: max, Processes: procs}
	}
	for _, p := range pods {
		s.Pods[p.UID] = h.podStats(p)
	}
	return s, nil
}

// podStats measures one pod as the runc runtime lays it out.
func (h *Host) podStats(pod *v1.Pod) PodStats {
	var ps PodStats
	uid := string(pod.UID)
	byName := map[string]*ContainerStats{}
	container := func(name string) *ContainerStats {
		if c := byName[name]; c != nil {
			return c
		}
		ps.Containers = append(ps.Containers, ContainerStats{Name: name})
		c := &ps.Containers[len(ps.Containers)-1]
		// Pointers into the slice move when it grows: index afresh.
		for i := range ps.Containers {
			byName[ps.Containers[i].Name] = &ps.Containers[i]
		}
		return c
	}
	if dir := cgroups.MemoryDir(filepath.Join(h.opts.CgroupRoot, "pod"+uid)); dir != "" {
		if ws, err := workingSet(dir); err == nil {
			ps.MemoryWorkingSetBytes = ws
		}
		ps.Processes = countProcs(dir)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name, ok := containerName(e.Name())
			if !e.IsDir() || !ok {
				continue
			}
			if ws, err := workingSet(filepath.Join(dir, e.Name())); err == nil {
				container(name).MemoryWorkingSetBytes += ws
			}
		}
	}
	// Writable layers: each attempt's overlay upper dir.
	bundles, _ := filepath.Glob(filepath.Join(h.opts.RootDir, "pods", uid, "containers", "*"))
	for _, b := range bundles {
		name, ok := containerName(filepath.Base(b))
		if !ok {
			continue
		}
		bytes, _ := du(filepath.Join(b, "fs"))
		container(name).DiskBytes += bytes
	}
	logDir := filepath.Join(h.opts.PodLogDir, pod.Namespace+"_"+pod.Name+"_"+uid)
	logs, _ := os.ReadDir(logDir)
	for _, l := range logs {
		if l.IsDir() {
			bytes, _ := du(filepath.Join(logDir, l.Name()))
			container(l.Name()).DiskBytes += bytes
		}
	}
	for _, dir := range []string{filepath.Join(h.opts.RootDir, "pods", uid), filepath.Join(h.opts.RootDir, "volumes", uid), logDir} {
		bytes, inodes := du(dir)
		ps.DiskBytes += bytes
		ps.Inodes += inodes
	}
	return ps
}

// containerName is the container of a <name>-<attempt> directory.
func containerName(dir string) (string, bool) {
	i := strings.LastIndexByte(dir, '-')
	if i <= 0 {
		return "", false
	}
	if _, err := strconv.Atoi(dir[i+1:]); err != nil {
		return "", false
	}
	return dir[:i], true
}

// du sums the bytes allocated to the files under dir, and counts its
// inodes, staying on dir's file system: overlay root file systems and
// tmpfs mounts under it are not the disk's.
func du(dir string) (bytes, inodes int64) {
	var root unix.Stat_t
	if err := unix.Lstat(dir, &root); err != nil {
		return 0, 0
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		bytes += st.Blocks * 512
		inodes++
		return nil
	})
	return bytes, inodes
}

// workingSet is a memory cgroup's usage less its inactive file pages, as
// cAdvisor computes it for upstream: memory.usage_in_bytes and
// total_inactive_file (v1), or memory.current and inactive_file (v2).
func workingSet(dir string) (int64, error) {
	usageFile, inactiveKey := "memory.usage_in_bytes", "total_inactive_file"
	if _, err := os.Stat(filepath.Join(dir, usageFile)); err != nil {
		usageFile, inactiveKey = "memory.current", "inactive_file"
	}
	b, err := os.ReadFile(filepath.Join(dir, usageFile))
	if err != nil {
		return 0, err
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", usageFile, err)
	}
	inactive, _ := statField(filepath.Join(dir, "memory.stat"), inactiveKey)
	if inactive > usage {
		return 0, nil
	}
	return usage - inactive, nil
}

// rootWorkingSet is the working set of the whole machine: the root
// memory cgroup's with cgroup v1, and from /proc/meminfo with v2, whose
// root has no memory.current.
func rootWorkingSet() (int64, error) {
	if dir := cgroups.MemoryDir("/"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
			return workingSet(dir)
		}
	}
	total, err := nodestatus.MemInfo("MemTotal")
	if err != nil {
		return 0, err
	}
	free, err := nodestatus.MemInfo("MemFree")
	if err != nil {
		return 0, err
	}
	inactive, _ := nodestatus.MemInfo("Inactive(file)")
	ws := total - free - inactive
	return max(ws, 0), nil
}

// statField reads one "key value" line of a memory.stat file.
func statField(file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, key)
}

// countProcs counts the processes in a cgroup and the cgroups below it.
func countProcs(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err == nil {
			n += int64(len(strings.Fields(string(b))))
		}
		return nil
	})
	return n
}

// statFs reads the space and inodes of the file system holding dir.
func statFs(dir string) (*FsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return &FsStats{
		CapacityBytes: int64(st.Blocks) * st.Bsize, AvailableBytes: int64(st.Bavail) * st.Bsize,
		Inodes: int64(st.Files), InodesFree: int64(st.Ffree),
	}, nil
}

// pidStats returns the most processes the node can have (pid_max, or
// threads-max if lower, as upstream) and how many there are.
func pidStats() (max, procs int64, err error) {
	max, err = readInt("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, 0, err
	}
	if tm, err := readInt("/proc/sys/kernel/threads-max"); err == nil && tm < max {
		max = tm
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0, 0, fmt.Errorf("sysinfo: %w", err)
	}
	return max, int64(info.Procs), nil
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
