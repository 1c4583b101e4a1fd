// Package mount reads the kubelet's mount table (/proc/self/mountinfo):
// which paths are mount points.
package mount

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Points lists the mount points of the kubelet's mount namespace at or
// below dir (deepest first), from /proc/self/mountinfo. Asking mountinfo
// rather than comparing devices matters: a bind mount of a directory on
// the same file system (a local PersistentVolume) has the device of its
// parent, and must never be taken for a plain directory whose contents
// may be removed.
func Points(dir string) ([]string, error) {
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
		p := Unescape(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return slices.Compact(out), nil
}

// IsPoint reports whether path is itself a mount point.
func IsPoint(path string) (bool, error) {
	ps, err := Points(path)
	if err != nil {
		return false, err
	}
	return slices.Contains(ps, filepath.Clean(path)), nil
}

// Unescape undoes mountinfo's octal escapes of blanks and backslashes.
func Unescape(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
