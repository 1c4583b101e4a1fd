package runc

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// RemovePod implements kruntime.Runtime.
func (r *Runtime) RemovePod(ctx context.Context, uid types.UID) error {
	dir := r.podDir(string(uid))
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "containers", "*"))
	for _, b := range bundles {
		if err := r.removeBundle(ctx, b); err != nil {
			return err
		}
	}
	if err := r.RemoveSandbox(ctx, uid); err != nil {
		return err
	}
	removeCgroup(filepath.Join(r.opts.CgroupRoot, "pod"+string(uid)))
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err == nil && rec.LogDir != "" {
		_ = os.RemoveAll(rec.LogDir)
	}
	return os.RemoveAll(dir)
}

// GetPod implements kruntime.Runtime.
func (r *Runtime) GetPod(_ context.Context, uid types.UID) (*kruntime.Pod, error) {
	return r.readPod(string(uid))
}

// ListPods implements kruntime.Runtime.
func (r *Runtime) ListPods(context.Context) ([]*kruntime.Pod, error) {
	entries, err := os.ReadDir(filepath.Join(r.opts.RootDir, "pods"))
	if err != nil {
		return nil, err
	}
	var out []*kruntime.Pod
	for _, e := range entries {
		p, err := r.readPod(e.Name())
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *Runtime) readPod(uid string) (*kruntime.Pod, error) {
	dir := r.podDir(uid)
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err != nil {
		if os.IsNotExist(err) {
			if _, serr := os.Stat(dir); serr == nil {
				// A pod directory without a record: made by a kubelet that
				// died at once. Report it so it is removed.
				return &kruntime.Pod{UID: types.UID(uid)}, nil
			}
			return nil, kruntime.ErrNotFound
		}
		return nil, err
	}
	p := &kruntime.Pod{
		UID: types.UID(uid), Namespace: rec.Namespace, Name: rec.Name, NodeName: rec.NodeName,
		IP: rec.IP, SandboxReady: rec.SandboxReady, TerminationGracePeriod: time.Duration(rec.GraceSeconds) * time.Second,
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "containers", "*"))
	for _, b := range bundles {
		crec := containerRecord{}
		if err := readJSON(filepath.Join(b, "container.json"), &crec); err != nil {
			continue
		}
		c, ok := r.containerFrom(b, crec)
		if !ok {
			continue
		}
		if c.State != kruntime.StateExited {
			r.watch(b, p.UID)
		}
		p.Containers = append(p.Containers, c)
	}
	sort.Slice(p.Containers, func(i, j int) bool {
		a, b := p.Containers[i], p.Containers[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Attempt < b.Attempt
	})
	return p, nil
}
