package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mountPoints lists the mount points of the kubelet's mount namespace
// at or below dir (deepest first), from /proc/self/mountinfo. Asking
// mountinfo rather than comparing devices matters: a bind mount of a
// directory on the same file system (a local PersistentVolume) has the
// device of its parent, and must never be taken for a plain directory
// whose contents may be removed.
func mountPoints(dir string) ([]string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return slices.Compact(out), nil
}

// isMountPoint reports whether path is itself a mount point.
func isMountPoint(path string) (bool, error) {
	ps, err := mountPoints(path)
	if err != nil {
		return false, err
	}
	return slices.Contains(ps, filepath.Clean(path)), nil
}

// unescapeMount undoes mountinfo's octal escapes of blanks and
// backslashes.
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// unmountAll unmounts every mount at or below dir, deepest first, and
// checks that none is left: only then may what is below dir be removed.
func unmountAll(dir string) error {
	ps, err := mountPoints(dir)
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
			if still, err := isMountPoint(p); err != nil || !still {
				break
			}
		}
	}
	left, err := mountPoints(dir)
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
