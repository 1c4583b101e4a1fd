package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// visible reads what a container sees in a volume directory: every
// name not starting with "..", followed through symlinks.
func visible(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := os.Stat(p) // through the links
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() {
			for k, v := range visible(t, p) {
				out[filepath.Join(e.Name(), k)] = v
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func files(kv ...string) map[string]file {
	out := map[string]file{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = file{data: []byte(kv[i+1]), mode: 0o644}
	}
	return out
}

func TestWriteAtomicLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	changed, err := writeAtomic(dir, files("token", "t1", "ca.crt", "ca", "sub/dir/file", "deep"), nil)
	if err != nil || !changed {
		t.Fatalf("first write: changed %v, %v", changed, err)
	}
	got := entries(t, dir)
	if len(got) != 5 || !isVersionDir(got[0]) || got[1] != "..data" {
		t.Errorf("entries %v: want a timestamped directory, ..data and the three visible names", got)
	}
	for name, want := range map[string]string{"token": "..data/token", "ca.crt": "..data/ca.crt", "sub": "..data/sub"} {
		if link, err := os.Readlink(filepath.Join(dir, name)); err != nil || link != want {
			t.Errorf("%s -> %q (%v), want %q", name, link, err, want)
		}
	}
	ts, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !isVersionDir(ts) {
		t.Fatalf("..data -> %q (%v)", ts, err)
	}
	if info, err := os.Stat(filepath.Join(dir, ts)); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("version directory mode: %v %v", info.Mode(), err)
	}
	if v := visible(t, dir); v["token"] != "t1" || v["sub/dir/file"] != "deep" || len(v) != 3 {
		t.Errorf("visible %v", v)
	}

	// The same files again: nothing is written.
	changed, err = writeAtomic(dir, files("ca.crt", "ca", "token", "t1", "sub/dir/file", "deep"), nil)
	if err != nil || changed {
		t.Errorf("unchanged write: changed %v, %v", changed, err)
	}
	if ts2, _ := os.Readlink(filepath.Join(dir, "..data")); ts2 != ts {
		t.Errorf("unchanged write swapped ..data to %q", ts2)
	}

	// A change is a new version; the old one and dropped names go.
	changed, err = writeAtomic(dir, files("token", "t2", "ca.crt", "ca"), nil)
	if err != nil || !changed {
		t.Fatalf("second write: changed %v, %v", changed, err)
	}
	ts2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if ts2 == ts {
		t.Error("..data not swapped")
	}
	if v := visible(t, dir); len(v) != 2 || v["token"] != "t2" || v["ca.crt"] != "ca" {
		t.Errorf("visible after the change %v", v)
	}
	if got := entries(t, dir); len(got) != 4 {
		t.Errorf("entries after the change %v: want the new version, ..data, ca.crt and token", got)
	}
}

func TestWriteAtomicModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	if _, err := writeAtomic(dir, map[string]file{"token": {data: []byte("t"), mode: 0o600}}, nil); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "token")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	// A new mode with the same content is a change.
	changed, err := writeAtomic(dir, map[string]file{"token": {data: []byte("t"), mode: 0o640}}, nil)
	if err != nil || !changed {
		t.Fatalf("mode change: changed %v, %v", changed, err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "token")); info.Mode().Perm() != 0o640 {
		t.Errorf("mode after the change %v", info.Mode())
	}
}

func TestWriteAtomicReplacesInPlaceFiles(t *testing.T) {
	// A volume an earlier kubelet wrote in place: plain files.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gone"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, files("token", "new", "sub/f", "s"), nil); err != nil {
		t.Fatal(err)
	}
	if v := visible(t, dir); len(v) != 2 || v["token"] != "new" || v["sub/f"] != "s" {
		t.Errorf("visible %v", v)
	}
}

func TestWriteAtomicRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"", "/abs", "../up", "a/../../b", "..data", "..hidden/x", strings.Repeat("n", 256)} {
		if _, err := writeAtomic(t.TempDir(), files(p, "x"), nil); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	// ".." inside a name is fine.
	if _, err := writeAtomic(t.TempDir(), files("a..b", "x"), nil); err != nil {
		t.Errorf("a..b: %v", err)
	}
}

// TestWriteAtomicReadersSeeWholeVersions reads while versions are
// swapped: every read of the two files through the visible names sees
// one version whole, never a mix or a short file.
func TestWriteAtomicReadersSeeWholeVersions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	version := func(i int) map[string]file {
		body := strings.Repeat(string(rune('a'+i%26)), 64<<10)
		return files("token", body, "ca.crt", body)
	}
	if _, err := writeAtomic(dir, version(0), nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Each read must see one version, whole.
			b, err := os.ReadFile(filepath.Join(dir, "token"))
			if os.IsNotExist(err) {
				// An open that resolved ..data just before the swap may
				// find the old version removed: it fails whole, as with
				// Kubernetes' AtomicWriter, and the reader tries again.
				continue
			}
			if err != nil {
				readErr = err
				return
			}
			if len(b) != 64<<10 || strings.Count(string(b), string(b[0])) != len(b) {
				readErr = errors.New("a half-written or mixed token was read")
				return
			}
		}
	}()
	for i := 1; i < 50; i++ {
		if _, err := writeAtomic(dir, version(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
}

// fakeSource serves ConfigMaps and counts reads.
type fakeSource struct {
	mu      sync.Mutex
	cms     map[string]*v1.ConfigMap
	secrets map[string]*v1.Secret
	reads   int
}

func (f *fakeSource) ConfigMap(_ context.Context, _, name string) (*v1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if cm, ok := f.cms[name]; ok {
		return cm, nil
	}
	return nil, errors.New("not found")
}

func (f *fakeSource) Secret(_ context.Context, _, name string) (*v1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, errors.New("not found")
}

// fakeTokens issues a new token each time it is asked, and remembers
// the requests.
type fakeTokens struct {
	mu       sync.Mutex
	n        int
	requests []*authenticationv1.TokenRequest
	sa       []string
	forgot   []types.UID
}

func (f *fakeTokens) Token(_ context.Context, ns, sa string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.requests = append(f.requests, tr)
	f.sa = append(f.sa, ns+"/"+sa)
	out := tr.DeepCopy()
	out.Status.Token = "jwt-" + string(rune('0'+f.n))
	return out, nil
}

func (f *fakeTokens) Forget(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, uid)
}

// apiAccessPod has the volume the ServiceAccount admission adds.
func apiAccessPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "uid-1"},
		Spec: v1.PodSpec{
			ServiceAccountName: "builder",
			Volumes: []v1.Volume{{Name: "kube-api-access-abcde", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o644),
				Sources: []v1.VolumeProjection{
					{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
					{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				},
			}}}},
		},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
}

func TestServiceAccountTokenProjection(t *testing.T) {
	src := &fakeSource{cms: map[string]*v1.ConfigMap{"kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA1"}}}}
	tokens := &fakeTokens{}
	m := &Manager{Dir: t.TempDir(), Src: src, Tokens: tokens}
	pod := apiAccessPod()
	paths, err := m.Prepare(context.Background(), pod, "10.0.0.2", "192.168.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["kube-api-access-abcde"].Path
	if v := visible(t, dir); len(v) != 3 || v["token"] != "jwt-1" || v["ca.crt"] != "CA1" || v["namespace"] != "prod" {
		t.Errorf("files %v", v)
	}
	tr := tokens.requests[0]
	if tokens.sa[0] != "prod/builder" || len(tr.Spec.Audiences) != 0 || *tr.Spec.ExpirationSeconds != 3607 {
		t.Errorf("request for %s: %+v", tokens.sa[0], tr.Spec)
	}
	if ref := tr.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "uid-1" {
		t.Errorf("bound object %+v", tr.Spec.BoundObjectRef)
	}

	// A refresh takes the new token and ConfigMap data, atomically.
	src.mu.Lock()
	src.cms["kube-root-ca.crt"] = &v1.ConfigMap{Data: map[string]string{"ca.crt": "CA2"}}
	src.mu.Unlock()
	before, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := m.Refresh(context.Background(), pod, "10.0.0.2", "192.168.0.1"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Readlink(filepath.Join(dir, "..data"))
	if v := visible(t, dir); v["token"] != "jwt-2" || v["ca.crt"] != "CA2" || before == after {
		t.Errorf("after refresh %v (..data %s -> %s)", v, before, after)
	}

	// An audience is asked for as the only one.
	pod.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.Audience = "vault"
	if err := m.Refresh(context.Background(), pod, "", ""); err != nil {
		t.Fatal(err)
	}
	if auds := tokens.requests[len(tokens.requests)-1].Spec.Audiences; len(auds) != 1 || auds[0] != "vault" {
		t.Errorf("audiences %v", auds)
	}

	if err := m.Remove("uid-1"); err != nil {
		t.Fatal(err)
	}
	if len(tokens.forgot) != 1 || tokens.forgot[0] != "uid-1" {
		t.Errorf("forgotten tokens %v", tokens.forgot)
	}
	// A refresh after Remove brings nothing back.
	if err := m.Refresh(context.Background(), pod, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod directory after Remove and Refresh: %v", err)
	}
}

func TestTokenProjectionWithoutTokens(t *testing.T) {
	src := &fakeSource{cms: map[string]*v1.ConfigMap{"kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA1"}}}}
	m := &Manager{Dir: t.TempDir(), Src: src}
	if _, err := m.Prepare(context.Background(), apiAccessPod(), "", ""); err == nil {
		t.Error("a token projection was made without a token source")
	}
}

func TestRefreshAll(t *testing.T) {
	src := &fakeSource{cms: map[string]*v1.ConfigMap{"kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA1"}}}}
	m := &Manager{Dir: t.TempDir(), Src: src, Tokens: &fakeTokens{}}
	var pods []*v1.Pod
	for _, uid := range []types.UID{"a", "b", "c"} {
		p := apiAccessPod()
		p.UID = uid
		if _, err := m.Prepare(context.Background(), p, "", ""); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	// Pods with nothing to refresh, and pods not yet started, cost nothing.
	plain := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "plain"}, Spec: v1.PodSpec{Volumes: []v1.Volume{{Name: "e", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}}}
	done := apiAccessPod()
	done.UID, done.Status.Phase = "done", v1.PodSucceeded
	pods = append(pods, plain, done)

	src.mu.Lock()
	src.reads = 0
	src.cms["kube-root-ca.crt"] = &v1.ConfigMap{Data: map[string]string{"ca.crt": "CA2"}}
	src.mu.Unlock()
	m.refreshAll(context.Background(), pods)
	if src.reads != 1 {
		t.Errorf("%d ConfigMap reads for three pods using one, want 1", src.reads)
	}
	for _, uid := range []string{"a", "b", "c"} {
		if v := visible(t, filepath.Join(m.Dir, uid, "kube-api-access-abcde")); v["ca.crt"] != "CA2" {
			t.Errorf("pod %s: %v", uid, v)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "done")); !os.IsNotExist(err) {
		t.Errorf("a finished pod's volumes were written: %v", err)
	}
}

// A subPathExpr is expanded with the container's environment; what it
// expands to obeys a subPath's rules, with upstream's errors.
func TestMountsSubPathExpr(t *testing.T) {
	root := t.TempDir()
	vols := map[string]Volume{"work": {Path: root}}
	env := []string{"POD_NAME=web-0", "ABS=/tmp", "UP=..", "EMPTY="}
	tests := []struct {
		expr, want, err string
	}{
		{expr: "$(POD_NAME)", want: filepath.Join(root, "web-0")},
		{expr: "logs/$(POD_NAME)/x", want: filepath.Join(root, "logs/web-0/x")},
		{expr: "$(ABS)", err: "error SubPath `/tmp` must not be an absolute path"},
		{expr: "$(UP)", err: "unable to provision SubPath `..`: must not contain '..'"},
		{expr: "a/$(UP)/b", err: "unable to provision SubPath `a/../b`: must not contain '..'"},
		{expr: "$(NOPE)/$(EMPTY)", err: "missing value for EMPTY, NOPE"},
	}
	for _, tc := range tests {
		c := &v1.Container{Name: "c", VolumeMounts: []v1.VolumeMount{{Name: "work", MountPath: "/w", SubPathExpr: tc.expr}}}
		got, err := Mounts(c, vols, env)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0].Source != tc.want {
			t.Errorf("%s: %+v, %v; want source %s", tc.expr, got, err, tc.want)
			continue
		}
		if info, err := os.Stat(tc.want); err != nil || !info.IsDir() {
			t.Errorf("%s: %s not made: %v", tc.expr, tc.want, err)
		}
	}
}
