// Package addons is the add-on manager, as kube-addon-manager was and as
// k3s's deploy controller is: it applies every manifest in a directory
// (--addon-manifests-dir) at start, whenever a file changes, and every
// minute. Each file is an add-on named for the file (dns.yaml is "dns").
//
// An object of an add-on is created if absent and applied again (server-
// side apply, forced, as field manager coracle-addon-manager) only when
// its document in the file changed, so what a user changes by hand stays
// until the file does. Objects are labelled with their add-on's name;
// objects the file no longer has are deleted, and so is every object of
// an add-on that is disabled (--disable-addons, or a NAME.skip file,
// which deleting the manifest writes). Nothing without the label is ever
// deleted, and an object a user made before the add-on (same name, no
// label) is left alone, with a warning.
package addons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "addon-manager"

// resync is how often every add-on is applied again when nothing told.
const resync = time.Minute

// Controller is the add-on manager.
type Controller struct {
	*controller.Base
	dir      string
	disabled map[string]bool
	dynamic  dynamic.Interface
	metadata metadata.Interface
	cached   discovery.CachedDiscoveryInterface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	log      *zap.Logger
	// mu keeps one add-on's apply and prune from racing with a listing
	// of another's resources for the same kinds; syncs are per add-on.
	mu sync.Mutex
}

// New builds the add-on manager; without a directory it has nothing to
// do and returns a nil Runner.
func New(c controller.Context) (controller.Runner, error) {
	if c.Settings.AddonManifestsDir == "" {
		return nil, nil
	}
	cached := memory.NewMemCacheClient(c.Discovery)
	ctl := &Controller{
		dir: c.Settings.AddonManifestsDir, disabled: map[string]bool{},
		dynamic: c.Dynamic, metadata: c.Metadata, cached: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached),
		log:    c.Log,
	}
	for _, name := range c.Settings.DisableAddons {
		ctl.disabled[name] = true
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	period := c.Settings.AddonResyncPeriod
	if period <= 0 {
		period = resync
	}
	ctl.Every(period, ctl.enqueueAll)
	ctl.OnSynced(func(ctx context.Context) { go ctl.watchDir(ctx) })
	return ctl, nil
}

// enqueueAll queues every add-on: those with a file or a skip marker and
// those with objects in the cluster.
func (c *Controller) enqueueAll(ctx context.Context) {
	names := map[string]bool{}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Warn("read add-on manifests", zap.String("dir", c.dir), zap.Error(err))
	}
	for _, e := range entries {
		if name := AddonName(e.Name()); name != "" && !e.IsDir() {
			names[name] = true
		}
	}
	for name := range c.disabled {
		names[name] = true
	}
	// Kinds served since the last look (a CRD's) are looked at too.
	c.mapper.Reset()
	inventory, err := c.inventory(ctx, NameLabel)
	if err != nil {
		c.log.Warn("list add-on objects", zap.Error(err))
	}
	for _, refs := range inventory {
		for _, r := range refs {
			names[r.addon] = true
		}
	}
	for name := range names {
		c.Enqueue(name)
	}
}

// watchDir queues the add-on of every file that changes in the
// directory, until ctx ends. The periodic resync covers a directory
// that cannot be watched (or appears later).
func (c *Controller) watchDir(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		c.log.Warn("watch add-on manifests: resync only", zap.Error(err))
		return
	}
	defer w.Close()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		c.log.Warn("make add-on manifests dir", zap.String("dir", c.dir), zap.Error(err))
	}
	if err := w.Add(c.dir); err != nil {
		c.log.Warn("watch add-on manifests: resync only", zap.String("dir", c.dir), zap.Error(err))
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if name := AddonName(ev.Name); name != "" {
				c.Enqueue(name)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			c.log.Warn("watch add-on manifests", zap.Error(err))
		}
	}
}

// manifest is the add-on's manifest file, "" if it has none.
func (c *Controller) manifest(name string) string {
	for _, ext := range manifestExts {
		p := filepath.Join(c.dir, name+ext)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

func (c *Controller) skipped(name string) bool {
	_, err := os.Stat(filepath.Join(c.dir, name+SkipExt))
	return err == nil
}

// sync brings add-on name to what its file says.
func (c *Controller) sync(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	file := c.manifest(name)
	disabled := c.disabled[name] || c.skipped(name)
	existing, err := c.inventory(ctx, metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{NameLabel: name}}))
	if err != nil {
		return err
	}
	refs := existing[name]
	if file == "" || disabled {
		if file == "" && !disabled && len(refs) > 0 {
			// The manifest of an add-on that runs was deleted: the
			// add-on is off until the marker goes.
			marker := filepath.Join(c.dir, name+SkipExt)
			if err := os.WriteFile(marker, []byte("the manifest of add-on "+name+" was deleted: delete this file and put the manifest back to enable it again\n"), 0o644); err != nil {
				return fmt.Errorf("add-on %s: write %s: %w", name, marker, err)
			}
			c.log.Info("add-on manifest deleted: add-on disabled", zap.String("addon", name), zap.String("marker", marker))
		}
		if len(refs) > 0 {
			c.log.Info("add-on disabled: deleting its objects", zap.String("addon", name), zap.Int("objects", len(refs)))
		}
		return c.prune(ctx, name, refs, nil)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("add-on %s: %w", name, err)
	}
	objs, err := Parse(file, data)
	if err != nil {
		// A file being written, or a bad one: nothing is applied and
		// nothing pruned until it parses.
		c.log.Warn("add-on manifest not applied", zap.String("addon", name), zap.Error(err))
		return nil
	}
	keep := map[Ref]bool{}
	var errs []error
	applied := 0
	for _, o := range ordered(objs) {
		ref, changed, err := c.apply(ctx, name, o)
		if err != nil {
			errs = append(errs, err)
		}
		if ref != nil {
			keep[*ref] = true
		}
		if changed {
			applied++
		}
	}
	if len(errs) > 0 {
		// Until every object applies, prune nothing: an object that
		// failed to map (a CRD not yet served) must not lose its kin.
		return errors.Join(errs...)
	}
	if err := c.prune(ctx, name, refs, keep); err != nil {
		return err
	}
	c.log.Info("add-on synced", zap.String("addon", name), zap.Int("objects", len(objs)), zap.Int("applied", applied), zap.Int("deleted", len(refs)-countKept(refs, keep)))
	return nil
}

func countKept(objs []owned, keep map[Ref]bool) int {
	n := 0
	for _, o := range objs {
		if keep[o.Ref] {
			n++
		}
	}
	return n
}

// ordered puts Namespaces and CustomResourceDefinitions first, as their
// objects need them; the rest keep the file's order.
func ordered(objs []Object) []Object {
	rank := func(o Object) int {
		switch o.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Kind: "Namespace"}:
			return 0
		case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
			return 1
		}
		return 2
	}
	out := slices.Clone(objs)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// mapping finds the resource of gvk, looking again once if the cached
// discovery does not know it (a CRD just established).
func (c *Controller) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// apply creates o, or applies it again if its document changed since it
// was last applied; it returns the object's ref (nil when it cannot map)
// and whether it wrote.
func (c *Controller) apply(ctx context.Context, addon string, o Object) (*Ref, bool, error) {
	gvk := o.GroupVersionKind()
	where := fmt.Sprintf("add-on %s: document %d (%s %s)", addon, o.Doc, gvk.Kind, o.GetName())
	m, err := c.mapping(gvk)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}
	u := o.DeepCopy()
	ns := ""
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = u.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
	}
	u.SetNamespace(ns)
	ref := &Ref{GroupKind: gvk.GroupKind(), Namespace: ns, Name: u.GetName()}
	client := c.dynamic.Resource(m.Resource).Namespace(ns)
	live, err := client.Get(ctx, u.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ref, false, fmt.Errorf("%s: %w", where, err)
	case live.GetLabels()[NameLabel] == "":
		c.log.Warn("add-on object exists and was not made by the add-on manager: left alone", zap.String("addon", addon), zap.String("kind", gvk.Kind), zap.String("namespace", ns), zap.String("name", u.GetName()))
		return nil, false, nil
	case live.GetLabels()[NameLabel] != addon:
		return nil, false, fmt.Errorf("%s: the object belongs to add-on %s", where, live.GetLabels()[NameLabel])
	case live.GetAnnotations()[ChecksumAnnotation] == o.Checksum:
		return ref, false, nil
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[NameLabel] = addon
	u.SetLabels(labels)
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[ChecksumAnnotation] = o.Checksum
	u.SetAnnotations(annotations)
	body, err := json.Marshal(u.Object)
	if err != nil {
		return ref, false, fmt.Errorf("%s: %w", where, err)
	}
	if _, err := client.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}); err != nil {
		return ref, false, fmt.Errorf("%s: apply: %w", where, err)
	}
	c.log.Info("add-on object applied", zap.String("addon", addon), zap.String("kind", gvk.Kind), zap.String("namespace", ns), zap.String("name", u.GetName()))
	return ref, true, nil
}

// owned is an object found with the add-on label.
type owned struct {
	Ref
	addon    string
	resource schema.GroupVersionResource
	uid      types.UID
}

// inventory lists the objects matching selector in every served resource
// that can be listed and deleted, by add-on.
func (c *Controller) inventory(ctx context.Context, selector string) (map[string][]owned, error) {
	lists, err := c.cached.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	out := map[string][]owned{}
	var errs []error
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			items, err := c.metadata.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", gvr, err))
				continue
			}
			for _, it := range items.Items {
				addon := it.Labels[NameLabel]
				out[addon] = append(out[addon], owned{
					Ref:   Ref{GroupKind: schema.GroupKind{Group: gv.Group, Kind: r.Kind}, Namespace: it.Namespace, Name: it.Name},
					addon: addon, resource: gvr, uid: it.UID,
				})
			}
		}
	}
	return out, errors.Join(errs...)
}

// prune deletes the add-on's objects that keep does not have.
func (c *Controller) prune(ctx context.Context, addon string, objs []owned, keep map[Ref]bool) error {
	var errs []error
	for _, o := range objs {
		if keep[o.Ref] {
			continue
		}
		err := c.dynamic.Resource(o.resource).Namespace(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{
			Preconditions:     &metav1.Preconditions{UID: &o.uid},
			PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("add-on %s: delete %s %s/%s: %w", addon, o.GroupKind.Kind, o.Namespace, o.Name, err))
			continue
		}
		c.log.Info("add-on object deleted", zap.String("addon", addon), zap.String("kind", o.GroupKind.Kind), zap.String("namespace", o.Namespace), zap.String("name", o.Name))
	}
	return errors.Join(errs...)
}
