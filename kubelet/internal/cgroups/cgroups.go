// Package cgroups finds the node's cgroup hierarchies: the mount points
// of the v1 controllers and of the unified (v2) hierarchy, the memory
// controller's directory of a cgroup path, and removes cgroup subtrees.
// The runtime makes pods' cgroups with runc; the eviction manager reads
// their memory.
package cgroups

import (
	"os"
	"path/filepath"
	"strings"

	"coracle.dev/kubelet/internal/mount"
)

// Mounts lists the mount points of every cgroup hierarchy (v1
// controllers and the unified one).
func Mounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, pf := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(pf) < 1 {
			continue
		}
		if pf[0] == "cgroup" || pf[0] == "cgroup2" {
			out = append(out, mount.Unescape(f[4]))
		}
	}
	return out
}

// MemoryDir is the memory controller's directory of a cgroup path: in
// the v1 memory hierarchy, else in the unified one; "" without either.
func MemoryDir(path string) string {
	mounts := Mounts()
	for _, m := range mounts {
		if filepath.Base(m) == "memory" {
			return filepath.Join(m, path)
		}
	}
	for _, m := range mounts {
		if _, err := os.Stat(filepath.Join(m, "cgroup.controllers")); err == nil {
			return filepath.Join(m, path)
		}
	}
	return ""
}

// Remove removes a cgroup path and the cgroups under it, deepest first,
// in every hierarchy. Cgroups with processes stay.
func Remove(path string) {
	if path == "" || path == "/" {
		return
	}
	for _, m := range Mounts() {
		root := filepath.Join(m, path)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}
