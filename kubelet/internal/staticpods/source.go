package staticpods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Options configure a Source.
type Options struct {
	// NodeName is the node the pods run on.
	NodeName string
	// Path is --pod-manifest-path: a directory of manifests, one pod a
	// file, or a single file ("" for none).
	Path string
	// FileCheckFrequency is how often Path is read again whatever
	// fsnotify says (--file-check-frequency, 20s).
	FileCheckFrequency time.Duration
	// URL is --manifest-url: a pod or a PodList ("" for none).
	URL string
	// HTTPCheckFrequency is how often URL is fetched
	// (--http-check-frequency, 20s).
	HTTPCheckFrequency time.Duration
	// HTTPClient fetches URL; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// Changed is called, outside the source's lock, with the UIDs of the
	// pods that came, went or changed.
	Changed func(uids []types.UID)
	Log     *zap.Logger
	// Now is the clock of config.seen; nil means time.Now.
	Now func() time.Time
}

// Source is the desired set of static pods: what the manifests of the
// directory and the URL say now. Pods and Pod return copies-on-write
// objects the caller must not change.
type Source struct {
	opts Options
	log  *zap.Logger

	mu sync.Mutex
	// files and url are the pods of each origin, by UID.
	files map[types.UID]*v1.Pod
	url   map[types.UID]*v1.Pod
	// seen is when each pod was first seen (config.seen).
	seen map[types.UID]string
	// fileErrs remembers the last error logged for each file, so that
	// a bad file is logged when it turns bad, not at every read.
	fileErrs map[string]string
	urlErr   string
}

// New returns a source; Run reads it.
func New(opts Options) *Source {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FileCheckFrequency <= 0 {
		opts.FileCheckFrequency = 20 * time.Second
	}
	if opts.HTTPCheckFrequency <= 0 {
		opts.HTTPCheckFrequency = 20 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Source{
		opts: opts, log: opts.Log,
		files: map[types.UID]*v1.Pod{}, url: map[types.UID]*v1.Pod{},
		seen: map[types.UID]string{}, fileErrs: map[string]string{},
	}
}

// Enabled reports whether there is any source to read.
func (s *Source) Enabled() bool { return s.opts.Path != "" || s.opts.URL != "" }

// Pod returns the static pod with this UID, or nil.
func (s *Source) Pod(uid types.UID) *v1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.files[uid]; p != nil {
		return p
	}
	return s.url[uid]
}

// Pods lists the static pods, by name.
func (s *Source) Pods() []*v1.Pod {
	s.mu.Lock()
	out := make([]*v1.Pod, 0, len(s.files)+len(s.url))
	for _, p := range s.files {
		out = append(out, p)
	}
	for _, p := range s.url {
		out = append(out, p)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// Run reads the sources until ctx ends: the directory at once, on every
// change fsnotify reports and every FileCheckFrequency; the URL at once
// and every HTTPCheckFrequency.
func (s *Source) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if s.opts.Path != "" {
		wg.Add(1)
		go func() { defer wg.Done(); s.runFiles(ctx) }()
	}
	if s.opts.URL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); s.runURL(ctx) }()
	}
	wg.Wait()
}

// ReadFiles reads the manifest path once (Run does it on its own).
func (s *Source) ReadFiles() { s.set(&s.files, s.readPath()) }

// ReadURL fetches the manifest URL once (Run does it on its own). An
// unreachable URL or a bad answer keeps the pods it gave before.
func (s *Source) ReadURL(ctx context.Context) {
	pods, err := s.fetchURL(ctx)
	s.mu.Lock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	changed := msg != s.urlErr
	s.urlErr = msg
	s.mu.Unlock()
	if err != nil {
		if changed {
			s.log.Error("static pods: read manifest URL", zap.String("url", s.opts.URL), zap.Error(err))
		}
		return
	}
	s.set(&s.url, pods)
}

func (s *Source) runFiles(ctx context.Context) {
	t := time.NewTicker(s.opts.FileCheckFrequency)
	defer t.Stop()
	var w *fsnotify.Watcher
	var events chan fsnotify.Event
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	for {
		// The directory may not exist yet: watch it once it does.
		if w == nil {
			if nw, err := s.watch(); err == nil {
				w, events = nw, nw.Events
			}
		}
		s.ReadFiles()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case ev, ok := <-events:
			if !ok {
				_ = w.Close()
				w, events = nil, nil
				continue
			}
			if ev.Name == s.opts.Path && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The directory itself went: watch it anew when it
				// comes back.
				_ = w.Close()
				w, events = nil, nil
			}
			// An editor writes a file in steps: read once they are done.
			s.settle(ctx, events)
		}
	}
}

// settle waits until fsnotify has been quiet for 100 ms (at most a
// second), so that a file written in steps is read once, whole.
func (s *Source) settle(ctx context.Context, events chan fsnotify.Event) {
	limit := time.NewTimer(time.Second)
	defer limit.Stop()
	for {
		quiet := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			quiet.Stop()
			return
		case <-limit.C:
			quiet.Stop()
			return
		case <-quiet.C:
			return
		case _, ok := <-events:
			quiet.Stop()
			if !ok {
				return
			}
		}
	}
}

// watch watches the manifest path (the directory, or the file's
// directory: editors replace a file by renaming another over it).
func (s *Source) watch() (*fsnotify.Watcher, error) {
	dir := s.opts.Path
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		dir = filepath.Dir(dir)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return nil, err
	}
	// Errors only say that events were lost; the periodic read covers
	// them.
	go func() {
		for range w.Errors {
		}
	}()
	return w, nil
}

// readPath reads the manifests of the path: every regular file of the
// directory but hidden ones, in name order, or the single file. A file
// that does not decode or validate is skipped (its pod, if it had one,
// stops), logged when it turns bad.
func (s *Source) readPath() []*v1.Pod {
	path := s.opts.Path
	fi, err := os.Stat(path)
	if err != nil {
		s.logFileError(path, fmt.Errorf("unable to read config path: %w", err))
		return nil
	}
	s.logFileError(path, nil)
	if !fi.IsDir() {
		p, err := s.readFile(path)
		s.logFileError(path, err)
		if err != nil {
			return nil
		}
		return []*v1.Pod{p}
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		s.logFileError(path, fmt.Errorf("unable to read config path: %w", err))
		return nil
	}
	var pods []*v1.Pod
	names := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(path, name)
		fi, err := os.Stat(file) // follows symlinks, as Kubernetes
		if err != nil || fi.IsDir() {
			continue
		}
		if !fi.Mode().IsRegular() {
			s.logFileError(file, errors.New("not a regular file"))
			continue
		}
		p, err := s.readFile(file)
		if err == nil {
			// Two files may not make pods of one name, as Kubernetes'
			// filterInvalidPods: the first, in name order, wins.
			if first, dup := names[p.Namespace+"/"+p.Name]; dup {
				err = fmt.Errorf("duplicate pod name %q: already made by %s", p.Name, first)
			}
		}
		s.logFileError(file, err)
		if err != nil {
			continue
		}
		names[p.Namespace+"/"+p.Name] = file
		pods = append(pods, p)
	}
	s.forgetFileErrors(entries)
	return pods
}

// readFile decodes one manifest.
func (s *Source) readFile(file string) (*v1.Pod, error) {
	data, err := readLimited(file)
	if err == nil && len(strings.TrimSpace(string(data))) == 0 {
		err = errors.New("file is empty")
	}
	var pod *v1.Pod
	if err == nil {
		var parsed bool
		parsed, pod, err = decodeSinglePod(data, SourceFile, file, s.opts.NodeName)
		if err != nil && !parsed {
			err = fmt.Errorf("%s: couldn't parse as pod (%w), please check config file", file, err)
		}
	}
	return pod, err
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigLength+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigLength {
		return nil, fmt.Errorf("file is larger than %d bytes", maxConfigLength)
	}
	return data, nil
}

// logFileError logs a file's error when it is new, and forgets it once
// the file reads well (nil).
func (s *Source) logFileError(file string, err error) {
	s.mu.Lock()
	old, had := s.fileErrs[file]
	if err == nil {
		delete(s.fileErrs, file)
	} else {
		s.fileErrs[file] = err.Error()
	}
	s.mu.Unlock()
	switch {
	case err != nil && err.Error() != old:
		s.log.Error("static pods: skipping manifest file", zap.String("path", file), zap.Error(err))
	case err == nil && had:
		s.log.Info("static pods: manifest file reads well again", zap.String("path", file))
	}
}

// forgetFileErrors drops the errors of files that are gone, so a file
// that comes back bad is logged again.
func (s *Source) forgetFileErrors(entries []fs.DirEntry) {
	present := map[string]bool{s.opts.Path: true}
	for _, e := range entries {
		present[filepath.Join(s.opts.Path, e.Name())] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for f := range s.fileErrs {
		if !present[f] {
			delete(s.fileErrs, f)
		}
	}
}

func (s *Source) runURL(ctx context.Context) {
	t := time.NewTicker(s.opts.HTTPCheckFrequency)
	defer t.Stop()
	for {
		s.ReadURL(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fetchURL gets the URL's pods: a pod, or a PodList, as Kubernetes'
// http source takes them.
func (s *Source) fetchURL(ctx context.Context) ([]*v1.Pod, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigLength+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%v: %v", s.opts.URL, resp.Status)
	}
	if len(data) > maxConfigLength {
		return nil, fmt.Errorf("%v: more than %d bytes", s.opts.URL, maxConfigLength)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		// An empty answer means no pods, as Kubernetes takes it.
		return nil, nil
	}
	parsed, pod, singleErr := decodeSinglePod(data, SourceHTTP, s.opts.URL, s.opts.NodeName)
	if parsed {
		if singleErr != nil {
			return nil, singleErr
		}
		return []*v1.Pod{pod}, nil
	}
	parsed, pods, listErr := decodePodList(data, s.opts.URL, s.opts.NodeName)
	if parsed {
		if listErr != nil {
			return nil, listErr
		}
		return pods, nil
	}
	return nil, fmt.Errorf("%v: received invalid data, it is neither a pod (%v) nor a pod list (%v)", s.opts.URL, singleErr, listErr)
}

// set makes pods the current set of one origin, stamps new pods with
// config.seen, and tells Changed which UIDs came or went.
func (s *Source) set(origin *map[types.UID]*v1.Pod, pods []*v1.Pod) {
	next := map[types.UID]*v1.Pod{}
	s.mu.Lock()
	var changed []types.UID
	for _, p := range pods {
		if _, dup := next[p.UID]; dup {
			continue
		}
		if old := (*origin)[p.UID]; old != nil {
			// Same UID, same manifest: keep the object the workers have.
			next[p.UID] = old
			continue
		}
		seen, ok := s.seen[p.UID]
		if !ok {
			seen = s.opts.Now().Format(time.RFC3339Nano)
			s.seen[p.UID] = seen
		}
		p.Annotations[ConfigFirstSeenAnnotationKey] = seen
		next[p.UID] = p
		changed = append(changed, p.UID)
		s.log.Info("static pod added", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("uid", string(p.UID)))
	}
	for uid, p := range *origin {
		if next[uid] == nil {
			changed = append(changed, uid)
			delete(s.seen, uid)
			s.log.Info("static pod removed", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("uid", string(uid)))
		}
	}
	*origin = next
	s.mu.Unlock()
	if len(changed) > 0 && s.opts.Changed != nil {
		s.opts.Changed(changed)
	}
}
