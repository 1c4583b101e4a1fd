package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
)

// ErrNotPresent is returned for an image the store does not have.
var ErrNotPresent = errors.New("image not present")

// Store is the node-local image store under one directory:
//
//	DIR/layers/<diff-id hex>/   one unpacked layer, overlay whiteouts
//	DIR/images/<hash>.json      one image record per reference
type Store struct {
	dir     string
	mirrors map[string]string
	log     *zap.Logger

	pullMu sync.Mutex // guards pulling
	// pulling serializes pulls of one reference.
	pulling map[string]*sync.Mutex

	mu     sync.Mutex // guards images; held while writing records
	images map[string]*Image
}

// Options configure a store.
type Options struct {
	Dir string
	// Mirrors maps a registry host to another one tried first: with
	// "docker.io" → "127.0.0.1:5000", busybox is pulled from the local
	// registry's library/busybox.
	Mirrors map[string]string
	Log     *zap.Logger
}

// Open opens (creating if needed) the store and loads its records.
func Open(opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	s := &Store{dir: opts.Dir, mirrors: map[string]string{}, log: opts.Log, pulling: map[string]*sync.Mutex{}, images: map[string]*Image{}}
	for k, v := range opts.Mirrors {
		s.mirrors[normalizeRegistry(k)] = v
	}
	for _, d := range []string{"layers", "images", "tmp"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Half-unpacked layers of a pull that died are useless.
	_ = os.RemoveAll(filepath.Join(opts.Dir, "tmp"))
	if err := os.MkdirAll(filepath.Join(opts.Dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(opts.Dir, "images"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(opts.Dir, "images", e.Name()))
		if err != nil {
			continue
		}
		var img Image
		if json.Unmarshal(b, &img) == nil && img.Name != "" {
			s.images[img.Name] = &img
		}
	}
	return s, nil
}

// Normalize returns the full reference a pod's image name stands for
// (busybox → index.docker.io/library/busybox:latest).
func Normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

// DefaultsToAlways says whether an image with no pull policy is pulled
// every time: when its tag is latest or it has none, as Kubernetes.
func DefaultsToAlways(ref string) bool {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return false
	}
	t, ok := r.(name.Tag)
	return ok && t.TagStr() == "latest"
}

// Get implements the workers' image service: the image if present.
func (s *Store) Get(ref string) (*Image, bool) {
	n, err := Normalize(ref)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[n]
	if !ok {
		return nil, false
	}
	c := *img
	return &c, true
}

// Use records that a container was made from the image now.
func (s *Store) Use(ref string) {
	n, err := Normalize(ref)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if img, ok := s.images[n]; ok {
		img.LastUsed = time.Now()
		_ = s.writeRecord(img)
	}
}

// List returns every image.
func (s *Store) List() []Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Image, 0, len(s.images))
	for _, img := range s.images {
		out = append(out, *img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LayerDirs returns the unpacked layer directories of the image a
// reference or a repo@digest names, top layer first (overlay's lowerdir
// order).
func (s *Store) LayerDirs(ref string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var img *Image
	for _, i := range s.images {
		if i.Ref == ref || i.Name == ref {
			img = i
			break
		}
	}
	if img == nil {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotPresent)
	}
	dirs := make([]string, 0, len(img.Layers))
	for i := len(img.Layers) - 1; i >= 0; i-- {
		dirs = append(dirs, s.layerDir(img.Layers[i]))
	}
	return dirs, nil
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.dir, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

// Pull fetches the image from its registry (a mirror first, if one is
// configured for its registry), unpacks the layers it lacks and records
// it.
func (s *Store) Pull(ctx context.Context, ref string, pullSecrets []v1.Secret) (*Image, error) {
	n, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	lock := s.pullLock(n)
	lock.Lock()
	defer lock.Unlock()

	kc, err := KeychainFromSecrets(pullSecrets)
	if err != nil {
		return nil, err
	}
	var remoteImg ggcrv1.Image
	var source name.Reference
	var errs []error
	for _, candidate := range s.candidates(ref) {
		img, err := remote.Image(candidate,
			remote.WithContext(ctx),
			remote.WithAuthFromKeychain(authn.NewMultiKeychain(kc, authn.DefaultKeychain)),
			remote.WithPlatform(ggcrv1.Platform{OS: "linux", Architecture: "amd64"}),
		)
		if err == nil {
			remoteImg, source = img, candidate
			break
		}
		errs = append(errs, err)
	}
	if remoteImg == nil {
		return nil, errors.Join(errs...)
	}
	return s.store(n, source, remoteImg)
}

// candidates lists the references to try for ref: a mirror's, then the
// reference itself. Loopback registries are spoken to over plain HTTP.
func (s *Store) candidates(ref string) []name.Reference {
	var out []name.Reference
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return nil
	}
	if mirror, ok := s.mirrors[normalizeRegistry(r.Context().RegistryStr())]; ok {
		opts := insecureIfLoopback(mirror)
		// "http://HOST:PORT" names a mirror spoken to over plain HTTP
		// wherever it is (a local registry on a node bridge, say).
		if host, ok := strings.CutPrefix(mirror, "http://"); ok {
			mirror, opts = host, []name.Option{name.Insecure}
		}
		m := mirror + "/" + r.Context().RepositoryStr()
		if t, ok := r.(name.Tag); ok {
			m += ":" + t.TagStr()
		} else {
			m += "@" + r.Identifier()
		}
		if mr, err := name.ParseReference(m, opts...); err == nil {
			out = append(out, mr)
		}
	}
	if rr, err := name.ParseReference(ref, append(insecureIfLoopback(r.Context().RegistryStr()), name.WeakValidation)...); err == nil {
		out = append(out, rr)
	}
	return out
}

func insecureIfLoopback(registry string) []name.Option {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return []name.Option{name.Insecure}
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return []name.Option{name.Insecure}
	}
	return nil
}

func normalizeRegistry(r string) string {
	switch r {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return r
}

func (s *Store) pullLock(n string) *sync.Mutex {
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	l, ok := s.pulling[n]
	if !ok {
		l = &sync.Mutex{}
		s.pulling[n] = l
	}
	return l
}

// store unpacks img's missing layers and records it under name n.
func (s *Store) store(n string, source name.Reference, img ggcrv1.Image) (*Image, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	rec := &Image{
		Name: n, Ref: source.Context().Name() + "@" + digest.String(), ID: cfgName.String(),
		Entrypoint: cfg.Config.Entrypoint, Cmd: cfg.Config.Cmd, Env: cfg.Config.Env,
		WorkingDir: cfg.Config.WorkingDir, User: cfg.Config.User,
	}
	for _, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("layer diff id: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer size: %w", err)
		}
		rec.Size += size
		rec.Layers = append(rec.Layers, diffID.String())
		if err := s.unpackLayer(diffID.String(), l); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.images[n]; ok {
		rec.LastUsed = old.LastUsed
	}
	if err := s.writeRecord(rec); err != nil {
		return nil, err
	}
	s.images[n] = rec
	c := *rec
	return &c, nil
}

// unpackLayer unpacks one layer unless it is there, through a temporary
// directory renamed into place, so a layer directory is always whole.
func (s *Store) unpackLayer(diffID string, l ggcrv1.Layer) error {
	dst := s.layerDir(diffID)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", diffID, err)
	}
	defer rc.Close()
	root := filepath.Join(tmp, "root")
	if err := Unpack(rc, root); err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if err := os.Rename(root, dst); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(dst); statErr != nil {
			return err
		}
	}
	return nil
}

// writeRecord stores an image record; s.mu must be held.
func (s *Store) writeRecord(img *Image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return err
	}
	path := s.recordPath(img.Name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Store) recordPath(n string) string {
	sum := sha256.Sum256([]byte(n))
	return filepath.Join(s.dir, "images", hex.EncodeToString(sum[:16])+".json")
}

// Remove deletes an image's record and the layers no other image uses.
func (s *Store) Remove(n string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[n]
	if !ok {
		return nil
	}
	delete(s.images, n)
	if err := os.Remove(s.recordPath(n)); err != nil && !os.IsNotExist(err) {
		return err
	}
	used := map[string]bool{}
	for _, other := range s.images {
		for _, l := range other.Layers {
			used[l] = true
		}
	}
	for _, l := range img.Layers {
		if !used[l] {
			if err := removeAll(s.layerDir(l)); err != nil {
				return err
			}
		}
	}
	return nil
}

// DiskUsage is the bytes of the unpacked layers.
func (s *Store) DiskUsage() int64 {
	var total int64
	_ = filepath.WalkDir(filepath.Join(s.dir, "layers"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
