package shim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// consoleSocket is where runc, creating a container with a terminal,
// sends the terminal's master: a Unix socket in a short temporary
// directory (runc dials its path).
type consoleSocket struct {
	dir  string
	path string
	l    *net.UnixListener
}

func newConsoleSocket() (*consoleSocket, error) {
	dir, err := os.MkdirTemp("", "shim-console-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "c.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &consoleSocket{dir: dir, path: path, l: l}, nil
}

// receive waits for runc's connection and returns the master it sends.
func (c *consoleSocket) receive() (*os.File, error) {
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: no descriptor sent (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: no descriptor sent (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

func (c *consoleSocket) close() {
	_ = c.l.Close()
	_ = os.RemoveAll(c.dir)
}

// setWinsize sets the terminal's size.
func setWinsize(master *os.File, width, height uint16) {
	if width == 0 || height == 0 {
		return
	}
	_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
}

func isEIO(err error) bool { return errors.Is(err, unix.EIO) }

// terminalInput is a terminal's master as a container's stdin: closing
// it (StdinOnce, the client gone) types end-of-file (^D) rather than
// closing the terminal, whose output the shim still reads.
type terminalInput struct{ master *os.File }

func (t terminalInput) Write(p []byte) (int, error) { return t.master.Write(p) }

func (t terminalInput) Close() error {
	_, err := t.master.Write([]byte{4})
	return err
}
