package runc

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"coracle.dev/kubelet/internal/mount"
)

func isMountPoint(path string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(path, &a) != nil || unix.Lstat(filepath.Dir(path), &b) != nil {
		return false
	}
	if a.Dev != b.Dev {
		return true
	}
	// Bind mounts of the same file system: ask mountinfo.
	ok, _ := mount.IsPoint(path)
	return ok
}

// unmount unmounts path if it is a mount point (all stacked mounts).
func unmount(path string) error {
	for i := 0; i < 8 && isMountPoint(path); i++ {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return nil
}
