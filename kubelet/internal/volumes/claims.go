package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/kubelet/internal/mount"
)

// A persistentVolumeClaim volume is set up as Kubernetes' volume manager
// does it, in two steps. Processing reads the claim, which must be
// Bound, and the PersistentVolume it names, which must point back at the
// claim; setting up makes the PV's source ready on the node:
//
//   - hostPath: the path is checked, or made, as its type says, and the
//     containers bind the path itself;
//   - local: the path must be a directory; it is bind-mounted at
//     DIR/<pod uid>/<volume> (read-only when asked), and a pod's fsGroup
//     is applied when it is first mounted;
//   - nfs: mounted at DIR/<pod uid>/<volume> by the kernel's client
//     (mount -t nfs), which needs the node's mount.nfs helper.
//
// The data is the PV's: the kubelet only ever unmounts what it mounted,
// never removes what is in a PV. A set-up volume is remembered for the
// pod, so the claim and PV are read once per pod, not at every sync; a
// restarted kubelet processes its pods' claims again and finds their
// mounts in place (mountinfo), mounting nothing twice.

// ReasonFailedMount is the reason of the events of a pod whose volumes
// cannot be mounted, as Kubernetes'.
const ReasonFailedMount = "FailedMount"

// Names of the volume plugins whose kind of PersistentVolume the kubelet
// mounts: the first part of the unique volume names in the Node's
// status.volumesInUse.
const (
	hostPathPluginName = "kubernetes.io/host-path"
	localPluginName    = "kubernetes.io/local-volume"
	nfsPluginName      = "kubernetes.io/nfs"
)

const (
	// pvcProtectionFinalizer keeps a claim in use from going: a claim
	// being deleted that still has it may still be mounted.
	pvcProtectionFinalizer = "kubernetes.io/pvc-protection"
	// volumeGIDAnnotation on a PV names a group the pods that mount it
	// get as a supplemental group.
	volumeGIDAnnotation = "pv.beta.kubernetes.io/gid"
	// mountOptionsAnnotation is the beta form of spec.mountOptions; it
	// wins over the field, as in Kubernetes.
	mountOptionsAnnotation = "volume.beta.kubernetes.io/mount-options"
	// mountTimeout bounds one NFS mount: a server that does not answer
	// would otherwise hold the pod's worker for as long as the kernel
	// retries.
	mountTimeout = 2 * time.Minute
)

// Volume is a pod volume as the containers mount it: the host path to
// bind, read-only for every container when the volume is.
type Volume struct {
	Path     string
	ReadOnly bool
}

// claimVolume is a claim volume set up for a pod.
type claimVolume struct {
	Volume
	// unique is the volume's name in the Node's status.volumesInUse.
	unique v1.UniqueVolumeName
	// gid is the PV's pv.beta.kubernetes.io/gid, "" for none.
	gid string
}

// podClaims are the claim volumes set up for one pod of a node.
type podClaims struct {
	node string
	vols map[string]claimVolume
}

// MountError says why some of a pod's claim volumes are not mounted,
// in the words of Kubernetes' volume manager.
type MountError struct {
	// Unmounted names the pod's volumes that are not mounted;
	// Unprocessed those of them whose claim or PV could not be read or
	// is not bound; Process says why.
	Unmounted   []string
	Unprocessed []string
	Process     []string
	// SetUp are the volumes whose claim and PV were fine but whose
	// source could not be made ready.
	SetUp []SetUpError
}

// SetUpError is a volume whose source could not be made ready.
type SetUpError struct {
	// Volume is the pod's volume, Spec the PV (the name Kubernetes'
	// events give it).
	Volume, Spec string
	// Prefix says which step failed: "MountVolume.NewMounter
	// initialization failed" or "MountVolume.SetUp failed".
	Prefix string
	Err    error
}

func (e *MountError) Error() string {
	why := strings.Join(e.Process, "; ")
	if why == "" {
		var msgs []string
		for _, s := range e.SetUp {
			msgs = append(msgs, s.message())
		}
		why = strings.Join(msgs, "; ")
	}
	return fmt.Sprintf("unmounted volumes=%v, unattached volumes=[], failed to process volumes=%v: %s", e.Unmounted, e.Unprocessed, why)
}

// Events are the messages of the pod's FailedMount events: one per
// volume that failed to set up, and, when claims could not be
// processed, the kubelet's "Unable to attach or mount volumes".
func (e *MountError) Events() []string {
	var out []string
	for _, s := range e.SetUp {
		out = append(out, s.message())
	}
	if len(e.Process) > 0 {
		out = append(out, "Unable to attach or mount volumes: "+e.Error())
	}
	return out
}

func (s SetUpError) Error() string { return s.message() }

func (s SetUpError) message() string {
	return fmt.Sprintf("%s for volume %q : %v", s.Prefix, s.Spec, s.Err)
}

// MountClaims processes and sets up each persistentVolumeClaim volume of
// the pod that is not yet, and returns a *MountError if any is not
// mounted. The pod's containers must wait until it returns nil.
func (m *Manager) MountClaims(ctx context.Context, pod *v1.Pod) error {
	merr := &MountError{}
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		if _, err := m.mountClaim(ctx, pod, vol, merr); err != nil {
			merr.Unmounted = append(merr.Unmounted, vol.Name)
		}
	}
	if len(merr.Unmounted) == 0 {
		return nil
	}
	slices.Sort(merr.Unmounted)
	slices.Sort(merr.Unprocessed)
	return merr
}

// mountClaim returns the claim volume, set up now if it was not. Its
// failure is also recorded in merr.
func (m *Manager) mountClaim(ctx context.Context, pod *v1.Pod, vol v1.Volume, merr *MountError) (claimVolume, error) {
	if cv, ok := m.claimVolume(pod.UID, vol.Name); ok {
		return cv, nil
	}
	pv, readOnly, err := m.processClaim(ctx, pod, vol)
	if err != nil {
		merr.Unprocessed = append(merr.Unprocessed, vol.Name)
		merr.Process = append(merr.Process, err.Error())
		return claimVolume{}, err
	}
	cv, err := m.setUpClaim(ctx, pod, vol.Name, pv, readOnly)
	if err != nil {
		var se SetUpError
		if !errors.As(err, &se) {
			se = SetUpError{Prefix: "MountVolume.SetUp failed", Err: err}
		}
		se.Volume, se.Spec = vol.Name, pv.Name
		merr.SetUp = append(merr.SetUp, se)
		return claimVolume{}, err
	}
	m.log().Debug("claim volume mounted", zap.String("pod", pod.Namespace+"/"+pod.Name),
		zap.String("volume", vol.Name), zap.String("pv", pv.Name), zap.String("path", cv.Path))
	m.remember(pod, vol.Name, cv)
	return cv, nil
}

// processClaim reads the volume's claim and its PV and checks that they
// are bound to each other. readOnly is the claim volume's readOnly.
func (m *Manager) processClaim(ctx context.Context, pod *v1.Pod, vol v1.Volume) (*v1.PersistentVolume, bool, error) {
	src := vol.PersistentVolumeClaim
	fail := func(err error) (*v1.PersistentVolume, bool, error) {
		return nil, false, fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, src.ClaimName, err)
	}
	if m.Client == nil {
		return fail(errors.New("this kubelet reads no claims"))
	}
	pvc, err := m.Client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, src.ClaimName, metav1.GetOptions{})
	if err != nil {
		return fail(fmt.Errorf("failed to fetch PVC from API server: %w", err))
	}
	if err := claimBound(pvc); err != nil {
		return fail(err)
	}
	pv, err := m.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return fail(fmt.Errorf("failed to fetch PV %s from API server: %w", pvc.Spec.VolumeName, err))
	}
	if err := volumeBoundTo(pv, pvc.UID); err != nil {
		return fail(err)
	}
	if mode := pv.Spec.VolumeMode; mode != nil && *mode != v1.PersistentVolumeFilesystem {
		return nil, false, fmt.Errorf("volume %s has volumeMode %s, but is specified in volumeMounts", vol.Name, *mode)
	}
	return pv, src.ReadOnly, nil
}

// claimBound checks that a pod may mount the claim: Bound, to a named
// volume, and not being deleted (unless still protected: a running pod
// of a restarted kubelet keeps its claim).
func claimBound(pvc *v1.PersistentVolumeClaim) error {
	if pvc.DeletionTimestamp != nil && !slices.Contains(pvc.Finalizers, pvcProtectionFinalizer) {
		return errors.New("PVC is being deleted")
	}
	if pvc.Status.Phase != v1.ClaimBound {
		return errors.New("PVC is not bound")
	}
	if pvc.Spec.VolumeName == "" {
		return errors.New("PVC has empty pvc.Spec.VolumeName")
	}
	return nil
}

// volumeBoundTo checks that the PV is bound to the claim with this UID.
func volumeBoundTo(pv *v1.PersistentVolume, claimUID types.UID) error {
	if pv.Spec.ClaimRef == nil {
		return fmt.Errorf("found PV object %s but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim", pv.Name)
	}
	if pv.Spec.ClaimRef.UID != claimUID {
		return fmt.Errorf("found PV object %s but its pv.Spec.ClaimRef.UID %s does not point to claim.UID %s", pv.Name, pv.Spec.ClaimRef.UID, claimUID)
	}
	return nil
}

// errUnsupported is the setup error of a PV of a kind this kubelet has
// no plugin for.
var errUnsupported = errors.New("unsupported volume type")

// setUpClaim makes the PV's source ready for the pod's volume.
func (m *Manager) setUpClaim(ctx context.Context, pod *v1.Pod, volName string, pv *v1.PersistentVolume, readOnly bool) (claimVolume, error) {
	cv := claimVolume{gid: pv.Annotations[volumeGIDAnnotation]}
	dir := filepath.Join(m.Dir, string(pod.UID), volName)
	src := pv.Spec.PersistentVolumeSource
	switch {
	case src.HostPath != nil:
		if err := checkHostPath(src.HostPath.Path, src.HostPath.Type); err != nil {
			return cv, err
		}
		cv.Volume = Volume{Path: src.HostPath.Path, ReadOnly: readOnly}
		cv.unique = uniqueName(hostPathPluginName, pv.Name)
	case src.Local != nil:
		if err := m.setUpLocal(pod, dir, pv, readOnly); err != nil {
			return cv, err
		}
		cv.Volume = Volume{Path: dir, ReadOnly: readOnly}
		cv.unique = uniqueName(localPluginName, pv.Name)
	case src.NFS != nil:
		readOnly = readOnly || src.NFS.ReadOnly
		if err := m.setUpNFS(ctx, dir, pv, readOnly); err != nil {
			return cv, err
		}
		cv.Volume = Volume{Path: dir, ReadOnly: readOnly}
		cv.unique = uniqueName(nfsPluginName, pv.Name)
	default:
		return cv, SetUpError{
			Prefix: "MountVolume.NewMounter initialization failed",
			Err:    fmt.Errorf("%w: this node mounts hostPath, local and nfs PersistentVolumes", errUnsupported),
		}
	}
	return cv, nil
}

// uniqueName is a volume's name in status.volumesInUse: the plugin's
// name and the PV's, as Kubernetes names the volumes of plugins whose
// volume name is the PV's.
func uniqueName(plugin, pvName string) v1.UniqueVolumeName {
	return v1.UniqueVolumeName(plugin + "/" + pvName)
}

// setUpLocal bind-mounts a local PV's directory at dir, unless it is
// mounted there already (a restarted kubelet), and applies the pod's
// fsGroup on the first mount of a writable volume no other pod of the
// node has mounted.
func (m *Manager) setUpLocal(pod *v1.Pod, dir string, pv *v1.PersistentVolume, readOnly bool) error {
	path := pv.Spec.Local.Path
	if hasBacksteps(path) {
		return fmt.Errorf("invalid path: %s must not contain '..'", path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return SetUpError{Prefix: "MountVolume.NewMounter initialization failed", Err: err}
	}
	if !info.IsDir() {
		return SetUpError{Prefix: "MountVolume.NewMounter initialization failed", Err: errors.New("only directory and block device are supported")}
	}
	if mounted, err := mount.IsPoint(dir); err != nil || mounted {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := bindMount(path, dir, readOnly); err != nil {
		_ = os.Remove(dir)
		return err
	}
	sc := pod.Spec.SecurityContext
	if readOnly || sc == nil || sc.FSGroup == nil || m.usedByOthers(pod.UID, uniqueName(localPluginName, pv.Name)) {
		return nil
	}
	return setVolumeOwnership(dir, *sc.FSGroup, readOnly, sc.FSGroupChangePolicy)
}

// setUpNFS mounts an NFS PV at dir with the kernel's NFS client, unless
// it is mounted there already.
func (m *Manager) setUpNFS(ctx context.Context, dir string, pv *v1.PersistentVolume, readOnly bool) error {
	if mounted, err := mount.IsPoint(dir); err != nil || mounted {
		return err
	}
	nfs := pv.Spec.NFS
	source := nfs.Server + ":" + nfs.Path
	lookPath := m.lookPath
	if lookPath == nil {
		lookPath = findMountHelper
	}
	if _, err := lookPath("mount.nfs"); err != nil {
		return fmt.Errorf("mount of %s needs the NFS client's mount helper mount.nfs, which this node does not have (Debian: install nfs-common)", source)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	args := mountArgs(source, dir, "nfs", mountOptions(pv, readOnly))
	run := m.runMount
	if run == nil {
		run = runMount
	}
	ctx, cancel := context.WithTimeout(ctx, mountTimeout)
	defer cancel()
	if out, err := run(ctx, args); err != nil {
		// A mount that failed half-way must not stay.
		if unmountAll(dir) == nil {
			_ = os.Remove(dir)
		}
		return fmt.Errorf("mount failed: %v\nMounting command: mount\nMounting arguments: %s\nOutput: %s", err, strings.Join(args, " "), out)
	}
	return nil
}

// mountOptions are a PV's mount options (the beta annotation's if it has
// one, else spec.mountOptions) and ro for a read-only volume, without
// repeats and sorted, as Kubernetes joins them.
func mountOptions(pv *v1.PersistentVolume, readOnly bool) []string {
	user := pv.Spec.MountOptions
	if a, ok := pv.Annotations[mountOptionsAnnotation]; ok {
		user = strings.Split(a, ",")
	}
	opts := sets.New[string]()
	for _, o := range user {
		if o != "" {
			opts.Insert(o)
		}
	}
	if readOnly {
		opts.Insert("ro")
	}
	return sets.List(opts)
}

// mountArgs are mount(8)'s arguments.
func mountArgs(source, target, fstype string, options []string) []string {
	var args []string
	if fstype != "" {
		args = append(args, "-t", fstype)
	}
	if len(options) > 0 {
		args = append(args, "-o", strings.Join(options, ","))
	}
	return append(args, source, target)
}

// findMountHelper finds a mount(8) helper where mount looks for them.
func findMountHelper(name string) (string, error) {
	for _, dir := range []string{"/sbin", "/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// runMount runs mount(8) and returns its output.
func runMount(ctx context.Context, args []string) ([]byte, error) {
	return exec.CommandContext(ctx, "mount", args...).CombinedOutput()
}

// hasBacksteps reports whether a path has a ".." element.
func hasBacksteps(path string) bool {
	return slices.Contains(strings.Split(filepath.ToSlash(path), "/"), "..")
}

// checkHostPath checks a host path against its type, making it first for
// the types that create (DirectoryOrCreate, FileOrCreate), with the
// messages of Kubernetes' hostPath plugin.
func checkHostPath(path string, pathType *v1.HostPathType) error {
	if hasBacksteps(path) {
		return fmt.Errorf("invalid HostPath `%s`: must not contain '..'", path)
	}
	t := v1.HostPathUnset
	if pathType != nil {
		t = *pathType
	}
	var want os.FileMode
	var expected string
	switch t {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return os.MkdirAll(path, 0o755)
		}
		fallthrough
	case v1.HostPathDirectory:
		want, expected = os.ModeDir, "directory"
	case v1.HostPathFileOrCreate:
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		fallthrough
	case v1.HostPathFile:
		want, expected = 0, "file"
	case v1.HostPathSocket:
		want, expected = os.ModeSocket, "socket file"
	case v1.HostPathCharDev:
		want, expected = os.ModeDevice|os.ModeCharDevice, "character device"
	case v1.HostPathBlockDev:
		want, expected = os.ModeDevice, "block device"
	default:
		return fmt.Errorf("%s is an invalid volume type", t)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, expected, err)
	}
	if info.Mode().Type() != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, expected, fileType(info.Mode()))
	}
	return nil
}

// fileType names a file's type as Kubernetes' host utilities do.
func fileType(mode os.FileMode) string {
	switch {
	case mode.IsDir():
		return "Directory"
	case mode&os.ModeSocket != 0:
		return "Socket"
	case mode&os.ModeCharDevice != 0:
		return "CharDevice"
	case mode&os.ModeDevice != 0:
		return "BlockDevice"
	case mode.IsRegular():
		return "File"
	}
	return "Unknown"
}

// claimVolume returns the pod's claim volume if it is set up.
func (m *Manager) claimVolume(uid types.UID, name string) (claimVolume, bool) {
	m.claimsMu.Lock()
	defer m.claimsMu.Unlock()
	pc := m.claims[uid]
	if pc == nil {
		return claimVolume{}, false
	}
	cv, ok := pc.vols[name]
	return cv, ok
}

// remember records a claim volume set up for the pod.
func (m *Manager) remember(pod *v1.Pod, name string, cv claimVolume) {
	m.claimsMu.Lock()
	if m.claims == nil {
		m.claims = map[types.UID]*podClaims{}
	}
	pc := m.claims[pod.UID]
	if pc == nil {
		pc = &podClaims{node: pod.Spec.NodeName, vols: map[string]claimVolume{}}
		m.claims[pod.UID] = pc
	}
	pc.vols[name] = cv
	m.claimsMu.Unlock()
	m.changed(pod.Spec.NodeName)
}

// forget drops what is remembered of the pod's claim volumes.
func (m *Manager) forget(uid types.UID) {
	m.claimsMu.Lock()
	pc := m.claims[uid]
	delete(m.claims, uid)
	m.claimsMu.Unlock()
	if pc != nil && len(pc.vols) > 0 {
		m.changed(pc.node)
	}
}

func (m *Manager) changed(node string) {
	if m.Changed != nil {
		m.Changed(node)
	}
}

// usedByOthers reports whether a pod other than uid has the volume set
// up.
func (m *Manager) usedByOthers(uid types.UID, unique v1.UniqueVolumeName) bool {
	m.claimsMu.Lock()
	defer m.claimsMu.Unlock()
	for other, pc := range m.claims {
		if other == uid {
			continue
		}
		for _, cv := range pc.vols {
			if cv.unique == unique {
				return true
			}
		}
	}
	return false
}

// InUse lists, sorted, the unique names of the PersistentVolumes mounted
// for the node's pods: its status.volumesInUse.
func (m *Manager) InUse(node string) []v1.UniqueVolumeName {
	m.claimsMu.Lock()
	defer m.claimsMu.Unlock()
	var out []v1.UniqueVolumeName
	for _, pc := range m.claims {
		if pc.node != node {
			continue
		}
		for _, cv := range pc.vols {
			out = append(out, cv.unique)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SupplementalGroups are the groups the pod's containers get from the
// pv.beta.kubernetes.io/gid annotations of the PVs it mounts, those its
// securityContext does not already list, sorted.
func (m *Manager) SupplementalGroups(pod *v1.Pod) []int64 {
	m.claimsMu.Lock()
	gids := sets.New[string]()
	if pc := m.claims[pod.UID]; pc != nil {
		for _, cv := range pc.vols {
			if cv.gid != "" {
				gids.Insert(cv.gid)
			}
		}
	}
	m.claimsMu.Unlock()
	var have []int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		have = sc.SupplementalGroups
	}
	var out []int64
	for _, s := range sets.List(gids) {
		g, err := strconv.ParseInt(s, 10, 64)
		if err != nil || slices.Contains(have, g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// UnmountClaims unmounts the claim volumes of a pod that has finished:
// its containers are done with them. The PVs' data stays.
func (m *Manager) UnmountClaims(pod *v1.Pod) error {
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		dir := filepath.Join(m.Dir, string(pod.UID), vol.Name)
		if err := unmountAll(dir); err != nil {
			return err
		}
		// Only an empty directory goes: Remove, never RemoveAll.
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	m.forget(pod.UID)
	return nil
}
