// Package helper is the program the provisioner's helper pods run on a
// node, with the node's storage root mounted at the same path:
//
//	local-path helper create --path /var/lib/coracle/storage/pvc-…_ns_claim --mode 0777
//	local-path helper delete --path /var/lib/coracle/storage/pvc-…_ns_claim
//
// It takes the place of the setup and teardown shell scripts k3s's helper
// pods run: the add-on's image holds only its static binary, no shell.
// Both commands are idempotent, so a retried helper pod finds its work
// done. Neither creates the volume's parent: a missing parent means the
// root is not mounted, and a directory made in the container's own root
// filesystem would vanish with it.
package helper

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/pflag"
)

// Command is the subcommand of the add-on's binary that runs this package.
const Command = "helper"

// Actions of a helper pod.
const (
	ActionCreate = "create"
	ActionDelete = "delete"
)

// DefaultMode is the permission of a new volume directory: every user of
// every pod may write, as k3s's setup script makes it (mkdir -m 0777).
const DefaultMode fs.FileMode = 0o777

// Args is the command line of a helper pod's container after the binary:
// the subcommand, the action and its flags.
func Args(action, path string, mode fs.FileMode) []string {
	args := []string{Command, action, "--path", path}
	if action == ActionCreate {
		args = append(args, "--mode", fmt.Sprintf("%#o", mode))
	}
	return args
}

// Run runs a helper command line (args after "helper") and returns the
// exit code; errors go to stderr, one line.
func Run(args []string, stderr io.Writer) int {
	if err := run(args); err != nil {
		fmt.Fprintf(stderr, "local-path helper: %v\n", err)
		return 1
	}
	return 0
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: helper create|delete --path PATH [--mode MODE]")
	}
	action := args[0]
	flags := pflag.NewFlagSet("helper "+action, pflag.ContinueOnError)
	flags.SetOutput(io.Discard)
	path := flags.String("path", "", "the volume's directory (absolute)")
	mode := flags.String("mode", fmt.Sprintf("%#o", DefaultMode), "permission bits of a created directory, octal")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	switch action {
	case ActionCreate:
		m, err := strconv.ParseUint(*mode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--mode %q: want octal permission bits such as 0777", *mode)
		}
		return Create(*path, os.FileMode(m))
	case ActionDelete:
		return Delete(*path)
	default:
		return fmt.Errorf("unknown action %q: want create or delete", action)
	}
}

// checkPath refuses what is not a volume's directory: a relative or
// unclean path, or "/".
func checkPath(path string) error {
	if path == "" {
		return errors.New("--path is required")
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("--path %q: want an absolute, clean path", path)
	}
	if filepath.Dir(path) == path {
		return fmt.Errorf("--path %q: not a volume directory", path)
	}
	return nil
}

// parentExists fails unless the directory of path is there: the node's
// storage root, mounted into the helper pod.
func parentExists(path string) error {
	parent := filepath.Dir(path)
	st, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("storage root: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("storage root %s is not a directory", parent)
	}
	return nil
}

// Create makes the directory path with mode (whatever the umask), or
// sets mode on it if it is there. If it made the directory and cannot
// set the mode, it removes it again: nothing half-made is left.
func Create(path string, mode fs.FileMode) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := parentExists(path); err != nil {
		return err
	}
	made := true
	if err := os.Mkdir(path, 0o700); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		st, serr := os.Lstat(path)
		if serr != nil {
			return serr
		}
		if !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", path)
		}
		made = false
	}
	if err := os.Chmod(path, mode); err != nil {
		if made {
			_ = os.Remove(path)
		}
		return err
	}
	return nil
}

// Delete removes path and everything in it; a path already gone is done.
func Delete(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := parentExists(path); err != nil {
		return err
	}
	return os.RemoveAll(path)
}
