package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Exec implements kruntime.Runtime with `runc exec`, which runs the
// process with the container's environment, user and working directory.
// With a TTY, runc runs in the foreground on a pseudo-terminal the kubelet
// opens: runc relays between it and the container's own terminal, and
// passes window size changes (SIGWINCH on the kubelet's terminal) on.
func (r *Runtime) Exec(ctx context.Context, uid types.UID, id string, opts kruntime.ExecOptions) (int, error) {
	bundle, crec, err := r.findContainer(uid, id)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err == nil || !r.alive(crec) {
		return 0, fmt.Errorf("container %s is not running", crec.Name)
	}
	if len(opts.Command) == 0 {
		return 0, errors.New("exec: no command")
	}
	if opts.TTY {
		return r.execTTY(ctx, bundle, id, opts)
	}
	args := append([]string{"--root", filepath.Join(r.opts.RootDir, "runc"), "exec", id}, opts.Command...)
	cmd := exec.CommandContext(ctx, r.runc, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	return exitCode(cmd.Run())
}

func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func (r *Runtime) execTTY(ctx context.Context, bundle, id string, opts kruntime.ExecOptions) (int, error) {
	ptm, pts, err := openPTY()
	if err != nil {
		return 0, err
	}
	defer ptm.Close()
	// The process starts at the client's first size, which kubectl sends
	// as the stream opens but which may still be on its way (waited for
	// briefly), else 80x24. A zero size is no size (upstream's
	// HandleResizing skips it too): a terminal of 0 rows makes `stty
	// size` fail.
	size := kruntime.TerminalSize{Width: 80, Height: 24}
	if opts.Resize != nil {
		first := time.NewTimer(time.Second)
	wait:
		for {
			select {
			case sz, ok := <-opts.Resize:
				if !ok {
					break wait
				}
				if sz.Width > 0 && sz.Height > 0 {
					size = sz
					break wait
				}
			case <-first.C:
				break wait
			}
		}
		first.Stop()
	}
	_ = setSize(ptm, size)
	// runc makes the container's own terminal and copies this one's size
	// onto it only once the process runs; given in the process spec
	// (consoleSize), runc's init sizes the terminal before the process
	// starts, so a command that reads its size at once sees it.
	spec, err := r.execProcess(bundle, opts.Command, size)
	if err != nil {
		return 0, err
	}
	defer os.Remove(spec)
	cmd := exec.CommandContext(ctx, r.runc, "--root", filepath.Join(r.opts.RootDir, "runc"), "exec", "--process", spec, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		pts.Close()
		return 0, err
	}
	pts.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					if sz.Width > 0 && sz.Height > 0 {
						_ = setSize(ptm, sz)
					}
				}
			}
		}()
	}
	if opts.Stdin != nil {
		go func() { _, _ = io.Copy(ptm, opts.Stdin) }()
	}
	if opts.Stdout != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Reading the master fails with EIO once the process is gone.
			_, _ = io.Copy(opts.Stdout, ptm)
		}()
	}
	err = cmd.Wait()
	wg.Wait()
	close(done)
	return exitCode(err)
}

// execProcess writes, in the bundle, the process spec of a terminal exec:
// the container's own process (environment, user, working directory,
// capabilities), as `runc exec` takes it from config.json, running
// command on a terminal of size. It returns the file's path.
func (r *Runtime) execProcess(bundle string, command []string, size kruntime.TerminalSize) (string, error) {
	var cfg specs.Spec
	if err := readJSON(filepath.Join(bundle, "config.json"), &cfg); err != nil {
		return "", fmt.Errorf("exec: read the container's spec: %w", err)
	}
	if cfg.Process == nil {
		return "", errors.New("exec: the container's spec has no process")
	}
	p := *cfg.Process
	p.Args = command
	p.Terminal = true
	p.ConsoleSize = &specs.Box{Height: uint(size.Height), Width: uint(size.Width)}
	f, err := os.CreateTemp(bundle, "exec-*.json")
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(&p); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("exec: write the process spec: %w", err)
	}
	return f.Name(), nil
}

// openPTY opens a pseudo-terminal pair.
func openPTY() (*os.File, *os.File, error) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, fmt.Errorf("open pty slave: %w", err)
	}
	return ptm, pts, nil
}

func setSize(f *os.File, sz kruntime.TerminalSize) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
}
