package volumes

import (
	"io/fs"
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
// is left alone: a large volume is not walked on every mount.
func setVolumeOwnership(dir string, fsGroup int64, readOnly bool, policy *v1.PodFSGroupChangePolicy) error {
	if policy != nil && *policy == v1.FSGroupChangeOnRootMismatch && !requiresPermissionChange(dir, fsGroup, readOnly) {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return changeFilePermission(path, fsGroup, readOnly, info)
	})
}

// changeFilePermission gives one file to the group. As Kubernetes', a
// failed chown or chmod does not stop the walk: the rest of the volume
// still gets its group.
func changeFilePermission(path string, fsGroup int64, readOnly bool, info os.FileInfo) error {
	_ = os.Lchown(path, -1, int(fsGroup))
	if info.Mode()&os.ModeSymlink != 0 {
		return nil
	}
	mask := rwMask
	if readOnly {
		mask = roMask
	}
	if info.IsDir() {
		mask |= os.ModeSetgid | execMask
	}
	_ = os.Chmod(path, info.Mode()|mask)
	return nil
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
	perms := rwMask
	if readOnly {
		perms = roMask
	}
	perms |= execMask
	return info.Mode().Perm()&perms != perms || info.Mode()&os.ModeSetgid == 0
}
