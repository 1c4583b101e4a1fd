package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/pki"
)

// withNodeCredential makes the kubelet talk to the apiserver as
// Kubernetes' kubelets do: a client certificate of system:node:<name> in
// system:nodes, so the Node authorizer decides what it may read (the
// claims and volumes of its own pods only).
func (n *node) withNodeCredential() {
	n.t.Helper()
	ca, err := pki.Load(filepath.Join(n.ts.DataDir, "pki"), "ca")
	if err != nil {
		n.t.Fatalf("cluster CA: %v", err)
	}
	kp, err := ca.Issue(pki.Request{CommonName: "system:node:" + n.name, Organization: []string{"system:nodes"}, Usage: pki.ClientUsage})
	if err != nil {
		n.t.Fatal(err)
	}
	cfg := rest.CopyConfig(n.ts.Config)
	cfg.BearerToken, cfg.BearerTokenFile = "", ""
	cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = "", ""
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = kp.CertPEM, kp.KeyPEM
	n.opts.RESTConfig = cfg
}

// newClaim creates a claim of no class (so no provisioner could take
// it) and returns it.
func (n *node) newClaim(name string) *v1.PersistentVolumeClaim {
	n.t.Helper()
	c, err := n.client.CoreV1().PersistentVolumeClaims(n.ns).Create(context.Background(), &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName: ptr.To(""),
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		n.t.Fatalf("create claim %s: %v", name, err)
	}
	return c
}

// bind makes the PV with this source bound to the claim, both ways and
// with both phases, as the persistentvolume controller leaves them.
func (n *node) bind(c *v1.PersistentVolumeClaim, pvName string, src v1.PersistentVolumeSource, affinity *v1.VolumeNodeAffinity) {
	n.t.Helper()
	ctx := context.Background()
	pv, err := n.client.CoreV1().PersistentVolumes().Create(ctx, &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{"pv.kubernetes.io/bound-by-controller": "yes"}},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeSource:        src,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			NodeAffinity:                  affinity,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		n.t.Fatalf("create volume %s: %v", pvName, err)
	}
	pv.Status.Phase = v1.VolumeBound
	if _, err := n.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		n.t.Fatalf("volume %s status: %v", pvName, err)
	}
	c, err = n.client.CoreV1().PersistentVolumeClaims(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	c.Spec.VolumeName = pvName
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
	c.Annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
	if c, err = n.client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		n.t.Fatalf("bind claim %s: %v", c.Name, err)
	}
	c.Status.Phase = v1.ClaimBound
	c.Status.AccessModes = pv.Spec.AccessModes
	c.Status.Capacity = pv.Spec.Capacity
	if _, err := n.client.CoreV1().PersistentVolumeClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		n.t.Fatalf("claim %s status: %v", c.Name, err)
	}
}

func claimVolume(name, claim string, readOnly bool) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}}}
}

func hostPathSource(path string) v1.PersistentVolumeSource {
	return v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path, Type: ptr.To(v1.HostPathDirectoryOrCreate)}}
}

// volumesInUse reads the Node's status.volumesInUse.
func (n *node) volumesInUse() []v1.UniqueVolumeName {
	n.t.Helper()
	node, err := n.client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	if len(node.Status.VolumesAttached) > 0 {
		n.t.Errorf("volumesAttached %v: no volume here is attachable", node.Status.VolumesAttached)
	}
	return node.Status.VolumesInUse
}

func (n *node) waitInUse(what string, want ...v1.UniqueVolumeName) {
	n.t.Helper()
	slices.Sort(want)
	eventually(n.t, 30*time.Second, "volumesInUse "+what, func() (bool, error) {
		got := n.volumesInUse()
		return slices.Equal(got, want), fmt.Errorf("volumesInUse %v, want %v", got, want)
	})
}

// waitEvent waits for a FailedMount event of the pod whose message
// contains want, and returns it.
func (n *node) waitEvent(pod, reason, want string) string {
	n.t.Helper()
	var msg string
	eventually(n.t, 30*time.Second, pod+" event "+reason+" with "+want, func() (bool, error) {
		var seen []string
		for _, e := range n.events(pod) {
			if e.Reason == reason && strings.Contains(e.Message, want) {
				msg = e.Message
				return true, nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, fmt.Errorf("events %q", seen)
	})
	return msg
}

func (n *node) deletePod(name string) {
	n.t.Helper()
	if err := n.client.CoreV1().Pods(n.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(1)}); err != nil {
		n.t.Fatal(err)
	}
	n.waitGone(name, 30*time.Second)
}

// TestPersistentVolumeClaims runs real pods on claims bound to hostPath
// and local PersistentVolumes, with the kubelet's own node credential:
// data written through a claim outlives the pod, readOnly and subPath
// hold, a pod on a claim that is missing or unbound waits with
// FailedMount and starts once the claim binds, fsGroup owns a local
// volume, the node reports its volumes in use, and a restarted kubelet
// keeps the pods and their mounts as they were.
func TestPersistentVolumeClaims(t *testing.T) {
	n := startNode(t, startLater)
	n.withNodeCredential()
	n.startKubelet()
	storage := t.TempDir()

	// A hostPath PV that does not exist yet: DirectoryOrCreate makes it.
	data := n.newClaim("data")
	pvData := "pv-data-" + randHex(4)
	hostDir := filepath.Join(storage, "hostpath", pvData)
	n.bind(data, pvData, hostPathSource(hostDir), nil)

	writer := sh("w", "trap 'exit 0' TERM; echo persisted > /data/out.txt && echo written; while true; do sleep 1; done")
	writer.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
	p := n.pod("writer", writer)
	p.Spec.Volumes = []v1.Volume{claimVolume("data", "data", false)}
	n.create(p)
	n.waitRunning("writer")
	n.waitLog("writer", "w", "written")
	hostPathInUse := v1.UniqueVolumeName("kubernetes.io/host-path/" + pvData)
	n.waitInUse("while the writer runs", hostPathInUse)
	n.checkNodeAuthorization("data", pvData)
	n.deletePod("writer")
	if b, err := os.ReadFile(filepath.Join(hostDir, "out.txt")); err != nil || string(b) != "persisted\n" {
		t.Fatalf("the volume's data after its pod went: %q, %v", b, err)
	}
	n.waitInUse("once the writer is gone")

	// A new pod on the same claim reads it back; read-only mounts
	// (the container's, the claim volume's) refuse writes; a subPath
	// is a directory of the volume.
	reader := sh("r", strings.Join([]string{
		"trap 'exit 0' TERM", "cat /data/out.txt",
		"touch /ro-mount/x 2>/dev/null || echo mount-read-only",
		"touch /ro-claim/x 2>/dev/null || echo claim-read-only",
		"echo in-sub > /sub/f && echo done", "while true; do sleep 1; done",
	}, "; "))
	reader.VolumeMounts = []v1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "data", MountPath: "/ro-mount", ReadOnly: true},
		{Name: "data-ro", MountPath: "/ro-claim"},
		{Name: "data", MountPath: "/sub", SubPath: "nested/dir"},
	}
	p = n.pod("reader", reader)
	p.Spec.Volumes = []v1.Volume{claimVolume("data", "data", false), claimVolume("data-ro", "data", true)}
	n.create(p)
	n.waitRunning("reader")
	if out := n.waitLog("reader", "r", "done"); out != "persisted\nmount-read-only\nclaim-read-only\ndone\n" {
		t.Errorf("reader saw %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "nested", "dir", "f")); err != nil || string(b) != "in-sub\n" {
		t.Errorf("the subPath's file on the volume: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "x")); !os.IsNotExist(err) {
		t.Errorf("a read-only mount was written: %v", err)
	}

	// A pod naming a claim that does not exist waits; then the claim
	// exists but is not bound; then it binds, and the pod starts.
	waiter := sh("w", "trap 'exit 0' TERM; cat /late/hello; echo started; while true; do sleep 1; done")
	waiter.VolumeMounts = []v1.VolumeMount{{Name: "late", MountPath: "/late"}}
	p = n.pod("waiter", waiter)
	p.Spec.Volumes = []v1.Volume{claimVolume("late", "late", false)}
	n.create(p)
	msg := n.waitEvent("waiter", "FailedMount", `persistentvolumeclaims "late" not found`)
	if want := "Unable to attach or mount volumes: unmounted volumes=[late], unattached volumes=[], failed to process volumes=[late]: " +
		`error processing PVC default/late: failed to fetch PVC from API server: persistentvolumeclaims "late" not found`; msg != want {
		t.Errorf("FailedMount %q, want %q", msg, want)
	}
	late := n.newClaim("late")
	n.waitEvent("waiter", "FailedMount", "failed to process volumes=[late]: error processing PVC default/late: PVC is not bound")
	if got := n.get("waiter"); got.Status.Phase != v1.PodPending || waitingReason(got) != "ContainerCreating" {
		t.Errorf("waiting pod: %s", statusSummary(got))
	}
	lateDir := filepath.Join(storage, "hostpath", "late")
	if err := os.MkdirAll(lateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lateDir, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pvLate := "pv-late-" + randHex(4)
	n.bind(late, pvLate, hostPathSource(lateDir), nil)
	n.waitRunning("waiter")
	n.waitLog("waiter", "w", "hello\nstarted")

	// A local PV with the pod's fsGroup: the volume's root gets the
	// group and setgid, the container the group, so a non-root user
	// writes there.
	localDir := filepath.Join(storage, "local")
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		t.Fatal(err)
	}
	local := n.newClaim("local")
	pvLocal := "pv-local-" + randHex(4)
	n.bind(local, pvLocal, v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: localDir}}, &v1.VolumeNodeAffinity{
		Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{n.name}},
		}}}},
	})
	owner := sh("o", "trap 'exit 0' TERM; id -G; echo mine > /local/f && echo wrote; while true; do sleep 1; done")
	owner.VolumeMounts = []v1.VolumeMount{{Name: "local", MountPath: "/local"}}
	p = n.pod("owner", owner)
	p.Spec.Volumes = []v1.Volume{claimVolume("local", "local", false)}
	p.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: ptrInt64(1000), RunAsGroup: ptrInt64(1000), FSGroup: ptrInt64(2345)}
	created := n.create(p)
	n.waitRunning("owner")
	if out := n.waitLog("owner", "o", "wrote"); !slices.Contains(strings.Fields(strings.Split(out, "\n")[0]), "2345") {
		t.Errorf("the container's groups %q lack the fsGroup", out)
	}
	info, err := os.Stat(filepath.Join(localDir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if gid := info.Sys().(*syscall.Stat_t).Gid; gid != 2345 {
		t.Errorf("a file made on the volume has group %d, want the fsGroup 2345", gid)
	}
	localTarget := filepath.Join(n.opts.RootDir, "volumes", string(created.UID), "local")
	n.waitInUse("with three pods", hostPathInUse, v1.UniqueVolumeName("kubernetes.io/host-path/"+pvLate),
		v1.UniqueVolumeName("kubernetes.io/local-volume/"+pvLocal))

	// A restarted kubelet adopts the pods: same containers, the local
	// volume mounted once, still in use.
	before := n.containerPIDs(string(created.UID))
	n.stopKubelet()
	n.startKubelet()
	n.waitInUse("after the kubelet restarted", hostPathInUse, v1.UniqueVolumeName("kubernetes.io/host-path/"+pvLate),
		v1.UniqueVolumeName("kubernetes.io/local-volume/"+pvLocal))
	n.waitRunning("owner")
	if after := n.containerPIDs(string(created.UID)); !maps.Equal(before, after) {
		t.Errorf("containers after the restart %v, before %v", after, before)
	}
	if c := countMounts(t, localTarget); c != 1 {
		t.Errorf("%d mounts at %s after the restart, want 1", c, localTarget)
	}

	// Deleting the pod unmounts; the local volume keeps its data.
	n.deletePod("owner")
	if c := countMounts(t, localTarget); c != 0 {
		t.Errorf("%d mounts at %s after the pod went", c, localTarget)
	}
	if _, err := os.Stat(filepath.Join(localDir, "f")); err != nil {
		t.Errorf("the local volume lost its data: %v", err)
	}

	// A pod that finished is done with its volumes: unmounted, and no
	// longer in use; its data stays.
	done := sh("d", "cat /local/f")
	done.VolumeMounts = []v1.VolumeMount{{Name: "local", MountPath: "/local"}}
	p = n.pod("finisher", done)
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	p.Spec.Volumes = []v1.Volume{claimVolume("local", "local", false)}
	created = n.create(p)
	n.waitPod("finisher", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	n.waitInUse("once the finisher is done", hostPathInUse, v1.UniqueVolumeName("kubernetes.io/host-path/"+pvLate))
	localTarget = filepath.Join(n.opts.RootDir, "volumes", string(created.UID), "local")
	if c := countMounts(t, localTarget); c != 0 {
		t.Errorf("%d mounts at %s after the pod finished", c, localTarget)
	}
	if out := n.logs("finisher", "d", ""); out != "mine\n" {
		t.Errorf("finisher read %q", out)
	}
	n.deletePod("finisher")

	// A pod with one claim mounted and another missing never starts;
	// deleting it unmounts what was mounted.
	half := sh("h", "exec sleep 3600")
	half.VolumeMounts = []v1.VolumeMount{{Name: "local", MountPath: "/local"}, {Name: "missing", MountPath: "/missing"}}
	p = n.pod("halfway", half)
	p.Spec.Volumes = []v1.Volume{claimVolume("local", "local", false), claimVolume("missing", "missing", false)}
	created = n.create(p)
	n.waitEvent("halfway", "FailedMount", "unmounted volumes=[missing]")
	localTarget = filepath.Join(n.opts.RootDir, "volumes", string(created.UID), "local")
	if c := countMounts(t, localTarget); c != 1 {
		t.Errorf("%d mounts at %s of the claim that is bound, want 1", c, localTarget)
	}
	n.deletePod("halfway")
	eventually(t, 30*time.Second, "the waiting pod's mount gone", func() (bool, error) {
		c := countMounts(t, localTarget)
		return c == 0, fmt.Errorf("%d mounts at %s", c, localTarget)
	})

	n.deletePod("reader")
	n.deletePod("waiter")
	n.waitInUse("once every pod is gone")
	if _, err := os.Stat(filepath.Join(hostDir, "nested", "dir", "f")); err != nil {
		t.Errorf("the hostPath volume lost its data: %v", err)
	}
}

// TestNFSClaimWithoutClient checks the event of a pod on an NFS volume
// on a node without the NFS client. No NFS server is ever contacted.
func TestNFSClaimWithoutClient(t *testing.T) {
	for _, d := range []string{"/sbin", "/usr/sbin", "/usr/local/sbin"} {
		if _, err := os.Stat(filepath.Join(d, "mount.nfs")); err == nil {
			t.Skip("this node has mount.nfs: the kubelet would mount")
		}
	}
	if _, err := exec.LookPath("mount.nfs"); err == nil {
		t.Skip("this node has mount.nfs: the kubelet would mount")
	}
	n := startNode(t, startLater)
	n.withNodeCredential()
	n.startKubelet()
	c := n.newClaim("shared")
	pvName := "pv-nfs-" + randHex(4)
	n.bind(c, pvName, v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: "127.0.0.1", Path: "/exports/shared"}}, nil)
	ctr := sh("c", "exec sleep 3600")
	ctr.VolumeMounts = []v1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	p := n.pod("nfs", ctr)
	p.Spec.Volumes = []v1.Volume{claimVolume("shared", "shared", false)}
	n.create(p)
	msg := n.waitEvent("nfs", "FailedMount", "mount.nfs")
	want := `MountVolume.SetUp failed for volume "` + pvName + `" : mount of 127.0.0.1:/exports/shared needs the NFS client's mount helper mount.nfs, which this node does not have (Debian: install nfs-common)`
	if msg != want {
		t.Errorf("FailedMount %q, want %q", msg, want)
	}
	if got := n.get("nfs"); got.Status.Phase != v1.PodPending || waitingReason(got) != "ContainerCreating" {
		t.Errorf("pod: %s", statusSummary(got))
	}
	if got := n.volumesInUse(); len(got) != 0 {
		t.Errorf("volumesInUse %v with nothing mounted", got)
	}
	n.deletePod("nfs")
}

// checkNodeAuthorization checks that the node's credential reads the
// claim and volume of its pod (the kubelet mounted them with it) and
// not those no pod of the node uses.
func (n *node) checkNodeAuthorization(claim, pvName string) {
	n.t.Helper()
	ctx := context.Background()
	nodeClient := kubernetes.NewForConfigOrDie(n.opts.RESTConfig)
	if _, err := nodeClient.CoreV1().PersistentVolumeClaims(n.ns).Get(ctx, claim, metav1.GetOptions{}); err != nil {
		n.t.Errorf("the node gets its pod's claim: %v", err)
	}
	if _, err := nodeClient.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err != nil {
		n.t.Errorf("the node gets its pod's volume: %v", err)
	}
	stranger := n.newClaim("stranger")
	pvStranger := "pv-stranger-" + randHex(4)
	n.bind(stranger, pvStranger, hostPathSource(filepath.Join(n.t.TempDir(), "s")), nil)
	if _, err := nodeClient.CoreV1().PersistentVolumeClaims(n.ns).Get(ctx, "stranger", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		n.t.Errorf("the node gets a claim none of its pods uses: %v, want Forbidden", err)
	}
	if _, err := nodeClient.CoreV1().PersistentVolumes().Get(ctx, pvStranger, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		n.t.Errorf("the node gets a volume none of its pods uses: %v, want Forbidden", err)
	}
}

// countMounts counts the mounts at path.
func countMounts(t *testing.T, path string) int {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			c++
		}
	}
	return c
}
