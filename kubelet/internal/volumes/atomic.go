package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The layout writeAtomic keeps in a volume's directory, as Kubernetes'
// AtomicWriter does:
//
//	DIR/..2026_01_02_15_04_05.123456789/token   the files, a new directory per change
//	DIR/..data -> ..2026_01_02_15_04_05.123456789
//	DIR/token -> ..data/token                   each top-level name, through ..data
//
// A change is written to a new timestamped directory, then ..data is
// swapped to it with one rename(2): a reader going through the visible
// names sees the old set of files or the new one, never a half-written
// token or a mix of two versions of a ConfigMap. Names starting with ".."
// are the writer's.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	// newLinkName is where linkVisible makes a link before renaming it
	// into place.
	newLinkName = "..link_tmp"
	// tsDirLayout names the timestamped directories (".." and a
	// random suffix from os.MkdirTemp follow).
	tsDirLayout = "..2006_01_02_15_04_05."

	maxFileNameLength = 255
	maxPathLength     = 4096
)

// writeAtomic makes dir hold exactly files, in the layout above. It
// writes nothing when the current version already has these contents,
// modes and owners, and reports whether it wrote.
//
// With an fsGroup, a new version is given to the group before it is
// swapped in, as Kubernetes' configMap, secret, downwardAPI and
// projected volumes do: the whole volume is walked (its root too, the
// first time) with the read-only volume's bits, so the files get the
// group's read bit (a defaultMode of 0400 reads 0440) and directories
// setgid and the group's search bit. Every rewrite does it again, so a
// refreshed volume keeps its group.
func writeAtomic(dir string, files map[string]file, fsGroup *int64) (bool, error) {
	clean, err := cleanPaths(files)
	if err != nil {
		return false, err
	}
	if err := setUpDir(dir); err != nil {
		return false, err
	}
	oldTs, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	changed := true
	if oldTs != "" {
		same, err := sameFiles(filepath.Join(dir, oldTs), clean, fsGroup)
		if err != nil {
			return false, err
		}
		changed = !same
	}
	newTs := oldTs
	if changed {
		if newTs, err = writeVersion(dir, clean, fsGroup); err != nil {
			return false, err
		}
	}
	// Also when nothing changed: a crash between the swap and the links
	// may have left them behind.
	if err := linkVisible(dir, clean); err != nil {
		return changed, err
	}
	return changed, removeStale(dir, clean, newTs)
}

// cleanPaths checks the files' paths as Kubernetes does (relative, no
// ".." element, not starting with "..", bounded lengths) and returns
// the files under cleaned paths.
func cleanPaths(files map[string]file) (map[string]file, error) {
	out := make(map[string]file, len(files))
	for p, f := range files {
		if err := validatePath(p); err != nil {
			return nil, err
		}
		out[filepath.Clean(p)] = f
	}
	return out, nil
}

func validatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	case path.IsAbs(p):
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	case len(p) > maxPathLength:
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// sameFiles reports whether the version directory ts holds exactly the
// files, with their contents, modes and owners (the group fsGroup, and
// their users), as writeVersion leaves them.
func sameFiles(ts string, files map[string]file, fsGroup *int64) (bool, error) {
	seen := 0
	err := filepath.WalkDir(ts, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(ts, p)
		if err != nil {
			return err
		}
		f, ok := files[rel]
		if !ok {
			return errDiffers
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := f.mode.Perm()
		if fsGroup != nil {
			want |= groupMask(true, false)
		}
		if !info.Mode().IsRegular() || info.Mode().Perm() != want || info.Size() != int64(len(f.data)) {
			return errDiffers
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok ||
			fsGroup != nil && int64(st.Gid) != *fsGroup ||
			f.user != nil && int64(st.Uid) != *f.user {
			return errDiffers
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, f.data) {
			return errDiffers
		}
		seen++
		return nil
	})
	switch {
	case err == errDiffers, os.IsNotExist(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return seen == len(files), nil
}

// errDiffers stops sameFiles' walk at the first difference.
var errDiffers = errors.New("differs")

// writeVersion writes the files to a new timestamped directory, gives
// the volume to fsGroup if there is one, and points ..data at the new
// directory with one rename; it returns the directory's name.
func writeVersion(dir string, files map[string]file, fsGroup *int64) (string, error) {
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format(tsDirLayout))
	if err != nil {
		return "", err
	}
	// Readable by the containers' users whatever the umask.
	if err := os.Chmod(ts, 0o755); err != nil {
		return "", err
	}
	name := filepath.Base(ts)
	if err := writeFiles(ts, files); err != nil {
		_ = os.RemoveAll(ts)
		return "", err
	}
	if fsGroup != nil {
		// The whole volume, not the new version only: the first
		// version's root and visible names are new too.
		if err := setVolumeOwnership(dir, *fsGroup, true, nil); err != nil {
			_ = os.RemoveAll(ts)
			return "", err
		}
	}
	tmp := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmp) // left by a crash
	if err := os.Symlink(name, tmp); err != nil {
		_ = os.RemoveAll(ts)
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		_ = os.Remove(tmp)
		_ = os.RemoveAll(ts)
		return "", err
	}
	return name, nil
}

// writeFiles puts the files in dir, their paths kept inside it.
func writeFiles(dir string, files map[string]file) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for p, f := range files {
		if err := mkdirs(root, filepath.Dir(p)); err != nil {
			return err
		}
		if err := root.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode went through the umask.
		if err := root.Chmod(p, f.mode); err != nil {
			return err
		}
		if f.user != nil {
			if err := root.Lchown(p, int(*f.user), -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirs makes the directory d below root and what is missing above
// it, each 0755 whatever the umask: the containers' users, whoever they
// are, reach the files.
func mkdirs(root *os.Root, d string) error {
	if d == "." {
		return nil
	}
	if _, err := root.Lstat(d); err == nil {
		return nil
	}
	if err := mkdirs(root, filepath.Dir(d)); err != nil {
		return err
	}
	if err := root.Mkdir(d, 0o755); err != nil {
		return err
	}
	return root.Chmod(d, 0o755)
}

// topLevel returns the first element of each file's path: the names
// visible in the volume's directory, each with the user of a file
// below it that has one (that user owns the visible link).
func topLevel(files map[string]file) map[string]*int64 {
	out := map[string]*int64{}
	for p, f := range files {
		first, _, _ := strings.Cut(p, "/")
		if out[first] == nil {
			out[first] = f.user
		}
	}
	return out
}

// linkVisible makes each top-level name a symlink through ..data. An
// entry in its place that is not that link (a file of a kubelet that
// wrote volumes in place) is replaced with a rename, so a reader never
// finds the name missing.
func linkVisible(dir string, files map[string]file) error {
	for name, user := range topLevel(files) {
		visible := filepath.Join(dir, name)
		want := filepath.Join(dataDirName, name)
		if got, err := os.Readlink(visible); err == nil && got == want {
			continue
		}
		tmp := filepath.Join(dir, newLinkName)
		_ = os.Remove(tmp)
		if err := os.Symlink(want, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, visible); err != nil {
			// A directory cannot be renamed over: remove it first.
			if err := os.RemoveAll(visible); err != nil {
				return err
			}
			if err := os.Rename(tmp, visible); err != nil {
				return err
			}
		}
		if user != nil {
			if err := os.Lchown(visible, int(*user), -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeStale removes the visible names the files no longer have and
// every version directory but the current one.
func removeStale(dir string, files map[string]file, currentTs string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	keep := topLevel(files)
	for _, e := range entries {
		name := e.Name()
		_, kept := keep[name]
		switch {
		case name == dataDirName || name == currentTs:
			continue
		case strings.HasPrefix(name, ".."):
			if !isVersionDir(name) && name != newLinkName && name != newDataDirName {
				continue
			}
		case kept:
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// isVersionDir reports whether name is one of writeVersion's timestamped
// directories ("..2026_…").
func isVersionDir(name string) bool {
	return len(name) > 2 && strings.HasPrefix(name, "..") && name[2] >= '0' && name[2] <= '9'
}
