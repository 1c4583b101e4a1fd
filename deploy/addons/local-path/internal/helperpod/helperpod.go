// Package helperpod runs the provisioner's work on a node: a short-lived
// pod, bound to the node by name, that mounts the node's storage root and
// runs the add-on's own binary as `helper create` or `helper delete`
// (package helper), as k3s's local-path-provisioner runs its helper pods.
//
// A helper pod's name is fixed by its action and volume
// (helper-pod-create-pvc-<uid>), so a provisioner that restarts finds the
// pod it started and waits for it instead of starting another; its
// annotations say what it does, for the clean-up of pods nobody waits
// for any more (see RequestOf).
//
//	Run: pod there? ──no──► create ──► wait (bounded) ──► delete the pod
//	        │                            ▲
//	        ├─ failed, or another path ──┤ (delete it, create anew)
//	        └─ running or succeeded ─────┘ (wait for it)
package helperpod

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/addons/local-path/internal/helper"
)

// Labels and annotations of helper pods.
const (
	// LabelKey=LabelValue selects the helper pods (the provisioner's pod
	// informer watches only those).
	LabelKey   = "app.kubernetes.io/name"
	LabelValue = "local-path-provisioner-helper"

	AnnAction   = "local.path.provisioner/action"
	AnnVolume   = "local.path.provisioner/volume"
	AnnNode     = "local.path.provisioner/node"
	AnnPath     = "local.path.provisioner/path"
	AnnClaim    = "local.path.provisioner/claim"
	AnnClaimUID = "local.path.provisioner/claim-uid"
)

// ContainerName is the helper container's name (k3s's).
const ContainerName = "helper-pod"

// dataVolume is the volume of the storage root.
const dataVolume = "data"

// ErrFailed wraps the error of a helper pod that ended in failure.
var ErrFailed = errors.New("helper pod failed")

// Request is one piece of work on a node's disk.
type Request struct {
	// Action is helper.ActionCreate or helper.ActionDelete.
	Action string
	// Volume is the PersistentVolume's name.
	Volume string
	// Node is where the directory is.
	Node string
	// Path is the volume's directory; its parent, the storage root, is
	// mounted into the pod.
	Path string
	// Claim and ClaimUID are the claim a create is for (empty for a
	// delete).
	Claim    types.NamespacedName
	ClaimUID types.UID
	// Mode is the new directory's permission bits (create only).
	Mode fs.FileMode
}

// Template is what every helper pod shares.
type Template struct {
	// Namespace is where helper pods run (the provisioner's own).
	Namespace string
	// Image is the add-on's image, the provisioner's own.
	Image string
	// Command is the image's binary, e.g. "/local-path".
	Command string
	// ServiceAccount is the pods' ServiceAccount; its token is not
	// mounted (the helper does not call the API).
	ServiceAccount string
}

// Name is the helper pod of action on volume.
func Name(action, volume string) string { return "helper-pod-" + action + "-" + volume }

// Pod is the helper pod of r.
func (t Template) Pod(r Request) *v1.Pod {
	root := parent(r.Path)
	dirOrCreate := v1.HostPathDirectoryOrCreate
	ann := map[string]string{AnnAction: r.Action, AnnVolume: r.Volume, AnnNode: r.Node, AnnPath: r.Path}
	if r.Claim.Name != "" {
		ann[AnnClaim] = r.Claim.String()
		ann[AnnClaimUID] = string(r.ClaimUID)
	}
	mode := r.Mode
	if mode == 0 {
		mode = helper.DefaultMode
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        Name(r.Action, r.Volume),
			Namespace:   t.Namespace,
			Labels:      map[string]string{LabelKey: LabelValue},
			Annotations: ann,
		},
		Spec: v1.PodSpec{
			NodeName:                     r.Node,
			RestartPolicy:                v1.RestartPolicyNever,
			ServiceAccountName:           t.ServiceAccount,
			AutomountServiceAccountToken: ptr.To(false),
			// The work must run on this node whatever its taints: the
			// volume is there.
			Tolerations: []v1.Toleration{{Operator: v1.TolerationOpExists}},
			Containers: []v1.Container{{
				Name:            ContainerName,
				Image:           t.Image,
				ImagePullPolicy: v1.PullIfNotPresent,
				Command:         append([]string{t.Command}, helper.Args(r.Action, r.Path, mode)...),
				VolumeMounts:    []v1.VolumeMount{{Name: dataVolume, MountPath: root}},
				// The helper writes its one-line error to stderr; a
				// kubelet that supports it makes that the status message.
				TerminationMessagePolicy: v1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: []v1.Volume{{
				Name: dataVolume,
				VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{
					Path: root, Type: &dirOrCreate,
				}},
			}},
		},
	}
}

func parent(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// RequestOf reads back the request a helper pod was made for; false if
// the pod is not a helper pod.
func RequestOf(pod *v1.Pod) (Request, bool) {
	a := pod.Annotations
	if pod.Labels[LabelKey] != LabelValue || a[AnnAction] == "" || a[AnnVolume] == "" {
		return Request{}, false
	}
	r := Request{Action: a[AnnAction], Volume: a[AnnVolume], Node: a[AnnNode], Path: a[AnnPath], ClaimUID: types.UID(a[AnnClaimUID])}
	if ns, name, ok := strings.Cut(a[AnnClaim], "/"); ok {
		r.Claim = types.NamespacedName{Namespace: ns, Name: name}
	}
	return r, true
}

// Outcome reads a helper pod's end: done and nil once it succeeded, done
// and an error wrapping ErrFailed once it failed (the container's
// termination message, else its reason and exit code), not done before.
func Outcome(pod *v1.Pod) (bool, error) {
	switch pod.Status.Phase {
	case v1.PodSucceeded:
		return true, nil
	case v1.PodFailed:
		for _, cs := range pod.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				if msg := strings.TrimSpace(t.Message); msg != "" {
					return true, fmt.Errorf("%w: %s", ErrFailed, msg)
				}
				return true, fmt.Errorf("%w: %s, exit code %d", ErrFailed, t.Reason, t.ExitCode)
			}
		}
		if pod.Status.Message != "" {
			return true, fmt.Errorf("%w: %s", ErrFailed, pod.Status.Message)
		}
		return true, fmt.Errorf("%w: phase %s", ErrFailed, pod.Status.Phase)
	}
	return false, nil
}

// waiting says what a pod that has not ended is doing, for the error of
// a timeout ("" if nothing is known).
func waiting(pod *v1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			if w.Message != "" {
				return fmt.Sprintf("container %s waiting: %s: %s", cs.Name, w.Reason, w.Message)
			}
			return fmt.Sprintf("container %s waiting: %s", cs.Name, w.Reason)
		}
	}
	if pod.Status.Phase != "" {
		return "phase " + string(pod.Status.Phase)
	}
	return ""
}

// Runner runs helper pods and waits for them.
type Runner struct {
	client   kubernetes.Interface
	pods     corelisters.PodNamespaceLister
	template Template
	log      *zap.Logger
	// poll is how often a wait looks at the cache.
	poll time.Duration

	mu       sync.Mutex      // guards inFlight
	inFlight map[string]bool // helper pods a Run waits for
}

// NewRunner runs helper pods of template through client; pods is the
// informer cache of the helper pods' namespace.
func NewRunner(client kubernetes.Interface, pods corelisters.PodNamespaceLister, template Template, log *zap.Logger) *Runner {
	return &Runner{client: client, pods: pods, template: template, log: log, poll: 200 * time.Millisecond, inFlight: map[string]bool{}}
}

// InFlight reports whether a Run is waiting for the helper pod name.
func (r *Runner) InFlight(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight[name]
}

// Run runs req's helper pod (or takes over the one a previous attempt
// left), waits up to timeout for it to end, and deletes it. It returns
// nil once the helper succeeded; the error says why not.
func (r *Runner) Run(ctx context.Context, req Request, timeout time.Duration) error {
	name := Name(req.Action, req.Volume)
	r.mu.Lock()
	r.inFlight[name] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.inFlight, name)
		r.mu.Unlock()
	}()
	if err := r.ensure(ctx, req, timeout); err != nil {
		return err
	}
	err := r.wait(ctx, name, req.Node, timeout)
	if ctx.Err() != nil {
		// Stopping: the pod stays, for the next start to take over.
		return ctx.Err()
	}
	r.Remove(ctx, name)
	return err
}

// ensure leaves a helper pod for req in place: one already there that may
// yet succeed (same path, not failed, not being deleted), else a new one.
func (r *Runner) ensure(ctx context.Context, req Request, timeout time.Duration) error {
	want := r.template.Pod(req)
	pods := r.client.CoreV1().Pods(r.template.Namespace)
	old, err := pods.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get helper pod %s: %w", want.Name, err)
	default:
		_, failed := Outcome(old)
		if failed == nil && old.DeletionTimestamp == nil && old.Annotations[AnnPath] == req.Path && old.Spec.NodeName == req.Node {
			r.log.Info("helper pod already there; waiting for it", zap.String("pod", want.Name))
			return nil
		}
		r.log.Info("replacing helper pod of an earlier attempt", zap.String("pod", want.Name))
		if err := r.deleteAndWait(ctx, old, timeout); err != nil {
			return err
		}
	}
	if _, err := pods.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create helper pod %s: %w", want.Name, err)
	}
	r.log.Info("helper pod created", zap.String("pod", want.Name), zap.String("action", req.Action),
		zap.String("node", req.Node), zap.String("path", req.Path))
	return nil
}

// deleteAndWait deletes pod (that very one, by UID) and waits until it
// is gone.
func (r *Runner) deleteAndWait(ctx context.Context, pod *v1.Pod, timeout time.Duration) error {
	pods := r.client.CoreV1().Pods(pod.Namespace)
	err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete helper pod %s: %w", pod.Name, err)
	}
	err = wait.PollUntilContextTimeout(ctx, r.poll, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && cur.UID != pod.UID, nil
	})
	if err != nil {
		return fmt.Errorf("helper pod %s of an earlier attempt is still there: %w", pod.Name, err)
	}
	return nil
}

// wait waits for the helper pod name to end.
func (r *Runner) wait(ctx context.Context, name, node string, timeout time.Duration) error {
	var last *v1.Pod
	var result error
	err := wait.PollUntilContextTimeout(ctx, r.poll, timeout, true, func(context.Context) (bool, error) {
		pod, err := r.pods.Get(name)
		if err != nil {
			// Not in the cache yet.
			return false, nil
		}
		last = pod
		done, err := Outcome(pod)
		result = err
		return done, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := fmt.Sprintf("helper pod %s on node %s did not finish within %v", name, node, timeout)
		if last != nil {
			if w := waiting(last); w != "" {
				msg += " (" + w + ")"
			}
		}
		return errors.New(msg)
	}
	if result != nil {
		if last != nil && !hasMessage(last) {
			if line := r.lastLogLine(ctx, name); line != "" {
				result = fmt.Errorf("%w: %s", ErrFailed, line)
			}
		}
		return fmt.Errorf("helper pod %s on node %s: %w", name, node, result)
	}
	return nil
}

func hasMessage(pod *v1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && strings.TrimSpace(t.Message) != "" {
			return true
		}
	}
	return false
}

// lastLogLine is the last line the helper wrote, read through the API
// (for a kubelet that does not make it the termination message); "" if
// the log cannot be read.
func (r *Runner) lastLogLine(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := r.client.CoreV1().Pods(r.template.Namespace).GetLogs(name, &v1.PodLogOptions{
		Container: ContainerName, TailLines: ptr.To[int64](5),
	}).DoRaw(ctx)
	if err != nil {
		r.log.Debug("cannot read the helper pod's log", zap.String("pod", name), zap.Error(err))
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Remove deletes the helper pod name; one already gone is fine.
func (r *Runner) Remove(ctx context.Context, name string) {
	err := r.client.CoreV1().Pods(r.template.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		r.log.Warn("unable to delete the helper pod", zap.String("pod", name), zap.Error(err))
	}
}

// WaitEnded waits up to timeout for the helper pod name, of a run nobody
// waits for any more, to end, so that its work is not undone while it
// still runs. It returns whether the pod ended (or is gone).
func (r *Runner) WaitEnded(ctx context.Context, name string, timeout time.Duration) bool {
	err := wait.PollUntilContextTimeout(ctx, r.poll, timeout, true, func(context.Context) (bool, error) {
		pod, err := r.pods.Get(name)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, nil
		}
		done, _ := Outcome(pod)
		return done, nil
	})
	return err == nil
}
