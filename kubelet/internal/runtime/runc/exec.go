package runc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

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
	args := []string{"--root", filepath.Join(r.opts.RootDir, "runc"), "exec"}
	if opts.TTY {
		args = append(args, "--tty")
	}
	args = append(append(args, id), opts.Command...)
	cmd := exec.CommandContext(ctx, r.runc, args...)
	if opts.TTY {
		return r.execTTY(cmd, opts)
	}
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

func (r *Runtime) execTTY(cmd *exec.Cmd, opts kruntime.ExecOptions) (int, error) {
	ptm, pts, err := openPTY()
	if err != nil {
		return 0, err
	}
	defer ptm.Close()
	// A size before start, so the shell starts with it: the client's
	// first size, which kubectl sends as the stream opens but which may
	// still be on its way (waited for briefly), else 80x24. A zero size is
	// no size (upstream's HandleResizing skips it too): a terminal of 0
	// rows makes `stty size` fail.
	_ = setSize(ptm, kruntime.TerminalSize{Width: 80, Height: 24})
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
					_ = setSize(ptm, sz)
					break wait
				}
			case <-first.C:
				break wait
			}
		}
		first.Stop()
	}
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
