package runc

import "coracle.dev/kubelet/internal/cgroups"

// removeCgroup removes a cgroup path and the cgroups under it, deepest
// first, in every hierarchy. Cgroups with processes stay.
func removeCgroup(path string) { cgroups.Remove(path) }

// RemoveCgroupRoot removes the cgroup root itself when it holds no pod
// any more (make down, tests).
func RemoveCgroupRoot(root string) { cgroups.Remove(root) }
