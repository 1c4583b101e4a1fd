package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteout markers of OCI layers.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// Unpack extracts one layer tar into dir, turning OCI whiteouts into
// overlay ones (a 0/0 character device for a deleted file, the
// trusted.overlay.opaque xattr for an opaque directory), so the layer can
// be an overlay lower directory as it is. Every path is resolved inside
// dir: a hostile layer cannot write outside it.
func Unpack(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := path.Clean("/" + hdr.Name)[1:]
		if p == "" {
			continue
		}
		parent, base := path.Split(p)
		parent = strings.TrimSuffix(parent, "/")
		if parent != "" {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		switch {
		case base == opaqueWhiteout:
			if err := withDir(root, parent, func(fd int) error {
				return unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0)
			}); err != nil {
				return fmt.Errorf("opaque %s: %w", parent, err)
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			target := strings.TrimPrefix(base, whiteoutPrefix)
			if err := withDir(root, parent, func(fd int) error {
				return unix.Mknodat(fd, target, unix.S_IFCHR, 0)
			}); err != nil {
				return fmt.Errorf("whiteout %s: %w", p, err)
			}
			continue
		}
		// A later entry replaces an earlier one of the same path.
		if info, err := root.Lstat(p); err == nil && !(info.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := root.RemoveAll(p); err != nil {
				return err
			}
		}
		mode := os.FileMode(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := root.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			target := path.Clean("/" + hdr.Linkname)[1:]
			if err := root.Link(target, p); err != nil {
				return err
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			kind := uint32(unix.S_IFCHR)
			switch hdr.Typeflag {
			case tar.TypeBlock:
				kind = unix.S_IFBLK
			case tar.TypeFifo:
				kind = unix.S_IFIFO
			}
			dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
			if err := withDir(root, parent, func(fd int) error {
				return unix.Mknodat(fd, base, kind|uint32(mode), dev)
			}); err != nil {
				return err
			}
		default:
			continue
		}
		if err := root.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := root.Chmod(p, mode); err != nil {
				return err
			}
			_ = root.Chtimes(p, hdr.ModTime, hdr.ModTime)
		}
	}
}

// withDir calls f with a descriptor of the directory rel inside root.
func withDir(root *os.Root, rel string, f func(fd int) error) error {
	if rel == "" {
		rel = "."
	}
	d, err := root.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	return f(int(d.Fd()))
}

// removeAll removes a tree, first making directories writable.
func removeAll(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
