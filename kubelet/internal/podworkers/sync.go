package podworkers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"

	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/prober"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
	"coracle.dev/kubelet/internal/volumes"
)

// syncPod makes a live pod's containers what its spec asks for, then
// writes its status. It returns when to sync again.
func (m *Manager) syncPod(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) time.Duration {
	if _, past := activeDeadline(pod, pod.Status.StartTime, time.Now()); past {
		return m.failDeadlineExceeded(ctx, w, pod, rp)
	}
	// From here on the pod has the resources the node allocated, which
	// its containers are made with and its status reports.
	pod = m.handleResize(ctx, pod)
	waiting := map[string]status.Waiting{}
	if requeue, ok := m.mountVolumes(ctx, w, pod, rp); !ok {
		return requeue
	}
	hostIP := m.opts.HostIP(pod.Spec.NodeName)
	began := time.Now()
	var release func()
	if rp == nil || !rp.SandboxReady {
		if err := m.checkRuntimeClass(ctx, pod); err != nil {
			m.event(pod, "", v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			m.writeStatus(ctx, w, pod, rp, waiting, "Failed to create pod sandbox: "+err.Error(), nil)
			return 5 * time.Second
		}
		release = m.acquire(ctx)
	}
	podIP, err := m.opts.Runtime.EnsureSandbox(ctx, pod)
	if release != nil {
		release()
	}
	if pod.Spec.HostNetwork {
		podIP = hostIP
	}
	sandboxTook := time.Since(began)
	if err != nil {
		m.event(pod, "", v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		m.writeStatus(ctx, w, pod, rp, waiting, "Failed to create pod sandbox: "+err.Error(), nil)
		return 5 * time.Second
	}
	if rp, err = m.opts.Runtime.GetPod(ctx, pod.UID); err != nil {
		return time.Second
	}

	requeue := time.Duration(0)
	soonest := func(d time.Duration) { requeue = soonestOf(requeue, d) }
	if regularContainersDone(pod, rp) {
		// Done: its sidecars (and ephemeral containers) stop, sidecars
		// last started first; the status then is the regular
		// containers'.
		if rp.Running() {
			if err := m.stopContainers(ctx, pod, rp, gracePeriod(pod)); err != nil {
				m.log.Warn("stop sidecars of finished pod", zap.String("pod", key(pod)), zap.Error(err))
				soonest(2 * time.Second)
			}
		}
	} else {
		if d, acted := m.actuateResize(ctx, pod, rp, podIP, hostIP, waiting); acted {
			soonest(d)
			if rp, err = m.opts.Runtime.GetPod(ctx, pod.UID); err != nil {
				return time.Second
			}
		}
		actions := computeInitActions(pod, rp, m.sidecarStarted(pod))
		for _, c := range actions.start {
			soonest(m.ensureContainer(ctx, pod, rp, c, podIP, hostIP, waiting, true))
		}
		if actions.initialized {
			for i := range pod.Spec.Containers {
				soonest(m.ensureContainer(ctx, pod, rp, &pod.Spec.Containers[i], podIP, hostIP, waiting, false))
			}
		}
		if !actions.failed {
			// Ephemeral containers start whether or not the pod has
			// initialized, as upstream's.
			soonest(m.ensureEphemeralContainers(ctx, pod, rp, podIP, hostIP, waiting))
		}
	}
	if rp, err = m.opts.Runtime.GetPod(ctx, pod.UID); err != nil {
		return time.Second
	}
	for _, c := range rp.Containers {
		if c.State == kruntime.StateCreated {
			// Started a moment ago, runc's init not yet replaced by the
			// container's process: look again shortly rather than at
			// the next resync.
			soonest(100 * time.Millisecond)
		}
	}
	probes := m.probe(ctx, pod, rp, podIP)
	statusAt := time.Now()
	st := m.writeStatus(ctx, w, pod, rp, waiting, "", probes)
	if ce := m.log.Check(zap.DebugLevel, "pod synced"); ce != nil {
		ce.Write(zap.String("pod", key(pod)), zap.Duration("sandbox", sandboxTook),
			zap.Duration("containers", statusAt.Sub(began)-sandboxTook), zap.Duration("status", time.Since(statusAt)))
	}
	if status.IsTerminal(st.Phase) {
		// Tear down at once rather than at the next resync.
		soonest(100 * time.Millisecond)
	}
	if left, past := activeDeadline(pod, st.StartTime, time.Now()); left > 0 || past {
		// Sync again as the deadline runs out.
		soonest(max(left, 10*time.Millisecond))
	}
	return requeue
}

// mountVolumes mounts the pod's claims before anything of the pod is
// made, as Kubernetes' kubelet waits for a pod's volumes to attach and
// mount before it creates the sandbox. A pod whose claim is missing, not
// bound or whose volume cannot be set up waits, Pending with a
// FailedMount event, and is tried again with back-off (1s doubling to the
// resync interval): it starts at the first try after the claim binds.
// It returns whether the sync may go on and, if not, when to try again.
//
// A pod that has containers already (adopted by a restarted kubelet
// whose claim has gone since) keeps them running; only new containers
// cannot be made.
func (m *Manager) mountVolumes(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) (time.Duration, bool) {
	if m.opts.Volumes == nil {
		return 0, true
	}
	k := string(pod.UID)
	err := m.opts.Volumes.MountClaims(ctx, pod)
	if err == nil {
		m.mountBackoff.Reset(k)
		return 0, true
	}
	msgs := []string{"Unable to attach or mount volumes: " + err.Error()}
	var merr *volumes.MountError
	if errors.As(err, &merr) {
		msgs = merr.Events()
	}
	for _, msg := range msgs {
		m.event(pod, "", v1.EventTypeWarning, volumes.ReasonFailedMount, "%s", msg)
	}
	m.log.Info("pod volumes not mounted", zap.String("pod", key(pod)), zap.Error(err))
	if rp != nil && len(rp.Containers) > 0 {
		return 0, true
	}
	m.writeStatus(ctx, w, pod, rp, map[string]status.Waiting{}, "", nil)
	m.mountBackoff.Next(k, time.Now())
	return m.mountBackoff.Get(k), false
}

// probe starts and stops the probes of the pod's containers, restarts a
// container whose liveness probe failed, and returns what the probes say
// of each running container.
func (m *Manager) probe(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, podIP string) map[string]status.ProbeState {
	if m.opts.Probes == nil {
		return nil
	}
	m.opts.Probes.Sync(pod, rp, podIP)
	out := map[string]status.ProbeState{}
	for _, c := range prober.Probed(pod) {
		latest := rp.Latest(c.Name)
		if latest == nil || latest.State != kruntime.StateRunning {
			continue
		}
		ps := status.ProbeState{Started: true, Ready: true}
		if c.StartupProbe != nil {
			r, _ := m.opts.Probes.Result(pod.UID, c.Name, latest.ID, prober.Startup)
			ps.Started = r == prober.Success
			ps.Ready = ps.Started
			if r == prober.Failure {
				m.kill(ctx, pod, rp, latest, fmt.Sprintf("Container %s failed startup probe, will be restarted", c.Name))
			}
		}
		if c.ReadinessProbe != nil {
			r, _ := m.opts.Probes.Result(pod.UID, c.Name, latest.ID, prober.Readiness)
			ps.Ready = ps.Ready && r == prober.Success
		}
		if c.LivenessProbe != nil && ps.Started {
			if r, _ := m.opts.Probes.Result(pod.UID, c.Name, latest.ID, prober.Liveness); r == prober.Failure {
				m.kill(ctx, pod, rp, latest, fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name))
			}
		}
		out[c.Name] = ps
	}
	return out
}

// kill stops a container whose probe failed (its preStop hook first);
// its restart policy decides what comes next.
func (m *Manager) kill(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, c *kruntime.Container, why string) {
	m.killContainer(ctx, pod, containerSpec(pod, c.Name), c.ID, m.podIPOf(pod, rp), gracePeriod(pod), why)
}

// acquire waits for a slot to create a sandbox or a container and
// returns its release. Image pulls hold none.
func (m *Manager) acquire(ctx context.Context) func() {
	select {
	case m.starting <- struct{}{}:
		return func() { <-m.starting }
	case <-ctx.Done():
		return func() {}
	}
}

// ensureContainer starts the container if it has never run, or runs it
// again if it exited and the restart policy and back-off allow. It
// records in waiting why the container is not running, and returns when
// the pod should be synced again for it (0: no hurry).
func (m *Manager) ensureContainer(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, c *v1.Container, podIP, hostIP string, waiting map[string]status.Waiting, isInit bool) time.Duration {
	latest := rp.Latest(c.Name)
	attempt := 0
	if latest != nil {
		switch latest.State {
		case kruntime.StateRunning:
			return 0
		case kruntime.StateCreated:
			// Created by a sync that did not get to start it (the kubelet
			// died in between): start it now.
			if !m.start(ctx, pod, c, latest, waiting) {
				return time.Second
			}
			return m.postStart(ctx, pod, c, latest, podIP, waiting)
		}
		restart := status.ShouldRestart(pod.Spec.RestartPolicy, latest.ExitCode)
		if isInit && latest.ExitCode != 0 && pod.Spec.RestartPolicy == v1.RestartPolicyAlways {
			restart = true
		}
		if isInit && status.IsSidecar(c) {
			// A sidecar runs again whatever the pod's policy.
			restart = true
		}
		if !restart {
			return 0
		}
		k := backoffKey(pod, c)
		if m.crashBackoff.IsInBackOffSince(k, latest.FinishedAt) {
			delay := m.crashBackoff.Get(k)
			waiting[c.Name] = status.Waiting{
				Reason:  status.ReasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID),
			}
			m.event(pod, c.Name, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			return time.Until(latest.FinishedAt.Add(delay)) + 50*time.Millisecond
		}
		m.crashBackoff.Next(k, latest.FinishedAt)
		attempt = latest.Attempt + 1
		// Keep the attempt that just exited (its log is --previous);
		// older ones go.
		for _, old := range rp.Containers {
			if old.Name == c.Name && old.Attempt < latest.Attempt {
				if err := m.opts.Runtime.RemoveContainer(ctx, pod.UID, old.ID); err != nil {
					m.log.Warn("remove old container", zap.String("pod", key(pod)), zap.String("container", old.ID), zap.Error(err))
				}
			}
		}
	}

	return m.runContainer(ctx, pod, c, attempt, podIP, hostIP, waiting, 0)
}

// runContainer creates and starts one attempt of a container (pulling
// its image first as its policy says), then runs its postStart hook.
// targetPID, if not 0, is the process whose PID namespace it joins. It
// records in waiting why the container is not running, and returns when
// the pod should be synced again for it.
func (m *Manager) runContainer(ctx context.Context, pod *v1.Pod, c *v1.Container, attempt int, podIP, hostIP string, waiting map[string]status.Waiting, targetPID int) time.Duration {
	img, requeue := m.ensureImage(ctx, pod, c, waiting)
	if img == nil {
		return requeue
	}
	cfg, err := m.containerConfig(ctx, pod, c, img, attempt, podIP, hostIP)
	cfg.TargetPID = targetPID
	if err == nil && m.opts.Volumes != nil {
		var vols map[string]volumes.Volume
		if vols, err = m.opts.Volumes.Prepare(ctx, pod, podIP, hostIP); err == nil {
			cfg.Mounts, err = volumes.Mounts(c, vols, cfg.Env)
		}
	}
	if err == nil {
		if mnt, ok := m.terminationMount(pod, c, attempt); ok {
			cfg.Mounts = append(cfg.Mounts, mnt)
		}
	}
	if err != nil {
		waiting[c.Name] = status.Waiting{Reason: status.ReasonCreateContainerConfigError, Message: err.Error()}
		m.event(pod, c.Name, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	m.opts.Images.Use(c.Image)
	release := m.acquire(ctx)
	ctr, err := m.opts.Runtime.CreateContainer(ctx, pod, cfg)
	if err != nil {
		release()
		waiting[c.Name] = status.Waiting{Reason: status.ReasonCreateContainerError, Message: err.Error()}
		m.event(pod, c.Name, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	m.event(pod, c.Name, v1.EventTypeNormal, "Created", "Created container %s", c.Name)
	m.setActuated(pod.UID, c)
	started := m.start(ctx, pod, c, ctr, waiting)
	// The postStart hook may run long: it holds no start slot.
	release()
	if !started {
		return time.Second
	}
	return m.postStart(ctx, pod, c, ctr, podIP, waiting)
}

// start starts a created container and reports whether it did.
func (m *Manager) start(ctx context.Context, pod *v1.Pod, c *v1.Container, ctr *kruntime.Container, waiting map[string]status.Waiting) bool {
	if err := m.opts.Runtime.StartContainer(ctx, pod.UID, ctr.ID); err != nil {
		waiting[c.Name] = status.Waiting{Reason: status.ReasonRunContainerError, Message: err.Error()}
		m.event(pod, c.Name, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return false
	}
	m.event(pod, c.Name, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return true
}

func backoffKey(pod *v1.Pod, c *v1.Container) string {
	return string(pod.UID) + "/" + c.Name
}

// ensureImage returns the container's image, pulling it as its pull
// policy says; nil with the reason in waiting when it is not there.
func (m *Manager) ensureImage(ctx context.Context, pod *v1.Pod, c *v1.Container, waiting map[string]status.Waiting) (*images.Image, time.Duration) {
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = v1.PullIfNotPresent
		if images.DefaultsToAlways(c.Image) {
			policy = v1.PullAlways
		}
	}
	if policy != v1.PullAlways {
		if img, ok := m.opts.Images.Get(c.Image); ok {
			m.event(pod, c.Name, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine and can be accessed by the pod", c.Image)
			return img, 0
		}
	}
	if policy == v1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		waiting[c.Name] = status.Waiting{Reason: status.ReasonErrImageNeverPull, Message: msg}
		m.event(pod, c.Name, v1.EventTypeWarning, status.ReasonErrImageNeverPull, "%s", msg)
		return nil, 10 * time.Second
	}
	k := string(pod.UID) + "/" + c.Image
	now := time.Now()
	if m.pullBackoff.IsInBackOffSince(k, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		waiting[c.Name] = status.Waiting{Reason: status.ReasonImagePullBackOff, Message: msg}
		m.event(pod, c.Name, v1.EventTypeNormal, "BackOff", "%s", msg)
		return nil, 2 * time.Second
	}
	m.event(pod, c.Name, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	secrets := m.pullSecrets(ctx, pod)
	start := time.Now()
	img, err := m.opts.Images.Pull(ctx, c.Image, secrets)
	if err != nil {
		m.pullBackoff.Next(k, time.Now())
		waiting[c.Name] = status.Waiting{Reason: status.ReasonErrImagePull, Message: err.Error()}
		m.event(pod, c.Name, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		m.event(pod, c.Name, v1.EventTypeWarning, "Failed", "Error: %s", status.ReasonErrImagePull)
		// Soon, to report the back-off; the pull waits for its end.
		return nil, time.Second
	}
	m.pullBackoff.Reset(k)
	d := time.Since(start).Round(time.Millisecond)
	m.event(pod, c.Name, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, d, d, img.Size)
	return img, 0
}

// pullSecrets reads the pod's imagePullSecrets; missing ones are reported
// and skipped, as Kubernetes does.
func (m *Manager) pullSecrets(ctx context.Context, pod *v1.Pod) []v1.Secret {
	var out []v1.Secret
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := m.opts.Env.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			m.event(pod, "", v1.EventTypeWarning, "FailedToRetrieveImagePullSecret", "Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name)
			continue
		}
		out = append(out, *s)
	}
	return out
}

// containerConfig resolves everything the runtime needs to create the
// container.
func (m *Manager) containerConfig(ctx context.Context, pod *v1.Pod, c *v1.Container, img *images.Image, attempt int, podIP, hostIP string) (kruntime.ContainerConfig, error) {
	vars, err := envvars.Resolve(ctx, m.opts.Env, pod, c, podIP, hostIP)
	if err != nil {
		return kruntime.ContainerConfig{}, err
	}
	// The image's variables first; the pod's replace them by name.
	env := map[string]int{}
	var list []string
	add := func(k, v string) {
		if i, ok := env[k]; ok {
			list[i] = k + "=" + v
			return
		}
		env[k] = len(list)
		list = append(list, k+"="+v)
	}
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	if _, ok := env["PATH"]; !ok {
		add("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	add("HOSTNAME", pod.Name)
	values := map[string]string{}
	for _, v := range vars {
		add(v.Name, v.Value)
		values[v.Name] = v.Value
	}
	lookup := func(name string) (string, bool) { v, ok := values[name]; return v, ok }

	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(append(args, c.Command...), c.Args...)
	case len(c.Args) > 0:
		args = append(append(args, img.Entrypoint...), c.Args...)
	default:
		args = append(append(args, img.Entrypoint...), img.Cmd...)
	}
	for i := range args {
		args[i] = envvars.Expand(args[i], lookup)
	}
	if len(args) == 0 {
		return kruntime.ContainerConfig{}, fmt.Errorf("no command specified")
	}

	cfg := kruntime.ContainerConfig{
		Name: c.Name, Attempt: attempt, Image: c.Image, ImageRef: img.Ref,
		Args: args, Env: list, WorkingDir: c.WorkingDir,
		TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce, PidsLimit: m.opts.PodPidsLimit,
		LogPath: LogPath(m.opts.PodLogDir, pod, c.Name, attempt),
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = "/"
	}
	uid, gid, err := imageUser(img.User)
	if err != nil {
		return kruntime.ContainerConfig{}, err
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = uint32(*sc.RunAsGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = uint32(*sc.RunAsGroup)
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && uid == 0 {
			return kruntime.ContainerConfig{}, fmt.Errorf("container has runAsNonRoot and image will run as root")
		}
		cfg.ReadOnlyRootfs = ptr.Deref(sc.ReadOnlyRootFilesystem, false)
	}
	cfg.UID, cfg.GID = uid, gid
	cfg.AdditionalGIDs = m.supplementalGroups(pod)

	setResources(&cfg, c)
	return cfg, nil
}

// supplementalGroups are the groups every container of the pod gets
// besides its own, in Kubernetes' order: the fsGroup, the pod's
// supplementalGroups, then the groups of the PersistentVolumes it mounts
// (their pv.beta.kubernetes.io/gid).
func (m *Manager) supplementalGroups(pod *v1.Pod) []uint32 {
	var out []uint32
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.FSGroup != nil {
			out = append(out, uint32(*sc.FSGroup))
		}
		for _, g := range sc.SupplementalGroups {
			out = append(out, uint32(g))
		}
	}
	if m.opts.Volumes != nil {
		for _, g := range m.opts.Volumes.SupplementalGroups(pod) {
			out = append(out, uint32(g))
		}
	}
	return out
}

// imageUser parses an image's "uid[:gid]" user; names are not looked up.
func imageUser(u string) (uint32, uint32, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		if us == "root" {
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("image user %q: only numeric users are supported", u)
	}
	gid := uid
	if hasGroup {
		g, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("image group %q: only numeric groups are supported", u)
		}
		gid = g
	}
	return uint32(uid), uint32(gid), nil
}

// LogPath is where a container attempt's log goes, as Kubernetes lays
// them out: DIR/<namespace>_<pod>_<uid>/<container>/<attempt>.log.
func LogPath(dir string, pod *v1.Pod, container string, attempt int) string {
	return filepath.Join(PodLogDir(dir, pod.Namespace, pod.Name, pod.UID), container, strconv.Itoa(attempt)+".log")
}

// PodLogDir is a pod's log directory.
func PodLogDir(dir, namespace, name string, uid types.UID) string {
	return filepath.Join(dir, namespace+"_"+name+"_"+string(uid))
}

// writeStatus computes the pod's status and patches it if it changed.
func (m *Manager) writeStatus(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod, waiting map[string]status.Waiting, sandboxErr string, probes map[string]status.ProbeState) v1.PodStatus {
	base := m.statusBase(w, pod)
	st := status.Compute(status.Input{
		Pod: base, Runtime: rp, Waiting: waiting, HostIP: m.opts.HostIP(pod.Spec.NodeName),
		SandboxError: sandboxErr, Probes: probes, ResizeConditions: m.resizeConditions(pod, rp), Now: time.Now(),
	})
	m.setTerminationMessages(ctx, w, pod, rp, &st)
	m.patchStatus(ctx, w, pod, base.Status, st)
	return st
}

// writeFinalStatus writes the terminal status of a pod being deleted
// whose containers have stopped (rp: what the runtime has of it, nil if
// nothing). A pod already gone from the API needs none.
func (m *Manager) writeFinalStatus(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) error {
	base := m.statusBase(w, pod)
	st := status.Compute(status.Input{
		Pod: base, Runtime: rp, HostIP: m.opts.HostIP(pod.Spec.NodeName), Terminal: true, Now: time.Now(),
	})
	m.setTerminationMessages(ctx, w, pod, rp, &st)
	if err := m.patchStatus(ctx, w, pod, base.Status, st); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// statusBase is the pod with the newest status we know: the informer
// cache may not have seen our last write yet, and computing from it would
// make times flap.
func (m *Manager) statusBase(w *worker, pod *v1.Pod) *v1.Pod {
	if isStaticPod(pod) {
		// The kubelet's own record first; after a restart, what the
		// mirror pod shows.
		base := pod.DeepCopy()
		if w.staticStatus != nil {
			base.Status = *w.staticStatus.DeepCopy()
		} else if mirror := m.mirrorPod(pod); mirror != nil {
			base.Status = *mirror.Status.DeepCopy()
		}
		return base
	}
	if w.lastStatus != nil && newer(w.lastStatus.ResourceVersion, pod.ResourceVersion) {
		base := pod.DeepCopy()
		base.Status = w.lastStatus.Status
		return base
	}
	return pod
}

// patchStatus patches the pod's status from old to st, if they differ,
// as a strategic merge patch: what others changed meanwhile, such as a
// condition they own (DisruptionTarget), stays.
//
// A static pod's status goes to its mirror pod, from what the mirror
// shows; none is written while it has none (the next sync after it is
// made writes it).
func (m *Manager) patchStatus(ctx context.Context, w *worker, pod *v1.Pod, old, st v1.PodStatus) error {
	if isStaticPod(pod) {
		w.staticStatus = st.DeepCopy()
		mirror := m.mirrorPod(pod)
		if mirror == nil {
			return nil
		}
		old, pod = mirror.Status, mirror
		if w.lastStatus != nil && w.lastStatus.UID == mirror.UID && newer(w.lastStatus.ResourceVersion, mirror.ResourceVersion) {
			old = w.lastStatus.Status
		}
	}
	if apiequality.Semantic.DeepEqual(st, old) {
		return nil
	}
	oldJSON, err := json.Marshal(v1.Pod{Status: old})
	if err != nil {
		return err
	}
	newJSON, err := json.Marshal(v1.Pod{Status: st})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, v1.Pod{})
	if err != nil {
		m.log.Warn("pod status patch", zap.String("pod", key(pod)), zap.Error(err))
		return err
	}
	// The UID makes the patch fail on a pod of the same name made anew.
	patch, err = addUID(patch, pod.UID)
	if err != nil {
		return err
	}
	updated, err := m.opts.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			m.log.Warn("update pod status", zap.String("pod", key(pod)), zap.Error(err))
		}
		return err
	}
	w.lastStatus = updated
	return nil
}

// mirrorPod returns the current mirror pod of a static pod, or nil.
func (m *Manager) mirrorPod(pod *v1.Pod) *v1.Pod {
	if m.opts.MirrorPod == nil {
		return nil
	}
	return m.opts.MirrorPod(pod)
}

func addUID(patch []byte, uid types.UID) ([]byte, error) {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	p["metadata"] = map[string]any{"uid": string(uid)}
	return json.Marshal(p)
}

// newer reports whether resourceVersion a is later than b; they are etcd
// revisions here, compared as numbers when they parse.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}

// deleteFromAPI removes the pod object once the node is done with it.
func (m *Manager) deleteFromAPI(ctx context.Context, pod *v1.Pod) error {
	err := m.opts.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// event records an event about the pod, or one of its containers.
func (m *Manager) event(pod *v1.Pod, container, eventType, reason, format string, args ...any) {
	if m.opts.Recorder == nil {
		return
	}
	ref := &v1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
	if container != "" {
		ref.FieldPath = fieldPath(pod, container)
	}
	m.opts.Recorder(pod.Spec.NodeName).Eventf(ref, eventType, reason, format, args...)
}

func fieldPath(pod *v1.Pod, container string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return "spec.initContainers{" + container + "}"
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return "spec.ephemeralContainers{" + container + "}"
		}
	}
	return "spec.containers{" + container + "}"
}
