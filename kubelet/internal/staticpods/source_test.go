package staticpods

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/apimachinery/pkg/types"
)

// recorder collects what a source reports.
type recorder struct {
	mu      sync.Mutex
	changed []types.UID
}

func (r *recorder) record(uids []types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed = append(r.changed, uids...)
}

func (r *recorder) take() []types.UID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changed
	r.changed = nil
	return out
}

func names(s *Source) string {
	var out []string
	for _, p := range s.Pods() {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return strings.Join(out, ",")
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func manifest(name, arg string) string {
	return strings.NewReplacer("web", name, "3600", arg).Replace(goodManifest)
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zap.InfoLevel)
	rec := &recorder{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	s := New(Options{NodeName: "n1", Path: dir, Log: zap.New(core), Changed: rec.record, Now: func() time.Time { return now }})

	write(t, filepath.Join(dir, "a.yaml"), manifest("a", "1"))
	write(t, filepath.Join(dir, "b.json"), `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`)
	write(t, filepath.Join(dir, ".hidden.yaml"), manifest("hidden", "1"))
	write(t, filepath.Join(dir, "bad.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n")
	write(t, filepath.Join(dir, "secret.yaml"), manifest("secret", "1")+"  volumes: [{name: s, secret: {secretName: x}}]\n")
	write(t, filepath.Join(dir, "dup.yaml"), manifest("a", "2"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub", "c.yaml"), manifest("c", "1"))

	s.ReadFiles()
	if got := names(s); got != "default/a-n1,default/b-n1" {
		t.Fatalf("pods %q: want a and b only (hidden, bad, duplicate files and subdirectories skipped)", got)
	}
	if got := len(rec.take()); got != 2 {
		t.Errorf("%d changes reported, want 2", got)
	}
	a := s.Pods()[0]
	if s.Pod(a.UID) != a {
		t.Error("Pod(uid) does not find the pod")
	}
	if got := a.Annotations[ConfigFirstSeenAnnotationKey]; got != "2026-01-02T03:04:05.000000006Z" {
		t.Errorf("config.seen %q", got)
	}
	for file, why := range map[string]string{
		"bad.yaml":    "spec.containers[0].image: Required value",
		"secret.yaml": "static pods may not reference secrets",
		"dup.yaml":    `duplicate pod name "a-n1"`,
	} {
		found := logs.FilterField(zap.String("path", filepath.Join(dir, file))).FilterMessage("static pods: skipping manifest file").All()
		if len(found) != 1 || !strings.Contains(found[0].ContextMap()["error"].(string), why) {
			t.Errorf("%s: logged %+v, want once, saying %q", file, found, why)
		}
	}

	// Read again, nothing changed: no change, no new log, seen kept.
	now = now.Add(time.Hour)
	logged := logs.Len()
	s.ReadFiles()
	if got := rec.take(); len(got) != 0 {
		t.Errorf("changes %v with nothing changed", got)
	}
	if logs.Len() != logged {
		t.Errorf("bad files logged again: %v", logs.All()[logged:])
	}
	if s.Pods()[0] != a {
		t.Error("unchanged pod replaced")
	}

	// Edit a: a new UID, the old one goes. Remove b: it goes.
	write(t, filepath.Join(dir, "a.yaml"), manifest("a", "9"))
	if err := os.Remove(filepath.Join(dir, "b.json")); err != nil {
		t.Fatal(err)
	}
	s.ReadFiles()
	pods := s.Pods()
	if len(pods) != 1 || pods[0].Name != "a-n1" || pods[0].UID == a.UID {
		t.Fatalf("after edit: %q", names(s))
	}
	if got := pods[0].Annotations[ConfigFirstSeenAnnotationKey]; got != now.Format(time.RFC3339Nano) {
		t.Errorf("edited pod's config.seen %q", got)
	}
	if s.Pod(a.UID) != nil {
		t.Error("old UID still there")
	}
	if got := rec.take(); len(got) != 3 {
		t.Errorf("changes %v: want the new a, the old a and b", got)
	}
}

func TestFileSourceMissingPath(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := New(Options{NodeName: "n1", Path: filepath.Join(t.TempDir(), "none"), Log: zap.New(core)})
	s.ReadFiles()
	s.ReadFiles()
	if len(s.Pods()) != 0 || logs.FilterMessage("static pods: skipping manifest file").Len() != 1 {
		t.Errorf("pods %q, logs %v: want none, one log", names(s), logs.All())
	}
}

func TestFileSourceSingleFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pod.yaml")
	write(t, file, manifest("one", "1"))
	s := New(Options{NodeName: "n1", Path: file})
	s.ReadFiles()
	if got := names(s); got != "default/one-n1" {
		t.Errorf("pods %q", got)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunWatchesTheDirectory(t *testing.T) {
	dir := t.TempDir()
	var changes atomic.Int32
	// An hour between periodic reads: only fsnotify can bring changes.
	s := New(Options{NodeName: "n1", Path: dir, FileCheckFrequency: time.Hour, Changed: func(u []types.UID) { changes.Add(int32(len(u))) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	write(t, filepath.Join(dir, "a.yaml"), manifest("a", "1"))
	eventually(t, "pod a", func() bool { return names(s) == "default/a-n1" })
	// Written elsewhere and renamed in, as editors and kubeadm do.
	tmp := filepath.Join(dir, ".b.yaml.tmp")
	write(t, tmp, manifest("b", "1"))
	if err := os.Rename(tmp, filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod b", func() bool { return names(s) == "default/a-n1,default/b-n1" })
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod a gone", func() bool { return names(s) == "default/b-n1" })
	if got := changes.Load(); got != 3 {
		t.Errorf("%d changes, want 3", got)
	}
}

func TestURLSource(t *testing.T) {
	var mu sync.Mutex
	status, body := http.StatusOK, manifest("u", "1")
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotPath = r.URL.Path
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s", srv.URL)
	}
	serve := func(code int, b string) {
		mu.Lock()
		defer mu.Unlock()
		status, body = code, b
	}
	core, logs := observer.New(zap.InfoLevel)
	rec := &recorder{}
	s := New(Options{NodeName: "n1", URL: srv.URL + "/pods", Log: zap.New(core), Changed: rec.record})
	ctx := context.Background()

	s.ReadURL(ctx)
	if got := names(s); got != "default/u-n1" || gotPath != "/pods" {
		t.Fatalf("pods %q (path %s)", got, gotPath)
	}
	u := s.Pods()[0]
	if u.Annotations[ConfigSourceAnnotationKey] != SourceHTTP {
		t.Errorf("config.source %q", u.Annotations[ConfigSourceAnnotationKey])
	}

	// A failing or bad answer keeps the pods, logged once.
	serve(http.StatusInternalServerError, "")
	s.ReadURL(ctx)
	s.ReadURL(ctx)
	serve(http.StatusOK, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec: {}\n")
	s.ReadURL(ctx)
	if got := names(s); got != "default/u-n1" {
		t.Errorf("pods %q after errors: want them kept", got)
	}
	if got := logs.FilterMessage("static pods: read manifest URL").Len(); got != 2 {
		t.Errorf("%d errors logged, want 2 (the 500 once, the bad pod once)", got)
	}

	serve(http.StatusOK, `{"apiVersion":"v1","kind":"PodList","items":[
{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
{"metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}]}`)
	s.ReadURL(ctx)
	if got := names(s); got != "default/a-n1,default/b-n1" {
		t.Errorf("pods %q from the list", got)
	}
	// An empty answer: no pods.
	serve(http.StatusOK, "")
	s.ReadURL(ctx)
	if got := names(s); got != "" {
		t.Errorf("pods %q from an empty answer", got)
	}
	if got := len(rec.take()); got != 1+3+2 {
		t.Errorf("%d changes, want 6", got)
	}
}
