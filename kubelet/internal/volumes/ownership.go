package volumes

import (
	"os"
	"path/filepath"
	"syscall"

	v1 "k8s.io/api/core/v1"
)

// The permission bits a pod's fsGroup gets on a volume, as Kubernetes'
// SetVolumeOwnership: read and write for the group (read only on a
// read-only volume), and search plus setgid on directories, so that
// what the pod creates there belongs to the group too.
const (
	rwMask   = os.FileMode(0o660)
	roMask   = os.FileMode(0o440)
	execMask = os.FileMode(0o110)
)

// setVolumeOwnership gives everything under dir to the group fsGroup
// (owners stay) with the group's permission bits. With the policy
// OnRootMismatch a volume whose root already has the group and the bits
// is left alone: a large volume is not walked on every mount. The root
// is changed last, so a walk cut short (a kubelet restart) leaves a root
// that does not match and the next mount walks again.
//
// readOnly is the volume plugin's, not the container's: configMap,
// secret, downwardAPI and projected volumes are read-only volumes
// whose files get the group's read bits only, as Kubernetes'.
func setVolumeOwnership(dir string, fsGroup int64, readOnly bool, policy *v1.PodFSGroupChangePolicy) error {
	if policy != nil && *policy == v1.FSGroupChangeOnRootMismatch && !requiresPermissionChange(dir, fsGroup, readOnly) {
		return nil
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return walkDeep(dir, info, func(path string, info os.FileInfo) {
		changeFilePermission(path, fsGroup, readOnly, info)
	})
}

// walkDeep calls fn for everything below path and then for path itself
// (children before their directory, unsorted: the order does not
// matter and sorting a large volume costs). Symlinks are not followed.
func walkDeep(path string, info os.FileInfo, fn func(string, os.FileInfo)) error {
	if info.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		_ = f.Close()
		if err != nil {
			return err
		}
		for _, name := range names {
			p := filepath.Join(path, name)
			ci, err := os.Lstat(p)
			if os.IsNotExist(err) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			if err := walkDeep(p, ci, fn); err != nil {
				return err
			}
		}
	}
	fn(path, info)
	return nil
}

// changeFilePermission gives one file to the group. As Kubernetes', a
// failed chown or chmod does not stop the walk: the rest of the volume
// still gets its group. A symlink's own mode means nothing and chmod
// would go through it to its target: only its group is changed.
func changeFilePermission(path string, fsGroup int64, readOnly bool, info os.FileInfo) {
	_ = os.Lchown(path, -1, int(fsGroup))
	if info.Mode()&os.ModeSymlink != 0 {
		return
	}
	_ = os.Chmod(path, info.Mode()|groupMask(readOnly, info.IsDir()))
}

// groupMask is the bits setVolumeOwnership adds to a file or directory.
func groupMask(readOnly, dir bool) os.FileMode {
	mask := rwMask
	if readOnly {
		mask = roMask
	}
	if dir {
		mask |= os.ModeSetgid | execMask
	}
	return mask
}

// requiresPermissionChange reports whether the volume's root lacks the
// group, its permission bits or setgid.
func requiresPermissionChange(root string, fsGroup int64, readOnly bool) bool {
	info, err := os.Stat(root)
	if err != nil {
		return true
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || int64(st.Gid) != fsGroup || !info.IsDir() {
		return true
	}
	perms := groupMask(readOnly, true).Perm()
	return info.Mode().Perm()&perms != perms || info.Mode()&os.ModeSetgid == 0
}

// fsGroup returns the pod's fsGroup, nil when it has none.
func fsGroup(pod *v1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// fsUser returns the user every container of the pod runs as, when
// they all name the same one (runAsUser of the container, or else of
// the pod), as Kubernetes' FsUserFrom: the owner of the pod's
// ServiceAccount tokens, which are then readable by that user alone.
// nil when a container names none or two containers differ.
func fsUser(pod *v1.Pod) *int64 {
	var user *int64
	same := true
	visit := func(sc *v1.SecurityContext) {
		u := (*int64)(nil)
		if sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		} else if psc := pod.Spec.SecurityContext; psc != nil {
			u = psc.RunAsUser
		}
		switch {
		case u == nil, user != nil && *user != *u:
			same = false
		case user == nil:
			user = u
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(pod.Spec.InitContainers[i].SecurityContext)
	}
	for i := range pod.Spec.Containers {
		visit(pod.Spec.Containers[i].SecurityContext)
	}
	for i := range pod.Spec.EphemeralContainers {
		visit(pod.Spec.EphemeralContainers[i].SecurityContext)
	}
	if !same {
		return nil
	}
	return user
}
