// Package volumes makes a pod's volumes on the node: emptyDir (on disk or
// tmpfs), hostPath, the files of configMap, secret, downwardAPI and
// projected volumes (ServiceAccount tokens among them), and
// persistentVolumeClaim volumes (claims.go): hostPath, local and nfs
// PersistentVolumes. Each volume is a directory (or a host path) that
// the runtime binds into the containers that mount it.
//
// The files of configMap, secret, downwardAPI and projected volumes are
// written atomically (writeAtomic: a timestamped directory behind a
// ..data symlink, as Kubernetes' AtomicWriter) and kept current: Run
// rewrites them from their sources every period, which renews the
// tokens before 80% of their life and brings ConfigMap and Secret
// changes into running pods, as the kubelet's periodic remount does.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/kubelet/internal/envvars"
	"coracle.dev/kubelet/internal/mount"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// TokenSource gives ServiceAccount tokens for serviceAccountToken
// projections (token.Manager: cached, renewed when due).
type TokenSource interface {
	Token(ctx context.Context, namespace, serviceAccount string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
	// Forget drops what is kept for a pod that is gone.
	Forget(podUID types.UID)
}

// Manager keeps the volumes of pods under one directory:
// DIR/<pod uid>/<volume name>.
type Manager struct {
	Dir string
	Src envvars.Source
	// Tokens gives the tokens of serviceAccountToken projections; a
	// pod with one fails to start without it.
	Tokens TokenSource
	// Client reads the claims and PersistentVolumes of
	// persistentVolumeClaim volumes; a pod with one waits without it.
	Client kubernetes.Interface
	// Changed, if set, is called when the PersistentVolumes in use on a
	// node change (InUse): its status is due.
	Changed func(node string)
	Log     *zap.Logger

	// lookPath finds a mount helper and runMount runs mount(8); nil
	// means the node's (tests replace them).
	lookPath func(string) (string, error)
	runMount func(ctx context.Context, args []string) ([]byte, error)

	// claimsMu guards claims: the claim volumes set up, by pod.
	claimsMu sync.Mutex
	claims   map[types.UID]*podClaims

	// mu serializes the writing of volume files and the removal of a
	// pod's volumes, so a refresh neither interleaves with the pod
	// worker's writes nor brings back what Remove removed. Sources are
	// read outside it.
	mu sync.Mutex
}

// Prepare makes every volume of the pod (idempotent) and returns each by
// name. Claim volumes are those MountClaims set up (set up now if they
// were not).
func (m *Manager) Prepare(ctx context.Context, pod *v1.Pod, podIP, hostIP string) (map[string]Volume, error) {
	vols := map[string]Volume{}
	for _, vol := range pod.Spec.Volumes {
		v, err := m.prepare(ctx, pod, vol, podIP, hostIP)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		vols[vol.Name] = v
	}
	return vols, nil
}

func (m *Manager) prepare(ctx context.Context, pod *v1.Pod, vol v1.Volume, podIP, hostIP string) (Volume, error) {
	if vol.PersistentVolumeClaim != nil {
		cv, err := m.mountClaim(ctx, pod, vol, &MountError{})
		return cv.Volume, err
	}
	path, err := m.preparePath(ctx, pod, vol, podIP, hostIP)
	// Upstream mounts configMap, secret, downwardAPI and projected
	// volumes read-only, having made the mount points of volumes nested
	// under them inside (MakeNestedMountpoints); without that step a
	// nested mount could not be made in a read-only one, so they stay
	// writable here (what a container writes is gone at the next
	// refresh).
	return Volume{Path: path}, err
}

func (m *Manager) preparePath(ctx context.Context, pod *v1.Pod, vol v1.Volume, podIP, hostIP string) (string, error) {
	dir := filepath.Join(m.Dir, string(pod.UID), vol.Name)
	src := vol.VolumeSource
	switch {
	case src.HostPath != nil:
		return src.HostPath.Path, checkHostPath(src.HostPath.Path, src.HostPath.Type)
	case src.EmptyDir != nil:
		return dir, m.setUpEmptyDir(pod, vol.Name, dir, src.EmptyDir)
	case hasFiles(src):
		files, err := m.files(ctx, m.Src, pod, src, podIP, hostIP)
		if err != nil {
			return "", err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		_, err = writeAtomic(dir, files, fsGroup(pod))
		return dir, err
	}
	return "", errors.New("unsupported volume type")
}

// emptyDirPerm is the mode of an emptyDir's directory (and of the
// directory of a volume whose files the kubelet writes, which Kubernetes
// makes as an emptyDir): anyone may write there, whatever user the
// containers run as.
const emptyDirPerm = os.FileMode(0o777)

// readyDirName is the directory, beside a pod's volumes, that marks the
// emptyDirs that are set up: a DNS label never starts with a dot, so it
// is no volume's name.
const readyDirName = "..ready"

// setUpEmptyDir makes an emptyDir volume at dir: a directory of mode
// 0777 or, for medium Memory, a tmpfs mounted there (whose root is
// 1777). The pod's fsGroup is then applied as Kubernetes' emptyDir
// plugin does, whatever the fsGroupChangePolicy. It is done once: a
// volume marked ready (its directory there, its tmpfs mounted) is left
// as the pod made it, so the next container's start does not take back
// the modes a pod gave its files.
func (m *Manager) setUpEmptyDir(pod *v1.Pod, name, dir string, src *v1.EmptyDirVolumeSource) error {
	ready := filepath.Join(m.Dir, string(pod.UID), readyDirName, name)
	memory := src.Medium == v1.StorageMediumMemory
	mounted := false
	if memory {
		var err error
		if mounted, err = mount.IsPoint(dir); err != nil {
			return err
		}
	}
	if _, err := os.Stat(ready); err == nil {
		if _, err := os.Stat(dir); err == nil && (!memory || mounted) {
			return nil
		}
	}
	if err := setUpDir(dir); err != nil {
		return err
	}
	if memory && !mounted {
		opts := "mode=1777"
		if l := src.SizeLimit; l != nil && !l.IsZero() {
			opts += fmt.Sprintf(",size=%d", l.Value())
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("tmpfs: %w", err)
		}
	}
	if g := fsGroup(pod); g != nil {
		// As Kubernetes', a volume whose group could not be changed
		// is still used.
		if err := setVolumeOwnership(dir, *g, false, nil); err != nil {
			m.log().Warn("set volume ownership", zap.String("dir", dir), zap.Error(err))
		}
	}
	if err := os.MkdirAll(filepath.Dir(ready), 0o700); err != nil {
		return err
	}
	return os.WriteFile(ready, nil, 0o600)
}

// setUpDir makes a volume's directory with emptyDirPerm, whatever the
// kubelet's umask.
func setUpDir(dir string) error {
	if err := os.MkdirAll(dir, emptyDirPerm); err != nil {
		return err
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if info.Mode().Perm() == emptyDirPerm {
		return nil
	}
	return os.Chmod(dir, emptyDirPerm)
}

// file is one file of a volume.
type file struct {
	data []byte
	mode os.FileMode
	// user, if set, owns the file (and its visible name): the pod's
	// fsUser, for ServiceAccount tokens.
	user *int64
}

// hasFiles reports whether the volume is one whose files the kubelet
// writes: configMap, secret, downwardAPI or projected.
func hasFiles(src v1.VolumeSource) bool {
	return src.ConfigMap != nil || src.Secret != nil || src.DownwardAPI != nil || src.Projected != nil
}

// files returns the files of a configMap, secret, downwardAPI or
// projected volume, reading ConfigMaps and Secrets from cms. A missing
// optional source adds no files.
func (m *Manager) files(ctx context.Context, cms envvars.Source, pod *v1.Pod, src v1.VolumeSource, podIP, hostIP string) (map[string]file, error) {
	out := map[string]file{}
	mode := func(def *int32, item *int32) os.FileMode {
		if item != nil {
			return os.FileMode(*item)
		}
		if def != nil {
			return os.FileMode(*def)
		}
		return 0o644
	}
	addKeys := func(data map[string][]byte, items []v1.KeyToPath, def *int32, what string) error {
		if len(items) == 0 {
			for k, v := range data {
				out[k] = file{data: v, mode: mode(def, nil)}
			}
			return nil
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return fmt.Errorf("%s has no key %q", what, it.Key)
			}
			out[it.Path] = file{data: v, mode: mode(def, it.Mode)}
		}
		return nil
	}
	configMap := func(name string, optional *bool, items []v1.KeyToPath, def *int32) error {
		cm, err := cms.ConfigMap(ctx, pod.Namespace, name)
		if err != nil {
			if optional != nil && *optional {
				return nil
			}
			return fmt.Errorf("configmap %q not found", name)
		}
		data := map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		return addKeys(data, items, def, "configmap "+name)
	}
	secret := func(name string, optional *bool, items []v1.KeyToPath, def *int32) error {
		s, err := cms.Secret(ctx, pod.Namespace, name)
		if err != nil {
			if optional != nil && *optional {
				return nil
			}
			return fmt.Errorf("secret %q not found", name)
		}
		return addKeys(s.Data, items, def, "secret "+name)
	}
	downward := func(items []v1.DownwardAPIVolumeFile, def *int32) error {
		for _, it := range items {
			var v string
			var err error
			switch {
			case it.FieldRef != nil:
				v, err = envvars.FieldValue(pod, it.FieldRef.FieldPath, podIP, hostIP)
			case it.ResourceFieldRef != nil:
				c := container(pod, it.ResourceFieldRef.ContainerName)
				if c == nil {
					return fmt.Errorf("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
				}
				v, err = envvars.ResourceValue(pod, c, it.ResourceFieldRef)
			}
			if err != nil {
				return err
			}
			out[it.Path] = file{data: []byte(v), mode: mode(def, it.Mode)}
		}
		return nil
	}
	var err error
	switch {
	case src.ConfigMap != nil:
		err = configMap(src.ConfigMap.Name, src.ConfigMap.Optional, src.ConfigMap.Items, src.ConfigMap.DefaultMode)
	case src.Secret != nil:
		err = secret(src.Secret.SecretName, src.Secret.Optional, src.Secret.Items, src.Secret.DefaultMode)
	case src.DownwardAPI != nil:
		err = downward(src.DownwardAPI.Items, src.DownwardAPI.DefaultMode)
	case src.Projected != nil:
		for _, s := range src.Projected.Sources {
			switch {
			case s.ConfigMap != nil:
				err = configMap(s.ConfigMap.Name, s.ConfigMap.Optional, s.ConfigMap.Items, src.Projected.DefaultMode)
			case s.Secret != nil:
				err = secret(s.Secret.Name, s.Secret.Optional, s.Secret.Items, src.Projected.DefaultMode)
			case s.DownwardAPI != nil:
				err = downward(s.DownwardAPI.Items, src.Projected.DefaultMode)
			case s.ServiceAccountToken != nil:
				err = m.token(ctx, pod, s.ServiceAccountToken, tokenMode(pod, src.Projected.DefaultMode), out)
			}
			if err != nil {
				break
			}
		}
	}
	return out, err
}

// token adds a serviceAccountToken projection's file: a token of the
// pod's ServiceAccount bound to the pod, for the projection's audience
// (the apiserver's own when it names none).
func (m *Manager) token(ctx context.Context, pod *v1.Pod, p *v1.ServiceAccountTokenProjection, fileMode os.FileMode, out map[string]file) error {
	if m.Tokens == nil {
		return errors.New("serviceAccountToken projection: this kubelet gets no tokens")
	}
	var audiences []string
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		// What the ServiceAccount admission sets.
		sa = "default"
	}
	tr, err := m.Tokens.Token(ctx, pod.Namespace, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: p.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	})
	if err != nil {
		return fmt.Errorf("token of serviceaccount %s/%s: %w", pod.Namespace, sa, err)
	}
	out[p.Path] = file{data: []byte(tr.Status.Token), mode: fileMode, user: fsUser(pod)}
	return nil
}

// tokenMode is the mode of a ServiceAccount token's file: the projected
// volume's defaultMode, but 0600 when the pod has an fsUser (the file is
// that user's) or an fsGroup (whose read bit the ownership adds: 0640),
// as Kubernetes', so that a token is readable by the pod's user and
// group and not by every user of the container.
func tokenMode(pod *v1.Pod, def *int32) os.FileMode {
	if fsUser(pod) != nil || fsGroup(pod) != nil {
		return 0o600
	}
	if def != nil {
		return os.FileMode(*def)
	}
	return 0o644
}

func container(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name || name == "" {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// Mounts lists the container's volume mounts as bind mounts of the
// prepared volumes. A subPath (or a subPathExpr, expanded with env, the
// container's KEY=value environment) mounts a path inside the volume,
// made if missing; as upstream's kubelet, one that is absolute or steps
// up with ".." is refused, and so is an expansion that names a variable
// the container lacks or has empty.
func Mounts(c *v1.Container, vols map[string]Volume, env []string) ([]kruntime.Mount, error) {
	var out []kruntime.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no such volume", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			var err error
			if sub, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		src := v.Path
		if sub != "" {
			if filepath.IsAbs(sub) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
			}
			if slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
				return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
			}
			var err error
			if src, err = subPath(v.Path, sub); err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
		}
		out = append(out, kruntime.Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly || v.ReadOnly})
	}
	return out, nil
}

// expandSubPath expands a subPathExpr's $(VAR) references with the
// container's environment, as upstream's ExpandContainerVolumeMounts: a
// variable missing or empty is an error naming it.
func expandSubPath(expr string, env []string) (string, error) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	missing := map[string]bool{}
	out := envvars.Expand(expr, func(name string) (string, bool) {
		v, ok := vars[name]
		if !ok || v == "" {
			missing[name] = true
		}
		return v, true
	})
	if len(missing) > 0 {
		names := slices.Sorted(maps.Keys(missing))
		return "", fmt.Errorf("missing value for %s", strings.Join(names, ", "))
	}
	return out, nil
}

// subPath returns the directory sub below a volume's root, making what
// is missing of it with the root's permissions, as Kubernetes does. The
// path is resolved one element at a time: a symlink that leads out of the
// volume (one a pod left there, pointing at the node's files) is refused
// before anything is made through it.
func subPath(root, sub string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	within := func(p string) bool { return p == realRoot || strings.HasPrefix(p, realRoot+"/") }
	cur := realRoot
	parts := strings.Split(filepath.Clean("/" + sub)[1:], "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		if _, err := os.Lstat(next); os.IsNotExist(err) {
			info, err := os.Stat(realRoot)
			if err != nil {
				return "", err
			}
			return makeSubDirs(cur, parts[i:], info.Mode())
		}
		if next, err = filepath.EvalSymlinks(next); err != nil {
			return "", err
		}
		if !within(next) {
			return "", fmt.Errorf("subpath %q not within volume path %q", next, root)
		}
		cur = next
	}
	return cur, nil
}

// makeSubDirs makes the directories parts below cur with the volume root's
// mode: its permission bits whatever the kubelet's umask, and its setgid
// and sticky bits (an fsGroup's setgid, a tmpfs' sticky bit), so a
// container's user may write in a subPath of a volume it may write in.
func makeSubDirs(cur string, parts []string, mode os.FileMode) (string, error) {
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, mode.Perm()); err != nil && !os.IsExist(err) {
			return "", err
		}
		if err := os.Chmod(cur, mode&(os.ModePerm|os.ModeSetgid|os.ModeSetuid|os.ModeSticky)); err != nil {
			return "", err
		}
	}
	return cur, nil
}

// Remove unmounts and removes every volume of a pod, and forgets its
// tokens and claims. Host paths and the PersistentVolumes' data stay:
// every mount below the pod's directory comes off before anything there
// is removed.
func (m *Manager) Remove(uid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Tokens != nil {
		m.Tokens.Forget(types.UID(uid))
	}
	dir := filepath.Join(m.Dir, uid)
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		m.forget(types.UID(uid))
		return nil
	}
	if err := unmountAll(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	m.forget(types.UID(uid))
	return nil
}
