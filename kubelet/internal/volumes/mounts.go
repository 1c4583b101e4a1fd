package volumes

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"coracle.dev/kubelet/internal/mount"
)

// unmountAll unmounts every mount at or below dir, deepest first, and
// checks that none is left: only then may what is below dir be removed.
func unmountAll(dir string) error {
	ps, err := mount.Points(dir)
	if err != nil {
		return err
	}
	for _, p := range ps {
		// Stacked mounts on one point come off one at a time.
		for range 8 {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
					break
				}
				return fmt.Errorf("unmount %s: %w", p, err)
			}
			if still, err := mount.IsPoint(p); err != nil || !still {
				break
			}
		}
	}
	left, err := mount.Points(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("%s is still mounted, despite call to unmount", left[0])
	}
	return nil
}

// bindMount binds source at target, read-only if asked (a bind mount
// takes the flag only on a remount).
func bindMount(source, target string, readOnly bool) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s at %s: %w", source, target, err)
	}
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}
