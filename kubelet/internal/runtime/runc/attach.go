package runc

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/shim"
)

// Attach implements kruntime.Runtime through the container's shim,
// which holds its stdio: output from now on comes to the client as the
// shim reads it, and the client's input goes to the container's stdin
// (or terminal). It returns when the container exits, or when the
// client has no more streams to serve (its output is not wanted and its
// input ended) or ctx ends.
func (r *Runtime) Attach(ctx context.Context, uid types.UID, id string, opts kruntime.AttachOptions) error {
	bundle, crec, err := r.findContainer(uid, id)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(bundle, shim.ExitFile)); err == nil || !r.alive(crec) {
		return fmt.Errorf("container %s is not running", crec.Name)
	}
	conn, err := shim.DialAttach(bundle)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %s was started by a kubelet without attach: restart it to attach", crec.Name)
		}
		return fmt.Errorf("attach: %w", err)
	}
	defer conn.Close()
	req := shim.AttachRequest{Stdin: opts.Stdin != nil, Stdout: opts.Stdout != nil, Stderr: opts.Stderr != nil}
	line, _ := json.Marshal(req)
	var wmu sync.Mutex // serializes frames to the shim
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return shim.WriteFrame(conn, typ, p)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	inputDone := make(chan struct{})
	if opts.Stdin != nil {
		go func() {
			defer close(inputDone)
			buf := make([]byte, 32*1024)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 && send(shim.FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					_ = send(shim.FrameCloseStdin, nil)
					return
				}
			}
		}()
	} else {
		close(inputDone)
	}
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					var p [4]byte
					binary.BigEndian.PutUint16(p[0:2], sz.Width)
					binary.BigEndian.PutUint16(p[2:4], sz.Height)
					if send(shim.FrameResize, p[:]) != nil {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if opts.Stdout == nil && opts.Stderr == nil {
		// Input only: done when it ends (or the container does).
		go func() {
			_, _ = io.Copy(io.Discard, conn)
			cancel()
		}()
		select {
		case <-inputDone:
		case <-ctx.Done():
		}
		return nil
	}
	br := bufio.NewReader(conn)
	for {
		typ, data, err := shim.ReadFrame(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("attach: %w", err)
		}
		var w io.Writer
		switch typ {
		case shim.FrameStdout:
			w = opts.Stdout
		case shim.FrameStderr:
			w = opts.Stderr
		}
		if w != nil {
			if _, err := w.Write(data); err != nil {
				// The client is gone.
				return nil
			}
		}
	}
}
