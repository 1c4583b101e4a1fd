package runc

import (
	"os"
	"path/filepath"
	"strings"

	"coracle.dev/kubelet/internal/mount"
)

// cgroupMounts lists the mount points of every cgroup hierarchy (v1
// controllers and the unified one).
func cgroupMounts() []string {
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

// memoryCgroupDir is the memory controller's directory of a cgroup path.
func memoryCgroupDir(path string) string {
	for _, m := range cgroupMounts() {
		if filepath.Base(m) == "memory" {
			return filepath.Join(m, path)
		}
	}
	for _, m := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(m, "cgroup.controllers")); err == nil {
			return filepath.Join(m, path)
		}
	}
	return ""
}

// removeCgroup removes a cgroup path and the cgroups under it, deepest
// first, in every hierarchy. Cgroups with processes stay.
func removeCgroup(path string) {
	if path == "" || path == "/" {
		return
	}
	for _, m := range cgroupMounts() {
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

// RemoveCgroupRoot removes the cgroup root itself when it holds no pod
// any more (make down, tests).
func RemoveCgroupRoot(root string) { removeCgroup(root) }
