package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/envvars"
)

// Run refreshes, every period until ctx ends, the files of the volumes
// of the pods that pods lists (Refresh). The ConfigMaps and Secrets are
// read once per round however many pods use them; pods without such a
// volume cost nothing.
func (m *Manager) Run(ctx context.Context, period time.Duration, pods func() []*v1.Pod) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.refreshAll(ctx, pods())
	}
}

func (m *Manager) refreshAll(ctx context.Context, pods []*v1.Pod) {
	src := &roundSource{src: m.Src, cms: map[string]cmResult{}, secrets: map[string]secretResult{}}
	for _, pod := range pods {
		if ctx.Err() != nil {
			return
		}
		if !needsRefresh(pod) {
			continue
		}
		if err := m.refresh(ctx, src, pod, pod.Status.PodIP, pod.Status.HostIP); err != nil {
			m.log().Warn("refresh volumes", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
		}
	}
}

// needsRefresh reports whether the pod runs and has a volume with files
// to keep current.
func needsRefresh(pod *v1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return false
	}
	for _, vol := range pod.Spec.Volumes {
		if hasFiles(vol.VolumeSource) {
			return true
		}
	}
	return false
}

// Refresh rewrites the files of the pod's configMap, secret, downwardAPI
// and projected volumes from their sources, those that Prepare made and
// that changed (a ConfigMap's new data, a renewed token, new labels).
// Each volume is swapped atomically. A volume whose sources fail keeps
// its files.
func (m *Manager) Refresh(ctx context.Context, pod *v1.Pod, podIP, hostIP string) error {
	return m.refresh(ctx, m.Src, pod, podIP, hostIP)
}

func (m *Manager) refresh(ctx context.Context, src envvars.Source, pod *v1.Pod, podIP, hostIP string) error {
	var errs []error
	for _, vol := range pod.Spec.Volumes {
		if !hasFiles(vol.VolumeSource) {
			continue
		}
		dir := filepath.Join(m.Dir, string(pod.UID), vol.Name)
		if _, err := os.Stat(dir); err != nil {
			continue // not made yet, or removed
		}
		files, err := m.files(ctx, src, pod, vol.VolumeSource, podIP, hostIP)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", vol.Name, err))
			continue
		}
		if err := m.rewrite(dir, files, fsGroup(pod)); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", vol.Name, err))
		}
	}
	return errors.Join(errs...)
}

// rewrite writes a refreshed volume unless Remove took it meanwhile,
// giving a new version to the pod's fsGroup as Prepare did.
func (m *Manager) rewrite(dir string, files map[string]file, fsGroup *int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	changed, err := writeAtomic(dir, files, fsGroup)
	if changed && err == nil {
		m.log().Debug("volume files updated", zap.String("dir", dir))
	}
	return err
}

func (m *Manager) log() *zap.Logger {
	if m.Log == nil {
		return zap.NewNop()
	}
	return m.Log
}

// roundSource reads each ConfigMap and Secret once per refresh round.
// One goroutine uses it.
type roundSource struct {
	src     envvars.Source
	cms     map[string]cmResult
	secrets map[string]secretResult
}

type cmResult struct {
	cm  *v1.ConfigMap
	err error
}

type secretResult struct {
	s   *v1.Secret
	err error
}

func (r *roundSource) ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	k := ns + "/" + name
	if res, ok := r.cms[k]; ok {
		return res.cm, res.err
	}
	cm, err := r.src.ConfigMap(ctx, ns, name)
	r.cms[k] = cmResult{cm, err}
	return cm, err
}

func (r *roundSource) Secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	k := ns + "/" + name
	if res, ok := r.secrets[k]; ok {
		return res.s, res.err
	}
	s, err := r.src.Secret(ctx, ns, name)
	r.secrets[k] = secretResult{s, err}
	return s, err
}
