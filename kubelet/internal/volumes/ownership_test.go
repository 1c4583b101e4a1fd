package volumes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// owner is a file's group, user and mode (with setgid and sticky), not
// following a symlink.
type owner struct {
	uid, gid uint32
	mode     os.FileMode
}

func ownerOf(t *testing.T, p string) owner {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return owner{st.Uid, st.Gid, info.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSticky)}
}

// fsGroupPod is a pod with the given fsGroup (none when nil) and
// volumes, whose one container runs as user 1000.
func fsGroupPod(uid string, group *int64, vols ...v1.Volume) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: types.UID("uid-" + uid)},
		Spec: v1.PodSpec{
			SecurityContext: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: group},
			Containers:      []v1.Container{{Name: "c"}},
			Volumes:         vols,
		},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
}

// TestEmptyDirOwnership checks an emptyDir's directory as Kubernetes'
// emptyDir plugin leaves it: 0777 (a tmpfs' root 1777), and with an
// fsGroup the group, setgid and the group's bits, whatever the
// fsGroupChangePolicy.
func TestEmptyDirOwnership(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name   string
		medium v1.StorageMedium
		group  *int64
		policy *v1.PodFSGroupChangePolicy
		want   owner
	}{
		{"no fsGroup: 0777 as made", "", nil, nil, owner{0, 0, 0o777}},
		{"fsGroup: the group and setgid", "", ptr.To[int64](2000), nil, owner{0, 2000, 0o777 | os.ModeSetgid}},
		{"OnRootMismatch changes a new volume all the same", "", ptr.To[int64](2000), ptr.To(v1.FSGroupChangeOnRootMismatch), owner{0, 2000, 0o777 | os.ModeSetgid}},
		{"tmpfs without fsGroup: sticky as tmpfs makes it", v1.StorageMediumMemory, nil, nil, owner{0, 0, 0o777 | os.ModeSticky}},
		{"tmpfs with fsGroup: sticky and setgid", v1.StorageMediumMemory, ptr.To[int64](2000), nil, owner{0, 2000, 0o777 | os.ModeSticky | os.ModeSetgid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The umask the kubelet runs with must not matter.
			old := syscall.Umask(0o077)
			t.Cleanup(func() { syscall.Umask(old) })
			m := &Manager{Dir: t.TempDir()}
			pod := fsGroupPod("e", tc.group, v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: tc.medium, SizeLimit: resource.NewQuantity(1<<20, resource.BinarySI)}}})
			pod.Spec.SecurityContext.FSGroupChangePolicy = tc.policy
			t.Cleanup(func() {
				if err := m.Remove(string(pod.UID)); err != nil {
					t.Error(err)
				}
			})
			vols, err := m.Prepare(context.Background(), pod, "", "")
			if err != nil {
				t.Fatal(err)
			}
			dir := vols["data"].Path
			if vols["data"].ReadOnly {
				t.Error("an emptyDir is mounted read-only")
			}
			if got := ownerOf(t, dir); got != tc.want {
				t.Errorf("volume root %+v, want %+v", got, tc.want)
			}

			// What the pod makes there is the group's (setgid); a mode
			// it gives a file stays when the next container starts: the
			// ownership is applied once, when the volume is set up.
			f := filepath.Join(dir, "private")
			if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Prepare(context.Background(), pod, "", ""); err != nil {
				t.Fatal(err)
			}
			wantGID := uint32(0)
			if tc.group != nil {
				wantGID = uint32(*tc.group)
			}
			if got := ownerOf(t, f); got != (owner{0, wantGID, 0o600}) {
				t.Errorf("the pod's file after the next set-up %+v, want group %d and its own mode 0600", got, wantGID)
			}
			if got := ownerOf(t, dir); got.mode.Perm() != 0o700 {
				t.Errorf("the pod's mode of the volume root was taken back: %v", got.mode)
			}
		})
	}
}

// filesPod has a configMap (defaultMode 0400), a secret (the default
// mode), a downwardAPI (an item of mode 0600) and a projected volume
// with a ServiceAccount token.
func filesPod(group *int64) *v1.Pod {
	return fsGroupPod("f", group,
		v1.Volume{Name: "cm", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0o400)}}},
		v1.Volume{Name: "sec", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{
			SecretName: "creds", DefaultMode: ptr.To[int32](0o644), Items: []v1.KeyToPath{{Key: "password", Path: "nested/password"}}}}},
		v1.Volume{Name: "down", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
			DefaultMode: ptr.To[int32](0o644),
			Items:       []v1.DownwardAPIVolumeFile{{Path: "name", Mode: ptr.To[int32](0o600), FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		v1.Volume{Name: "api", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o644),
			Sources:     []v1.VolumeProjection{{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}}}}}},
	)
}

// TestFilesVolumesOwnership checks configMap, secret, downwardAPI and
// projected volumes as Kubernetes' plugins leave them: the files with
// their modes, and with an fsGroup the group's read bit on every file
// (the read-only volume's mask), setgid directories, a token of mode
// 0640 owned by the pod's user; and that a refresh keeps all of it.
func TestFilesVolumesOwnership(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name  string
		group *int64
		// want is by path below DIR/<pod uid>; "ts:" paths are in
		// the volume's current version directory.
		want map[string]owner
	}{
		{"no fsGroup: the modes asked for", nil, map[string]owner{
			"cm":                     {0, 0, 0o777},
			"cm/ts:":                 {0, 0, 0o755},
			"cm/ts:key":              {0, 0, 0o400},
			"sec/ts:nested/password": {0, 0, 0o644},
			"down/ts:name":           {0, 0, 0o600},
			// All containers run as 1000: the token is theirs.
			"api/ts:token": {1000, 0, 0o600},
		}},
		{"fsGroup: the group and its read bit", ptr.To[int64](2000), map[string]owner{
			"cm":                     {0, 2000, 0o777 | os.ModeSetgid},
			"cm/ts:":                 {0, 2000, 0o755 | os.ModeSetgid},
			"cm/ts:key":              {0, 2000, 0o440},
			"sec":                    {0, 2000, 0o777 | os.ModeSetgid},
			"sec/ts:nested":          {0, 2000, 0o755 | os.ModeSetgid},
			"sec/ts:nested/password": {0, 2000, 0o644},
			"down/ts:name":           {0, 2000, 0o640},
			"api/ts:token":           {1000, 2000, 0o640},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(0o077)
			t.Cleanup(func() { syscall.Umask(old) })
			src := &fakeSource{
				cms:     map[string]*v1.ConfigMap{"cfg": {Data: map[string]string{"key": "v1"}}},
				secrets: map[string]*v1.Secret{"creds": {Data: map[string][]byte{"password": []byte("s3cret")}}},
			}
			m := &Manager{Dir: t.TempDir(), Src: src, Tokens: &fakeTokens{}}
			pod := filesPod(tc.group)
			_, err := m.Prepare(context.Background(), pod, "10.0.0.2", "192.168.0.1")
			if err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				for p, want := range tc.want {
					vol, rest, _ := strings.Cut(p, "/")
					dir := filepath.Join(m.Dir, string(pod.UID), vol)
					if inTs, ok := strings.CutPrefix(rest, "ts:"); ok {
						ts, err := os.Readlink(filepath.Join(dir, "..data"))
						if err != nil {
							t.Fatal(err)
						}
						rest = filepath.Join(ts, inTs)
					}
					if got := ownerOf(t, filepath.Join(dir, rest)); got != want {
						t.Errorf("%s: %s %+v, want %+v", when, p, got, want)
					}
				}
				if tc.group == nil {
					return
				}
				// The visible links are the group's too.
				for _, link := range []string{"cm/key", "cm/..data", "sec/nested", "api/token"} {
					if got := ownerOf(t, filepath.Join(m.Dir, string(pod.UID), link)); got.gid != uint32(*tc.group) {
						t.Errorf("%s: link %s group %d", when, link, got.gid)
					}
				}
			}
			check("set up")

			// Nothing changed: nothing is rewritten.
			before, _ := os.Readlink(filepath.Join(m.Dir, string(pod.UID), "cm", "..data"))
			if err := m.Refresh(context.Background(), pod, "10.0.0.2", "192.168.0.1"); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Readlink(filepath.Join(m.Dir, string(pod.UID), "cm", "..data")); after != before {
				t.Errorf("an unchanged configMap volume was rewritten (%s -> %s)", before, after)
			}

			// A new version keeps the group and modes.
			src.mu.Lock()
			src.cms["cfg"] = &v1.ConfigMap{Data: map[string]string{"key": "v2"}}
			src.mu.Unlock()
			if err := m.Refresh(context.Background(), pod, "10.0.0.2", "192.168.0.1"); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Readlink(filepath.Join(m.Dir, string(pod.UID), "cm", "..data")); after == before {
				t.Fatal("the changed configMap was not rewritten")
			}
			if v := visible(t, filepath.Join(m.Dir, string(pod.UID), "cm")); v["key"] != "v2" {
				t.Errorf("after the refresh %v", v)
			}
			check("refreshed")
		})
	}
}

// TestFilesVolumeRegainsGroup: a version whose files lost the group (a
// kubelet without fsGroup support wrote it) is rewritten.
func TestFilesVolumeRegainsGroup(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "vol")
	fs := map[string]file{"key": {data: []byte("v"), mode: 0o644}}
	if _, err := writeAtomic(dir, fs, nil); err != nil {
		t.Fatal(err)
	}
	changed, err := writeAtomic(dir, fs, ptr.To[int64](2000))
	if err != nil || !changed {
		t.Fatalf("changed %v, %v; want a rewrite for the group", changed, err)
	}
	if got := ownerOf(t, filepath.Join(dir, "..data", "key")); got.gid != 2000 {
		t.Errorf("group %d after the rewrite", got.gid)
	}
	if changed, err := writeAtomic(dir, fs, ptr.To[int64](2000)); err != nil || changed {
		t.Errorf("changed %v, %v; want nothing written the second time", changed, err)
	}
}

func TestFSUser(t *testing.T) {
	sc := func(u int64) *v1.SecurityContext { return &v1.SecurityContext{RunAsUser: &u} }
	for _, tc := range []struct {
		name       string
		pod        *v1.PodSecurityContext
		containers []*v1.SecurityContext
		init       []*v1.SecurityContext
		want       *int64
	}{
		{"nobody names a user", nil, []*v1.SecurityContext{nil}, nil, nil},
		{"the pod's user", &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, []*v1.SecurityContext{nil, nil}, nil, ptr.To[int64](1000)},
		{"containers agree", nil, []*v1.SecurityContext{sc(7), sc(7)}, []*v1.SecurityContext{sc(7)}, ptr.To[int64](7)},
		{"a container's user overrides the pod's", &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, []*v1.SecurityContext{sc(7)}, nil, ptr.To[int64](7)},
		{"containers differ", nil, []*v1.SecurityContext{sc(7), sc(8)}, nil, nil},
		{"an init container differs", nil, []*v1.SecurityContext{sc(7)}, []*v1.SecurityContext{sc(0)}, nil},
		{"one container names none", nil, []*v1.SecurityContext{sc(7), nil}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: tc.pod}}
			for _, c := range tc.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{SecurityContext: c})
			}
			for _, c := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{SecurityContext: c})
			}
			got := fsUser(pod)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("fsUser %v, want %v", ptr.Deref(got, -1), ptr.Deref(tc.want, -1))
			}
		})
	}
}

// TestSubPathKeepsGroupBits: a subPath made in an fsGroup's volume gets
// the root's setgid and sticky bits, as Kubernetes' SafeMakeDir.
func TestSubPathKeepsGroupBits(t *testing.T) {
	requireRoot(t)
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	root := t.TempDir()
	if err := os.Chown(root, -1, 2000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o777|os.ModeSetgid|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	p, err := subPath(root, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "a"), p} {
		if got := ownerOf(t, d); got != (owner{0, 2000, 0o777 | os.ModeSetgid | os.ModeSticky}) {
			t.Errorf("%s: %+v", d, got)
		}
	}
}
