package podworkers

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/logs"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Termination messages, as Kubernetes' kubelet keeps them: each container
// attempt gets a file of its own, bind-mounted read-write at the
// container's terminationMessagePath, and once the attempt has exited
// what it wrote there is its terminated state's message. With
// terminationMessagePolicy FallbackToLogsOnError, an attempt that failed
// (exit code not 0) and left the file empty gets the tail of its log
// instead.
const (
	// maxTerminationMessage is the most of a termination message file
	// read: its last bytes (upstream's
	// MaxContainerTerminationMessageLength).
	maxTerminationMessage = 4 << 10
	// maxTerminationMessageLogLines and maxTerminationMessageLog bound
	// the log tail a FallbackToLogsOnError message takes: the last 80
	// lines, of which the last 2048 bytes.
	maxTerminationMessageLogLines = 80
	maxTerminationMessageLog      = 2 << 10
	// maxPodTerminationMessages is the most all of a pod's messages may
	// take together: each container's is cut to its share
	// (upstream's MaxPodTerminationMessageLogLength).
	maxPodTerminationMessages = 12 << 10
)

// terminationMessageFile is the file of one attempt of a container,
// among the pod's volumes (removed with them): DIR/<uid>/.containers/
// <container>/<attempt>. The leading dot keeps it apart from every volume,
// whose names are DNS labels. "" without a volume manager.
func (m *Manager) terminationMessageFile(pod *v1.Pod, container string, attempt int) string {
	if m.opts.Volumes == nil || m.opts.Volumes.Dir == "" {
		return ""
	}
	return filepath.Join(m.opts.Volumes.Dir, string(pod.UID), ".containers", container, strconv.Itoa(attempt))
}

// terminationMessagePath is where the container sees its file.
func terminationMessagePath(c *v1.Container) string {
	if c.TerminationMessagePath == "" {
		return v1.TerminationMessagePathDefault
	}
	return c.TerminationMessagePath
}

// terminationMount makes the attempt's empty termination message file,
// writable by any user the container runs as, and returns its mount. As
// upstream, a file that cannot be made is logged and the container
// starts without it.
func (m *Manager) terminationMount(pod *v1.Pod, c *v1.Container, attempt int) (kruntime.Mount, bool) {
	file := m.terminationMessageFile(pod, c.Name, attempt)
	if file == "" {
		return kruntime.Mount{}, false
	}
	err := os.MkdirAll(filepath.Dir(file), 0o755)
	if err == nil {
		err = os.WriteFile(file, nil, 0o666)
	}
	if err == nil {
		// Not what the umask left.
		err = os.Chmod(file, 0o666)
	}
	if err != nil {
		m.log.Warn("termination message file", zap.String("pod", key(pod)), zap.String("container", c.Name), zap.Error(err))
		return kruntime.Mount{}, false
	}
	return kruntime.Mount{Source: file, Destination: terminationMessagePath(c)}, true
}

// setTerminationMessages gives every terminated state in st (current and
// last, of init, regular and ephemeral containers) its attempt's
// message. Messages are remembered by container ID: an exited attempt's
// do not change.
func (m *Manager) setTerminationMessages(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod, st *v1.PodStatus) {
	if rp == nil {
		return
	}
	share := maxPodTerminationMessages
	if n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers) + len(pod.Spec.EphemeralContainers); n > 0 {
		share /= n
	}
	set := func(t *v1.ContainerStateTerminated, name string) {
		if t == nil || t.ContainerID == "" {
			return
		}
		var ctr *kruntime.Container
		for i := range rp.Containers {
			if "runc://"+rp.Containers[i].ID == t.ContainerID || rp.Containers[i].ID == t.ContainerID {
				ctr = &rp.Containers[i]
			}
		}
		spec := containerSpec(pod, name)
		if ctr == nil || spec == nil || ctr.State != kruntime.StateExited {
			return
		}
		msg, ok := w.messages[ctr.ID]
		if !ok {
			msg = m.terminationMessage(ctx, pod, spec, ctr)
			if w.messages == nil {
				w.messages = map[string]string{}
			}
			w.messages[ctr.ID] = msg
		}
		t.Message = truncate(msg, share)
	}
	// Forget the messages of attempts the runtime no longer has.
	for id := range w.messages {
		if !slices.ContainsFunc(rp.Containers, func(c kruntime.Container) bool { return c.ID == id }) {
			delete(w.messages, id)
		}
	}
	for _, list := range [][]v1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses, st.EphemeralContainerStatuses} {
		for i := range list {
			cs := &list[i]
			set(cs.State.Terminated, cs.Name)
			set(cs.LastTerminationState.Terminated, cs.Name)
		}
	}
}

// terminationMessage reads an exited attempt's message, as upstream's
// getTerminationMessage and readLastStringFromContainerLogs.
func (m *Manager) terminationMessage(ctx context.Context, pod *v1.Pod, c *v1.Container, ctr *kruntime.Container) string {
	fallback := c.TerminationMessagePolicy == v1.TerminationMessageFallbackToLogsOnError && ctr.ExitCode != 0
	msg := ""
	if file := m.terminationMessageFile(pod, c.Name, ctr.Attempt); file != "" {
		data, err := readTail(file, maxTerminationMessage)
		switch {
		case os.IsNotExist(err):
		case err != nil:
			return fmt.Sprintf("Error on reading termination log %s: %v", file, err)
		default:
			msg = string(data)
		}
	}
	if msg != "" || !fallback || ctr.LogPath == "" {
		return msg
	}
	tail := &tailBuffer{max: maxTerminationMessageLog}
	if err := logs.Read(ctx, ctr.LogPath, logs.Options{TailLines: maxTerminationMessageLogLines}, tail, nil, nil); err != nil {
		return fmt.Sprintf("Error on reading termination message from logs: %v", err)
	}
	return string(tail.buf)
}

// readTail reads the last max bytes of a file.
func readTail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// truncate cuts s to at most n bytes, keeping its start (as upstream's
// status manager cuts each container's share).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
