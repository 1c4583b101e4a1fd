package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace kinds a pod's containers share; each is kept alive by a bind
// mount of its /proc/<tid>/ns file onto a file in the pod's directory. A
// pod on the host's network shares only IPC.
var (
	sharedNamespaces = []string{"net", "ipc", "uts"}
	hostNetworkPod   = []string{"ipc"}
	cloneFlags       = map[string]int{"net": unix.CLONE_NEWNET, "ipc": unix.CLONE_NEWIPC, "uts": unix.CLONE_NEWUTS}
)

// nsfsMagic is the f_type of a bind-mounted namespace file.
const nsfsMagic = 0x6e736673

// createNamespaces makes new namespaces of the given kinds ("net", "ipc",
// "uts"; the UTS one with the given host name), bound to dir/<kind>.
// Existing ones are kept: it is idempotent.
func createNamespaces(dir, hostname string, kinds []string) error {
	if namespacesExist(dir, kinds) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	flags := 0
	for _, kind := range kinds {
		flags |= cloneFlags[kind]
		f, err := os.OpenFile(filepath.Join(dir, kind), os.O_CREATE|os.O_RDONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	errc := make(chan error, 1)
	go func() {
		// Only this thread enters the new namespaces, and it goes back to
		// the old ones before it runs anything else. Should going back
		// fail, the thread stays locked and Go ends it with this
		// goroutine.
		runtime.LockOSThread()
		var back []*os.File
		for _, kind := range kinds {
			f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/%s", unix.Gettid(), kind))
			if err != nil {
				errc <- err
				return
			}
			defer f.Close()
			back = append(back, f)
		}
		err := func() error {
			if err := unix.Unshare(flags); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if flags&unix.CLONE_NEWUTS != 0 {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("sethostname: %w", err)
				}
			}
			tid := unix.Gettid()
			for _, kind := range kinds {
				src := fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, kind)
				if err := unix.Mount(src, filepath.Join(dir, kind), "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("bind %s namespace: %w", kind, err)
				}
			}
			return nil
		}()
		restored := true
		for i, f := range back {
			if serr := unix.Setns(int(f.Fd()), cloneFlags[kinds[i]]); serr != nil {
				restored = false
			}
		}
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		_ = removeNamespaces(dir)
		return err
	}
	return nil
}

// namespacesExist reports whether the namespace files of kinds in dir are
// all bound.
func namespacesExist(dir string, kinds []string) bool {
	for _, kind := range kinds {
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(dir, kind), &st); err != nil || st.Type != nsfsMagic {
			return false
		}
	}
	return true
}

// removeNamespaces unbinds and removes the namespace files and dir.
func removeNamespaces(dir string) error {
	var errs []error
	for _, kind := range sharedNamespaces {
		p := filepath.Join(dir, kind)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
