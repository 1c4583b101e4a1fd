package volumes

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"coracle.dev/kubelet/internal/mount"
)

func claim(name, volume string, phase v1.PersistentVolumeClaimPhase) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec:       v1.PersistentVolumeClaimSpec{VolumeName: volume},
		Status:     v1.PersistentVolumeClaimStatus{Phase: phase},
	}
}

func volume(name, claimName string, src v1.PersistentVolumeSource) *v1.PersistentVolume {
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeSource: src,
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
		},
	}
	if claimName != "" {
		pv.Spec.ClaimRef = &v1.ObjectReference{Namespace: "ns", Name: claimName, UID: types.UID("uid-" + claimName)}
	}
	return pv
}

func hostPathPV(name, claimName, path string) *v1.PersistentVolume {
	return volume(name, claimName, v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path, Type: ptr.To(v1.HostPathDirectoryOrCreate)}})
}

func claimPod(uid string, claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pod-" + uid, UID: types.UID(uid)}, Spec: v1.PodSpec{NodeName: "node-1"}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: "vol-" + c, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

// TestProcessClaim checks the claim → PV resolution and its refusals,
// worded as Kubernetes' volume manager words them.
func TestProcessClaim(t *testing.T) {
	deleting := claim("data", "pv-1", v1.ClaimBound)
	deleting.DeletionTimestamp = &metav1.Time{}
	protected := deleting.DeepCopy()
	protected.Finalizers = []string{pvcProtectionFinalizer}
	block := hostPathPV("pv-1", "data", "/x")
	block.Spec.VolumeMode = ptr.To(v1.PersistentVolumeBlock)
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    string // the error, "" for none
	}{
		{"a bound claim and its volume", []runtime.Object{claim("data", "pv-1", v1.ClaimBound), hostPathPV("pv-1", "data", "/x")}, ""},
		{"a missing claim", nil,
			`error processing PVC ns/data: failed to fetch PVC from API server: persistentvolumeclaims "data" not found`},
		{"a pending claim", []runtime.Object{claim("data", "", v1.ClaimPending)},
			"error processing PVC ns/data: PVC is not bound"},
		{"a lost claim", []runtime.Object{claim("data", "pv-1", v1.ClaimLost)},
			"error processing PVC ns/data: PVC is not bound"},
		{"a bound claim without a volume name", []runtime.Object{claim("data", "", v1.ClaimBound)},
			"error processing PVC ns/data: PVC has empty pvc.Spec.VolumeName"},
		{"a claim being deleted, unprotected", []runtime.Object{deleting, hostPathPV("pv-1", "data", "/x")},
			"error processing PVC ns/data: PVC is being deleted"},
		{"a claim being deleted, still protected", []runtime.Object{protected, hostPathPV("pv-1", "data", "/x")}, ""},
		{"the volume is missing", []runtime.Object{claim("data", "pv-1", v1.ClaimBound)},
			`error processing PVC ns/data: failed to fetch PV pv-1 from API server: persistentvolumes "pv-1" not found`},
		{"the volume is not bound back", []runtime.Object{claim("data", "pv-1", v1.ClaimBound), hostPathPV("pv-1", "", "/x")},
			"error processing PVC ns/data: found PV object pv-1 but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim"},
		{"the volume is bound to another claim", []runtime.Object{claim("data", "pv-1", v1.ClaimBound), hostPathPV("pv-1", "other", "/x")},
			"error processing PVC ns/data: found PV object pv-1 but its pv.Spec.ClaimRef.UID uid-other does not point to claim.UID uid-data"},
		{"a block volume", []runtime.Object{claim("data", "pv-1", v1.ClaimBound), block},
			"volume vol-data has volumeMode Block, but is specified in volumeMounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{Dir: t.TempDir(), Client: fake.NewClientset(tc.objects...)}
			pod := claimPod("p1", "data")
			pv, _, err := m.processClaim(context.Background(), pod, pod.Spec.Volumes[0])
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("error %q, want %q", got, tc.want)
			}
			if err == nil && pv.Name != "pv-1" {
				t.Errorf("volume %s, want pv-1", pv.Name)
			}
		})
	}
}

// TestMountErrorEvents checks the FailedMount messages: the kubelet's
// "Unable to attach or mount volumes" for claims that cannot be
// processed, MountVolume.SetUp for volumes that cannot be set up.
func TestMountErrorEvents(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Manager{Dir: dir, Client: fake.NewClientset(
		claim("ready", "pv-ok", v1.ClaimBound), hostPathPV("pv-ok", "ready", filepath.Join(dir, "ok")),
		claim("pending", "", v1.ClaimPending),
		claim("file", "pv-file", v1.ClaimBound), hostPathPV("pv-file", "file", file),
	)}
	pod := claimPod("p1", "ready", "pending", "missing", "file")
	err := m.MountClaims(context.Background(), pod)
	var merr *MountError
	if !errors.As(err, &merr) {
		t.Fatalf("error %v, want a MountError", err)
	}
	want := []string{
		`MountVolume.SetUp failed for volume "pv-file" : hostPath type check failed: ` + file + ` is not a directory, it's a File`,
		"Unable to attach or mount volumes: unmounted volumes=[vol-file vol-missing vol-pending], unattached volumes=[], " +
			"failed to process volumes=[vol-missing vol-pending]: error processing PVC ns/pending: PVC is not bound; " +
			`error processing PVC ns/missing: failed to fetch PVC from API server: persistentvolumeclaims "missing" not found`,
	}
	if got := merr.Events(); !slices.Equal(got, want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
	// The volume that was fine is set up, and is not set up again.
	if _, ok := m.claimVolume("p1", "vol-ready"); !ok {
		t.Error("vol-ready not set up")
	}
	if got := m.InUse("node-1"); !slices.Equal(got, []v1.UniqueVolumeName{"kubernetes.io/host-path/pv-ok"}) {
		t.Errorf("in use %v", got)
	}

	// Only set-up failures: the error still names the unmounted volume.
	m2 := &Manager{Dir: dir, Client: fake.NewClientset(claim("file", "pv-file", v1.ClaimBound), hostPathPV("pv-file", "file", file))}
	err = m2.MountClaims(context.Background(), claimPod("p2", "file"))
	wantErr := `unmounted volumes=[vol-file], unattached volumes=[], failed to process volumes=[]: MountVolume.SetUp failed for volume "pv-file" : hostPath type check failed: ` + file + ` is not a directory, it's a File`
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v, want %s", err, wantErr)
	}
}

func TestUnsupportedVolumeType(t *testing.T) {
	pv := volume("pv-csi", "data", v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: "x", VolumeHandle: "h"}})
	m := &Manager{Dir: t.TempDir(), Client: fake.NewClientset(claim("data", "pv-csi", v1.ClaimBound), pv)}
	err := m.MountClaims(context.Background(), claimPod("p1", "data"))
	var merr *MountError
	if !errors.As(err, &merr) || len(merr.SetUp) != 1 {
		t.Fatalf("error %v", err)
	}
	if msg := merr.Events()[0]; !strings.HasPrefix(msg, `MountVolume.NewMounter initialization failed for volume "pv-csi" : unsupported volume type`) {
		t.Errorf("event %q", msg)
	}
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		path string
		typ  v1.HostPathType
		want string
	}{
		{"unset checks nothing", missing, v1.HostPathUnset, ""},
		{"DirectoryOrCreate makes the directory", filepath.Join(dir, "new", "deep"), v1.HostPathDirectoryOrCreate, ""},
		{"DirectoryOrCreate takes a directory", dir, v1.HostPathDirectoryOrCreate, ""},
		{"DirectoryOrCreate refuses a file", file, v1.HostPathDirectoryOrCreate, "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{"Directory must exist", missing, v1.HostPathDirectory,
			"hostPath type check failed, " + missing + " is not a directory, unable to determine its type: stat " + missing + ": no such file or directory"},
		{"FileOrCreate makes the file", filepath.Join(dir, "made"), v1.HostPathFileOrCreate, ""},
		{"FileOrCreate refuses a directory", dir, v1.HostPathFileOrCreate, "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{"File takes a file", file, v1.HostPathFile, ""},
		{"Socket takes a socket", sock, v1.HostPathSocket, ""},
		{"Socket refuses a file", file, v1.HostPathSocket, "hostPath type check failed: " + file + " is not a socket file, it's a File"},
		{"CharDevice takes /dev/null", "/dev/null", v1.HostPathCharDev, ""},
		{"BlockDevice refuses /dev/null", "/dev/null", v1.HostPathBlockDev, "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"},
		{"backsteps are refused", dir + "/../x", v1.HostPathUnset, "invalid HostPath `" + dir + "/../x`: must not contain '..'"},
		{"an unknown type", dir, "Pipe", "Pipe is an invalid volume type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(tc.path, &tc.typ)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("error %q, want %q", got, tc.want)
			}
		})
	}
	if info, err := os.Stat(filepath.Join(dir, "new", "deep")); err != nil || !info.IsDir() {
		t.Errorf("DirectoryOrCreate made no directory: %v", err)
	}
	if info, err := os.Stat(filepath.Join(dir, "made")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("FileOrCreate made no file: %v", err)
	}
}

func TestNFSMountOptionsAndArgs(t *testing.T) {
	pv := volume("pv-nfs", "data", v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: "10.1.2.3", Path: "/exports/a"}})
	pv.Spec.MountOptions = []string{"vers=4.1", "hard", "vers=4.1"}
	for _, tc := range []struct {
		name       string
		annotation string
		readOnly   bool
		want       []string
	}{
		{"spec options, sorted without repeats", "", false, []string{"-t", "nfs", "-o", "hard,vers=4.1", "10.1.2.3:/exports/a", "/target"}},
		{"read-only adds ro", "", true, []string{"-t", "nfs", "-o", "hard,ro,vers=4.1", "10.1.2.3:/exports/a", "/target"}},
		{"the beta annotation wins", "nfsvers=3,soft", false, []string{"-t", "nfs", "-o", "nfsvers=3,soft", "10.1.2.3:/exports/a", "/target"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pv.DeepCopy()
			if tc.annotation != "" {
				p.Annotations = map[string]string{mountOptionsAnnotation: tc.annotation}
			}
			got := mountArgs(p.Spec.NFS.Server+":"+p.Spec.NFS.Path, "/target", "nfs", mountOptions(p, tc.readOnly))
			if !slices.Equal(got, tc.want) {
				t.Errorf("args %q, want %q", got, tc.want)
			}
		})
	}
	if got := mountArgs("/src", "/dst", "", nil); !slices.Equal(got, []string{"/src", "/dst"}) {
		t.Errorf("bare args %q", got)
	}
}

// TestNFSSetUp drives the NFS volume's setup without an NFS server: a
// node without mount.nfs, a mount that fails, and one that succeeds
// (mount(8) replaced).
func TestNFSSetUp(t *testing.T) {
	pv := volume("pv-nfs", "data", v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: "10.1.2.3", Path: "/exports/a", ReadOnly: true}})
	objects := []runtime.Object{claim("data", "pv-nfs", v1.ClaimBound), pv}
	noHelper := func(string) (string, error) { return "", errors.New("not found") }
	helper := func(string) (string, error) { return "/sbin/mount.nfs", nil }

	t.Run("no mount.nfs", func(t *testing.T) {
		m := &Manager{Dir: t.TempDir(), Client: fake.NewClientset(objects...), lookPath: noHelper,
			runMount: func(context.Context, []string) ([]byte, error) { t.Fatal("mount ran"); return nil, nil }}
		var merr *MountError
		if err := m.MountClaims(context.Background(), claimPod("p1", "data")); !errors.As(err, &merr) {
			t.Fatalf("error %v", err)
		}
		want := `MountVolume.SetUp failed for volume "pv-nfs" : mount of 10.1.2.3:/exports/a needs the NFS client's mount helper mount.nfs, which this node does not have (Debian: install nfs-common)`
		if got := merr.Events(); !slices.Equal(got, []string{want}) {
			t.Errorf("events %q, want %q", got, want)
		}
	})
	t.Run("the mount fails", func(t *testing.T) {
		dir := t.TempDir()
		m := &Manager{Dir: dir, Client: fake.NewClientset(objects...), lookPath: helper,
			runMount: func(context.Context, []string) ([]byte, error) {
				return []byte("mount.nfs: Connection refused\n"), errors.New("exit status 32")
			}}
		var merr *MountError
		if err := m.MountClaims(context.Background(), claimPod("p1", "data")); !errors.As(err, &merr) {
			t.Fatalf("error %v", err)
		}
		target := filepath.Join(dir, "p1", "vol-data")
		want := `MountVolume.SetUp failed for volume "pv-nfs" : mount failed: exit status 32` + "\n" +
			"Mounting command: mount\nMounting arguments: -t nfs -o ro 10.1.2.3:/exports/a " + target + "\nOutput: mount.nfs: Connection refused\n"
		if got := merr.Events(); !slices.Equal(got, []string{want}) {
			t.Errorf("events %q, want %q", got, want)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("the mount point of the failed mount stays: %v", err)
		}
	})
	t.Run("mounted", func(t *testing.T) {
		dir := t.TempDir()
		var ran [][]string
		m := &Manager{Dir: dir, Client: fake.NewClientset(objects...), lookPath: helper,
			runMount: func(_ context.Context, args []string) ([]byte, error) { ran = append(ran, args); return nil, nil }}
		pod := claimPod("p1", "data")
		if err := m.MountClaims(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		vols, err := m.Prepare(context.Background(), pod, "", "")
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, "p1", "vol-data")
		if v := vols["vol-data"]; v.Path != target || !v.ReadOnly {
			t.Errorf("volume %+v, want read-only at %s", v, target)
		}
		if len(ran) != 1 {
			t.Errorf("mount ran %d times, want once", len(ran))
		}
		if got := m.InUse("node-1"); !slices.Equal(got, []v1.UniqueVolumeName{"kubernetes.io/nfs/pv-nfs"}) {
			t.Errorf("in use %v", got)
		}
	})
}

// TestClaimsInUseAndGroups checks what the node reports and what the
// containers get, and that a finished pod's volumes leave volumesInUse.
func TestClaimsInUseAndGroups(t *testing.T) {
	dir := t.TempDir()
	pvA := hostPathPV("pv-a", "a", filepath.Join(dir, "a"))
	pvA.Annotations = map[string]string{volumeGIDAnnotation: "2000"}
	pvB := hostPathPV("pv-b", "b", filepath.Join(dir, "b"))
	pvB.Annotations = map[string]string{volumeGIDAnnotation: "3000"}
	var kicked []string
	m := &Manager{Dir: filepath.Join(dir, "volumes"), Client: fake.NewClientset(
		claim("a", "pv-a", v1.ClaimBound), pvA, claim("b", "pv-b", v1.ClaimBound), pvB,
	), Changed: func(node string) { kicked = append(kicked, node) }}
	p1 := claimPod("p1", "a", "b")
	p1.Spec.SecurityContext = &v1.PodSecurityContext{SupplementalGroups: []int64{3000}}
	p2 := claimPod("p2", "a")
	p2.Spec.NodeName = "node-2"
	for _, p := range []*v1.Pod{p1, p2} {
		if err := m.MountClaims(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.InUse("node-1"); !slices.Equal(got, []v1.UniqueVolumeName{"kubernetes.io/host-path/pv-a", "kubernetes.io/host-path/pv-b"}) {
		t.Errorf("node-1 in use %v", got)
	}
	if got := m.InUse("node-2"); !slices.Equal(got, []v1.UniqueVolumeName{"kubernetes.io/host-path/pv-a"}) {
		t.Errorf("node-2 in use %v", got)
	}
	// 3000 is in the pod's own supplementalGroups already.
	if got := m.SupplementalGroups(p1); !slices.Equal(got, []int64{2000}) {
		t.Errorf("groups %v, want [2000]", got)
	}
	if err := m.UnmountClaims(p1); err != nil {
		t.Fatal(err)
	}
	if got := m.InUse("node-1"); len(got) != 0 {
		t.Errorf("node-1 in use after its pod finished: %v", got)
	}
	if err := m.Remove("p2"); err != nil {
		t.Fatal(err)
	}
	if got := m.InUse("node-2"); len(got) != 0 {
		t.Errorf("node-2 in use after its pod went: %v", got)
	}
	if !slices.Contains(kicked, "node-1") || !slices.Contains(kicked, "node-2") {
		t.Errorf("Changed called for %v", kicked)
	}
	// The data of a hostPath volume is never the kubelet's to remove.
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
			t.Errorf("hostPath %s: %v", d, err)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts need root")
	}
}

// TestLocalVolume bind-mounts a local PV, read-only when asked, with the
// pod's fsGroup; a restarted kubelet mounts nothing twice, and removing
// the pod unmounts without touching the data.
func TestLocalVolume(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "disk")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "sub", "kept"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	pv := volume("pv-local", "data", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: data}})
	roPV := volume("pv-ro", "ro", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: data}})
	client := fake.NewClientset(claim("data", "pv-local", v1.ClaimBound), pv, claim("ro", "pv-ro", v1.ClaimBound), roPV)
	volDir := filepath.Join(dir, "volumes")
	m := &Manager{Dir: volDir, Client: client}
	pod := claimPod("p1", "data")
	pod.Spec.SecurityContext = &v1.PodSecurityContext{FSGroup: ptr.To[int64](4321)}
	if err := m.MountClaims(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(volDir, "p1", "vol-data")
	t.Cleanup(func() { _ = unmountAll(volDir) })
	if ok, _ := mount.IsPoint(target); !ok {
		t.Fatalf("%s is not a mount point", target)
	}
	if b, err := os.ReadFile(filepath.Join(target, "sub", "kept")); err != nil || string(b) != "x" {
		t.Errorf("data through the mount: %q, %v", b, err)
	}
	for _, p := range []string{data, filepath.Join(data, "sub"), filepath.Join(data, "sub", "kept")} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if gid := info.Sys().(*syscall.Stat_t).Gid; gid != 4321 {
			t.Errorf("%s: group %d, want the fsGroup 4321", p, gid)
		}
		if info.IsDir() && info.Mode()&os.ModeSetgid == 0 {
			t.Errorf("%s: no setgid", p)
		}
	}
	if got := m.InUse("node-1"); !slices.Equal(got, []v1.UniqueVolumeName{"kubernetes.io/local-volume/pv-local"}) {
		t.Errorf("in use %v", got)
	}

	// A restarted kubelet finds the mount and does not mount again.
	restarted := &Manager{Dir: volDir, Client: client}
	if err := restarted.MountClaims(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if ps, _ := mount.Points(target); len(ps) != 1 {
		t.Errorf("mounts at %s after a restart: %v", target, ps)
	}

	// Read-only: the mount itself refuses writes.
	roPod := claimPod("p2", "ro")
	if err := m.MountClaims(context.Background(), roPod); err != nil {
		t.Fatal(err)
	}
	roTarget := filepath.Join(volDir, "p2", "vol-ro")
	vols, err := m.Prepare(context.Background(), roPod, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if v := vols["vol-ro"]; v.Path != roTarget || v.ReadOnly {
		t.Errorf("volume %+v", v)
	}
	roPod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly = true
	roPod.UID = "p3"
	if err := m.MountClaims(context.Background(), roPod); err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(volDir, "p3", "vol-ro", "new"), nil, 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write to a read-only claim: %v, want EROFS", err)
	}

	// Removing the pods unmounts; the data stays.
	for _, uid := range []string{"p1", "p2", "p3"} {
		if err := m.Remove(uid); err != nil {
			t.Fatal(err)
		}
	}
	if ps, _ := mount.Points(volDir); len(ps) != 0 {
		t.Errorf("mounts left: %v", ps)
	}
	if _, err := os.Stat(filepath.Join(data, "sub", "kept")); err != nil {
		t.Errorf("the local volume lost its data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(volDir, "p1")); !os.IsNotExist(err) {
		t.Errorf("pod directory stays: %v", err)
	}

	// A missing path is the mounter's failure, as Kubernetes'.
	gone := volume("pv-gone", "gone", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: filepath.Join(dir, "nope")}})
	m2 := &Manager{Dir: volDir, Client: fake.NewClientset(claim("gone", "pv-gone", v1.ClaimBound), gone)}
	var merr *MountError
	if err := m2.MountClaims(context.Background(), claimPod("p4", "gone")); !errors.As(err, &merr) {
		t.Fatalf("error %v", err)
	}
	want := `MountVolume.NewMounter initialization failed for volume "pv-gone" : stat ` + filepath.Join(dir, "nope") + ": no such file or directory"
	if got := merr.Events(); !slices.Equal(got, []string{want}) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	requireRoot(t)
	onRootMismatch := ptr.To(v1.FSGroupChangeOnRootMismatch)
	for _, tc := range []struct {
		name        string
		policy      *v1.PodFSGroupChangePolicy
		rootDone    bool // the root has the group and bits already
		readOnly    bool
		wantChild   uint32
		wantDirMode os.FileMode
	}{
		{"Always walks everything", nil, false, false, 555, 0o770 | os.ModeSetgid},
		{"Always walks even a root that matches", ptr.To(v1.FSGroupChangeAlways), true, false, 555, 0o770 | os.ModeSetgid},
		{"OnRootMismatch walks a root that does not match", onRootMismatch, false, false, 555, 0o770 | os.ModeSetgid},
		{"OnRootMismatch leaves a matching root's volume alone", onRootMismatch, true, false, 0, 0o700},
		{"read-only gives read bits only", nil, false, true, 555, 0o750 | os.ModeSetgid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			child := filepath.Join(root, "child")
			if err := os.Mkdir(child, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(child, 0, 0); err != nil {
				t.Fatal(err)
			}
			if tc.rootDone {
				if err := os.Chown(root, -1, 555); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(root, 0o770|os.ModeSetgid); err != nil {
					t.Fatal(err)
				}
			}
			if err := setVolumeOwnership(root, 555, tc.readOnly, tc.policy); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(child)
			if err != nil {
				t.Fatal(err)
			}
			if gid := info.Sys().(*syscall.Stat_t).Gid; gid != tc.wantChild {
				t.Errorf("child group %d, want %d", gid, tc.wantChild)
			}
			if got := info.Mode() & (os.ModePerm | os.ModeSetgid); got != tc.wantDirMode {
				t.Errorf("child mode %o, want %o", got, tc.wantDirMode)
			}
			// Symlinks are not followed.
			if info, err := os.Stat("/etc/passwd"); err == nil && info.Sys().(*syscall.Stat_t).Gid == 555 {
				t.Error("the walk followed a symlink out of the volume")
			}
		})
	}
}

func TestSubPath(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o750); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "inside")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sub, want, err string
	}{
		{"a new directory is made", "a/b", filepath.Join(root, "a/b"), ""},
		{"the root itself", ".", root, ""},
		{"backsteps stay in the volume", "../../a", filepath.Join(root, "a"), ""},
		{"a symlink within the volume is followed", "inside/x", filepath.Join(root, "real/x"), ""},
		{"a symlink out of the volume is refused", "escape/x", "", `subpath "` + outside + `" not within volume path "` + root + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := subPath(root, tc.sub)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !os.IsNotExist(err) {
		t.Errorf("something was made through the escaping symlink: %v", err)
	}
	if info, err := os.Stat(filepath.Join(root, "a", "b")); err != nil || info.Mode().Perm() != 0o750 {
		t.Errorf("made subPath: %v, %v; want the root's permissions, whatever the umask", info.Mode(), err)
	}
}
